//! The dashboard's engine host ([`Hub`]): the embedded cluster and its twin, a
//! smart client on one and a naive client on the other (same profiles, traces
//! and seeds, so the comparison is measured on identical conditions), sessions
//! that loop so the dashboard never goes idle, the metrics collector, and the
//! event stream `/ws` forwards.
//!
//! - Metrics collector: every [`HubConfig::metrics_interval`] (2 s) one
//!   [`MetricsSample`] per tick (buffer level, throughput over the interval, node
//!   scores, mean download time, bytes transferred, uptime), the last
//!   [`HubConfig::history`] (100) kept.
//! - Events: a `tokio::sync::broadcast` channel of [`WsEvent`]s (capacity
//!   [`EVENT_QUEUE`]); the engine's send never waits, and a subscriber that
//!   falls more than the capacity behind is dropped by `/ws`.
//! - Controls ([`Control`]) act on both clusters alike.

use std::{
    collections::VecDeque,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use app::wire::{
    ChunkEvent, ChunkSnapshot, ClientSample, ClientSnapshot, Control, DashboardSnapshot, DemoPhase,
    DemoStatus, MetricsSample, MetricsUpdate, NodeSnapshot, NodeStatusEvent, PlaybackStateEvent,
    SessionResult, WsEvent,
};
use tokio::{
    sync::{broadcast, watch},
    task::JoinHandle,
    time::Instant,
};

use crate::{
    client::{self, ClientKind, ClientNotice, ClientStatus, LiveConfig, fetch_view},
    cluster::{
        embedded::{Cluster, ClusterConfig, SyntheticVideo},
        emulator::{Conditions, Scenario},
    },
    engine::{NodeHealth, Notice, PlaybackState},
};

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
    /// A running cluster to play from instead of the embedded one (both
    /// clients then share it). Default none.
    pub metadata_url: Option<String>,
    /// Video id to play. Default `test-video-001` (or the ingested video's).
    pub video_id: String,
    /// Pause between two sessions of one client, media time. Default 2 s.
    pub session_gap: Duration,
    /// Event queue capacity: a subscriber this many events behind is dropped.
    /// Default [`EVENT_QUEUE`] (1024).
    pub event_queue: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            metrics_interval: Duration::from_secs(2),
            history: 100,
            speed: 1.0,
            cluster: ClusterConfig::default(),
            video: None,
            metadata_url: None,
            video_id: "test-video-001".into(),
            session_gap: Duration::from_secs(2),
            event_queue: EVENT_QUEUE,
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
}

struct ClientLoop {
    status: watch::Receiver<Option<ClientStatus>>,
    /// `true` = stopped by the controls.
    stopped: watch::Sender<bool>,
    /// Bumped to restart the current session.
    restart: watch::Sender<u64>,
    session: Arc<Mutex<u32>>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    history: VecDeque<MetricsSample>,
    sessions: Vec<SessionResult>,
    pending: Vec<SessionResult>,
    scenario: String,
    killed: Vec<bool>,
    bytes_before: [u64; 2],
    /// The video both clients play (changed by `pick_video`).
    video_id: String,
    /// The catalog (video ids), refreshed on start and by `pick_video`.
    videos: Vec<String>,
    /// The demo started from the dashboard, if any.
    demo: Option<DemoStatus>,
}

/// The engine host; share as `Arc<Hub>`.
pub struct Hub {
    config: HubConfig,
    started: Instant,
    clusters: tokio::sync::Mutex<Vec<Cluster>>,
    node_ids: Vec<String>,
    metadata_url: String,
    conditions: String,
    clients: Vec<ClientLoop>,
    shared: Arc<Mutex<Shared>>,
    events: broadcast::Sender<WsEvent>,
    collector: Mutex<Option<JoinHandle<()>>>,
    demo_task: Mutex<Option<JoinHandle<()>>>,
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
        for c in &self.clients {
            c.task.abort();
        }
        if let Some(t) = self
            .collector
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            t.abort();
        }
        if let Some(t) = self
            .demo_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            t.abort();
        }
    }
}

fn state_name(s: PlaybackState) -> &'static str {
    match s {
        PlaybackState::Startup => "startup",
        PlaybackState::Playing => "playing",
        PlaybackState::Rebuffering => "rebuffering",
        PlaybackState::Ended => "ended",
    }
}

fn health_name(h: NodeHealth) -> &'static str {
    match h {
        NodeHealth::Healthy => "healthy",
        NodeHealth::Degraded => "degraded",
        NodeHealth::Down => "down",
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
        let mut clusters = Vec::new();
        let urls: [String; 2];
        let conditions;
        if let Some(url) = &config.metadata_url {
            urls = [url.clone(), url.clone()];
            conditions = format!("external cluster at {url} (both clients share it)");
        } else {
            config.cluster.speed = config.speed;
            if config.video.is_some() {
                config.cluster.video = None;
            } else if let Some(v) = &mut config.cluster.video {
                v.video_id = config.video_id.clone();
            } else {
                config.cluster.video = Some(SyntheticVideo::default());
            }
            let a = Cluster::start(config.cluster.clone()).await?;
            if let Some(path) = &config.video {
                let r = crate::cluster::ingest::ingest(
                    &http,
                    &a.metadata_url(),
                    path,
                    None,
                    config.cluster.replication,
                )
                .await?;
                config.video_id = r.video.video_id;
            }
            let b = a.start_twin().await?;
            conditions = if config.cluster.traces.is_empty() {
                let profiles: Vec<String> = a
                    .nodes()
                    .iter()
                    .map(|n| {
                        let c = n.emulator().base();
                        format!(
                            "{} {:.0} ms / {}",
                            n.node_id,
                            c.latency_ms,
                            c.bandwidth_mbps
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
                let traces = &config.cluster.traces;
                let names: Vec<String> = a
                    .nodes()
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("{} {}", n.node_id, traces[i % traces.len()].name))
                    .collect();
                format!(
                    "twin embedded clusters replaying traces {}",
                    names.join(", ")
                )
            };
            urls = [a.metadata_url(), b.metadata_url()];
            clusters.push(a);
            clusters.push(b);
        }
        let view = fetch_view(&http, &urls[0], &config.video_id).await?;
        let node_ids: Vec<String> = view.nodes.iter().map(|n| n.node_id.clone()).collect();
        let (events, _) = broadcast::channel(config.event_queue.max(1));
        let videos = list_videos(&http, &urls[0]).await;
        let shared = Arc::new(Mutex::new(Shared {
            scenario: "normal".into(),
            video_id: config.video_id.clone(),
            videos,
            killed: vec![false; node_ids.len()],
            ..Shared::default()
        }));
        let mut clients = Vec::new();
        let metadata_url = urls[0].clone();
        for (kind, url) in [ClientKind::Smart, ClientKind::Naive].into_iter().zip(urls) {
            clients.push(spawn_loop(
                kind,
                http.clone(),
                url,
                config.clone(),
                events.clone(),
                shared.clone(),
            ));
        }
        let hub = Arc::new(Hub {
            started: Instant::now(),
            clusters: tokio::sync::Mutex::new(clusters),
            node_ids,
            metadata_url,
            conditions,
            clients,
            shared,
            events,
            collector: Mutex::new(None),
            demo_task: Mutex::new(None),
            config,
        });
        let weak = Arc::downgrade(&hub);
        let period = hub.config.metrics_interval;
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(hub) = weak.upgrade() else { break };
                hub.collect();
            }
        });
        *hub.collector.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(hub)
    }

    /// Subscribes to the event stream.
    pub fn subscribe(&self) -> broadcast::Receiver<WsEvent> {
        self.events.subscribe()
    }

    /// Server uptime, ms.
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    fn client_snapshot(&self, c: &ClientLoop) -> Option<ClientSnapshot> {
        let status = c.status.borrow().clone()?;
        let session = *c.session.lock().unwrap_or_else(|e| e.into_inner());
        let stopped = *c.stopped.borrow();
        let killed = self
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .killed
            .clone();
        Some(to_wire(&status, session, stopped, &killed))
    }

    /// The full state.
    pub fn snapshot(&self) -> DashboardSnapshot {
        let sh = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let (history, sessions, scenario, video_id, videos, demo) = (
            sh.history.iter().cloned().collect(),
            sh.sessions.clone(),
            sh.scenario.clone(),
            sh.video_id.clone(),
            sh.videos.clone(),
            sh.demo.clone(),
        );
        drop(sh);
        DashboardSnapshot {
            uptime_ms: self.uptime_ms(),
            video_id,
            videos,
            scenario,
            conditions: self.conditions.clone(),
            speed: self.config.speed,
            metrics_interval_ms: self.config.metrics_interval.as_millis() as u64,
            node_ids: self.node_ids.clone(),
            smart: self.client_snapshot(&self.clients[0]),
            naive: self.client_snapshot(&self.clients[1]),
            history,
            sessions,
            demo,
        }
    }

    /// One collector tick: sample, keep, broadcast.
    pub fn collect(&self) {
        let smart = self.client_snapshot(&self.clients[0]);
        let naive = self.client_snapshot(&self.clients[1]);
        let interval_media_s = self.config.metrics_interval.as_secs_f64() * self.config.speed;
        let mut sh = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let mut sample_of = |i: usize, c: &Option<ClientSnapshot>| {
            c.as_ref().map(|c| {
                let total = c.bytes_total;
                // Bytes since the last tick; a new session resets the counter.
                let before = sh.bytes_before[i];
                let delta = if total >= before {
                    total - before
                } else {
                    total
                };
                sh.bytes_before[i] = total;
                ClientSample {
                    buffer_level_s: c.buffer_level_s,
                    throughput_mbps: delta as f64 * 8.0 / interval_media_s / 1e6,
                    node_scores: c.nodes.iter().map(|n| n.score).collect(),
                    avg_download_ms: c.avg_download_ms,
                    bytes_transferred: total,
                    state: c.state.clone(),
                }
            })
        };
        let sample = MetricsSample {
            uptime_ms: self.uptime_ms(),
            smart: sample_of(0, &smart),
            naive: sample_of(1, &naive),
        };
        sh.history.push_back(sample.clone());
        while sh.history.len() > self.config.history.max(1) {
            sh.history.pop_front();
        }
        let finished = std::mem::take(&mut sh.pending);
        let scenario = sh.scenario.clone();
        drop(sh);
        let _ = self
            .events
            .send(WsEvent::MetricsUpdate(Box::new(MetricsUpdate {
                sample,
                scenario,
                smart,
                naive,
                finished,
            })));
    }

    /// Applies a control to both clusters / clients.
    ///
    /// # Errors
    /// A message for the user: unknown scenario or node, invalid conditions,
    /// or a cluster control without an embedded cluster.
    pub async fn control(self: &Arc<Self>, control: Control) -> Result<String, String> {
        let n = self.node_ids.len();
        let check = |i: usize| {
            if i < n {
                Ok(())
            } else {
                Err(format!("no node {i}: the cluster has {n} nodes (0-based)"))
            }
        };
        match control {
            Control::Play => {
                for c in &self.clients {
                    c.stopped.send_replace(false);
                }
                Ok("playing".into())
            }
            Control::Stop => {
                for c in &self.clients {
                    c.stopped.send_replace(true);
                }
                Ok("stopped".into())
            }
            Control::Restart => {
                for c in &self.clients {
                    c.stopped.send_replace(false);
                    c.restart.send_modify(|v| *v += 1);
                }
                Ok("restarted".into())
            }
            Control::RerunComparison => {
                {
                    let mut sh = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                    sh.sessions.clear();
                    sh.pending.clear();
                }
                for c in &self.clients {
                    c.stopped.send_replace(false);
                    c.restart.send_modify(|v| *v += 1);
                }
                Ok("comparison restarted under the current conditions".into())
            }
            Control::PickVideo { video_id } => {
                let videos = list_videos(&reqwest::Client::new(), &self.metadata_url).await;
                if !videos.contains(&video_id) {
                    return Err(format!(
                        "unknown video {video_id:?}; the catalog has {}",
                        videos.join(", ")
                    ));
                }
                {
                    let mut sh = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                    sh.video_id = video_id.clone();
                    sh.videos = videos;
                }
                for c in &self.clients {
                    c.stopped.send_replace(false);
                    c.restart.send_modify(|v| *v += 1);
                }
                Ok(format!("playing {video_id}"))
            }
            Control::Scenario { name } => {
                let s = Scenario::from_name(&name).ok_or_else(|| {
                    let all: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                    format!("unknown scenario {name:?}; one of {}", all.join(", "))
                })?;
                let clusters = self.embedded().await?;
                for c in clusters.iter() {
                    c.apply_scenario(s);
                }
                self.set_scenario(s.name());
                Ok(format!("scenario {}", s.name()))
            }
            Control::NodeConditions {
                node,
                latency_ms,
                bandwidth_mbps,
                loss,
                down,
            } => {
                check(node)?;
                let c = Conditions {
                    latency_ms,
                    bandwidth_mbps,
                    loss,
                    down,
                    ..Conditions::default()
                };
                c.validate()?;
                let clusters = self.embedded().await?;
                for cl in clusters.iter() {
                    cl.set_conditions(node, c.clone())?;
                }
                self.set_scenario("custom");
                Ok(format!("{} conditions set", self.node_ids[node]))
            }
            Control::KillNode { node } => {
                check(node)?;
                let mut clusters = self.embedded().await?;
                for c in clusters.iter_mut() {
                    c.kill_node(node);
                }
                self.set_killed(node, true);
                Ok(format!("{} killed", self.node_ids[node]))
            }
            Control::StartDemo { phase_s } => {
                if !(10..=600).contains(&phase_s) {
                    return Err(format!("phase_s must be in [10, 600] s, got {phase_s}"));
                }
                drop(self.embedded().await?);
                self.stop_demo().await;
                let hub = Arc::downgrade(self);
                let task = tokio::spawn(async move { run_demo(hub, phase_s).await });
                *self.demo_task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
                Ok(format!(
                    "demo started: {} phases of {phase_s} s",
                    crate::demo::PHASES.len()
                ))
            }
            Control::StopDemo => {
                if self.stop_demo().await {
                    Ok("demo stopped; every node back on its base profile".into())
                } else {
                    Err("no demo is running".into())
                }
            }
            Control::ReviveNode { node } => {
                check(node)?;
                let mut clusters = self.embedded().await?;
                for c in clusters.iter_mut() {
                    c.restart_node(node).await.map_err(|e| e.to_string())?;
                }
                self.set_killed(node, false);
                Ok(format!("{} revived", self.node_ids[node]))
            }
        }
    }

    /// Stops a running demo: aborts it, revives every node and restores the
    /// base profiles. Returns whether one was running.
    async fn stop_demo(&self) -> bool {
        let task = self
            .demo_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(task) = task else { return false };
        let was_running = !task.is_finished();
        task.abort();
        if was_running {
            let mut clusters = self.clusters.lock().await;
            for c in clusters.iter_mut() {
                for i in 0..self.node_ids.len() {
                    let _ = c.restart_node(i).await;
                }
                c.apply_scenario(Scenario::Normal);
            }
            drop(clusters);
            for i in 0..self.node_ids.len() {
                self.set_killed(i, false);
            }
            self.set_scenario("normal");
            self.update_demo(|d| {
                d.running = false;
                d.current = None;
                d.findings = vec!["stopped from the dashboard before the end".into()];
            });
        }
        was_running
    }

    /// Changes the demo status and broadcasts it.
    fn update_demo(&self, f: impl FnOnce(&mut DemoStatus)) {
        let status = {
            let mut sh = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            let Some(d) = sh.demo.as_mut() else { return };
            f(d);
            d.clone()
        };
        let _ = self.events.send(WsEvent::Demo(Box::new(status)));
    }

    /// Both clients' current status and session number.
    fn client_states(&self) -> Vec<(Option<ClientStatus>, u32)> {
        self.clients
            .iter()
            .map(|c| {
                (
                    c.status.borrow().clone(),
                    *c.session.lock().unwrap_or_else(|e| e.into_inner()),
                )
            })
            .collect()
    }

    async fn embedded(&self) -> Result<tokio::sync::MutexGuard<'_, Vec<Cluster>>, String> {
        let g = self.clusters.lock().await;
        if g.is_empty() {
            Err(
                "cluster controls need the embedded cluster (started without --metadata-url)"
                    .into(),
            )
        } else {
            Ok(g)
        }
    }

    fn set_scenario(&self, name: &str) {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .scenario = name.to_string();
    }

    fn set_killed(&self, node: usize, killed: bool) {
        if let Some(k) = self
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .killed
            .get_mut(node)
        {
            *k = killed;
        }
    }
}

/// The demo on the hub's clusters: [`crate::demo::PHASES`] in order, the
/// clients restarted first, per-phase figures from their counters and key
/// findings at the end (as `vstack demo`, but watched on the dashboard).
async fn run_demo(hub: std::sync::Weak<Hub>, phase_s: u64) {
    use crate::demo::{PHASES, Phase, PhaseResult, chaos_step, figures, phase_name};
    use rand::SeedableRng;
    let Some(h) = hub.upgrade() else { return };
    let speed = h.config.speed;
    let phase_wall = Duration::from_secs(phase_s).div_f64(speed);
    {
        let mut sh = h.shared.lock().unwrap_or_else(|e| e.into_inner());
        sh.demo = Some(DemoStatus {
            running: true,
            current: None,
            phase_s,
            phase_started_uptime_ms: 0,
            phase_wall_ms: phase_wall.as_millis() as u64,
            phases: PHASES
                .iter()
                .map(|(p, narration)| DemoPhase {
                    name: phase_name(*p).into(),
                    narration: (*narration).into(),
                    smart: None,
                    naive: None,
                })
                .collect(),
            events: Vec::new(),
            findings: Vec::new(),
        });
    }
    for c in &h.clients {
        c.stopped.send_replace(false);
        c.restart.send_modify(|v| *v += 1);
    }
    drop(h);
    // Let both clients start their new sessions.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut results = Vec::new();
    for (i, (phase, _)) in PHASES.iter().enumerate() {
        let Some(h) = hub.upgrade() else { return };
        let before = h.client_states();
        let started = h.uptime_ms();
        h.update_demo(|d| {
            d.current = Some(i);
            d.phase_started_uptime_ms = started;
        });
        match *phase {
            Phase::Scenario(s) => {
                for c in h.clusters.lock().await.iter() {
                    c.apply_scenario(s);
                }
                h.set_scenario(s.name());
                drop(h);
                tokio::time::sleep(phase_wall).await;
            }
            Phase::Chaos => {
                h.set_scenario("chaos");
                let step = Duration::from_secs(5).div_f64(speed);
                let mut killed = Vec::new();
                drop(h);
                for k in 0..(phase_s / 5).max(1) {
                    let Some(h) = hub.upgrade() else { return };
                    let what = {
                        let mut clusters = h.clusters.lock().await;
                        chaos_step(&mut clusters[..], &mut rng, &mut killed).await
                    };
                    for j in 0..h.node_ids.len() {
                        h.set_killed(j, killed.contains(&j));
                    }
                    h.update_demo(|d| d.events.push(format!("{:>3} s: {what}", k * 5)));
                    drop(h);
                    tokio::time::sleep(step).await;
                }
                let Some(h) = hub.upgrade() else { return };
                let mut clusters = h.clusters.lock().await;
                for j in killed.drain(..) {
                    for c in clusters.iter_mut() {
                        let _ = c.restart_node(j).await;
                    }
                    h.set_killed(j, false);
                }
                for c in clusters.iter() {
                    c.apply_scenario(Scenario::Normal);
                }
                drop(clusters);
                h.set_scenario("normal");
            }
        }
        let Some(h) = hub.upgrade() else { return };
        let after = h.client_states();
        let phase_figures: Vec<_> = before
            .iter()
            .zip(&after)
            .map(|((b, bs), (a, as_))| match (b, a) {
                // A session that ended and restarted within the phase: count
                // from the new session's start.
                (Some(b), Some(a)) if bs == as_ => figures(b, a, phase_s as f64),
                (_, Some(a)) => figures(&fresh(a), a, phase_s as f64),
                _ => Default::default(),
            })
            .collect();
        let r = PhaseResult {
            phase: phase_name(*phase).into(),
            smart: phase_figures[0].clone(),
            naive: phase_figures[1].clone(),
        };
        h.update_demo(|d| {
            d.phases[i].smart = Some(r.smart.clone());
            d.phases[i].naive = Some(r.naive.clone());
        });
        results.push(r);
    }
    if let Some(h) = hub.upgrade() {
        let findings = crate::demo::findings(&results);
        h.update_demo(|d| {
            d.running = false;
            d.current = None;
            d.findings = findings;
        });
    }
}

/// `s` with every counter at zero (a session's start).
fn fresh(s: &ClientStatus) -> ClientStatus {
    let mut z = s.clone();
    let q = &mut z.qoe;
    q.downloads = 0;
    q.rebuffer_count = 0;
    q.rebuffer_time_ms = 0.0;
    q.failovers = 0;
    q.bytes_total = 0;
    for n in &mut q.per_node {
        n.chunks = 0;
    }
    z
}

fn to_wire(s: &ClientStatus, session: u32, stopped: bool, killed: &[bool]) -> ClientSnapshot {
    let q = &s.qoe;
    ClientSnapshot {
        kind: s.kind.name().into(),
        video_id: s.video_id.clone(),
        state: if stopped && s.state != PlaybackState::Ended {
            "stopped".into()
        } else {
            state_name(s.state).into()
        },
        session,
        elapsed_ms: s.elapsed_ms,
        buffer_level_s: s.buffer_level_s,
        buffer_target_s: s.buffer_target_s,
        low_water_mark_s: s.low_water_mark_s,
        playhead_s: s.playhead_s,
        video_duration_s: s.video_duration_s,
        startup_latency_ms: q.startup_latency_ms,
        rebuffer_count: q.rebuffer_count,
        rebuffer_time_ms: q.rebuffer_time_ms,
        chunks_played: q.chunks_played as u32,
        chunk_count: q.chunk_count as u32,
        downloads: q.downloads,
        failovers: q.failovers,
        success_rate: q.success_rate,
        bytes_total: q.bytes_total,
        avg_throughput_mbps: q.avg_throughput_mbps,
        avg_download_ms: q.download_time.mean_ms,
        avg_buffer_s: q.avg_buffer_s,
        nodes: s
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeSnapshot {
                node_id: n.node_id.clone(),
                score: n.score,
                latency_ms: n.latency_ms,
                bandwidth_mbps: n.bandwidth_mbps,
                success_rate: n.reliability,
                health: health_name(n.health).into(),
                in_flight: n.in_flight as u32,
                chunks: n.chunks,
                bytes: n.bytes,
                failures: n.failures,
                killed: killed.get(i).copied().unwrap_or(false),
            })
            .collect(),
        recent_chunks: s
            .recent_chunks
            .iter()
            .map(|r| ChunkSnapshot {
                chunk: r.chunk,
                node_id: s
                    .nodes
                    .get(r.node.index())
                    .map(|n| n.node_id.clone())
                    .unwrap_or_default(),
                bytes: r.bytes,
                download_ms: r.download_ms,
            })
            .collect(),
    }
}

fn spawn_loop(
    kind: ClientKind,
    http: reqwest::Client,
    metadata_url: String,
    config: HubConfig,
    events: broadcast::Sender<WsEvent>,
    shared: Arc<Mutex<Shared>>,
) -> ClientLoop {
    let (status_tx, status_rx) = watch::channel(None);
    let (stopped_tx, mut stopped_rx) = watch::channel(false);
    let (restart_tx, mut restart_rx) = watch::channel(0u64);
    let session = Arc::new(Mutex::new(0u32));
    let session2 = session.clone();
    let task = tokio::spawn(async move {
        let (notice_tx, mut notice_rx) = broadcast::channel::<ClientNotice>(256);
        let fwd_events = events.clone();
        let forward = tokio::spawn(async move {
            loop {
                match notice_rx.recv().await {
                    Ok(n) => {
                        if let Some(ev) = notice_event(&n) {
                            let _ = fwd_events.send(ev);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        loop {
            // Wait while stopped.
            while *stopped_rx.borrow_and_update() {
                if stopped_rx.changed().await.is_err() {
                    forward.abort();
                    return;
                }
            }
            let video_id = shared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .video_id
                .clone();
            let view = match fetch_view(&http, &metadata_url, &video_id).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(client = kind.name(), "cannot fetch the manifest: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let n = {
                let mut s = session2.lock().unwrap_or_else(|e| e.into_inner());
                *s += 1;
                *s
            };
            let (stop_tx, stop_rx) = watch::channel(false);
            let cfg = LiveConfig {
                kind,
                speed: config.speed,
                ..LiveConfig::default()
            };
            restart_rx.borrow_and_update();
            let play = client::play(
                http.clone(),
                view,
                cfg,
                status_tx.clone(),
                notice_tx.clone(),
                stop_rx,
            );
            tokio::pin!(play);
            let result = loop {
                tokio::select! {
                    r = &mut play => break Some(r),
                    _ = stopped_rx.changed() => {
                        if *stopped_rx.borrow() { let _ = stop_tx.send(true); }
                    }
                    _ = restart_rx.changed() => { let _ = stop_tx.send(true); }
                }
            };
            if let Some(Ok(q)) = result {
                {
                    let mut sh = shared.lock().unwrap_or_else(|e| e.into_inner());
                    let r = SessionResult {
                        kind: kind.name().into(),
                        session: n,
                        scenario: sh.scenario.clone(),
                        startup_latency_ms: q.startup_latency_ms,
                        rebuffer_count: q.rebuffer_count,
                        rebuffer_time_ms: q.rebuffer_time_ms,
                        avg_buffer_s: q.avg_buffer_s,
                        avg_throughput_mbps: q.avg_throughput_mbps,
                        failovers: q.failovers,
                    };
                    sh.sessions.push(r.clone());
                    if sh.sessions.len() > MAX_SESSIONS {
                        let excess = sh.sessions.len() - MAX_SESSIONS;
                        sh.sessions.drain(..excess);
                    }
                    sh.pending.push(r);
                }
                tokio::time::sleep(config.session_gap.div_f64(config.speed.max(1.0))).await;
            }
        }
    });
    ClientLoop {
        status: status_rx,
        stopped: stopped_tx,
        restart: restart_tx,
        session,
        task,
    }
}

fn notice_event(n: &ClientNotice) -> Option<WsEvent> {
    let client = n.kind.name().to_string();
    let node_id = n.node_id.clone().unwrap_or_default();
    Some(match &n.notice {
        Notice::ChunkDownloaded {
            chunk,
            bytes,
            download_ms,
            ..
        } => WsEvent::ChunkDownloaded(ChunkEvent {
            client,
            chunk: *chunk,
            node_id,
            bytes: *bytes,
            download_ms: *download_ms,
        }),
        Notice::NodeStatus { health, .. } => WsEvent::NodeStatus(NodeStatusEvent {
            client,
            node_id,
            health: health_name(*health).into(),
        }),
        Notice::PlaybackState { state } => WsEvent::PlaybackState(PlaybackStateEvent {
            client,
            state: state_name(*state).into(),
        }),
        Notice::Failover { .. } => return None,
    })
}

/// The catalog's video ids (empty when the metadata service does not answer).
async fn list_videos(http: &reqwest::Client, metadata_url: &str) -> Vec<String> {
    let url = format!("{}/videos", metadata_url.trim_end_matches('/'));
    match http.get(&url).timeout(Duration::from_secs(5)).send().await {
        Ok(r) => r
            .json::<Vec<crate::cluster::wire::VideoSummary>>()
            .await
            .map(|v| v.into_iter().map(|v| v.video_id).collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}
