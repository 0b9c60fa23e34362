//! One storage node: chunks on disk behind the network emulator.
//!
//! HTTP interface ([`router`]):
//! - `PUT /chunks/{id}` with header `x-content-sha256: <hex>`: stores the body.
//!   The hash is verified before anything is kept (422 on mismatch); the body is
//!   written to a temporary file, fsynced and renamed over `{id}.chunk`, so a
//!   crash leaves either the old chunk or the new one, never a torn one. 201 when
//!   new, 200 when replaced. Bodies above [`StorageConfig::max_chunk_bytes`] get
//!   413; ids outside [`super::validate_id`] get 400.
//! - `GET /chunks/{id}` (optionally `Range: bytes=a-b | a- | -n`, answered 206
//!   with `content-range`, 416 when unsatisfiable), `HEAD /chunks/{id}`: headers
//!   `content-length`, `x-content-sha256`, `accept-ranges`. Through the emulator.
//! - `DELETE /chunks/{id}`: 204, or 404.
//! - `GET /chunks`: every stored chunk (id, size, hash).
//! - `GET /ping?bytes=N`: N bytes (0 by default, at most 1 MiB) through the
//!   emulator, for the client's monitor (latency and bandwidth probes).
//! - `GET /health`: node id, chunk count, bytes stored, current conditions (503
//!   while the emulator says down).
//! - `GET /emulator`, `PUT /emulator` (a [`Conditions`] body), `PUT
//!   /emulator/scenario` (`{"scenario": "node_failure", "node_index": 0}`):
//!   run-time network conditions.
//!
//! On start the data directory is scanned: leftover temporary files from a crash
//! are removed and every chunk's hash is computed, so the index is always what
//! is on disk.
//!
//! Layout: this file holds the node's settings and state; `store` the disk
//! store, `routes` the HTTP handlers, `pacing` the emulator-paced bodies,
//! `paxos` the acceptor endpoint, `metrics` the Prometheus series,
//! `register` the metadata registration and heartbeats.

use crate::sync::{LockExt, RwLockExt};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path as UrlPath, Query, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, put},
};
use serde::{Deserialize, Serialize};

use vstack_core::redundancy::PopularityWindow;

use super::{
    emulator::{Conditions, Emulator, Plan},
    wire::{NodeHeartbeat, RegisterNode, Registered, ScenarioRequest, StorageHealth},
};
use crate::http::{ApiError, sha256_hex, validate_id};

mod metrics;
mod pacing;
mod paxos;
mod register;
mod routes;
mod store;

pub use metrics::*;
pub use pacing::*;
use paxos::*;
pub use register::*;
pub use routes::*;

/// Header carrying a chunk's hex SHA-256.
pub const HASH_HEADER: &str = "x-content-sha256";

/// Largest probe payload `GET /ping?bytes=` serves: 1 MiB.
pub const MAX_PING_BYTES: u64 = 1 << 20;

/// Storage node settings.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    /// Node id (see [`validate_id`]). No default: the caller names the node.
    pub node_id: String,
    /// Where chunks live. No default here; `vstack node` defaults to
    /// `./vstack-data/{node_id}` and the embedded cluster to a temporary dir.
    pub data_dir: PathBuf,
    /// Upload size limit, bytes, enforced while the body streams in (413).
    /// Default 64 MiB.
    pub max_chunk_bytes: u64,
    /// The cluster token state-changing routes require (and the node sends
    /// with its registration and heartbeats). Default: a random one.
    pub cluster_token: crate::cluster::auth::ClusterToken,
    /// Window over which the node counts GETs per chunk for adaptive
    /// redundancy's popularity (six slots). Default 60 s.
    pub popularity_window: Duration,
    /// Host names the node answers besides IP literals and `localhost`
    /// (DNS-rebinding guard, [`crate::http::host`]). Default: none;
    /// `vstack node` adds its `--public-url` host.
    pub allowed_hosts: crate::http::host::HostAllowList,
    /// How the cluster's processes reach each other (HTTPS, trusted
    /// authorities, plain HTTP allowed). Default
    /// [`crate::cluster::auth::ClusterTransport::default`].
    pub transport: crate::cluster::auth::ClusterTransport,
}

/// Largest body of the node's other state-changing routes (`/paxos`,
/// `/emulator`): 1 MiB.
pub const MAX_CONTROL_BODY_BYTES: usize = 1 << 20;

impl StorageConfig {
    /// Settings with the default upload limit and a random cluster token.
    pub fn new(node_id: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            node_id: node_id.into(),
            data_dir: data_dir.into(),
            max_chunk_bytes: 64 << 20,
            cluster_token: crate::cluster::auth::ClusterToken::random(),
            popularity_window: Duration::from_secs(60),
            allowed_hosts: crate::http::host::HostAllowList::default(),
            transport: crate::cluster::auth::ClusterTransport::default(),
        }
    }
}

/// A stored chunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChunk {
    /// Chunk id.
    pub chunk_id: String,
    /// Payload size, bytes.
    pub size_bytes: u64,
    /// Hex SHA-256.
    pub sha256: String,
}

/// Errors opening a node's data directory.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The directory cannot be created or read.
    #[error("data directory {path}: {source}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The node id is not a valid id.
    #[error("{0}")]
    BadId(String),
}

/// One storage node's state; share it as `Arc<StorageNode>`.
#[derive(Debug)]
pub struct StorageNode {
    config: StorageConfig,
    index: Arc<RwLock<HashMap<String, StoredChunk>>>,
    emulator: Emulator,
    node_index: AtomicUsize,
    paxos: Arc<super::acceptor_store::AcceptorStore>,
    /// GETs per chunk over the popularity window (this node's own: a twin
    /// counts its clients apart).
    popularity: std::sync::Mutex<PopularityWindow>,
    /// Origin of the popularity window's clock.
    started: tokio::time::Instant,
    /// Request durations per route (`/metrics`).
    http: Arc<crate::http::prom::HttpMetrics>,
    /// Chunk bytes this node's GETs set out to send (after the emulator's
    /// loss cut), since it started.
    served_bytes: std::sync::atomic::AtomicU64,
}

/// Chunk ids a node's popularity window tracks per slot at most.
const MAX_TRACKED_CHUNKS: usize = 100_000;

fn popularity_window(config: &StorageConfig) -> std::sync::Mutex<PopularityWindow> {
    std::sync::Mutex::new(PopularityWindow::new(
        config.popularity_window,
        6,
        MAX_TRACKED_CHUNKS,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok((0, 100)));
        assert_eq!(parse_range("bytes=900-", 1000), Ok((900, 1000)));
        assert_eq!(parse_range("bytes=-100", 1000), Ok((900, 1000)));
        assert_eq!(parse_range("bytes=990-2000", 1000), Ok((990, 1000)));
        assert!(parse_range("bytes=1000-", 1000).is_err());
        assert!(parse_range("bytes=5-2", 1000).is_err());
        assert!(parse_range("bytes=0-1,5-6", 1000).is_err());
        assert!(parse_range("items=0-1", 1000).is_err());
        assert!(parse_range("bytes=-0", 1000).is_err());
    }

    #[tokio::test]
    async fn a_read_racing_a_shrinking_overwrite_is_a_503_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let node = StorageNode::open(
            StorageConfig::new("n1", dir.path()),
            Emulator::new(Conditions::default(), 1.0, 1),
        )
        .unwrap();
        let data = Bytes::from(vec![7u8; 1000]);
        node.store("c1", &sha256_hex(&data), data).await.unwrap();
        // The file shrinks under the record (another writer's rename landed
        // between the lookup and the read).
        std::fs::write(dir.path().join("c1.chunk"), [1u8; 10]).unwrap();
        for r in [
            node.read_range("c1", 500, 1000).await.map(|_| ()),
            node.read_range("c1", 0, 1000).await.map(|_| ()),
            node.read("c1").await.map(|_| ()),
        ] {
            assert_eq!(r.unwrap_err().status, StatusCode::SERVICE_UNAVAILABLE);
        }
    }

    #[tokio::test]
    async fn store_verifies_hash_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StorageConfig::new("n1", dir.path());
        let node =
            StorageNode::open(cfg.clone(), Emulator::new(Conditions::default(), 1.0, 1)).unwrap();
        let data = Bytes::from_static(b"hello chunk");
        let bad = node.store("c1", &"0".repeat(64), data.clone()).await;
        assert_eq!(bad.unwrap_err().status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            node.store("c1", &sha256_hex(&data), data.clone())
                .await
                .unwrap()
        );
        assert!(
            !node
                .store("c1", &sha256_hex(&data), data.clone())
                .await
                .unwrap()
        );
        assert_eq!(
            node.store("../x", "", data.clone())
                .await
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
        // A crash mid-write leaves a temporary file; reopening removes it.
        std::fs::write(dir.path().join(".tmp-c2-1"), b"torn").unwrap();
        drop(node);
        let node = StorageNode::open(cfg, Emulator::new(Conditions::default(), 1.0, 1)).unwrap();
        assert_eq!(node.usage().chunk_count, 1);
        assert_eq!(node.chunks()[0].sha256, sha256_hex(&data));
        assert!(!dir.path().join(".tmp-c2-1").exists());
        let (_, read) = node.read("c1").await.unwrap();
        assert_eq!(read, data);
    }
}
