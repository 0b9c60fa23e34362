//! The metadata service: node registry and video catalog (seed 001/002; the
//! seed's clients find it at `METADATA_SERVICE_URL`, port 8080 by default).
//!
//! HTTP interface ([`router`]), JSON everywhere, errors as `{"error": ...}`:
//! - `GET /health`: `{"status": "ok", "nodes": n, "videos": n}`.
//! - `POST /nodes/register` ([`RegisterNode`]) → `{"node_id", "node_index"}`;
//!   registering an id again updates its URL and keeps its index.
//! - `POST /nodes/{id}/heartbeat` ([`NodeHeartbeat`]) → 204; 404 for unknown ids.
//! - `GET /nodes` ([`NodeList`]), `GET /nodes/{id}` ([`NodeRecord`]). A node is
//!   healthy while its last heartbeat is younger than
//!   [`MetadataConfig::heartbeat_timeout`].
//! - `GET /videos` ([`VideoSummary`] list), `GET /videos/{id}`
//!   ([`VideoManifest`]), `POST /videos` (register a manifest: every replica must
//!   name a registered node, chunk indices must run 0..n; 201), `DELETE
//!   /videos/{id}`.
//! - `GET /replication`: adaptive redundancy's view
//!   ([`vstack_core::redundancy::ReplicationReport`]): per chunk its target
//!   replication factor, live replicas and popularity; totals and events.
//! - `POST /cluster/scenario` `{"scenario": "node_failure"}`: the cluster-wide
//!   network control; forwards the scenario to every registered node with its
//!   index and answers each node's outcome.

use crate::sync::RwLockExt;
use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{
    emulator::Scenario,
    wire::{
        ChunkEntry, MAX_RUNGS, NodeHeartbeat, NodeList, NodeRecord, RegisterNode, Registered,
        RegistryHealth, ScenarioRequest, VideoManifest, VideoSummary,
    },
};
use crate::{
    cluster::{
        auth::ClusterToken,
        catalog_store::{CatalogError, CatalogStore},
    },
    http::{ApiError, validate_id},
};

/// Default address of a standalone metadata service (the seed's port 8080).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Where nodes, ingest and players find a standalone metadata service by
/// default: [`DEFAULT_ADDR`] over HTTP.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Metadata service settings.
#[derive(Clone, Debug)]
pub struct MetadataConfig {
    /// A node without a heartbeat for this long is reported down. Default 10 s.
    pub heartbeat_timeout: Duration,
    /// The cluster token state-changing routes require (and the service
    /// sends to nodes). Default: a random one.
    pub cluster_token: ClusterToken,
    /// Where the registry and catalog are kept ([`CatalogStore`], SQLite);
    /// `None` keeps them in memory only. Default `None`; `vstack metadata`
    /// defaults to `./vstack-data/metadata`.
    pub data_dir: Option<std::path::PathBuf>,
    /// Host names the service answers besides IP literals and `localhost`
    /// (DNS-rebinding guard, [`crate::http::host`]). Default: none.
    pub allowed_hosts: crate::http::host::HostAllowList,
    /// Hosts a node may register a URL on (the service sends the cluster
    /// token there): names, IP addresses or CIDR blocks (`10.0.0.0/24`),
    /// besides loopback and the registering node's own address, which are
    /// always allowed. Default: none; `vstack metadata` adds its own
    /// network (the bound address's /24, or /64 for IPv6).
    pub node_hosts: Vec<String>,
    /// How the cluster's processes reach each other (HTTPS, trusted
    /// authorities, plain HTTP allowed). Default
    /// [`crate::cluster::auth::ClusterTransport::default`].
    pub transport: crate::cluster::auth::ClusterTransport,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self {
            heartbeat_timeout: Duration::from_secs(10),
            cluster_token: ClusterToken::random(),
            data_dir: None,
            allowed_hosts: crate::http::host::HostAllowList::default(),
            node_hosts: Vec::new(),
            transport: crate::cluster::auth::ClusterTransport::default(),
        }
    }
}

/// Nodes the registry holds at most (then 507).
pub const MAX_NODES: usize = 1024;
/// Videos the catalog holds at most (then 507).
pub const MAX_VIDEOS: usize = 100_000;
/// Chunks a video may have at most.
pub const MAX_CHUNKS_PER_VIDEO: usize = 100_000;
/// Longest chunk, ms (10 min, as the core's video parser bounds segments).
pub const MAX_CHUNK_DURATION_MS: u64 = 600_000;
/// Largest chunk, bytes (1 GiB).
pub const MAX_CHUNK_BYTES: u64 = 1 << 30;
/// Replicas a chunk may list at most.
pub const MAX_REPLICAS: usize = 64;
/// How far a rung's chunk may differ in duration from the same chunk of the
/// video whose ladder lists it, ms (encoders round segment ends to frames).
pub const RUNG_DURATION_SLACK_MS: u64 = 100;

/// Largest request body the metadata service reads (a manifest of a day of
/// 2 s segments is ~15 MB): 32 MiB, enforced while it streams in.
pub const MAX_BODY_BYTES: usize = 32 << 20;

#[derive(Debug)]
struct NodeEntry {
    node_id: String,
    url: String,
    last_seen: Instant,
    usage: NodeHeartbeat,
}

/// The service's state; share it as `Arc<MetadataService>`.
#[derive(Debug, Default)]
pub struct MetadataService {
    config: MetadataConfig,
    nodes: RwLock<Vec<NodeEntry>>,
    videos: RwLock<BTreeMap<String, VideoManifest>>,
    http: crate::cluster::auth::ClusterClient,
    store: Option<CatalogStore>,
    /// The replication manager's latest report (`None` while none runs).
    replication: RwLock<Option<vstack_core::redundancy::ReplicationReport>>,
    /// Request durations per route (`/metrics`).
    http_metrics: HttpMetrics,
}

/// The metadata service's request-duration histogram (labelled
/// `server="metadata"`).
#[derive(Debug)]
struct HttpMetrics(Arc<crate::http::prom::HttpMetrics>);

impl Default for HttpMetrics {
    fn default() -> Self {
        Self(crate::http::prom::HttpMetrics::new("metadata"))
    }
}

pub use super::replica_view::NodeUsage;

/// Body of `POST /cluster/scenario`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterScenario {
    /// The scenario to apply on every node.
    pub scenario: Scenario,
}

/// One node's outcome of `POST /cluster/scenario`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioOutcome {
    /// Node id.
    pub node_id: String,
    /// Whether the node applied it.
    pub ok: bool,
    /// The error, when not.
    pub error: Option<String>,
}

impl MetadataService {
    /// An empty registry and catalog.
    pub fn new(config: MetadataConfig) -> Self {
        Self {
            http: crate::cluster::auth::ClusterClient::new(
                config.cluster_token.clone(),
                &config.transport,
            ),
            config,
            ..Self::default()
        }
    }

    /// The service with its registry and catalog loaded from
    /// [`MetadataConfig::data_dir`] (in memory only without one). Restored
    /// nodes count as down until their next heartbeat.
    ///
    /// # Errors
    /// [`CatalogError`] when the database cannot be opened or read.
    pub async fn open(config: MetadataConfig) -> Result<Self, CatalogError> {
        let Some(dir) = config.data_dir.clone() else {
            return Ok(Self::new(config));
        };
        let store = CatalogStore::open(&dir).await?;
        let long_ago = Instant::now()
            .checked_sub(config.heartbeat_timeout)
            .unwrap_or_else(Instant::now);
        let nodes = store
            .nodes()
            .await?
            .into_iter()
            .map(|n| NodeEntry {
                node_id: n.node_id,
                url: n.url,
                last_seen: long_ago,
                usage: NodeHeartbeat::default(),
            })
            .collect();
        let videos = store
            .videos()
            .await?
            .into_iter()
            .map(|m| (m.video_id.clone(), m))
            .collect();
        Ok(Self {
            http: crate::cluster::auth::ClusterClient::new(
                config.cluster_token.clone(),
                &config.transport,
            ),
            config,
            nodes: RwLock::new(nodes),
            videos: RwLock::new(videos),
            store: Some(store),
            replication: RwLock::new(None),
            http_metrics: HttpMetrics::default(),
        })
    }

    /// Registers a node ([`Self::register`]) and, with a data directory,
    /// stores it before answering.
    ///
    /// # Errors
    /// As [`Self::register`]; 500 when the database refuses.
    pub async fn register_durably(&self, r: &RegisterNode) -> Result<usize, ApiError> {
        let i = self.register(r)?;
        if let Some(store) = &self.store {
            store
                .put_node(&r.node_id, r.url.trim_end_matches('/'), i)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        Ok(i)
    }

    /// Registers a manifest ([`Self::put_video`]'s checks) and, with a data
    /// directory, stores it before answering.
    ///
    /// # Errors
    /// As [`Self::put_video`]; 500 when the database refuses.
    pub async fn store_video(&self, m: VideoManifest) -> Result<(), ApiError> {
        self.check_video(&m)?;
        if let Some(store) = &self.store {
            store
                .put_video(&m)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        self.put_video(m)
    }

    /// Removes a video (and, with a data directory, its stored manifest).
    ///
    /// # Errors
    /// 404 for an unknown video; 409 for a rung another video's ladder
    /// lists; 500 when the database refuses.
    pub async fn remove_video(&self, id: &str) -> Result<(), ApiError> {
        {
            let videos = self.videos.read_locked();
            if !videos.contains_key(id) {
                return Err(ApiError::not_found(format!("unknown video {id:?}")));
            }
            if let Some(owner) = videos
                .values()
                .find(|m| m.video_id != id && m.ladder.iter().any(|r| r.video_id == id))
            {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "video {id:?} is a rung of {:?}'s ladder; delete {:?} first",
                        owner.video_id, owner.video_id
                    ),
                ));
            }
        }
        if let Some(store) = &self.store {
            store
                .delete_video(id)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        self.videos.write_locked().remove(id);
        Ok(())
    }

    /// Registers (or re-registers) a node; returns its index.
    ///
    /// # Errors
    /// 400 for a bad id or URL.
    pub fn register(&self, r: &RegisterNode) -> Result<usize, ApiError> {
        validate_id("node", &r.node_id)?;
        if !(r.url.starts_with("http://") || r.url.starts_with("https://")) {
            return Err(ApiError::bad_request(format!(
                "node url must start with http:// or https://, got {:?}",
                r.url
            )));
        }
        if r.url.len() > 2048 {
            return Err(ApiError::bad_request("node url over 2048 characters"));
        }
        let mut nodes = self.nodes.write_locked();
        let url = r.url.trim_end_matches('/').to_string();
        if let Some(i) = nodes.iter().position(|n| n.node_id == r.node_id) {
            nodes[i].url = url;
            nodes[i].last_seen = Instant::now();
            return Ok(i);
        }
        if nodes.len() >= MAX_NODES {
            return Err(ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("the registry holds {MAX_NODES} nodes, its bound"),
            ));
        }
        nodes.push(NodeEntry {
            node_id: r.node_id.clone(),
            url,
            last_seen: Instant::now(),
            usage: NodeHeartbeat::default(),
        });
        Ok(nodes.len() - 1)
    }

    /// Records a heartbeat.
    ///
    /// # Errors
    /// 404 for an unknown node.
    pub fn heartbeat(&self, node_id: &str, mut usage: NodeHeartbeat) -> Result<(), ApiError> {
        usage
            .popularity
            .truncate(super::wire::MAX_HEARTBEAT_POPULARITY);
        let mut nodes = self.nodes.write_locked();
        let n = nodes
            .iter_mut()
            .find(|n| n.node_id == node_id)
            .ok_or_else(|| ApiError::not_found(format!("unknown node {node_id:?}")))?;
        n.last_seen = Instant::now();
        n.usage = usage;
        Ok(())
    }

    /// Every registered node with its last heartbeat, in registration order.
    pub fn node_usage(&self) -> Vec<NodeUsage> {
        let now = Instant::now();
        self.nodes
            .read_locked()
            .iter()
            .map(|n| NodeUsage {
                node_id: n.node_id.clone(),
                url: n.url.clone(),
                since_heartbeat: now.saturating_duration_since(n.last_seen),
                usage: n.usage.clone(),
            })
            .collect()
    }

    /// Registered node ids, in registration order.
    fn node_ids(&self) -> Vec<String> {
        self.nodes
            .read_locked()
            .iter()
            .map(|n| n.node_id.clone())
            .collect()
    }

    /// The heartbeat timeout (a node without a heartbeat for this long is down).
    pub fn heartbeat_timeout(&self) -> Duration {
        self.config.heartbeat_timeout
    }

    /// Every video's manifest, in id order.
    pub fn manifests(&self) -> Vec<VideoManifest> {
        self.videos.read_locked().values().cloned().collect()
    }

    /// Replaces chunk `entry.index` of `video_id` at `version` with `entry`
    /// when `entry.revision` is newer than the registered one (a replica-set
    /// change the replication manager committed through ChunkPaxos), stored
    /// before it answers. Returns whether it applied: `false` for an unknown
    /// video, another version (a re-ingest won) or an older revision.
    ///
    /// # Errors
    /// 400 when the entry names an unknown node; 500 when the database refuses.
    pub async fn update_chunk(
        &self,
        video_id: &str,
        version: u64,
        entry: ChunkEntry,
    ) -> Result<bool, ApiError> {
        let known = self.node_ids();
        if let Some(r) = entry.replicas.iter().find(|r| !known.contains(r)) {
            return Err(ApiError::bad_request(format!(
                "replica on unknown node {r:?}"
            )));
        }
        let updated = {
            let mut videos = self.videos.write_locked();
            let Some(m) = videos.get_mut(video_id) else {
                return Ok(false);
            };
            let i = entry.index as usize;
            match m.chunks.get_mut(i) {
                Some(c)
                    if m.version == version
                        && c.chunk_id == entry.chunk_id
                        && entry.revision > c.revision =>
                {
                    *c = entry;
                    m.clone()
                }
                _ => return Ok(false),
            }
        };
        if let Some(store) = &self.store {
            store
                .put_video(&updated)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        Ok(true)
    }

    /// Publishes the replication manager's report (`GET /replication`).
    pub fn set_replication_report(&self, r: vstack_core::redundancy::ReplicationReport) {
        *self.replication.write_locked() = Some(r);
    }

    /// The replication manager's latest report; without a manager, a report
    /// of the catalog's replica counts under the default policy, marked
    /// `enabled: false`.
    pub fn replication_report(&self) -> vstack_core::redundancy::ReplicationReport {
        if let Some(r) = self.replication.read_locked().clone() {
            return r;
        }
        let cfg = vstack_core::redundancy::RedundancyConfig::default();
        let mut r = super::replica_view::report_of(
            self.node_usage(),
            self.manifests(),
            self.config.heartbeat_timeout,
            &cfg,
        );
        r.enabled = false;
        r
    }

    /// Every registered node, in registration order.
    pub fn nodes(&self) -> NodeList {
        let now = Instant::now();
        let nodes = self.nodes.read_locked();
        NodeList {
            nodes: nodes
                .iter()
                .map(|n| {
                    let age = now.saturating_duration_since(n.last_seen);
                    NodeRecord {
                        node_id: n.node_id.clone(),
                        url: n.url.clone(),
                        health: if age < self.config.heartbeat_timeout {
                            RegistryHealth::Healthy
                        } else {
                            RegistryHealth::Down
                        },
                        last_seen_ms_ago: age.as_millis() as u64,
                        chunk_count: n.usage.chunk_count,
                        bytes_stored: n.usage.bytes_stored,
                    }
                })
                .collect(),
        }
    }

    /// Adds or replaces a video's manifest.
    ///
    /// # Errors
    /// 400 when an id is invalid, indices do not run 0..n, a chunk has no
    /// replica, a hash is not 64 hex digits, or a replica names an unknown node.
    pub fn put_video(&self, m: VideoManifest) -> Result<(), ApiError> {
        self.check_video(&m)?;
        let mut videos = self.videos.write_locked();
        if videos.len() >= MAX_VIDEOS && !videos.contains_key(&m.video_id) {
            return Err(ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("the catalog holds {MAX_VIDEOS} videos, its bound"),
            ));
        }
        videos.insert(m.video_id.clone(), m);
        Ok(())
    }

    /// The checks of [`Self::put_video`], without registering.
    fn check_video(&self, m: &VideoManifest) -> Result<(), ApiError> {
        validate_id("video", &m.video_id)?;
        if m.version == 0 {
            return Err(ApiError::bad_request("version must be at least 1"));
        }
        if let Some(old) = self.videos.read_locked().get(&m.video_id)
            && old.version > m.version
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "video {:?} is at version {}; version {} is older",
                    m.video_id, old.version, m.version
                ),
            ));
        }
        if m.chunks.is_empty() {
            return Err(ApiError::bad_request("a video needs at least one chunk"));
        }
        if m.chunks.len() > MAX_CHUNKS_PER_VIDEO {
            return Err(ApiError::bad_request(format!(
                "{} chunks; a video has at most {MAX_CHUNKS_PER_VIDEO}",
                m.chunks.len()
            )));
        }
        let known = self.node_ids();
        for (i, c) in m.chunks.iter().enumerate() {
            validate_id("chunk", &c.chunk_id)?;
            if c.index as usize != i {
                return Err(ApiError::bad_request(format!(
                    "chunk {i} has index {}; indices must run 0..n in order",
                    c.index
                )));
            }
            if c.sha256.len() != 64 || !c.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::bad_request(format!(
                    "chunk {i}: sha256 must be 64 hex digits"
                )));
            }
            // Chunk 0 alone may have no duration: an fMP4 initialization
            // segment (see `VideoManifest::init_segment`).
            let least = u64::from(i > 0);
            if c.duration_ms < least || c.duration_ms > MAX_CHUNK_DURATION_MS {
                return Err(ApiError::bad_request(format!(
                    "chunk {i}: duration_ms {} out of range {least}..={MAX_CHUNK_DURATION_MS}",
                    c.duration_ms
                )));
            }
            if i == 0 && c.duration_ms == 0 && m.chunks.len() == 1 {
                return Err(ApiError::bad_request(
                    "a video of only an initialization segment has no media",
                ));
            }
            if c.size_bytes == 0 || c.size_bytes > MAX_CHUNK_BYTES {
                return Err(ApiError::bad_request(format!(
                    "chunk {i}: size_bytes {} out of range 1..={MAX_CHUNK_BYTES}",
                    c.size_bytes
                )));
            }
            if c.replicas.is_empty() {
                return Err(ApiError::bad_request(format!("chunk {i} has no replica")));
            }
            if c.replicas.len() > MAX_REPLICAS {
                return Err(ApiError::bad_request(format!(
                    "chunk {i}: over {MAX_REPLICAS} replicas"
                )));
            }
            if let Some(r) = c.replicas.iter().find(|r| !known.contains(r)) {
                return Err(ApiError::bad_request(format!(
                    "chunk {i}: replica on unknown node {r:?}"
                )));
            }
        }
        self.check_ladder(m)
    }

    /// A ladder's rungs: at most [`MAX_RUNGS`], bandwidths at least 1 bit/s
    /// and strictly rising, this video among them, every other rung a
    /// registered video of one rendition with as many chunks of the same
    /// durations.
    fn check_ladder(&self, m: &VideoManifest) -> Result<(), ApiError> {
        if m.ladder.is_empty() {
            return Ok(());
        }
        if m.ladder.len() > MAX_RUNGS {
            return Err(ApiError::bad_request(format!(
                "{} rungs; a ladder has at most {MAX_RUNGS}",
                m.ladder.len()
            )));
        }
        if !m.ladder.iter().any(|r| r.video_id == m.video_id) {
            return Err(ApiError::bad_request(format!(
                "the ladder of {:?} must list the video itself",
                m.video_id
            )));
        }
        let videos = self.videos.read_locked();
        let mut last = 0;
        for r in &m.ladder {
            if r.bandwidth_bps <= last {
                return Err(ApiError::bad_request(format!(
                    "rung {:?}: bandwidth_bps {} must be at least 1 and above the rung below",
                    r.video_id, r.bandwidth_bps
                )));
            }
            last = r.bandwidth_bps;
            if r.video_id == m.video_id {
                continue;
            }
            let rung = videos.get(&r.video_id).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "rung {:?} is not a registered video (register the rungs first)",
                    r.video_id
                ))
            })?;
            if !rung.ladder.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "rung {:?} has a ladder of its own",
                    r.video_id
                )));
            }
            let same =
                rung.chunks.len() == m.chunks.len()
                    && rung.chunks.iter().zip(&m.chunks).all(|(a, b)| {
                        a.duration_ms.abs_diff(b.duration_ms) <= RUNG_DURATION_SLACK_MS
                    });
            if !same {
                return Err(ApiError::bad_request(format!(
                    "rung {:?}: its chunks must match {:?}'s in number and duration (within {RUNG_DURATION_SLACK_MS} ms)",
                    r.video_id, m.video_id
                )));
            }
        }
        Ok(())
    }

    /// A video's manifest.
    ///
    /// # Errors
    /// 404 for an unknown video.
    pub fn video(&self, id: &str) -> Result<VideoManifest, ApiError> {
        self.videos
            .read_locked()
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("unknown video {id:?}")))
    }

    /// The catalog.
    pub fn videos(&self) -> Vec<VideoSummary> {
        self.videos
            .read_locked()
            .values()
            .map(|m| VideoSummary {
                video_id: m.video_id.clone(),
                chunk_count: m.chunks.len(),
                duration_ms: m.duration_ms(),
                size_bytes: m.size_bytes(),
            })
            .collect()
    }
}

/// The service's routes (see the module docs). `GET /metrics` (Prometheus
/// text) may be read by anyone, like `/health`.
pub fn router(svc: Arc<MetadataService>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/nodes", get(list_nodes))
        .route("/nodes/register", post(register_node))
        .route("/nodes/{id}", get(get_node))
        .route("/nodes/{id}/heartbeat", post(heartbeat))
        .route("/videos", get(list_videos).post(post_video))
        .route("/videos/{id}", get(get_video).delete(delete_video))
        .route("/cluster/scenario", post(cluster_scenario))
        .route("/replication", get(replication))
        .route_layer(axum::middleware::from_fn_with_state(
            svc.http_metrics.0.clone(),
            crate::http::prom::HttpMetrics::track,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            svc.config.cluster_token.clone(),
            crate::cluster::auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(svc.config.allowed_hosts.clone()),
            crate::http::host::host_guard,
        ))
        .with_state(svc)
}

fn json_body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::new(e.status(), e.body_text()))
}

async fn health(State(s): State<Arc<MetadataService>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "nodes": s.nodes.read_locked().len(),
        "videos": s.videos.read_locked().len(),
    }))
}

/// `GET /metrics`: the registry and adaptive redundancy as Prometheus
/// series (module [`crate::http::prom`]): per node
/// `vstack_metadata_node_up`, `vstack_metadata_node_last_seen_seconds`,
/// `vstack_metadata_node_chunks`, `vstack_metadata_node_stored_bytes`,
/// `vstack_replication_node_status{status}` (1 for the node's one status:
/// live, suspect or lost), `vstack_replication_node_replicas`; the catalog's
/// `vstack_metadata_videos`; the replication totals `vstack_replication_chunks`,
/// `_under_replicated_chunks`, `_over_replicated_chunks`,
/// `_unavailable_chunks`, `_repairs_in_flight`, `_queued`,
/// `_repair_rate_bytes_per_second`, `_repair_cap_bytes_per_second`,
/// `_enabled`, and the counters `vstack_repair_bytes_total`,
/// `vstack_repair_copies_total{outcome}`, `vstack_repair_trims_total`; and
/// `vstack_http_request_duration_seconds`.
async fn metrics(State(svc): State<Arc<MetadataService>>) -> axum::response::Response {
    let mut s = crate::http::prom::Scrape::new();
    for n in svc.nodes().nodes {
        let l = || vec![("node", n.node_id.clone())];
        let up = f64::from(u8::from(n.health == super::wire::RegistryHealth::Healthy));
        s.gauge(
            "vstack_metadata_node_up",
            "1 while the node heartbeats within the timeout",
            l(),
            up,
        );
        s.gauge(
            "vstack_metadata_node_last_seen_seconds",
            "Time since the node's last heartbeat",
            l(),
            n.last_seen_ms_ago as f64 / 1e3,
        );
        s.gauge(
            "vstack_metadata_node_chunks",
            "Chunks the node reported in its last heartbeat",
            l(),
            n.chunk_count as f64,
        );
        s.gauge(
            "vstack_metadata_node_stored_bytes",
            "Bytes the node reported in its last heartbeat",
            l(),
            n.bytes_stored as f64,
        );
    }
    s.gauge(
        "vstack_metadata_videos",
        "Videos in the catalog",
        vec![],
        svc.videos.read_locked().len() as f64,
    );
    replication_series(&mut s, &svc.replication_report());
    crate::http::prom::render(&[s.registry(), svc.http_metrics.0.registry()])
}

/// Adaptive redundancy's series (see [`metrics`]).
fn replication_series(
    s: &mut crate::http::prom::Scrape,
    r: &vstack_core::redundancy::ReplicationReport,
) {
    for n in &r.nodes {
        for status in ["live", "suspect", "lost"] {
            let on = serde_json::to_value(n.status)
                .ok()
                .and_then(|v| v.as_str().map(|v| v == status));
            s.gauge(
                "vstack_replication_node_status",
                "1 for the node's status as adaptive redundancy sees it (live, suspect, lost)",
                vec![("node", n.node_id.clone()), ("status", status.into())],
                f64::from(u8::from(on == Some(true))),
            );
        }
        s.gauge(
            "vstack_replication_node_replicas",
            "Catalogued replicas on the node",
            vec![("node", n.node_id.clone())],
            n.replicas as f64,
        );
    }
    let t = &r.totals;
    let g = [
        (
            "vstack_replication_enabled",
            "1 while the replication manager runs",
            f64::from(u8::from(r.enabled)),
        ),
        (
            "vstack_replication_chunks",
            "Chunks in the catalog",
            t.chunks as f64,
        ),
        (
            "vstack_replication_under_replicated_chunks",
            "Chunks below their target replication factor",
            t.under_replicated as f64,
        ),
        (
            "vstack_replication_over_replicated_chunks",
            "Chunks above their target replication factor",
            t.over_replicated as f64,
        ),
        (
            "vstack_replication_unavailable_chunks",
            "Chunks without a live or suspect copy",
            t.unavailable as f64,
        ),
        (
            "vstack_replication_repairs_in_flight",
            "Copies, adoptions and trims running now",
            t.repairs_in_flight as f64,
        ),
        (
            "vstack_replication_queued",
            "Planned repair actions not started",
            t.queued as f64,
        ),
        (
            "vstack_replication_repair_rate_bytes_per_second",
            "Repair read rate over the last 5 s",
            t.repair_mbps * 1e6 / 8.0,
        ),
        (
            "vstack_replication_repair_cap_bytes_per_second",
            "Cap on the repair read rate",
            t.repair_cap_mbps * 1e6 / 8.0,
        ),
    ];
    for (name, help, v) in g {
        s.gauge(name, help, vec![], v);
    }
    s.counter(
        "vstack_repair_bytes",
        "Bytes copied by repairs and hot-chunk copies since start",
        vec![],
        t.bytes_repaired as f64,
    );
    s.counter(
        "vstack_repair_copies",
        "Repair copies by outcome since start",
        vec![("outcome", "done".into())],
        t.copies_done as f64,
    );
    s.counter(
        "vstack_repair_copies",
        "Repair copies by outcome since start",
        vec![("outcome", "failed".into())],
        t.copies_failed as f64,
    );
    s.counter(
        "vstack_repair_trims",
        "Replicas trimmed since start",
        vec![],
        t.trims_done as f64,
    );
}

async fn replication(
    State(s): State<Arc<MetadataService>>,
) -> Json<vstack_core::redundancy::ReplicationReport> {
    Json(s.replication_report())
}

async fn list_nodes(State(s): State<Arc<MetadataService>>) -> Json<NodeList> {
    Json(s.nodes())
}

async fn get_node(
    State(s): State<Arc<MetadataService>>,
    Path(id): Path<String>,
) -> Result<Json<NodeRecord>, ApiError> {
    s.nodes()
        .nodes
        .into_iter()
        .find(|n| n.node_id == id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("unknown node {id:?}")))
}

/// Whether a node registering from `peer` may name `url`: its host is
/// loopback, the peer's own address, or covered by `node_hosts` (a name,
/// an address or a CIDR block).
///
/// # Errors
/// 403 JSON naming the host and the flag that allows it.
pub fn node_url_allowed(
    url: &str,
    peer: Option<std::net::IpAddr>,
    node_hosts: &[String],
) -> Result<(), ApiError> {
    let refused = |h: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "node url host {h:?} is not allowed: nodes register on loopback, their own address, or a host named by the metadata service's --node-hosts"
            ),
        )
    };
    let u =
        reqwest::Url::parse(url).map_err(|_| ApiError::bad_request("node url does not parse"))?;
    let host = u.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip = bare.parse::<std::net::IpAddr>().ok();
    let ok = bare.eq_ignore_ascii_case("localhost")
        || ip.is_some_and(|ip| ip.is_loopback() || Some(ip) == peer)
        || node_hosts.iter().any(|entry| host_matches(entry, bare, ip));
    if ok { Ok(()) } else { Err(refused(bare)) }
}

/// Whether `entry` (name, address or `addr/bits`) covers the host `name`
/// (with its address `ip` when it is one).
fn host_matches(entry: &str, name: &str, ip: Option<std::net::IpAddr>) -> bool {
    use std::net::IpAddr;
    let entry = entry.trim();
    if let Some((net, bits)) = entry.split_once('/') {
        let (Ok(net), Ok(bits), Some(ip)) = (net.parse::<IpAddr>(), bits.parse::<u32>(), ip) else {
            return false;
        };
        return match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        };
    }
    match (entry.parse::<IpAddr>(), ip) {
        (Ok(e), Some(a)) => e == a,
        _ => entry.eq_ignore_ascii_case(name),
    }
}

async fn register_node(
    State(s): State<Arc<MetadataService>>,
    extensions: axum::http::Extensions,
    body: Result<Json<RegisterNode>, JsonRejection>,
) -> Result<Json<Registered>, ApiError> {
    let r = json_body(body)?;
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    node_url_allowed(&r.url, peer, &s.config.node_hosts)?;
    let node_index = s.register_durably(&r).await?;
    Ok(Json(Registered {
        node_id: r.node_id,
        node_index,
    }))
}

async fn heartbeat(
    State(s): State<Arc<MetadataService>>,
    Path(id): Path<String>,
    body: Result<Json<NodeHeartbeat>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    s.heartbeat(&id, json_body(body)?)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_videos(State(s): State<Arc<MetadataService>>) -> Json<Vec<VideoSummary>> {
    Json(s.videos())
}

async fn get_video(
    State(s): State<Arc<MetadataService>>,
    Path(id): Path<String>,
) -> Result<Json<VideoManifest>, ApiError> {
    s.video(&id).map(Json)
}

async fn post_video(
    State(s): State<Arc<MetadataService>>,
    body: Result<Json<VideoManifest>, JsonRejection>,
) -> Result<(StatusCode, Json<VideoSummary>), ApiError> {
    let m = json_body(body)?;
    let summary = VideoSummary {
        video_id: m.video_id.clone(),
        chunk_count: m.chunks.len(),
        duration_ms: m.duration_ms(),
        size_bytes: m.size_bytes(),
    };
    // Validated before anything is kept; the sums above saturate.
    s.store_video(m).await?;
    Ok((StatusCode::CREATED, Json(summary)))
}

async fn delete_video(
    State(s): State<Arc<MetadataService>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.remove_video(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn cluster_scenario(
    State(s): State<Arc<MetadataService>>,
    body: Result<Json<ClusterScenario>, JsonRejection>,
) -> Result<Json<Vec<ScenarioOutcome>>, ApiError> {
    let req = json_body(body)?;
    let nodes = s.nodes().nodes;
    let calls = nodes.iter().enumerate().map(|(i, n)| {
        let http = s.http.clone();
        let url = format!("{}/emulator/scenario", n.url);
        let body = ScenarioRequest {
            scenario: req.scenario,
            node_index: Some(i),
        };
        let node_id = n.node_id.clone();
        async move {
            let r = http
                .put(&url)
                .json(&body)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .and_then(|r| r.error_for_status());
            ScenarioOutcome {
                node_id,
                ok: r.is_ok(),
                error: r.err().map(|e| e.to_string()),
            }
        }
    });
    Ok(Json(futures::future::join_all(calls).await))
}

#[cfg(test)]
mod tests {
    #[test]
    fn nodes_register_only_on_allowed_hosts() {
        let peer = Some("10.0.0.5".parse().unwrap());
        let hosts = vec!["10.1.0.0/16".to_string(), "node9.example".to_string()];
        for ok in [
            "http://127.0.0.1:8081",
            "http://localhost:8081",
            "http://[::1]:8081",
            "https://10.0.0.5:8443",
            "http://10.1.200.3:8081",
            "https://NODE9.example",
        ] {
            assert!(node_url_allowed(ok, peer, &hosts).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.6:8081",
            "http://169.254.169.254/latest",
            "https://evil.example",
            "http://10.2.0.1",
        ] {
            let e = node_url_allowed(bad, peer, &hosts).unwrap_err();
            assert_eq!(e.status, StatusCode::FORBIDDEN, "{bad}");
        }
    }

    use super::*;
    use crate::cluster::wire::ChunkEntry;

    fn reg(node_id: &str, url: &str) -> RegisterNode {
        RegisterNode {
            node_id: node_id.into(),
            url: url.into(),
        }
    }

    fn chunk(i: u32, node: &str) -> ChunkEntry {
        ChunkEntry {
            index: i,
            chunk_id: format!("v-{i:05}"),
            duration_ms: 10_000,
            size_bytes: 100,
            sha256: "a".repeat(64),
            replicas: vec![node.to_string()],
            revision: 1,
        }
    }

    #[tokio::test]
    async fn the_registry_and_catalog_survive_a_restart() {
        let d = tempfile::tempdir().unwrap();
        let config = || MetadataConfig {
            data_dir: Some(d.path().to_path_buf()),
            ..MetadataConfig::default()
        };
        let s = MetadataService::open(config()).await.unwrap();
        s.register_durably(&reg("n1", "http://a:1")).await.unwrap();
        s.register_durably(&reg("n2", "http://b:1")).await.unwrap();
        let v = VideoManifest {
            video_id: "v".into(),
            version: 1,
            chunks: vec![chunk(0, "n1"), chunk(1, "n2")],
            ladder: Vec::new(),
        };
        s.store_video(v.clone()).await.unwrap();
        s.store_video(VideoManifest {
            video_id: "gone".into(),
            ..v.clone()
        })
        .await
        .unwrap();
        s.remove_video("gone").await.unwrap();
        drop(s);
        let s = MetadataService::open(config()).await.unwrap();
        assert_eq!(s.video("v").unwrap(), v);
        assert!(s.video("gone").is_err());
        let nodes = s.nodes().nodes;
        assert_eq!(
            nodes
                .iter()
                .map(|n| (n.node_id.as_str(), n.url.as_str()))
                .collect::<Vec<_>>(),
            [("n1", "http://a:1"), ("n2", "http://b:1")]
        );
        assert!(
            nodes.iter().all(|n| n.health == RegistryHealth::Down),
            "until they heartbeat"
        );
        // A newer version replaces it; an older one is refused.
        let v2 = VideoManifest {
            version: 2,
            ..v.clone()
        };
        s.store_video(v2).await.unwrap();
        let e = s.store_video(v).await.unwrap_err();
        assert_eq!(e.status, StatusCode::CONFLICT);
        let s = MetadataService::open(config()).await.unwrap();
        assert_eq!(s.video("v").unwrap().version, 2);
    }

    #[test]
    fn manifests_out_of_range_are_refused() {
        let s = MetadataService::new(MetadataConfig::default());
        s.register(&reg("n1", "http://a:1")).unwrap();
        let mut c = chunk(0, "n1");
        c.duration_ms = u64::MAX;
        let m = VideoManifest {
            video_id: "v".into(),
            version: 1,
            chunks: vec![c.clone(), chunk(1, "n1")],
            ladder: Vec::new(),
        };
        assert_eq!(m.duration_ms(), u64::MAX, "sums saturate");
        assert_eq!(s.put_video(m).unwrap_err().status, StatusCode::BAD_REQUEST);
        c.duration_ms = 10_000;
        c.size_bytes = 0;
        let m = VideoManifest {
            video_id: "v".into(),
            version: 1,
            chunks: vec![c],
            ladder: Vec::new(),
        };
        assert_eq!(s.put_video(m).unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn only_chunk_0_may_be_an_initialization_segment_of_no_duration() {
        let s = MetadataService::new(MetadataConfig::default());
        s.register(&reg("n1", "http://a:1")).unwrap();
        let mut init = chunk(0, "n1");
        init.duration_ms = 0;
        let m = VideoManifest {
            video_id: "v".into(),
            version: 1,
            chunks: vec![init.clone(), chunk(1, "n1")],
            ladder: Vec::new(),
        };
        s.put_video(m.clone()).unwrap();
        assert_eq!(s.video("v").unwrap().init_segment(), Some(&init));
        let mut later = m.clone();
        later.chunks[1].duration_ms = 0;
        let e = s.put_video(later).unwrap_err();
        assert!(
            e.message
                .contains("chunk 1: duration_ms 0 out of range 1..="),
            "{}",
            e.message
        );
        let only = VideoManifest {
            chunks: vec![init],
            ..m
        };
        let e = s.put_video(only).unwrap_err();
        assert!(e.message.contains("no media"), "{}", e.message);
    }

    #[test]
    fn registry_and_catalog_validate() {
        let s = MetadataService::new(MetadataConfig::default());
        assert_eq!(s.register(&reg("n1", "http://a:1")).unwrap(), 0);
        assert_eq!(s.register(&reg("n2", "http://b:1")).unwrap(), 1);
        assert_eq!(s.register(&reg("n1", "http://c:1/")).unwrap(), 0);
        assert_eq!(s.nodes().nodes[0].url, "http://c:1");
        assert!(s.register(&reg("n3", "ftp://x")).is_err());
        assert_eq!(
            s.heartbeat("nope", NodeHeartbeat::default())
                .unwrap_err()
                .status,
            StatusCode::NOT_FOUND
        );
        let ok = VideoManifest {
            video_id: "v".into(),
            version: 1,
            chunks: vec![chunk(0, "n1"), chunk(1, "n2")],
            ladder: Vec::new(),
        };
        s.put_video(ok.clone()).unwrap();
        assert_eq!(s.video("v").unwrap(), ok);
        assert_eq!(s.video("w").unwrap_err().status, StatusCode::NOT_FOUND);
        let mut bad = ok.clone();
        bad.chunks[1].replicas = vec!["ghost".into()];
        assert!(s.put_video(bad).unwrap_err().message.contains("ghost"));
        let mut bad = ok.clone();
        bad.chunks[1].index = 5;
        assert!(s.put_video(bad).is_err());
        let mut bad = ok;
        bad.chunks[0].chunk_id = "../../etc/passwd".into();
        assert!(s.put_video(bad).is_err());
    }
}
