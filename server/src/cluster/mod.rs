//! V-Stack's storage cluster (seed 001): a metadata service and storage nodes as
//! real HTTP servers, each node with a network emulator in front of it.
//!
//! - [`wire`]: the JSON shapes both sides speak (node records, manifests, errors).
//! - [`metadata`]: node registry (register, heartbeat, health), video catalog,
//!   node list for clients. `vstack metadata` runs it alone.
//! - [`storage`]: one storage node: chunks on disk (atomic writes, hash verified
//!   on write, ids that could escape the data directory rejected), `Range`
//!   reads, `ping` for the client's monitor, `health`. `vstack node` runs one.
//! - [`emulator`]: per-node network conditions (latency + jitter, paced
//!   bandwidth shared by all responses, loss, down, slow disk), trace replay,
//!   named scenarios and a `--speed` factor.
//! - [`embedded`]: one call starts the metadata service and three nodes on
//!   ephemeral loopback ports and seeds `test-video-001`.
//! - [`ingest`]: `vstack ingest`: an HLS VOD (playlist + segments) into the
//!   cluster, one chunk per segment (the fMP4 initialization segment as chunk
//!   0; MPEG-TS remuxed to fMP4 first), replicated, nothing partial on error.
//! - [`test_pattern`]: the default video's real media, a test pattern
//!   encoded once with ffmpeg (H.264 in fMP4) and cached.
//! - [`acceptor_store`]: a storage node's durable ChunkPaxos acceptor states
//!   (written before the reply), served as `POST /paxos/{chunk_id}`.
//! - [`proposer`]: the ChunkPaxos proposer over HTTP that ingest commits
//!   chunk records with.
//!
//! - [`replica_view`]: the registry and catalog as adaptive redundancy sees
//!   them, and the `/replication` report built from them.
//! - [`replication`]: adaptive redundancy's manager in the metadata service:
//!   repair after a node loss, extra replicas for hot chunks, trims when a
//!   node returns, each change committed through the chunk's ChunkPaxos log.
//! - [`catalog_store`]: the metadata service's registry and catalog in SQLite.
//! - [`auth`]: the cluster token every state-changing request carries.
//!
//! Every HTTP error answers with a JSON body `{"error": "..."}`
//! ([`crate::http::ApiError`]).

pub mod acceptor_store;
pub mod auth;
pub mod catalog_store;
pub mod embedded;
pub mod emulator;
pub mod ingest;
pub mod metadata;
pub mod proposer;
pub mod replica_view;
pub mod replication;
pub mod storage;
pub mod test_pattern;
pub mod wire;
