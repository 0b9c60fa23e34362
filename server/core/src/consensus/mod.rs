//! ChunkPaxos: per-chunk consensus among the storage nodes for concurrent
//! uploaders (seed 001, "Lightweight Consensus").
//!
//! - [`paxos`]: the sans-IO protocol — [`paxos::Acceptor`] and
//!   [`paxos::Proposer`] for one chunk, the fast round and why skipping phase
//!   1 there is safe.
//! - [`run`]: an in-process run on a virtual clock (message latency, loss,
//!   acceptor outages, proposer timeouts) that records every message and every
//!   node's state after it: the Consensus tab replays such records, and the
//!   randomized tests check safety over thousands of seeded runs;
//!   [`record`] holds what such a run records.
//!
//! The network and the disk are the server's: its storage nodes keep durable
//! acceptor states and serve them over HTTP, and its ingest drives a
//! [`paxos::Proposer`] over HTTP.
//!
//! One instance per chunk: instances share nothing, so a video's chunks commit
//! in parallel. The value is the chunk's committed [`ChunkRecord`].

pub mod paxos;
pub mod record;
pub mod run;

use serde::{Deserialize, Serialize};

/// The value ChunkPaxos agrees on for one chunk: which bytes are the chunk,
/// where they live, and who committed them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// The stored chunk's id (`film-00003-3f2a9c1b`: slot and content hash, so
    /// concurrent uploaders never overwrite each other's bytes). The Paxos
    /// instance is keyed by the slot (`film-00003`).
    pub chunk_id: String,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// Size, bytes.
    pub size_bytes: u64,
    /// Media duration, ms.
    #[serde(default)]
    pub duration_ms: u64,
    /// Nodes holding the bytes.
    pub replicas: Vec<String>,
    /// Version: 1 for the first commit of the slot.
    pub version: u64,
    /// Who proposed it (uploader name, or `replication-manager-…`).
    pub uploader: String,
    /// The record's revision within its chunk: 1 as ingested, one more for
    /// each replica-set change (adaptive redundancy), each decided in its
    /// own instance. Default 1.
    #[serde(default = "first_revision")]
    pub revision: u64,
}

fn first_revision() -> u64 {
    1
}

impl ChunkRecord {
    /// A short label: `uploader-a · 3f2a9c…`.
    pub fn label(&self) -> String {
        format!(
            "{} · {}…",
            self.uploader,
            &self.sha256[..self.sha256.len().min(6)]
        )
    }
}
