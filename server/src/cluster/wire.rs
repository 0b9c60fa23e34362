//! JSON shapes of the cluster's HTTP interface (metadata service and storage
//! nodes). Units are in the field names; times are milliseconds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use vstack_core::{
    conditions::Scenario,
    engine::{ChunkMeta, Manifest, NodeId},
};

/// `POST /nodes/register` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterNode {
    /// The node's id (see [`super::validate_id`]).
    pub node_id: String,
    /// Base URL clients use to reach the node, e.g. `http://10.0.0.5:8081`.
    pub url: String,
}

/// `POST /nodes/{id}/heartbeat` body: the node's storage figures and what
/// adaptive redundancy needs (free space, popularity).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHeartbeat {
    /// Chunks stored.
    pub chunk_count: u64,
    /// Bytes stored (chunk payloads only).
    pub bytes_stored: u64,
    /// Free space on the node's data disk, bytes (`None`: unknown).
    #[serde(default)]
    pub free_bytes: Option<u64>,
    /// GET requests per chunk over the node's popularity window, most
    /// requested first, at most [`MAX_HEARTBEAT_POPULARITY`] entries.
    #[serde(default)]
    pub popularity: Vec<ChunkGets>,
    /// GET requests of chunks the node served over the window (its load).
    #[serde(default)]
    pub gets_in_window: u64,
    /// Length of the node's popularity window, ms (default 60 000).
    #[serde(default)]
    pub window_ms: u64,
}

/// Entries of [`NodeHeartbeat::popularity`] a node sends (and the metadata
/// service keeps) at most.
pub const MAX_HEARTBEAT_POPULARITY: usize = 4096;

/// One chunk's GET count in a heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkGets {
    /// Stored chunk id.
    pub chunk_id: String,
    /// GET requests (whole or ranged) over the window.
    pub gets: u64,
}

/// Node health as the metadata service sees it (from heartbeats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryHealth {
    /// A heartbeat arrived within the heartbeat timeout.
    Healthy,
    /// No heartbeat within the heartbeat timeout.
    Down,
}

/// One registered node (`GET /nodes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Node id.
    pub node_id: String,
    /// Base URL.
    pub url: String,
    /// Health from heartbeats.
    pub health: RegistryHealth,
    /// Milliseconds since the last heartbeat (or registration).
    pub last_seen_ms_ago: u64,
    /// Chunks stored, from the last heartbeat.
    pub chunk_count: u64,
    /// Bytes stored, from the last heartbeat.
    pub bytes_stored: u64,
}

/// `GET /nodes` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeList {
    /// Registered nodes, in registration order.
    pub nodes: Vec<NodeRecord>,
}

/// One chunk of a video.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkEntry {
    /// Position in playback order, from 0.
    pub index: u32,
    /// Storage id (`{video_id}-{index:05}`).
    pub chunk_id: String,
    /// Media duration, ms.
    pub duration_ms: u64,
    /// Payload size, bytes.
    pub size_bytes: u64,
    /// Hex SHA-256 of the payload.
    pub sha256: String,
    /// Ids of the nodes holding a replica.
    pub replicas: Vec<String>,
    /// Revision of the chunk's record: 1 as ingested, one more for each
    /// replica-set change the replication manager committed (each through
    /// its own ChunkPaxos instance, see `ingest::revision_slot`). Default 1.
    #[serde(default = "first_version")]
    pub revision: u64,
}

/// A video's manifest (`GET /videos/{id}`, `POST /videos`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoManifest {
    /// Video id.
    pub video_id: String,
    /// Version of the video under this id: 1 for the first ingest, one more
    /// for each re-ingest with changed content (each version's chunk records
    /// are committed in their own ChunkPaxos instances). Default 1.
    #[serde(default = "first_version")]
    pub version: u64,
    /// Chunks in playback order.
    pub chunks: Vec<ChunkEntry>,
    /// The video's renditions (an HLS multivariant playlist's variants),
    /// lowest bandwidth first, this video itself among them; empty for a
    /// video of one rendition. Every other rung is a video of its own in the
    /// catalog (stored, hash-verified, replicated and committed like any),
    /// registered before this one, with as many chunks of the same
    /// durations. At most [`MAX_RUNGS`] rungs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ladder: Vec<Rung>,
}

/// Rungs a video's [`VideoManifest::ladder`] holds at most.
pub const MAX_RUNGS: usize = 16;

/// One rendition of a video with a ladder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rung {
    /// The catalog id of the rendition's own manifest (the video itself for
    /// one rung).
    pub video_id: String,
    /// Its nominal bitrate, bit/s (the variant's `BANDWIDTH`, its peak as
    /// HLS defines it); at least 1.
    pub bandwidth_bps: u64,
}

fn first_version() -> u64 {
    1
}

impl VideoManifest {
    /// The fMP4 initialization segment (`ftyp` + `moov`, no media): chunk 0
    /// when its duration is 0. Stored, replicated, committed and fetched like
    /// any chunk; a player appends it before the media segments, and the
    /// engine fetches it first because it comes first in playback order.
    /// `None` for a video without one (MPEG-TS or synthetic bytes).
    pub fn init_segment(&self) -> Option<&ChunkEntry> {
        self.chunks.first().filter(|c| c.duration_ms == 0)
    }

    /// Total media duration, ms.
    pub fn duration_ms(&self) -> u64 {
        self.chunks
            .iter()
            .fold(0u64, |a, c| a.saturating_add(c.duration_ms))
    }

    /// Total payload, bytes.
    pub fn size_bytes(&self) -> u64 {
        self.chunks
            .iter()
            .fold(0u64, |a, c| a.saturating_add(c.size_bytes))
    }

    /// The engine's view: chunks with replicas as indices into `nodes` (replicas
    /// on nodes missing from `nodes` are dropped).
    pub fn to_engine(&self, nodes: &[String]) -> Manifest {
        Manifest {
            video_id: self.video_id.clone(),
            node_count: nodes.len(),
            chunks: self
                .chunks
                .iter()
                .map(|c| ChunkMeta {
                    index: c.index,
                    duration: Duration::from_millis(c.duration_ms),
                    size_bytes: c.size_bytes,
                    replicas: c
                        .replicas
                        .iter()
                        .filter_map(|r| nodes.iter().position(|n| n == r))
                        .map(|i| NodeId(i as u16))
                        .collect(),
                    level_sizes: Vec::new(),
                })
                .collect(),
            bitrates_kbps: Vec::new(),
        }
    }

    /// The engine's view of a video with a ladder: `rungs` are the
    /// manifests of [`Self::ladder`], in its order (lowest first). Each
    /// chunk's [`ChunkMeta::level_sizes`] comes from the rungs and its
    /// replicas are the nodes holding it at every level (the rungs of an
    /// ingest are placed alike), else this video's own; the nominal
    /// bitrates are the rungs' `bandwidth_bps` ÷ 1000. `None` when the
    /// rungs do not match the ladder (count, ids, chunk count).
    pub fn to_engine_ladder(&self, rungs: &[VideoManifest], nodes: &[String]) -> Option<Manifest> {
        if self.ladder.is_empty()
            || rungs.len() != self.ladder.len()
            || rungs
                .iter()
                .zip(&self.ladder)
                .any(|(m, r)| m.video_id != r.video_id || m.chunks.len() != self.chunks.len())
        {
            return None;
        }
        let mut m = self.to_engine(nodes);
        for (i, c) in m.chunks.iter_mut().enumerate() {
            c.level_sizes = rungs.iter().map(|r| r.chunks[i].size_bytes).collect();
            let everywhere: Vec<NodeId> = c
                .replicas
                .iter()
                .copied()
                .filter(|n| {
                    rungs
                        .iter()
                        .all(|r| r.chunks[i].replicas.contains(&nodes[n.index()]))
                })
                .collect();
            if !everywhere.is_empty() {
                c.replicas = everywhere;
            }
        }
        m.bitrates_kbps = self
            .ladder
            .iter()
            .map(|r| r.bandwidth_bps as f64 / 1000.0)
            .collect();
        Some(m)
    }
}

/// One entry of `GET /videos`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoSummary {
    /// Video id.
    pub video_id: String,
    /// Number of chunks.
    pub chunk_count: usize,
    /// Media duration, ms.
    pub duration_ms: u64,
    /// Payload, bytes.
    pub size_bytes: u64,
}

/// `GET /health` of a storage node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StorageHealth {
    /// Node id.
    pub node_id: String,
    /// Chunks stored.
    pub chunk_count: u64,
    /// Bytes stored.
    pub bytes_stored: u64,
    /// Network conditions the emulator applies now.
    pub conditions: super::emulator::Conditions,
}

/// Answer of `POST /nodes/register`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// The node's id.
    pub node_id: String,
    /// Its position in the registry (0-based, stable).
    pub node_index: usize,
}

/// Body of `PUT /emulator/scenario`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRequest {
    /// The scenario.
    pub scenario: Scenario,
    /// The node's position in the cluster (default: its registry position).
    #[serde(default)]
    pub node_index: Option<usize>,
}

/// Header a player sends with each chunk `GET`: its session's random id. A
/// storage node counts popularity one vote per client and chunk per window;
/// a client is its address (IPv6 per /64), and only on loopback (the
/// embedded cluster's many players share 127.0.0.1) address plus this id. A
/// cross-site page cannot set it (a custom header needs CORS, which nodes
/// never grant).
pub const CLIENT_ID_HEADER: &str = "x-vstack-client";
