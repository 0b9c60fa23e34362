//! The embedded cluster: one call ([`Cluster::start`]) runs the metadata service
//! and N storage nodes (default 3) on ephemeral loopback ports in this process,
//! each node with its emulator on a base profile, and seeds a deterministic
//! synthetic video (`test-video-001`: VBR ~5 Mbit/s, 10 s chunks, 10 minutes)
//! with replication factor 2 over the nodes (chunk *i* on nodes *i*, *i*+1, …
//! modulo N). Chunk payloads are ChaCha8 bytes from `(seed, chunk index)`, so
//! every run stores the same bytes and the same hashes.
//!
//! Nodes can be killed (listener closed, transfers in progress reset) and
//! restarted on the same port and data directory ([`Cluster::kill_node`],
//! [`Cluster::restart_node`]), which is how failover and durability are tested.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::{net::TcpListener, task::JoinHandle};

use vstack_core::{
    engine::{PerClient, striped_replicas},
    input::{Trace, VideoSource, load_chunks},
};

use super::{
    emulator::{Conditions, Emulator, Scenario},
    metadata::{MetadataConfig, MetadataService},
    storage::{StorageConfig, StorageNode, register_and_heartbeat},
    wire::{ChunkEntry, RegisterNode, VideoManifest},
};
use crate::http::{ApiError, sha256_hex};

/// Base profiles of the embedded nodes, in node order (latency ms, Mbit/s):
/// `node-1` 5 ms / 100 Mbit/s, `node-2` 20 ms / 40 Mbit/s, `node-3` 50 ms /
/// 15 Mbit/s; further nodes repeat the list. Heterogeneous on purpose: the
/// smart client should find the best node, the naive one does not look.
pub const DEFAULT_PROFILES: [(f64, f64); 3] = [(5.0, 100.0), (20.0, 40.0), (50.0, 15.0)];

/// The synthetic video seeded by default.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticVideo {
    /// Video id. Default `test-video-001`.
    pub video_id: String,
    /// Average bitrate, kbit/s. Default 5000.
    pub bitrate_kbps: f64,
    /// Length. Default 600 s.
    pub duration: Duration,
    /// Chunk duration. Default 10 s.
    pub chunk_duration: Duration,
    /// Relative size variation per chunk (± uniform). Default 0.2.
    pub vbr: f64,
    /// Seed of sizes and payload bytes. Default 1.
    pub seed: u64,
    /// A ladder's lower rungs, kbit/s, lowest first, each below
    /// `bitrate_kbps` (the top rung): each is seeded as a video of its own
    /// (`{id}-r0`, `{id}-r1`, …) with the same chunk durations and the same
    /// relative size variation, and the video's manifest lists them all as
    /// its ladder. Default empty (one rendition).
    pub lower_rungs_kbps: Vec<f64>,
}

impl Default for SyntheticVideo {
    fn default() -> Self {
        Self {
            video_id: "test-video-001".into(),
            bitrate_kbps: 5000.0,
            duration: Duration::from_secs(600),
            chunk_duration: Duration::from_secs(10),
            vbr: 0.2,
            seed: 1,
            lower_rungs_kbps: Vec::new(),
        }
    }
}

/// Embedded cluster settings; every default stated.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Storage nodes. Default 3.
    pub nodes: usize,
    /// Base profile per node (cycled). Default [`DEFAULT_PROFILES`].
    pub profiles: Vec<Conditions>,
    /// Replicas per chunk. Default 2.
    pub replication: usize,
    /// Time compression of the emulators. Default 1.
    pub speed: f64,
    /// Seed of the emulators' jitter and loss. Default 1.
    pub seed: u64,
    /// Data directory (one sub-directory per node, and `metadata/` for the
    /// registry and catalog in SQLite). Default `None`: a temporary
    /// directory removed when the cluster is dropped, the catalog in memory.
    pub data_dir: Option<PathBuf>,
    /// Video to seed. Default `Some(SyntheticVideo::default())`.
    pub video: Option<SyntheticVideo>,
    /// Traces replayed on the nodes' links (trace *i* on node *i* mod len).
    /// Default none.
    pub traces: Vec<Arc<Trace>>,
    /// Heartbeat period of the nodes. Default 2 s.
    pub heartbeat_interval: Duration,
    /// Upload size limit of the nodes, bytes. Default 64 MiB.
    pub max_chunk_bytes: u64,
    /// The token the metadata service and every node require on
    /// state-changing requests ([`super::auth`]). Default: a random one.
    pub cluster_token: super::auth::ClusterToken,
    /// A node without a heartbeat for this long is down. Default 10 s.
    pub heartbeat_timeout: Duration,
    /// Adaptive redundancy: the replication manager's policy, or `None` for
    /// none (replication stays as seeded). Default `None`; `vstack serve`
    /// turns it on.
    pub redundancy: Option<vstack_core::redundancy::RedundancyConfig>,
    /// The nodes' popularity window. Default 60 s.
    pub popularity_window: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            nodes: 3,
            profiles: DEFAULT_PROFILES
                .iter()
                .map(|(l, b)| Conditions::profile(*l, *b))
                .collect(),
            replication: 2,
            speed: 1.0,
            seed: 1,
            data_dir: None,
            video: Some(SyntheticVideo::default()),
            traces: Vec::new(),
            heartbeat_interval: Duration::from_secs(2),
            max_chunk_bytes: 64 << 20,
            cluster_token: super::auth::ClusterToken::random(),
            heartbeat_timeout: Duration::from_secs(10),
            redundancy: None,
            popularity_window: Duration::from_secs(60),
        }
    }
}

/// Errors starting the embedded cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A port could not be bound.
    #[error("cannot bind {what}: {source}")]
    Bind {
        /// Which server.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A node's data directory is unusable.
    #[error(transparent)]
    Storage(#[from] super::storage::StorageError),
    /// Seeding failed.
    #[error("seeding the video: {0}")]
    Seed(String),
    /// The default video's media could not be prepared (ffmpeg missing or
    /// failing).
    #[error(transparent)]
    Media(#[from] super::test_pattern::TestPatternError),
    /// The configuration is inconsistent.
    #[error("{0}")]
    Config(String),
}

struct Served {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

/// Ports tried for storage nodes: below Linux's default ephemeral range
/// (32768–60999), so outgoing connections (which take ephemeral local ports)
/// can never occupy a killed node's port before it restarts there.
const NODE_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// Binds a storage node's listener: on `addr` if its port is set (a
/// restart, retried for up to 2 s while the old socket lets go), otherwise on
/// a random free port of [`NODE_PORTS`] (any free port as a last resort).
async fn bind_node(what: &str, addr: SocketAddr) -> Result<TcpListener, ClusterError> {
    let err = |source| ClusterError::Bind {
        what: format!("{what} on {addr}"),
        source,
    };
    if addr.port() != 0 {
        let mut tries = 0;
        loop {
            match crate::http::listen(addr) {
                Ok(l) => return Ok(l),
                Err(e) if tries < 40 && e.kind() == std::io::ErrorKind::AddrInUse => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
    for _ in 0..200 {
        let port = rand::random_range(NODE_PORTS);
        if let Ok(l) = crate::http::listen(SocketAddr::new(addr.ip(), port)) {
            return Ok(l);
        }
    }
    crate::http::listen(addr).map_err(err)
}

async fn serve_router(
    what: &str,
    addr: SocketAddr,
    router: axum::Router,
) -> Result<Served, ClusterError> {
    serve_on(
        what,
        crate::http::listen(addr).map_err(|source| ClusterError::Bind {
            what: format!("{what} on {addr}"),
            source,
        })?,
        router,
    )
}

/// Opens a storage node (reading and re-hashing every chunk on disk) on the
/// blocking pool, off the async workers.
async fn open_node(
    config: StorageConfig,
    emulator: Emulator,
) -> Result<Arc<StorageNode>, ClusterError> {
    let node = tokio::task::spawn_blocking(move || StorageNode::open(config, emulator))
        .await
        .map_err(|e| ClusterError::Config(format!("opening a node: {e}")))??;
    Ok(Arc::new(node))
}

fn serve_on(
    what: &str,
    listener: TcpListener,
    router: axum::Router,
) -> Result<Served, ClusterError> {
    let addr = listener.local_addr().map_err(|source| ClusterError::Bind {
        what: what.to_string(),
        source,
    })?;
    let task = tokio::spawn(async move {
        let _ = crate::http::serve(
            listener,
            router,
            crate::http::ServeLimits::default(),
            std::future::pending(),
        )
        .await;
    });
    Ok(Served { addr, task })
}

/// A running storage node of the embedded cluster.
#[derive(Debug)]
pub struct EmbeddedNode {
    /// Node id (`node-1`, …).
    pub node_id: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    addr: SocketAddr,
    node: Arc<StorageNode>,
    emulator: Emulator,
    server: Option<JoinHandle<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

impl EmbeddedNode {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The node's state (storage index).
    pub fn storage(&self) -> &Arc<StorageNode> {
        &self.node
    }

    /// Whether the node serves (not killed).
    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }

    /// The node's emulator (survives restarts).
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }
}

/// The embedded cluster; dropping it stops every server.
pub struct Cluster {
    config: ClusterConfig,
    metadata: Arc<MetadataService>,
    metadata_addr: SocketAddr,
    metadata_task: JoinHandle<()>,
    nodes: Vec<EmbeddedNode>,
    manager: Option<super::replication::ManagerHandle>,
    _tmp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("metadata", &self.metadata_addr)
            .field("nodes", &self.nodes)
            .finish()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.metadata_task.abort();
        for n in &mut self.nodes {
            if let Some(t) = n.server.take() {
                t.abort();
            }
            if let Some(t) = n.heartbeat.take() {
                t.abort();
            }
            n.emulator.abort_in_flight();
        }
    }
}

impl Cluster {
    /// Starts the metadata service and the nodes on ephemeral loopback ports,
    /// registers the nodes and seeds the configured video.
    ///
    /// # Errors
    /// [`ClusterError`] when a port cannot be bound, a data directory is
    /// unusable or seeding fails.
    pub async fn start(config: ClusterConfig) -> Result<Self, ClusterError> {
        if config.nodes == 0 || config.nodes > 64 {
            return Err(ClusterError::Config(format!(
                "nodes must be in 1..=64, got {}",
                config.nodes
            )));
        }
        if config.profiles.is_empty() {
            return Err(ClusterError::Config("at least one node profile".into()));
        }
        for p in &config.profiles {
            p.validate().map_err(ClusterError::Config)?;
        }
        let (tmp, root) = match &config.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("vstack-cluster-")
                    .tempdir()
                    .map_err(|e| ClusterError::Seed(format!("temporary directory: {e}")))?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        // With a data directory the catalog is kept beside the nodes' data
        // (a temporary one goes with the cluster anyway).
        let catalog_dir = config.data_dir.as_ref().map(|d| d.join("metadata"));
        let mut cluster = Cluster::empty(config.clone(), tmp, catalog_dir).await?;
        for i in 0..config.nodes {
            let node_id = format!("node-{}", i + 1);
            let data_dir = root.join(&node_id);
            let profile = config.profiles[i % config.profiles.len()].clone();
            let emulator = node_emulator(&config, i, profile);
            let node = open_node(
                StorageConfig {
                    max_chunk_bytes: config.max_chunk_bytes,
                    cluster_token: config.cluster_token.clone(),
                    popularity_window: config.popularity_window,
                    ..StorageConfig::new(node_id.clone(), &data_dir)
                },
                emulator.clone(),
            )
            .await?;
            cluster
                .add_node(i, node_id, data_dir, node, emulator)
                .await?;
        }
        if let Some(v) = config.video.clone() {
            cluster.seed_video(&v).await?;
        }
        if let Some(r) = config.redundancy.clone() {
            cluster.manager = Some(
                super::replication::spawn(cluster.metadata.clone(), r, cluster.http())
                    .map_err(ClusterError::Config)?,
            );
        }
        Ok(cluster)
    }

    /// A cluster with its metadata service running and no node yet; its
    /// registry and catalog in SQLite under `catalog_dir` when given (kept
    /// across restarts, as the nodes keep their chunks and their ChunkPaxos
    /// acceptor state: a catalog forgotten while the acceptors remember
    /// let a later video under the same id meet its predecessor's
    /// decisions), in memory otherwise.
    async fn empty(
        config: ClusterConfig,
        tmp: Option<tempfile::TempDir>,
        catalog_dir: Option<PathBuf>,
    ) -> Result<Self, ClusterError> {
        let metadata = Arc::new(
            MetadataService::open(MetadataConfig {
                cluster_token: config.cluster_token.clone(),
                heartbeat_timeout: config.heartbeat_timeout,
                data_dir: catalog_dir,
                ..MetadataConfig::default()
            })
            .await
            .map_err(|e| ClusterError::Config(format!("the catalog: {e}")))?,
        );
        let m = serve_router(
            "metadata service",
            SocketAddr::from(([127, 0, 0, 1], 0)),
            super::metadata::router(metadata.clone()),
        )
        .await?;
        Ok(Cluster {
            metadata,
            metadata_addr: m.addr,
            metadata_task: m.task,
            nodes: Vec::with_capacity(config.nodes),
            manager: None,
            _tmp: tmp,
            config,
        })
    }

    /// Serves `node` as node number `i` on a free port (see [`NODE_PORTS`]),
    /// registers it and
    /// starts its heartbeats.
    async fn add_node(
        &mut self,
        i: usize,
        node_id: String,
        data_dir: PathBuf,
        node: Arc<StorageNode>,
        emulator: Emulator,
    ) -> Result<(), ClusterError> {
        node.set_node_index(i);
        let listener = bind_node(&node_id, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let s = serve_on(&node_id, listener, super::storage::router(node.clone()))?;
        let mut n = EmbeddedNode {
            node_id,
            data_dir,
            addr: s.addr,
            node,
            emulator,
            server: Some(s.task),
            heartbeat: None,
        };
        self.metadata
            .register(&RegisterNode {
                node_id: n.node_id.clone(),
                url: n.url(),
            })
            .map_err(|e| ClusterError::Seed(e.message))?;
        n.heartbeat = Some(self.spawn_heartbeat(&n));
        self.nodes.push(n);
        Ok(())
    }

    fn spawn_heartbeat(&self, n: &EmbeddedNode) -> JoinHandle<()> {
        tokio::spawn(register_and_heartbeat(
            n.node.clone(),
            self.metadata_url(),
            n.url(),
            self.config.heartbeat_interval,
        ))
    }

    /// Generates `video` and stores it on the nodes (in process, hashes
    /// verified by each node), then registers its manifest.
    ///
    /// # Errors
    /// [`ClusterError::Seed`] with the cause.
    pub async fn seed_video(&self, video: &SyntheticVideo) -> Result<VideoManifest, ClusterError> {
        let rungs = &video.lower_rungs_kbps;
        if rungs.len() >= super::wire::MAX_RUNGS
            || rungs.first().is_some_and(|&r| !(r.is_finite() && r >= 1.0))
            || rungs.windows(2).any(|w| w[0] >= w[1])
            || rungs.last().is_some_and(|&r| r >= video.bitrate_kbps)
        {
            return Err(ClusterError::Seed(format!(
                "lower rungs {rungs:?} kbit/s: fewer than {}, rising from at least 1, all below the top's {}",
                super::wire::MAX_RUNGS,
                video.bitrate_kbps
            )));
        }
        let mut ladder = Vec::with_capacity(rungs.len() + 1);
        for (k, &kbps) in rungs.iter().enumerate() {
            let rung = SyntheticVideo {
                video_id: format!("{}-r{k}", video.video_id),
                bitrate_kbps: kbps,
                lower_rungs_kbps: Vec::new(),
                ..video.clone()
            };
            Box::pin(self.seed_video(&rung)).await?;
            ladder.push(super::wire::Rung {
                video_id: rung.video_id,
                bandwidth_bps: (kbps * 1000.0).round() as u64,
            });
        }
        if !ladder.is_empty() {
            ladder.push(super::wire::Rung {
                video_id: video.video_id.clone(),
                bandwidth_bps: (video.bitrate_kbps * 1000.0).round() as u64,
            });
        }
        let sizes = load_chunks(
            &VideoSource::Synthetic {
                bitrate_kbps: video.bitrate_kbps,
                duration: video.duration,
                vbr: video.vbr,
                seed: video.seed,
            },
            video.chunk_duration,
        )
        .map_err(|e| ClusterError::Seed(e.to_string()))?;
        let mut chunks = Vec::with_capacity(sizes.len());
        for (i, (duration, size)) in sizes.iter().enumerate() {
            let bytes = synthetic_payload(video.seed, i as u32, *size);
            let sha256 = sha256_hex(&bytes);
            let chunk_id = format!("{}-{i:05}", video.video_id);
            let replicas: Vec<String> =
                striped_replicas(i, self.nodes.len(), self.config.replication)
                    .into_iter()
                    .map(|n| self.nodes[n.index()].node_id.clone())
                    .collect();
            for r in &replicas {
                let node = &self
                    .nodes
                    .iter()
                    .find(|n| &n.node_id == r)
                    .expect("known")
                    .node;
                let already = node
                    .chunks()
                    .iter()
                    .any(|c| c.chunk_id == chunk_id && c.sha256 == sha256);
                if !already {
                    node.store(&chunk_id, &sha256, bytes.clone())
                        .await
                        .map_err(|e: ApiError| ClusterError::Seed(e.message))?;
                }
            }
            chunks.push(ChunkEntry {
                index: i as u32,
                chunk_id,
                duration_ms: duration.as_millis() as u64,
                size_bytes: *size,
                sha256,
                replicas,
                revision: 1,
            });
        }
        let manifest = VideoManifest {
            video_id: video.video_id.clone(),
            version: 1,
            chunks,
            ladder,
        };
        self.metadata
            .put_video(manifest.clone())
            .map_err(|e| ClusterError::Seed(e.message))?;
        Ok(manifest)
    }

    /// Seeds the default video's real media: `pattern` encoded once with
    /// ffmpeg and cached under `cache_root` ([`super::test_pattern`]), then
    /// ingested under `pattern.video_id` with the configured replication (its
    /// initialization segment as chunk 0).
    ///
    /// # Errors
    /// [`ClusterError::Media`] when ffmpeg is missing or fails;
    /// [`ClusterError::Seed`] when the ingest fails.
    pub async fn seed_test_pattern(
        &self,
        pattern: &super::test_pattern::TestPattern,
        cache_root: PathBuf,
    ) -> Result<VideoManifest, ClusterError> {
        let playlist = pattern.ensure(cache_root).await?;
        super::ingest::ingest(
            &self.http(),
            &self.metadata_url(),
            &playlist,
            Some(&pattern.video_id),
            self.config.replication,
        )
        .await
        .map_err(|e| ClusterError::Seed(e.to_string()))?;
        self.metadata
            .video(&pattern.video_id)
            .map_err(|e| ClusterError::Seed(e.message))
    }

    /// Starts a twin of this cluster: its own metadata service and node servers
    /// on new ports, each node a [`StorageNode::twin`] (same data, same index)
    /// with its own emulator on the same base profile, seed and trace, and the
    /// same catalog. Conditions applied to one cluster do not touch the other.
    ///
    /// # Errors
    /// [`ClusterError`] when a port cannot be bound.
    pub async fn start_twin(&self) -> Result<Cluster, ClusterError> {
        // The twin's catalog is a copy of this one's (below), in memory.
        let mut twin = Cluster::empty(self.config.clone(), None, None).await?;
        if let Some(m) = &self.manager {
            m.add_mirror(twin.metadata.clone());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let emulator = node_emulator(&self.config, i, n.emulator.base());
            let node = Arc::new(n.node.twin(emulator.clone()));
            twin.add_node(i, n.node_id.clone(), n.data_dir.clone(), node, emulator)
                .await?;
        }
        twin.copy_catalog_from(self)?;
        Ok(twin)
    }

    /// Registers every video of `other`'s catalog here too (same node ids).
    ///
    /// # Errors
    /// [`ClusterError::Seed`] when a manifest names a node this cluster lacks.
    pub fn copy_catalog_from(&self, other: &Cluster) -> Result<(), ClusterError> {
        let mut manifests = other
            .metadata
            .videos()
            .iter()
            .map(|v| other.metadata.video(&v.video_id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ClusterError::Seed(e.message))?;
        // A ladder's rungs are registered before the video that lists them.
        manifests.sort_by_key(|m| !m.ladder.is_empty());
        for m in manifests {
            self.metadata
                .put_video(m)
                .map_err(|e| ClusterError::Seed(e.message))?;
        }
        Ok(())
    }

    /// This cluster's HTTP client: its token on state-changing calls
    /// (ingest, chunk uploads, the replication manager) to its loopback
    /// servers, none on reads ([`super::auth::ClusterClient`]).
    pub fn http(&self) -> super::auth::ClusterClient {
        self.config.cluster_token.client()
    }

    /// Base URL of the metadata service.
    pub fn metadata_url(&self) -> String {
        format!("http://{}", self.metadata_addr)
    }

    /// The metadata service's state.
    pub fn metadata(&self) -> &Arc<MetadataService> {
        &self.metadata
    }

    /// The storage nodes, in registration order.
    pub fn nodes(&self) -> &[EmbeddedNode] {
        &self.nodes
    }

    /// The configuration the cluster was started with.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Replays `traces` from now on: node `i` gets trace `(first + i) mod
    /// len`, each from its start (what the simulator gives session `k` with
    /// `first = k × nodes`). Twin clusters set in the same breath replay in
    /// step. An empty `traces` stops every replay.
    pub fn set_traces(&self, traces: &[Arc<Trace>], first: usize) {
        for (i, n) in self.nodes().iter().enumerate() {
            let t = (!traces.is_empty()).then(|| traces[(first + i) % traces.len()].clone());
            n.emulator().set_trace(t);
        }
    }

    /// Applies a named scenario on every node (each relative to its profile).
    pub fn apply_scenario(&self, scenario: Scenario) {
        for (i, n) in self.nodes.iter().enumerate() {
            n.emulator.apply_scenario(scenario, i);
        }
    }

    /// Runs the seed's demo timeline ([`super::emulator::DEMO_TIMELINE`]) on
    /// every node at the cluster's speed, in a background task (abort it to
    /// stop); `on_change` is told each scenario as it starts.
    pub fn start_demo_timeline(
        &self,
        on_change: impl FnMut(Scenario) + Send + 'static,
    ) -> JoinHandle<()> {
        let nodes: Vec<Emulator> = self.nodes.iter().map(|n| n.emulator.clone()).collect();
        let speed = self.config.speed;
        tokio::spawn(async move {
            super::emulator::run_timeline(nodes, &super::emulator::DEMO_TIMELINE, speed, on_change)
                .await
        })
    }

    /// Sets node `i`'s conditions.
    ///
    /// # Errors
    /// A message for an unknown node or invalid conditions.
    pub fn set_conditions(&self, i: usize, c: Conditions) -> Result<(), String> {
        c.validate()?;
        self.nodes
            .get(i)
            .ok_or_else(|| format!("no node {i}"))?
            .emulator
            .set_conditions(c);
        Ok(())
    }

    /// Kills node `i`: its listener closes (new connections are refused), its
    /// transfers in progress are reset, its heartbeats stop.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(n) = self.nodes.get_mut(i) {
            if let Some(t) = n.server.take() {
                t.abort();
            }
            if let Some(t) = n.heartbeat.take() {
                t.abort();
            }
            n.emulator.abort_in_flight();
        }
    }

    /// Restarts a killed node on the same port and data directory (its index is
    /// rebuilt from disk, as after a crash).
    ///
    /// # Errors
    /// [`ClusterError`] when the port cannot be bound again or the directory is
    /// unusable.
    pub async fn restart_node(&mut self, i: usize) -> Result<(), ClusterError> {
        let Some(n) = self.nodes.get(i) else {
            return Err(ClusterError::Config(format!("no node {i}")));
        };
        if n.server.is_some() {
            return Ok(());
        }
        let node = open_node(
            StorageConfig {
                max_chunk_bytes: self.config.max_chunk_bytes,
                cluster_token: self.config.cluster_token.clone(),
                popularity_window: self.config.popularity_window,
                ..StorageConfig::new(n.node_id.clone(), &n.data_dir)
            },
            n.emulator.clone(),
        )
        .await?;
        self.serve_restarted(i, node).await
    }

    /// Restarts killed node `i` as a twin of `primary`'s node `i` (the same
    /// chunk index, as at [`Self::start_twin`]), after `primary` restarted
    /// it: chunks repairs copy to or trim from it stay visible to both.
    ///
    /// # Errors
    /// As [`Self::restart_node`].
    pub async fn restart_twin_node(
        &mut self,
        i: usize,
        primary: &Cluster,
    ) -> Result<(), ClusterError> {
        let (Some(n), Some(p)) = (self.nodes.get(i), primary.nodes.get(i)) else {
            return Err(ClusterError::Config(format!("no node {i}")));
        };
        if n.server.is_some() {
            return Ok(());
        }
        let node = Arc::new(p.node.twin(n.emulator.clone()));
        self.serve_restarted(i, node).await
    }

    async fn serve_restarted(
        &mut self,
        i: usize,
        node: Arc<StorageNode>,
    ) -> Result<(), ClusterError> {
        let n = &self.nodes[i];
        node.set_node_index(i);
        let listener = bind_node(&n.node_id, n.addr).await?;
        let s = serve_on(&n.node_id, listener, super::storage::router(node.clone()))?;
        let hb = tokio::spawn(register_and_heartbeat(
            node.clone(),
            self.metadata_url(),
            format!("http://{}", s.addr),
            self.config.heartbeat_interval,
        ));
        let n = &mut self.nodes[i];
        n.node = node;
        n.server = Some(s.task);
        n.heartbeat = Some(hb);
        Ok(())
    }
}

/// Restarts killed node `i` on twin clusters: on the smart client's from
/// disk, on the naive client's as its twin (one shared chunk index, see
/// [`Cluster::restart_twin_node`]).
///
/// # Errors
/// As [`Cluster::restart_node`].
pub async fn restart_node_on_twins(
    clusters: &mut PerClient<Cluster>,
    i: usize,
) -> Result<(), ClusterError> {
    clusters.smart.restart_node(i).await?;
    clusters.naive.restart_twin_node(i, &clusters.smart).await
}

/// Node `i`'s emulator: `base` conditions, the cluster's speed, seed `seed + i`
/// and trace `i mod traces` (if any). A twin's node `i` gets the same.
fn node_emulator(config: &ClusterConfig, i: usize, base: Conditions) -> Emulator {
    let e = Emulator::new(base, config.speed, config.seed.wrapping_add(i as u64));
    if !config.traces.is_empty() {
        e.set_trace(Some(config.traces[i % config.traces.len()].clone()));
    }
    e
}

/// The deterministic payload of synthetic chunk `index`: `size` ChaCha8 bytes
/// seeded from `(seed, index)`.
pub fn synthetic_payload(seed: u64, index: u32, size: u64) -> bytes::Bytes {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.rotate_left(32) ^ u64::from(index));
    let mut v = vec![0u8; size as usize];
    rng.fill_bytes(&mut v);
    bytes::Bytes::from(v)
}
