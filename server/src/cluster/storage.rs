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

impl StorageNode {
    /// Opens (creating if needed) the data directory, removes temporary files
    /// left by a crash and indexes the chunks found, hashing each.
    ///
    /// # Errors
    /// [`StorageError`] when the id is invalid or the directory unusable.
    pub fn open(config: StorageConfig, emulator: Emulator) -> Result<Self, StorageError> {
        validate_id("node", &config.node_id).map_err(|e| StorageError::BadId(e.message))?;
        let dir = &config.data_dir;
        let io = |source| StorageError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut index = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let Some(id) = name.strip_suffix(".chunk") else {
                continue;
            };
            if validate_id("chunk", id).is_err() {
                continue;
            }
            let bytes = std::fs::read(entry.path()).map_err(|source| StorageError::Io {
                path: entry.path(),
                source,
            })?;
            index.insert(
                id.to_string(),
                StoredChunk {
                    chunk_id: id.to_string(),
                    size_bytes: bytes.len() as u64,
                    sha256: sha256_hex(&bytes),
                },
            );
        }
        let paxos = super::acceptor_store::AcceptorStore::open(dir.join("paxos")).map_err(io)?;
        Ok(Self {
            popularity: popularity_window(&config),
            started: tokio::time::Instant::now(),
            http: crate::http::prom::HttpMetrics::new("node"),
            served_bytes: std::sync::atomic::AtomicU64::new(0),
            config,
            index: Arc::new(RwLock::new(index)),
            emulator,
            node_index: AtomicUsize::new(0),
            paxos: Arc::new(paxos),
        })
    }

    /// A twin of this node: the same data directory and chunk index (a chunk
    /// stored through either is seen by both), its own emulator. The dashboard's
    /// naive client streams from twins of the smart client's nodes, so both
    /// read the same bytes under separately controlled, identical conditions.
    pub fn twin(&self, emulator: Emulator) -> Self {
        Self {
            popularity: popularity_window(&self.config),
            started: tokio::time::Instant::now(),
            http: crate::http::prom::HttpMetrics::new("node"),
            served_bytes: std::sync::atomic::AtomicU64::new(0),
            config: self.config.clone(),
            index: self.index.clone(),
            emulator,
            node_index: AtomicUsize::new(self.node_index()),
            paxos: self.paxos.clone(),
        }
    }

    /// Node id.
    pub fn node_id(&self) -> &str {
        &self.config.node_id
    }

    /// The node's emulator.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// Position in the metadata service's registry (for scenarios), 0 until set.
    pub fn node_index(&self) -> usize {
        self.node_index.load(Ordering::Relaxed)
    }

    /// Sets the registry position.
    pub fn set_node_index(&self, i: usize) {
        self.node_index.store(i, Ordering::Relaxed);
    }

    /// Chunk count and bytes stored.
    pub fn usage(&self) -> NodeHeartbeat {
        let idx = self.index.read_locked();
        NodeHeartbeat {
            chunk_count: idx.len() as u64,
            bytes_stored: idx.values().map(|c| c.size_bytes).sum(),
            window_ms: self.config.popularity_window.as_millis() as u64,
            ..NodeHeartbeat::default()
        }
    }

    /// Counts one GET of chunk `id` by `voter` in the popularity window
    /// (one vote per client per window, [`PopularityWindow::record_vote`]).
    fn count_get(&self, id: &str, voter: &str) {
        let now = self.started.elapsed();
        self.popularity.locked().record_vote(now, id, voter);
    }

    /// What the node's heartbeat carries: [`Self::usage`], the free space of
    /// its data disk (a `statvfs` on the blocking pool) and the GETs per
    /// chunk over its popularity window.
    pub async fn heartbeat_body(&self) -> NodeHeartbeat {
        let mut h = self.usage();
        let dir = self.config.data_dir.clone();
        h.free_bytes = tokio::task::spawn_blocking(move || free_bytes(&dir))
            .await
            .ok()
            .flatten();
        let now = self.started.elapsed();
        let top = self.popularity.locked().top(now, usize::MAX);
        h.gets_in_window = top.iter().fold(0u64, |a, (_, n)| a.saturating_add(*n));
        h.popularity = top
            .into_iter()
            .take(super::wire::MAX_HEARTBEAT_POPULARITY)
            .map(|(chunk_id, gets)| super::wire::ChunkGets { chunk_id, gets })
            .collect();
        h
    }

    /// Every stored chunk, sorted by id.
    pub fn chunks(&self) -> Vec<StoredChunk> {
        let idx = self.index.read_locked();
        let mut v: Vec<_> = idx.values().cloned().collect();
        v.sort_by(|a, b| a.chunk_id.cmp(&b.chunk_id));
        v
    }

    fn lookup(&self, id: &str) -> Option<StoredChunk> {
        self.index.read_locked().get(id).cloned()
    }

    fn path_of(&self, id: &str) -> PathBuf {
        self.config.data_dir.join(format!("{id}.chunk"))
    }

    /// Stores `bytes` as chunk `id` after checking `sha256` (atomic replace).
    /// Returns true when the chunk is new.
    ///
    /// # Errors
    /// 400 bad id, 413 too large, 422 hash mismatch, 500 disk errors.
    pub async fn store(&self, id: &str, sha256: &str, bytes: Bytes) -> Result<bool, ApiError> {
        validate_id("chunk", id)?;
        if bytes.len() as u64 > self.config.max_chunk_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "chunk of {} bytes exceeds the {} byte limit",
                    bytes.len(),
                    self.config.max_chunk_bytes
                ),
            ));
        }
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(sha256.trim()) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("content hash mismatch: header says {sha256}, body hashes to {actual}"),
            ));
        }
        let dir = self.config.data_dir.clone();
        let target = self.path_of(id);
        let tmp = dir.join(format!(
            ".tmp-{id}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let len = bytes.len() as u64;
        tokio::task::spawn_blocking(move || write_atomically(&dir, &tmp, &target, &bytes))
            .await
            .map_err(|e| ApiError::internal(format!("write task: {e}")))?
            .map_err(|e| ApiError::internal(format!("write failed: {e}")))?;
        let new = self
            .index
            .write_locked()
            .insert(
                id.to_string(),
                StoredChunk {
                    chunk_id: id.to_string(),
                    size_bytes: len,
                    sha256: actual,
                },
            )
            .is_none();
        Ok(new)
    }

    /// Reads chunk `id` from disk.
    ///
    /// # Errors
    /// 400 bad id, 404 unknown, 500 disk errors.
    pub async fn read(&self, id: &str) -> Result<(StoredChunk, Bytes), ApiError> {
        validate_id("chunk", id)?;
        let meta = self
            .lookup(id)
            .ok_or_else(|| ApiError::not_found(format!("no chunk {id:?} on this node")))?;
        let bytes = tokio::fs::read(self.path_of(id))
            .await
            .map_err(|e| ApiError::internal(format!("read failed: {e}")))?;
        if bytes.len() as u64 != meta.size_bytes {
            return Err(changed_while_read());
        }
        Ok((meta, Bytes::from(bytes)))
    }

    /// Reads bytes `start..end` of chunk `id` from disk (on the blocking
    /// pool), without reading the rest of the file.
    ///
    /// # Errors
    /// 400 bad id, 404 unknown, 500 disk errors (a file shorter than its
    /// record included).
    pub async fn read_range(
        &self,
        id: &str,
        start: u64,
        end: u64,
    ) -> Result<(StoredChunk, Bytes), ApiError> {
        let len = usize::try_from(end.saturating_sub(start))
            .map_err(|_| ApiError::internal("range too long"))?;
        let mut f = self.open_range(id, start, end).await?;
        let meta = self
            .lookup(id)
            .ok_or_else(|| ApiError::not_found(format!("no chunk {id:?} on this node")))?;
        let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Vec<u8>>> {
            use std::io::Read;
            let mut v = vec![0u8; len];
            match f.read_exact(&mut v) {
                Ok(()) => Ok(Some(v)),
                // Shrunk by an overwrite after the length check.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| ApiError::internal(format!("read task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("read failed: {e}")))?
        .ok_or_else(changed_while_read)?;
        Ok((meta, Bytes::from(bytes)))
    }

    /// Opens chunk `id` for streaming bytes `start..end`: the file, checked
    /// to have the chunk's size and positioned at `start` (on the blocking
    /// pool). The body then reads it block by block ([`READ_BLOCK_BYTES`]).
    ///
    /// # Errors
    /// 400 bad id, 404 unknown, 503 when the file changed size (an overwrite
    /// racing the read), 500 disk errors.
    pub async fn open_range(
        &self,
        id: &str,
        start: u64,
        end: u64,
    ) -> Result<std::fs::File, ApiError> {
        validate_id("chunk", id)?;
        let meta = self
            .lookup(id)
            .ok_or_else(|| ApiError::not_found(format!("no chunk {id:?} on this node")))?;
        if start > end || end > meta.size_bytes {
            return Err(ApiError::internal("range outside the chunk"));
        }
        let path = self.path_of(id);
        let size = meta.size_bytes;
        tokio::task::spawn_blocking(move || -> std::io::Result<Option<std::fs::File>> {
            use std::io::{Seek, SeekFrom};
            let mut f = std::fs::File::open(path)?;
            if f.metadata()?.len() != size {
                return Ok(None);
            }
            f.seek(SeekFrom::Start(start))?;
            Ok(Some(f))
        })
        .await
        .map_err(|e| ApiError::internal(format!("open task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("open failed: {e}")))?
        .ok_or_else(changed_while_read)
    }

    /// Deletes chunk `id`.
    ///
    /// # Errors
    /// 400 bad id, 404 unknown, 500 disk errors.
    pub async fn delete(&self, id: &str) -> Result<(), ApiError> {
        validate_id("chunk", id)?;
        if self.index.write_locked().remove(id).is_none() {
            return Err(ApiError::not_found(format!("no chunk {id:?} on this node")));
        }
        tokio::fs::remove_file(self.path_of(id))
            .await
            .map_err(|e| ApiError::internal(format!("delete failed: {e}")))
    }
}

/// Free bytes on the file system holding `dir` (for unprivileged users),
/// from `statvfs`; `None` when it fails.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized,
    // zeroed out-parameter that statvfs fills.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| (st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// 503: the chunk was overwritten between its lookup and its read (the
/// client retries or fails over).
fn changed_while_read() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the chunk changed while being read; retry",
    )
}

fn write_atomically(dir: &Path, tmp: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let result = (|| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(tmp, target)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// The node's routes (see the module docs). `GET /metrics` (Prometheus
/// text, anyone may read it, like `/health`) is answered even while the
/// emulator holds the node down: it is the operator's view, not the data
/// path.
pub fn router(node: Arc<StorageNode>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/ping", get(ping))
        .route("/health", get(health))
        .route("/chunks", get(list_chunks))
        .route(
            "/chunks/{id}",
            get(get_chunk)
                .head(head_chunk)
                .put(put_chunk)
                .delete(delete_chunk)
                .layer(axum::extract::DefaultBodyLimit::max(
                    usize::try_from(node.config.max_chunk_bytes).unwrap_or(usize::MAX),
                )),
        )
        .route(
            "/paxos/{id}",
            get(paxos_state)
                .post(paxos_message)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_CONTROL_BODY_BYTES)),
        )
        .route(
            "/emulator",
            get(get_emulator)
                .put(put_emulator)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_CONTROL_BODY_BYTES)),
        )
        .route(
            "/emulator/scenario",
            put(put_scenario).layer(axum::extract::DefaultBodyLimit::max(MAX_CONTROL_BODY_BYTES)),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            node.http.clone(),
            crate::http::prom::HttpMetrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            node.config.cluster_token.clone(),
            crate::cluster::auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(node.config.allowed_hosts.clone()),
            crate::http::host::host_guard,
        ))
        .with_state(node)
}

/// `GET /metrics`: the node's series (module [`crate::http::prom`]), all
/// labelled `node`:
/// `vstack_node_chunks`, `vstack_node_stored_bytes`, `vstack_node_free_bytes`,
/// `vstack_node_gets_in_window` (chunk GETs over the popularity window),
/// `vstack_node_served_bytes_total`, the emulator's conditions
/// (`vstack_emulator_latency_seconds`, `_jitter_seconds`,
/// `_bandwidth_bytes_per_second` (absent when unshaped), `_loss_ratio`,
/// `_down`, `_partitioned`, `_disk_delay_seconds`) and
/// `vstack_http_request_duration_seconds`.
async fn metrics(State(node): State<Arc<StorageNode>>) -> Response {
    let h = node.heartbeat_body().await;
    let c = node.emulator.conditions();
    let mut s = crate::http::prom::Scrape::new();
    let l = || vec![("node", node.config.node_id.clone())];
    s.gauge(
        "vstack_node_chunks",
        "Chunks stored on the node",
        l(),
        h.chunk_count as f64,
    );
    s.gauge(
        "vstack_node_stored_bytes",
        "Bytes of chunks stored on the node",
        l(),
        h.bytes_stored as f64,
    );
    if let Some(free) = h.free_bytes {
        s.gauge(
            "vstack_node_free_bytes",
            "Free bytes on the node's data disk (statvfs)",
            l(),
            free as f64,
        );
    }
    s.gauge(
        "vstack_node_gets_in_window",
        "Chunk GETs over the node's popularity window",
        l(),
        h.gets_in_window as f64,
    );
    s.gauge(
        "vstack_node_popularity_window_seconds",
        "Length of the popularity window",
        l(),
        h.window_ms as f64 / 1e3,
    );
    s.counter(
        "vstack_node_served_bytes",
        "Chunk bytes the node's GETs set out to send",
        l(),
        node.served_bytes.load(Ordering::Relaxed) as f64,
    );
    emulator_series(&mut s, l(), &c);
    crate::http::prom::render(&[s.registry(), node.http.registry()])
}

/// The emulator's conditions as gauges labelled `labels` (see [`metrics`]).
pub fn emulator_series(
    s: &mut crate::http::prom::Scrape,
    labels: crate::http::prom::Labels,
    c: &vstack_core::conditions::Conditions,
) {
    let l = || labels.clone();
    s.gauge(
        "vstack_emulator_latency_seconds",
        "Emulated one-way latency before a response starts",
        l(),
        c.latency_ms / 1e3,
    );
    s.gauge(
        "vstack_emulator_jitter_seconds",
        "Emulated latency jitter (uniform, plus or minus)",
        l(),
        c.jitter_ms / 1e3,
    );
    if let Some(b) = c.bandwidth_mbps {
        s.gauge(
            "vstack_emulator_bandwidth_bytes_per_second",
            "Emulated bandwidth cap (absent when unshaped)",
            l(),
            b * 1e6 / 8.0,
        );
    }
    s.gauge(
        "vstack_emulator_loss_ratio",
        "Emulated probability that a transfer is cut",
        l(),
        c.loss,
    );
    s.gauge(
        "vstack_emulator_down",
        "1 while the emulator holds the node down",
        l(),
        f64::from(u8::from(c.down)),
    );
    s.gauge(
        "vstack_emulator_partitioned",
        "1 while the emulator partitions the node",
        l(),
        f64::from(u8::from(c.partitioned)),
    );
    s.gauge(
        "vstack_emulator_disk_delay_seconds",
        "Emulated disk delay per read",
        l(),
        c.disk_delay_ms / 1e3,
    );
}

fn down() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "node is down (network emulator)",
    )
}

/// Block size of a paced body's reads, bytes: a body holds at most one
/// block in memory, however large the range and however slowly (or never)
/// the client reads.
pub const READ_BLOCK_BYTES: usize = 64 << 10;

static ZEROS: [u8; READ_BLOCK_BYTES] = [0; READ_BLOCK_BYTES];

/// Where a paced body's bytes come from, one [`READ_BLOCK_BYTES`] block at
/// a time.
enum BodySource {
    /// `left` zero bytes (ping payloads), sliced from one static block.
    Zeros { left: u64 },
    /// A chunk file positioned at the range's start, `left` bytes to go,
    /// read on the blocking pool.
    File {
        file: Option<std::fs::File>,
        left: u64,
    },
}

impl BodySource {
    async fn next_block(&mut self) -> std::io::Result<Option<Bytes>> {
        match self {
            BodySource::Zeros { left } => {
                if *left == 0 {
                    return Ok(None);
                }
                let n =
                    usize::try_from(*left).map_or(READ_BLOCK_BYTES, |l| l.min(READ_BLOCK_BYTES));
                *left -= n as u64;
                Ok(Some(Bytes::from_static(&ZEROS[..n])))
            }
            BodySource::File { file, left } => {
                if *left == 0 {
                    return Ok(None);
                }
                let n =
                    usize::try_from(*left).map_or(READ_BLOCK_BYTES, |l| l.min(READ_BLOCK_BYTES));
                let mut f = file
                    .take()
                    .ok_or_else(|| std::io::Error::other("read after a failed read"))?;
                let (f, buf) = tokio::task::spawn_blocking(move || {
                    use std::io::Read;
                    let mut v = vec![0u8; n];
                    f.read_exact(&mut v).map(|()| (f, v))
                })
                .await
                .map_err(std::io::Error::other)??;
                *file = Some(f);
                *left -= n as u64;
                Ok(Some(Bytes::from(buf)))
            }
        }
    }
}

/// Builds a paced body of `total` bytes from `source`, cut after
/// `cut_after` bytes (a lost transfer). It reads ahead at most one block.
fn paced_body(emulator: Emulator, source: BodySource, total: u64, cut_after: Option<u64>) -> Body {
    let epoch = emulator.epoch();
    let reset =
        |why: &str| std::io::Error::new(std::io::ErrorKind::ConnectionReset, why.to_string());
    let stream = futures::stream::unfold(
        (emulator, source, Bytes::new(), 0u64, cut_after, false),
        move |(e, mut source, mut pending, pos, cut, done)| async move {
            if done {
                return None;
            }
            let lost = cut.is_some_and(|c| pos >= c);
            if lost || e.epoch() != epoch {
                let why = if lost {
                    "transfer lost (network emulator)"
                } else {
                    "node killed"
                };
                return Some((Err(reset(why)), (e, source, pending, pos, None, true)));
            }
            if pos >= total {
                return None;
            }
            if pending.is_empty() {
                match source.next_block().await {
                    Ok(Some(b)) => pending = b,
                    Ok(None) => return None,
                    Err(err) => {
                        // The file shrank or failed under us: the client sees a
                        // broken transfer (and its hash check would catch a
                        // changed one).
                        return Some((
                            Err(reset(&format!("read failed: {err}"))),
                            (e, source, pending, pos, None, true),
                        ));
                    }
                }
            }
            let mut n = e.slice_bytes().min(pending.len());
            if let Some(c) = cut {
                n = n
                    .min(usize::try_from(c.saturating_sub(pos)).unwrap_or(usize::MAX))
                    .max(1);
            }
            e.wait_reachable().await;
            e.pace(n).await;
            if e.epoch() != epoch {
                return Some((
                    Err(reset("node killed")),
                    (e, source, pending, pos, None, true),
                ));
            }
            let slice = pending.split_to(n);
            Some((
                Ok::<_, std::io::Error>(slice),
                (e, source, pending, pos + n as u64, cut, false),
            ))
        },
    );
    Body::from_stream(stream)
}

/// `POST /paxos/{chunk_id}`: a ChunkPaxos message from a proposer (`prepare`
/// or `accept`, JSON tagged by `type`), through the emulator like any request
/// (a down node answers 503, a partitioned one not at all, latency delays it,
/// a loss draw drops the request or the reply with a 503); the reply message
/// after the acceptor state is durable.
async fn paxos_message(
    State(node): State<Arc<StorageNode>>,
    UrlPath(id): UrlPath<String>,
    body: Result<
        Json<vstack_core::consensus::paxos::Message<vstack_core::consensus::ChunkRecord>>,
        axum::extract::rejection::JsonRejection,
    >,
) -> Result<
    Json<vstack_core::consensus::paxos::Message<vstack_core::consensus::ChunkRecord>>,
    ApiError,
> {
    let Json(msg) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let e = node.emulator.clone();
    e.wait_reachable().await;
    // 2 bytes of "body" so a loss draw can pick the request or the reply.
    let Plan::Serve {
        first_byte_delay,
        cut_after,
    } = e.plan(2, false)
    else {
        return Err(down());
    };
    tokio::time::sleep(first_byte_delay).await;
    let lost = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "message lost (network emulator)",
        )
    };
    match cut_after {
        // The request is lost: the acceptor never sees it.
        Some(0) => Err(lost()),
        // The reply is lost: the acceptor acted (and persisted) all the same.
        Some(_) => {
            node.paxos.handle(&id, &msg).await?;
            Err(lost())
        }
        None => Ok(Json(node.paxos.handle(&id, &msg).await?)),
    }
}

/// `GET /paxos/{chunk_id}`: the node's acceptor state for that chunk.
async fn paxos_state(
    State(node): State<Arc<StorageNode>>,
    UrlPath(id): UrlPath<String>,
) -> Result<
    Json<vstack_core::consensus::paxos::Acceptor<vstack_core::consensus::ChunkRecord>>,
    ApiError,
> {
    let state = tokio::task::spawn_blocking(move || node.paxos.state(&id))
        .await
        .map_err(|e| ApiError::internal(format!("acceptor task: {e}")))??;
    Ok(Json(state))
}

/// Query of `GET /ping`.
#[derive(Debug, Deserialize)]
pub struct PingQuery {
    /// Payload size, bytes (default 0, at most [`MAX_PING_BYTES`]).
    #[serde(default)]
    pub bytes: u64,
}

async fn ping(
    State(node): State<Arc<StorageNode>>,
    q: Result<Query<PingQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if q.bytes > MAX_PING_BYTES {
        return Err(ApiError::bad_request(format!(
            "bytes must be at most {MAX_PING_BYTES}"
        )));
    }
    let e = node.emulator.clone();
    e.wait_reachable().await;
    let Plan::Serve {
        first_byte_delay,
        cut_after,
    } = e.plan(q.bytes, false)
    else {
        return Err(down());
    };
    tokio::time::sleep(first_byte_delay).await;
    let body = paced_body(e, BodySource::Zeros { left: q.bytes }, q.bytes, cut_after);
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        [(header::CONTENT_LENGTH, q.bytes.to_string())],
        body,
    )
        .into_response())
}

async fn health(State(node): State<Arc<StorageNode>>) -> Result<Json<StorageHealth>, ApiError> {
    let conditions = node.emulator.conditions();
    if conditions.down {
        return Err(down());
    }
    let u = node.usage();
    Ok(Json(StorageHealth {
        node_id: node.node_id().to_string(),
        chunk_count: u.chunk_count,
        bytes_stored: u.bytes_stored,
        conditions,
    }))
}

async fn list_chunks(State(node): State<Arc<StorageNode>>) -> Json<Vec<StoredChunk>> {
    Json(node.chunks())
}

/// A parsed `Range: bytes=` header: the half-open byte range to send.
fn parse_range(value: &str, len: u64) -> Result<(u64, u64), ()> {
    let spec = value.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Err(()); // multipart ranges are not supported
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            len
        } else {
            b.parse::<u64>().map_err(|_| ())?.saturating_add(1).min(len)
        };
        (start, end)
    };
    if start >= end || start >= len {
        return Err(());
    }
    Ok((start, end))
}

fn chunk_headers(meta: &StoredChunk, len: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&meta.sha256) {
        h.insert(HASH_HEADER, v);
    }
    h
}

/// The popularity voter of a request from `peer`: its address (IPv6 per
/// /64); on loopback, the address and the player's
/// [`super::wire::CLIENT_ID_HEADER`] (at most 64 visible ASCII characters).
fn voter(peer: Option<std::net::SocketAddr>, headers: &HeaderMap) -> String {
    let ip = peer.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |p| p.ip());
    let key = crate::http::serve::ip_key(ip);
    let id = headers
        .get(super::wire::CLIENT_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()));
    match id {
        Some(id) if ip.is_loopback() || ip.is_unspecified() => format!("{key}+{id}"),
        _ => key.to_string(),
    }
}

async fn get_chunk(
    State(node): State<Arc<StorageNode>>,
    UrlPath(id): UrlPath<String>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    validate_id("chunk", &id)?;
    let meta = node
        .lookup(&id)
        .ok_or_else(|| ApiError::not_found(format!("no chunk {id:?} on this node")))?;
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    node.count_get(&id, &voter(peer, &headers));
    let range = match headers.get(header::RANGE) {
        None => None,
        Some(v) => {
            let v = v.to_str().unwrap_or("");
            match parse_range(v, meta.size_bytes) {
                Ok(r) => Some(r),
                Err(()) => {
                    let mut resp = ApiError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        format!("unsatisfiable range {v:?} for {} bytes", meta.size_bytes),
                    )
                    .into_response();
                    resp.headers_mut().insert(
                        header::CONTENT_RANGE,
                        HeaderValue::from_str(&format!("bytes */{}", meta.size_bytes))
                            .expect("ascii"),
                    );
                    return Ok(resp);
                }
            }
        }
    };
    let (start, end) = range.unwrap_or((0, meta.size_bytes));
    let e = node.emulator.clone();
    e.wait_reachable().await;
    let Plan::Serve {
        first_byte_delay,
        cut_after,
    } = e.plan(end - start, true)
    else {
        return Err(down());
    };
    tokio::time::sleep(first_byte_delay).await;
    let file = node.open_range(&id, start, end).await?;
    let sent = cut_after.map_or(end - start, |c| c.min(end - start));
    node.served_bytes.fetch_add(sent, Ordering::Relaxed);
    let source = BodySource::File {
        file: Some(file),
        left: end - start,
    };
    let body = paced_body(e, source, end - start, cut_after);
    let mut h = chunk_headers(&meta, end - start);
    let status = if range.is_some() {
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, meta.size_bytes))
                .expect("ascii"),
        );
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    Ok((status, h, body).into_response())
}

async fn head_chunk(
    State(node): State<Arc<StorageNode>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    validate_id("chunk", &id)?;
    if node.emulator.conditions().down {
        return Err(down());
    }
    let meta = node
        .lookup(&id)
        .ok_or_else(|| ApiError::not_found(format!("no chunk {id:?} on this node")))?;
    Ok((StatusCode::OK, chunk_headers(&meta, meta.size_bytes)).into_response())
}

async fn put_chunk(
    State(node): State<Arc<StorageNode>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    validate_id("chunk", &id)?;
    if node.emulator.conditions().down {
        return Err(down());
    }
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > node.config.max_chunk_bytes
    {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "chunk of {len} bytes exceeds the {} byte limit",
                node.config.max_chunk_bytes
            ),
        ));
    }
    let hash = headers
        .get(HASH_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request(format!("missing header {HASH_HEADER}")))?
        .to_string();
    let body = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let new = node.store(&id, &hash, body).await?;
    let meta = node.lookup(&id).ok_or_else(|| ApiError::internal("lost"))?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(meta)).into_response())
}

async fn delete_chunk(
    State(node): State<Arc<StorageNode>>,
    UrlPath(id): UrlPath<String>,
) -> Result<StatusCode, ApiError> {
    node.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_emulator(State(node): State<Arc<StorageNode>>) -> Json<Conditions> {
    Json(node.emulator.conditions())
}

async fn put_emulator(
    State(node): State<Arc<StorageNode>>,
    body: Result<Json<Conditions>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Conditions>, ApiError> {
    let Json(c) = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    c.validate().map_err(ApiError::bad_request)?;
    node.emulator.set_conditions(c);
    Ok(Json(node.emulator.conditions()))
}

async fn put_scenario(
    State(node): State<Arc<StorageNode>>,
    body: Result<Json<ScenarioRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Conditions>, ApiError> {
    let Json(r) = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let i = r.node_index.unwrap_or_else(|| node.node_index());
    node.emulator.apply_scenario(r.scenario, i);
    Ok(Json(node.emulator.conditions()))
}

/// Registers `node` (reachable at `public_url`) with the metadata service at
/// `metadata_url`, then heartbeats every `interval` until the task is dropped,
/// re-registering when the service forgot the node (e.g. after its restart).
/// Failures are logged and retried; this never returns.
pub async fn register_and_heartbeat(
    node: Arc<StorageNode>,
    metadata_url: String,
    public_url: String,
    interval: Duration,
) {
    let http = crate::cluster::auth::ClusterClient::new(
        node.config.cluster_token.clone(),
        &node.config.transport,
    );
    let base = metadata_url.trim_end_matches('/').to_string();
    let mut registered = false;
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        if node.emulator().is_partitioned() {
            continue;
        }
        if !registered {
            match register(&http, &base, node.node_id(), &public_url).await {
                Ok(i) => {
                    node.set_node_index(i);
                    registered = true;
                    tracing::debug!(node = node.node_id(), index = i, "registered with {base}");
                }
                Err(e) => {
                    tracing::warn!(node = node.node_id(), "registration failed: {e}");
                    continue;
                }
            }
        }
        let url = format!("{base}/nodes/{}/heartbeat", node.node_id());
        match http
            .post(&url)
            .json(&node.heartbeat_body().await)
            .send()
            .await
        {
            Ok(r) if r.status() == StatusCode::NOT_FOUND => registered = false,
            Ok(_) => {}
            Err(e) => tracing::debug!(node = node.node_id(), "heartbeat failed: {e}"),
        }
    }
}

/// Client side of `POST /nodes/register`: returns the node's index.
///
/// # Errors
/// The HTTP or status error, as text.
pub async fn register(
    http: &crate::cluster::auth::ClusterClient,
    base: &str,
    node_id: &str,
    url: &str,
) -> Result<usize, String> {
    let r = http
        .post(format!("{base}/nodes/register"))
        .json(&RegisterNode {
            node_id: node_id.to_string(),
            url: url.to_string(),
        })
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        let status = r.status();
        return Err(format!("{status}: {}", r.text().await.unwrap_or_default()));
    }
    r.json::<Registered>()
        .await
        .map(|r| r.node_index)
        .map_err(|e| e.to_string())
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
