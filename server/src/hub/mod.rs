//! The dashboard's engine host ([`Hub`]): the embedded cluster and its twin, a
//! smart client on one and a naive client on the other (same profiles, traces
//! and seeds, so the comparison is measured on identical conditions), sessions
//! that loop so the dashboard never goes idle, the metrics collector, and the
//! event stream `/ws` forwards.
//!
//! - Start-up (here): the clusters, the catalog, both client loops and the
//!   collector; [`Hub::snapshot`] is the whole state a dashboard needs.
//! - [`loops`]: each client's session loop, its finished sessions and its
//!   notices turned into `/ws` events.
//! - [`collector`]: every [`HubConfig::metrics_interval`] (2 s) one
//!   [`MetricsSample`] per tick (buffer level, throughput over the interval, node
//!   scores, mean download time, bytes transferred, uptime), the last
//!   [`HubConfig::history`] (100) kept.
//! - [`controls`]: the dashboard's controls ([`Control`]), acting on both
//!   clusters alike, and the seed's demo run on them.
//! - [`redundancy`]: adaptive redundancy's report and history each collector
//!   tick (the smart client's cluster runs the replication manager; the twin
//!   mirrors its changes), and the hot-video population.
//! - [`watch`]: the Watch tab's viewers, each browser player on links of its
//!   own to the nodes (bounded).
//! - Events: a `tokio::sync::broadcast` channel of [`WsEvent`]s (capacity
//!   [`EVENT_QUEUE`]); the engine's send never waits, and a subscriber that
//!   falls more than the capacity behind is dropped by `/ws`.

mod collector;
mod controls;
mod loops;
pub mod prom;
mod redundancy;
pub mod watch;

use std::{
    collections::VecDeque,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::broadcast, task::JoinHandle, time::Instant};
use vstack_core::wire::{
    CumulativeTotals, DashboardSnapshot, DemoStatus, MetricsSample, SessionResult, WsEvent,
};
use vstack_core::{
    conditions::ScenarioInForce,
    engine::{ClientKind, ClientSnapshot, PerClient, PlaybackState},
};

use crate::{
    client::{self, fetch_view},
    cluster::{
        embedded::{Cluster, ClusterConfig, ClusterError, SyntheticVideo},
        test_pattern::{self, TestPattern},
        wire::VideoSummary,
    },
    sync::LockExt,
};

pub use vstack_core::wire::Control;

/// Capacity of the event queue: a `/ws` subscriber this many events behind is
/// dropped.
pub const EVENT_QUEUE: usize = 1024;

/// Finished sessions kept for the Smart vs Naive tab.
pub const MAX_SESSIONS: usize = 200;

/// Hub settings; every default stated.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Metrics collector period. Default 2 s.
    pub metrics_interval: Duration,
    /// Samples kept. Default 100.
    pub history: usize,
    /// Time compression of clusters and clients. Default 1.
    pub speed: f64,
    /// Embedded cluster settings (video, profiles, traces, …). Default: the
    /// embedded default (3 nodes, `test-video-001`, replication 2).
    pub cluster: ClusterConfig,
    /// An HLS playlist (or folder) to ingest into the embedded cluster and play
    /// instead of the synthetic video. Default none.
    pub video: Option<PathBuf>,
    /// Without `video`: the embedded cluster plays this test pattern, real
    /// H.264 in fMP4 encoded once with ffmpeg and cached
    /// ([`crate::cluster::test_pattern`]), under `video_id`, instead of
    /// `cluster.video`'s synthetic bytes. Without ffmpeg it falls back to
    /// synthetic bytes of the same length, with a warning. Default `None`
    /// (synthetic bytes: the tests); `vstack serve` sets it.
    pub test_pattern: Option<crate::cluster::test_pattern::TestPattern>,
    /// A running cluster to play from instead of the embedded one (both
    /// clients then share it). Default none.
    pub metadata_url: Option<String>,
    /// Video id to play. Default `test-video-001` (or the ingested video's).
    pub video_id: String,
    /// The Watch tab's viewers: how many, idle time, link cap. Default
    /// [`watch::WatchConfig::default`].
    pub watch: watch::WatchConfig,
    /// Pause between two sessions of one client, media time. Default 2 s.
    pub session_gap: Duration,
    /// Event queue capacity: a subscriber this many events behind is dropped.
    /// Default [`EVENT_QUEUE`] (1024).
    pub event_queue: usize,
    /// Anomaly detection and alert rules over the live series. Default
    /// [`AnomalyConfig::default`](vstack_core::anomaly::AnomalyConfig).
    pub anomaly: vstack_core::anomaly::AnomalyConfig,
    /// Where samples, sessions, alerts and the dashboard's runs are kept.
    /// Default `None`: nothing is kept beyond memory.
    pub recorder: Option<crate::history::Recorder>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            metrics_interval: Duration::from_secs(2),
            history: 100,
            speed: 1.0,
            cluster: ClusterConfig::default(),
            video: None,
            test_pattern: None,
            metadata_url: None,
            video_id: "test-video-001".into(),
            watch: watch::WatchConfig::default(),
            session_gap: Duration::from_secs(2),
            event_queue: EVENT_QUEUE,
            anomaly: vstack_core::anomaly::AnomalyConfig::default(),
            recorder: None,
        }
    }
}

/// Errors starting the hub.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The embedded cluster did not start.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::embedded::ClusterError),
    /// The video could not be ingested.
    #[error("ingest: {0}")]
    Ingest(#[from] crate::cluster::ingest::IngestError),
    /// The video is not in the cluster.
    #[error(transparent)]
    Client(#[from] client::ClientError),
    /// A setting is out of range.
    #[error("bad setting: {0}")]
    Config(String),
}

/// What the hub's tasks share: the history, the finished sessions, the
/// conditions in force, the catalog and the demo's status.
#[derive(Default)]
struct Shared {
    history: VecDeque<MetricsSample>,
    sessions: Vec<SessionResult>,
    /// Sessions finished since the last collector tick.
    pending: Vec<SessionResult>,
    scenario: ScenarioInForce,
    /// Per node: killed from the controls (or the demo).
    killed: Vec<bool>,
    /// Each client's bytes at the last collector tick.
    bytes_before: PerClient<u64>,
    /// The video both clients play (changed by `pick_video`).
    video_id: String,
    /// The catalog (video ids), refreshed on start and by `pick_video`.
    videos: Vec<String>,
    /// The demo started from the dashboard, if any.
    demo: Option<DemoStatus>,
    /// Bumped by every change of the conditions (scenario, slider, kill,
    /// revive): a session that saw it change is not steady.
    conditions_epoch: u64,
    /// Each client's counters over the sessions that ended.
    ended: PerClient<CumulativeTotals>,
    /// Each client's last session folded into `ended`.
    folded_session: PerClient<u32>,
    /// Adaptive redundancy's samples, oldest first (bounded by
    /// `vstack_core::wire::REDUNDANCY_HISTORY`).
    redundancy_history: VecDeque<vstack_core::wire::RedundancySample>,
    /// Histograms observed as sessions finish (`/metrics`).
    qoe: Arc<prom::QoeHistograms>,
    /// Each client's stall time at the last collector tick, ms.
    stall_before: PerClient<f64>,
    /// Detectors, rules and alerts.
    anomalies: Option<vstack_core::anomaly::AnomalyMonitor>,
    /// The comparison since the last re-run, kept as a run in the history.
    compare_run: Option<CompareRun>,
}

/// The dashboard's comparison since its last re-run, as a run of the
/// history (updated as pairs finish, under one permalink).
#[derive(Clone, Debug)]
struct CompareRun {
    id: String,
    started_unix_ms: u64,
    pairs_recorded: usize,
    stored: bool,
}

impl Shared {
    /// Each client's counters since the start: the ended sessions plus the
    /// session in `clients` when it is not folded in yet.
    fn totals(&self, clients: &PerClient<Option<ClientSnapshot>>) -> PerClient<CumulativeTotals> {
        PerClient::from_fn(|kind| {
            let mut t = self.ended.get(kind).clone();
            if let Some(c) = clients.get(kind)
                && c.session > *self.folded_session.get(kind)
            {
                t.add(c);
            }
            t
        })
    }
}

/// The engine host; share as `Arc<Hub>`.
pub struct Hub {
    config: HubConfig,
    started: Instant,
    /// The smart client's cluster and the naive client's twin; `None` when
    /// playing from an external cluster.
    clusters: Option<Arc<tokio::sync::Mutex<PerClient<Cluster>>>>,
    node_ids: Vec<String>,
    metadata_url: String,
    conditions: String,
    clients: PerClient<loops::ClientLoop>,
    shared: Arc<Mutex<Shared>>,
    events: broadcast::Sender<WsEvent>,
    collector: Mutex<Option<JoinHandle<()>>>,
    demo_task: Mutex<Option<JoinHandle<()>>>,
    /// The smart client's cluster's metadata service (embedded only), whose
    /// replication manager the Redundancy tab shows.
    smart_metadata: Option<Arc<crate::cluster::metadata::MetadataService>>,
    /// The hot-video population.
    hot: Mutex<redundancy::Hot>,
    /// The Watch tab's viewers.
    watchers: watch::Watchers,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("metadata_url", &self.metadata_url)
            .field("node_ids", &self.node_ids)
            .finish_non_exhaustive()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        for (_, c) in self.clients.iter() {
            c.task.abort();
        }
        for task in [&self.collector, &self.demo_task] {
            if let Some(t) = task.locked().take() {
                t.abort();
            }
        }
    }
}

/// Where the clients play: the clusters (none for an external one), each
/// client's metadata service, and the conditions in words.
struct Clusters {
    clusters: Option<PerClient<Cluster>>,
    urls: PerClient<String>,
    conditions: String,
    video_id: String,
}

/// Starts the embedded cluster (ingesting `config.video` if given) and its
/// twin, or points both clients at `config.metadata_url`.
async fn start_clusters(config: &mut HubConfig) -> Result<Clusters, HubError> {
    if let Some(url) = &config.metadata_url {
        return Ok(Clusters {
            clusters: None,
            urls: PerClient::from_fn(|_| url.clone()),
            conditions: format!("external cluster at {url} (both clients share it)"),
            video_id: config.video_id.clone(),
        });
    }
    config.cluster.speed = config.speed;
    let media = match (&config.video, &config.test_pattern) {
        (None, Some(p)) => Some(TestPattern {
            video_id: config.video_id.clone(),
            ..p.clone()
        }),
        _ => None,
    };
    if config.video.is_some() || media.is_some() {
        config.cluster.video = None;
    } else if let Some(v) = &mut config.cluster.video {
        v.video_id = config.video_id.clone();
    } else {
        config.cluster.video = Some(SyntheticVideo::default());
    }
    let smart = Cluster::start(config.cluster.clone()).await?;
    let mut video_id = config.video_id.clone();
    if let Some(p) = media {
        match smart
            .seed_test_pattern(&p, test_pattern::cache_root())
            .await
        {
            Ok(_) => {}
            Err(ClusterError::Media(e)) => {
                tracing::warn!("{e}: the clusters play synthetic bytes instead of the test video");
                smart
                    .seed_video(&SyntheticVideo {
                        video_id: p.video_id.clone(),
                        duration: p.duration,
                        ..SyntheticVideo::default()
                    })
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(path) = &config.video {
        let r = crate::cluster::ingest::ingest(
            &smart.http(),
            &smart.metadata_url(),
            path,
            None,
            config.cluster.replication,
        )
        .await?;
        video_id = r.video.video_id;
    }
    let naive = smart.start_twin().await?;
    Ok(Clusters {
        conditions: describe_conditions(&smart, &config.cluster),
        urls: PerClient {
            smart: smart.metadata_url(),
            naive: naive.metadata_url(),
        },
        clusters: Some(PerClient { smart, naive }),
        video_id,
    })
}

/// The twin clusters' conditions in words: each node's base profile or the
/// trace it replays.
fn describe_conditions(c: &Cluster, config: &ClusterConfig) -> String {
    if config.traces.is_empty() {
        let profiles: Vec<String> = c
            .nodes()
            .iter()
            .map(|n| {
                let b = n.emulator().base();
                format!(
                    "{} {:.0} ms / {}",
                    n.node_id,
                    b.latency_ms,
                    b.bandwidth_mbps
                        .map(|b| format!("{b:.0} Mbit/s"))
                        .unwrap_or_else(|| "unshaped".into())
                )
            })
            .collect();
        format!(
            "twin embedded clusters, base profiles: {}",
            profiles.join(", ")
        )
    } else {
        let traces = &config.traces;
        let names: Vec<String> = c
            .nodes()
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{} {}", n.node_id, traces[i % traces.len()].name))
            .collect();
        format!(
            "twin embedded clusters replaying traces {}",
            names.join(", ")
        )
    }
}

impl Hub {
    /// Starts the clusters (embedded + twin, unless `metadata_url` is set),
    /// ingests `video` if given, and both client loops and the collector.
    ///
    /// # Errors
    /// [`HubError`] when a cluster cannot start, the video cannot be ingested,
    /// or the video is unknown to the cluster.
    pub async fn start(mut config: HubConfig) -> Result<Arc<Self>, HubError> {
        let http = reqwest::Client::new();
        let started = start_clusters(&mut config).await?;
        config.video_id = started.video_id.clone();
        let view = fetch_view(&http, &started.urls.smart, &config.video_id).await?;
        let node_ids: Vec<String> = view.nodes.iter().map(|n| n.node_id.clone()).collect();
        let (events, _) = broadcast::channel(config.event_queue.max(1));
        let videos = list_videos(&http, &started.urls.smart).await;
        let monitor = vstack_core::anomaly::AnomalyMonitor::new(config.anomaly.clone())
            .map_err(HubError::Config)?;
        let shared = Arc::new(Mutex::new(Shared {
            anomalies: Some(monitor),
            video_id: config.video_id.clone(),
            videos,
            killed: vec![false; node_ids.len()],
            ..Shared::default()
        }));
        let metadata_url = started.urls.smart.clone();
        let smart_metadata = started
            .clusters
            .as_ref()
            .map(|c| c.smart.metadata().clone());
        let pairing = loops::Pairing::new();
        let clients = started.urls.map(|kind, url| {
            loops::spawn(
                kind,
                http.clone(),
                url,
                config.clone(),
                events.clone(),
                shared.clone(),
                pairing.clone(),
            )
        });
        let hub = Arc::new(Hub {
            started: Instant::now(),
            clusters: started
                .clusters
                .map(|c| Arc::new(tokio::sync::Mutex::new(c))),
            node_ids,
            metadata_url,
            conditions: started.conditions,
            clients,
            shared,
            events,
            collector: Mutex::new(None),
            demo_task: Mutex::new(None),
            smart_metadata,
            hot: Mutex::new(redundancy::Hot::default()),
            watchers: watch::Watchers::new(config.watch.clone()),
            config,
        });
        *hub.collector.locked() = Some(collector::spawn(&hub));
        Ok(hub)
    }

    /// The Watch tab's viewers.
    pub fn watchers(&self) -> &watch::Watchers {
        &self.watchers
    }

    /// Node number `node` as viewer `viewer`'s `owner` player reaches it:
    /// the node of the `kind` client's cluster for an engine player, of the
    /// smart client's for the hls.js peer; its storage and the player's own
    /// link to it ([`watch::Watchers::link`]).
    ///
    /// # Errors
    /// [`watch::WatchError`]: no embedded cluster, no such node, the node
    /// killed, a bad viewer id, every place taken.
    pub async fn watch_node(
        &self,
        viewer: &str,
        owner: watch::LinkOwner,
        node: usize,
    ) -> Result<watch::WatchedNode, watch::WatchError> {
        let clusters = self.clusters.as_ref().ok_or(watch::WatchError::NoCluster)?;
        let kind = match owner {
            watch::LinkOwner::Engine(kind) => kind,
            watch::LinkOwner::Peer => ClientKind::Smart,
        };
        let (node_id, storage, emulator, running) = {
            let g = clusters.lock().await;
            let n = g
                .get(kind)
                .nodes()
                .get(node)
                .ok_or(watch::WatchError::UnknownNode(node))?;
            (
                n.node_id.clone(),
                n.storage().clone(),
                n.emulator().clone(),
                n.is_running(),
            )
        };
        if !running {
            return Err(watch::WatchError::NodeDown(node_id));
        }
        let link = self.watchers.link(viewer, owner, node, &emulator)?;
        Ok(watch::WatchedNode {
            node_id,
            storage,
            link,
        })
    }

    /// A running node of the `kind` client's cluster other than `except`
    /// that holds chunk `chunk_id` (where a node serving the hls.js peer
    /// pulls a chunk it lacks); `None` when no running node holds it.
    pub async fn holder(
        &self,
        kind: ClientKind,
        chunk_id: &str,
        except: usize,
    ) -> Option<Arc<crate::cluster::storage::StorageNode>> {
        let g = self.clusters.as_ref()?.lock().await;
        g.get(kind)
            .nodes()
            .iter()
            .enumerate()
            .find(|(i, n)| *i != except && n.is_running() && n.storage().holds(chunk_id))
            .map(|(_, n)| n.storage().clone())
    }

    /// Each node as the steering server ranks it for hls.js players: the
    /// smart client's score of it (its monitor's probes and downloads over
    /// links that follow the node's conditions, as a viewer's do), usable
    /// unless the node is killed or the monitor holds it down. Before the
    /// smart client's first snapshot every node scores 0 and is usable.
    pub fn pathway_scores(&self) -> Vec<vstack_core::hls::PathwayScore> {
        let snapshot = self.client_snapshot(ClientKind::Smart);
        let killed = self.shared.locked().killed.clone();
        self.node_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let n = snapshot
                    .as_ref()
                    .and_then(|s| s.nodes.iter().find(|n| &n.node_id == id));
                vstack_core::hls::PathwayScore {
                    pathway_id: id.clone(),
                    score: n.map_or(0.0, |n| n.score),
                    usable: !killed.get(i).copied().unwrap_or(false)
                        && n.is_none_or(|n| n.health != vstack_core::engine::NodeHealth::Down),
                }
            })
            .collect()
    }

    /// Node ids, in node-index order.
    pub fn node_ids(&self) -> &[String] {
        &self.node_ids
    }

    /// The storage of every node of the `kind` client's cluster (none from
    /// an external cluster).
    pub async fn storages(
        &self,
        kind: ClientKind,
    ) -> Vec<Arc<crate::cluster::storage::StorageNode>> {
        match &self.clusters {
            None => Vec::new(),
            Some(c) => c
                .lock()
                .await
                .get(kind)
                .nodes()
                .iter()
                .map(|n| n.storage().clone())
                .collect(),
        }
    }

    /// The manifest of the video the clients play, as the smart client's
    /// cluster holds it (`None` from an external cluster).
    pub fn watch_manifest(&self) -> Option<crate::cluster::wire::VideoManifest> {
        let video_id = self.shared.locked().video_id.clone();
        self.smart_metadata.as_ref()?.video(&video_id).ok()
    }

    /// The manifests of `m`'s ladder, in its order (empty for one
    /// rendition or when a rung is missing).
    pub fn watch_rungs(
        &self,
        m: &crate::cluster::wire::VideoManifest,
    ) -> Vec<crate::cluster::wire::VideoManifest> {
        let Some(meta) = self.smart_metadata.as_ref() else {
            return Vec::new();
        };
        m.ladder
            .iter()
            .map(|r| meta.video(&r.video_id).ok())
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default()
    }

    /// Subscribes to the event stream.
    pub fn subscribe(&self) -> broadcast::Receiver<WsEvent> {
        self.events.subscribe()
    }

    /// Server uptime, ms.
    pub fn uptime_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// A client's latest snapshot as the dashboard shows it: `stopped` when
    /// the controls stopped it, and the nodes killed from the controls.
    fn client_snapshot(&self, kind: ClientKind) -> Option<ClientSnapshot> {
        let c = self.clients.get(kind);
        let mut s = c.status.borrow().clone()?;
        if *c.stopped.borrow() && s.state != PlaybackState::Ended {
            s.state = PlaybackState::Stopped;
        }
        let killed = self.shared.locked().killed.clone();
        for (n, k) in s.nodes.iter_mut().zip(killed) {
            n.killed = k;
        }
        Some(s)
    }

    /// Both clients' snapshots.
    fn client_snapshots(&self) -> PerClient<Option<ClientSnapshot>> {
        PerClient::from_fn(|kind| self.client_snapshot(kind))
    }

    /// The full state.
    pub fn snapshot(&self) -> DashboardSnapshot {
        let clients = self.client_snapshots();
        let sh = self.shared.locked();
        let totals = sh.totals(&clients);
        let (history, sessions, scenario, video_id, videos, demo) = (
            sh.history.iter().cloned().collect(),
            sh.sessions.clone(),
            sh.scenario,
            sh.video_id.clone(),
            sh.videos.clone(),
            sh.demo.clone(),
        );
        drop(sh);
        let redundancy = self.redundancy_view();
        let anomalies = self.alerts();
        DashboardSnapshot {
            uptime_ms: self.uptime_ms(),
            video_id,
            videos,
            scenario,
            conditions: self.conditions.clone(),
            speed: self.config.speed,
            metrics_interval_ms: u64::try_from(self.config.metrics_interval.as_millis())
                .unwrap_or(u64::MAX),
            node_ids: self.node_ids.clone(),
            clients,
            history,
            sessions,
            totals,
            demo,
            redundancy,
            anomalies,
            compare_run_id: self
                .shared
                .locked()
                .compare_run
                .as_ref()
                .filter(|c| c.stored)
                .map(|c| c.id.clone()),
            keeps_history: self.config.recorder.is_some(),
        }
    }

    /// Every open alert and the newest resolved ones, newest first.
    pub fn alerts(&self) -> Vec<vstack_core::anomaly::Alert> {
        self.shared
            .locked()
            .anomalies
            .as_ref()
            .map(vstack_core::anomaly::AnomalyMonitor::alerts)
            .unwrap_or_default()
    }
}

/// The catalog's video ids (empty when the metadata service does not answer).
async fn list_videos(http: &reqwest::Client, metadata_url: &str) -> Vec<String> {
    let url = format!("{}/videos", metadata_url.trim_end_matches('/'));
    match http.get(&url).timeout(Duration::from_secs(5)).send().await {
        Ok(r) => r
            .json::<Vec<VideoSummary>>()
            .await
            .map(|v| v.into_iter().map(|v| v.video_id).collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}
