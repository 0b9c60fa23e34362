//! One playback session: the chunk scheduler around the monitor and the buffer.
//!
//! Scheduling rules (seed 002, "Intelligent Chunk Scheduling"; defaults in
//! [`SchedulerConfig`]):
//! - chunks are requested in playback order: always the lowest-index chunk that
//!   is neither downloaded nor in flight;
//! - a new download starts while fewer than [`SchedulerConfig::max_in_flight`] (4)
//!   are in flight and the buffer wants that chunk (low-water / target hysteresis
//!   on a media-time horizon, see [`super::buffer`]);
//! - the replica comes from the session's [`NodeSelector`], among the replicas not
//!   yet tried for this chunk in the current round;
//! - each download gets a timeout: `timeout_factor × expected`, where `expected =
//!   latency + size / (bandwidth / (downloads on that node + 1))` from the
//!   monitor, clamped to [`SchedulerConfig::min_timeout`,
//!   `SchedulerConfig::max_timeout`], or [`SchedulerConfig::initial_timeout`]
//!   while the node's bandwidth is unknown; the timeout doubles with every round
//!   of failures on the same chunk;
//! - on an error or a timeout the node is charged a failure, the chunk's attempt
//!   is recorded as a failover and the chunk goes to the next untried replica;
//!   once every replica failed, a new round starts over all replicas.
//!
//! Probes: every node is probed at the start and then every
//! [`MonitorConfig::probe_interval`] (3 s), unless the selector does no monitoring
//! (the naive client). The driver must answer every probe with
//! [`Event::ProbeOk`] or [`Event::ProbeFailed`] (applying its own probe timeout).

use std::{collections::VecDeque, time::Duration};

use serde::{Deserialize, Serialize};

use super::{
    BufferConfig, BufferManager, Manifest, MonitorConfig, NetworkMonitor, NodeHealth, NodeId,
    NodeSelector, PlaybackState, SelectionContext,
};

/// Scheduler settings; every default stated on its field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchedulerConfig {
    /// Downloads in flight at most. Default 4 (seed 002).
    pub max_in_flight: usize,
    /// Multiple of the expected transfer time after which a download times out.
    /// Default 4.
    pub timeout_factor: f64,
    /// Lower bound of a timeout. Default 2 s.
    pub min_timeout: Duration,
    /// Upper bound of a timeout (before doubling for retry rounds). Default 60 s.
    pub max_timeout: Duration,
    /// Timeout while a node's bandwidth is still unknown. Default 20 s.
    pub initial_timeout: Duration,
    /// Startup probe gate: a selector that monitors waits for the first probe
    /// answer (or failure) of every replica of chunk 0 before its first download, but at most
    /// this long, so that chunk 0 goes to the best replica instead of an
    /// arbitrary one. Zero disables the gate. Default 3 s (past a 2 s probe
    /// timeout, so a gate normally ends on the last answer). Measured on
    /// `shared/traces` together with [`SchedulerConfig::focus_on_start`] (20
    /// sessions, 3 nodes on different traces; `server/tests/sim_traces.rs`):
    /// mean startup latency of the smart client without the gate / with a 1 s cap
    /// / with 3 s: FCC 14.2 / 11.9 / 8.9 s, LTE 4.0 / 2.8 / 2.8 s, 3G 18.7 / 21.0
    /// / 18.9 s (a 1 s cap ends before slow 3G probes answer, and an unmeasured
    /// node's optimistic prior then wins).
    pub startup_probe_wait: Duration,
    /// Start-up focus: while playback is starting or stalled, only the chunks
    /// needed to reach the start (resp. resume) threshold are requested, so they
    /// do not share node links and the client's access link with later chunks.
    /// Applies to every strategy alike. Default true.
    pub focus_on_start: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 4,
            timeout_factor: 4.0,
            min_timeout: Duration::from_secs(2),
            max_timeout: Duration::from_secs(60),
            initial_timeout: Duration::from_secs(20),
            startup_probe_wait: Duration::from_millis(3000),
            focus_on_start: true,
        }
    }
}

/// All engine settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Network monitor settings.
    pub monitor: MonitorConfig,
    /// Buffer settings.
    pub buffer: BufferConfig,
    /// Scheduler settings.
    pub scheduler: SchedulerConfig,
}

/// Identifies one download attempt (one chunk from one node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DownloadId(pub u64);

/// What the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Probe `node` and answer with `ProbeOk` / `ProbeFailed`.
    Probe {
        /// The node to probe.
        node: NodeId,
    },
    /// Download chunk `chunk` from `node`; answer with `DownloadDone` /
    /// `DownloadFailed` for `id`. The core itself times the download out at
    /// `deadline` (it then emits [`Action::Cancel`]).
    Download {
        /// Attempt id.
        id: DownloadId,
        /// Chunk index.
        chunk: u32,
        /// Chosen replica.
        node: NodeId,
        /// Expected size in bytes.
        size_bytes: u64,
        /// When the core gives up on this attempt.
        deadline: Duration,
    },
    /// Abort download `id` (timed out); any later event for it is ignored.
    Cancel {
        /// Attempt id.
        id: DownloadId,
    },
}

/// What happened, as told by the driver.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A probe answered after `rtt`; `payload` = (bytes, transfer time) when the
    /// probe carried data for a bandwidth sample.
    ProbeOk {
        /// Probed node.
        node: NodeId,
        /// Round-trip time.
        rtt: Duration,
        /// Optional bandwidth sample.
        payload: Option<(u64, Duration)>,
    },
    /// A probe failed or timed out.
    ProbeFailed {
        /// Probed node.
        node: NodeId,
    },
    /// Download `id` completed with `bytes` verified bytes.
    DownloadDone {
        /// Attempt id.
        id: DownloadId,
        /// Bytes received.
        bytes: u64,
    },
    /// Download `id` failed (error status, reset, corrupt content).
    DownloadFailed {
        /// Attempt id.
        id: DownloadId,
    },
}

/// Things dashboards want to hear about, drained with [`Session::poll_notice`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// A chunk arrived.
    ChunkDownloaded {
        /// Chunk index.
        chunk: u32,
        /// Node that served it.
        node: NodeId,
        /// Bytes.
        bytes: u64,
        /// Download time in ms.
        download_ms: f64,
    },
    /// A download attempt failed or timed out and the chunk moves on.
    Failover {
        /// Chunk index.
        chunk: u32,
        /// Node that failed.
        node: NodeId,
        /// `error` or `timeout`.
        reason: String,
        /// How long the failed attempt ran, ms (from its request to the
        /// failure), so observers can tell when it started.
        attempt_ms: f64,
    },
    /// Playback state changed.
    PlaybackState {
        /// New state.
        state: PlaybackState,
    },
    /// A node's health changed.
    NodeStatus {
        /// The node.
        node: NodeId,
        /// New health.
        health: NodeHealth,
    },
}

#[derive(Clone, Debug)]
struct InFlight {
    id: DownloadId,
    chunk: usize,
    node: NodeId,
    started: Duration,
    deadline: Duration,
}

/// Summary statistics of a sample (ms).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeStats {
    /// Number of samples.
    pub count: usize,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile (nearest rank).
    pub p95_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

impl TimeStats {
    /// Stats of `samples` (ms); all zero when empty.
    pub fn of(samples: &[f64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Self {
            count: v.len(),
            mean_ms: v.iter().sum::<f64>() / v.len() as f64,
            p50_ms: rank(0.5),
            p95_ms: rank(0.95),
            max_ms: *v.last().unwrap_or(&0.0),
        }
    }
}

/// Per-node share of a session's downloads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeLoad {
    /// The node.
    pub node: NodeId,
    /// Chunks it served.
    pub chunks: u64,
    /// Bytes it served.
    pub bytes: u64,
    /// Attempts on it that failed or timed out.
    pub failures: u64,
}

/// Quality of experience of a session, all measured by the core.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QoeReport {
    /// Selector name (`smart`, `naive`, `oracle`).
    pub strategy: String,
    /// Play request → playback start, ms; `None` if playback never started.
    pub startup_latency_ms: Option<f64>,
    /// Rebuffering events.
    pub rebuffer_count: u32,
    /// Total stall time, ms.
    pub rebuffer_time_ms: f64,
    /// Time-weighted average buffer level since playback start, seconds.
    pub avg_buffer_s: f64,
    /// Bytes × 8 / time with at least one download in flight, Mbit/s.
    pub avg_throughput_mbps: f64,
    /// Chunk download times (successful attempts).
    pub download_time: TimeStats,
    /// Successful downloads.
    pub downloads: u64,
    /// Attempts that failed or timed out (each one a failover).
    pub failovers: u64,
    /// Successful downloads / attempts, in [0, 1].
    pub success_rate: f64,
    /// Bytes downloaded.
    pub bytes_total: u64,
    /// Per node load.
    pub per_node: Vec<NodeLoad>,
    /// Chunks played to the end.
    pub chunks_played: usize,
    /// Chunks in the video.
    pub chunk_count: usize,
    /// Whether playback reached the end.
    pub ended: bool,
    /// Play request → end (or the last update), ms.
    pub session_ms: f64,
}

/// Record of one chunk download, for "which node served chunk i".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DownloadRecord {
    /// Chunk index.
    pub chunk: u32,
    /// Node that served it.
    pub node: NodeId,
    /// Bytes.
    pub bytes: u64,
    /// Download time, ms.
    pub download_ms: f64,
    /// Completion time since the session origin, ms.
    pub finished_at_ms: f64,
}

/// A sans-IO playback session. See the module docs for the rules.
pub struct Session {
    config: EngineConfig,
    manifest: Manifest,
    selector: Box<dyn NodeSelector>,
    monitor: NetworkMonitor,
    buffer: BufferManager,
    started_at: Duration,
    now: Duration,
    next_id: u64,
    in_flight: Vec<InFlight>,
    in_flight_per_node: Vec<usize>,
    /// Nodes that failed chunk i in the current round.
    tried: Vec<Vec<NodeId>>,
    /// Completed retry rounds per chunk (timeout doubles per round).
    rounds: Vec<u32>,
    next_probe: Vec<Duration>,
    health: Vec<NodeHealth>,
    last_state: PlaybackState,
    actions: VecDeque<Action>,
    notices: VecDeque<Notice>,
    records: Vec<DownloadRecord>,
    loads: Vec<NodeLoad>,
    download_ms: Vec<f64>,
    failovers: u64,
    bytes_total: u64,
    busy_since: Option<Duration>,
    busy_time: Duration,
    /// End of the startup probe gate, while it is closed.
    gate_until: Option<Duration>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("strategy", &self.selector.name())
            .field("video", &self.manifest.video_id)
            .field("now", &self.now)
            .field("state", &self.buffer.state())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Starts a session: the play request happens at `now`. Queues the first
    /// probes (if the selector monitors) and the first downloads.
    pub fn new(
        config: EngineConfig,
        manifest: Manifest,
        selector: Box<dyn NodeSelector>,
        now: Duration,
    ) -> Self {
        let n = manifest.node_count;
        let durations: Vec<Duration> = manifest.chunks.iter().map(|c| c.duration).collect();
        let chunks = manifest.chunks.len();
        let probes = selector.uses_probes();
        let gate = config.scheduler.startup_probe_wait;
        let mut s = Self {
            monitor: NetworkMonitor::new(config.monitor.clone(), n),
            buffer: BufferManager::new(config.buffer.clone(), &durations, now),
            config,
            selector,
            started_at: now,
            now,
            next_id: 0,
            in_flight: Vec::with_capacity(8),
            in_flight_per_node: vec![0; n],
            tried: vec![Vec::new(); chunks],
            rounds: vec![0; chunks],
            next_probe: vec![if probes { now } else { Duration::MAX }; n],
            health: vec![NodeHealth::Healthy; n],
            last_state: PlaybackState::Startup,
            actions: VecDeque::new(),
            notices: VecDeque::new(),
            records: Vec::with_capacity(chunks),
            loads: (0..n)
                .map(|i| NodeLoad {
                    node: NodeId(i as u16),
                    ..Default::default()
                })
                .collect(),
            download_ms: Vec::with_capacity(chunks),
            failovers: 0,
            bytes_total: 0,
            busy_since: None,
            busy_time: Duration::ZERO,
            gate_until: (probes && !gate.is_zero()).then(|| now + gate),
            manifest,
        };
        s.step(now);
        s
    }

    /// Feeds one event observed at `now`.
    pub fn handle(&mut self, now: Duration, event: Event) {
        self.set_now(now);
        match event {
            Event::ProbeOk { node, rtt, payload } if node.index() < self.health.len() => {
                self.monitor.record_probe_success(node, rtt, payload);
            }
            Event::ProbeFailed { node } if node.index() < self.health.len() => {
                self.monitor.record_failure(node);
            }
            Event::DownloadDone { id, bytes } => {
                if let Some(f) = self.take_in_flight(id) {
                    let took = now.saturating_sub(f.started);
                    self.monitor.record_download(f.node, bytes, took);
                    self.buffer.add_chunk(now, f.chunk);
                    let ms = took.as_secs_f64() * 1e3;
                    self.download_ms.push(ms);
                    self.bytes_total += bytes;
                    let load = &mut self.loads[f.node.index()];
                    load.chunks += 1;
                    load.bytes += bytes;
                    self.records.push(DownloadRecord {
                        chunk: f.chunk as u32,
                        node: f.node,
                        bytes,
                        download_ms: ms,
                        finished_at_ms: now.saturating_sub(self.started_at).as_secs_f64() * 1e3,
                    });
                    self.notices.push_back(Notice::ChunkDownloaded {
                        chunk: f.chunk as u32,
                        node: f.node,
                        bytes,
                        download_ms: ms,
                    });
                }
            }
            Event::DownloadFailed { id } => {
                if let Some(f) = self.take_in_flight(id) {
                    self.fail_attempt(f, "error");
                }
            }
            _ => {}
        }
        self.step(now);
    }

    /// Processes everything due at `now` (probes, download timeouts, playback).
    /// Call when [`Session::poll_timeout`] has passed; calling early is harmless.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.set_now(now);
        let expired: Vec<InFlight> = self
            .in_flight
            .iter()
            .filter(|f| f.deadline <= now)
            .cloned()
            .collect();
        for f in expired {
            self.take_in_flight(f.id);
            self.actions.push_back(Action::Cancel { id: f.id });
            self.fail_attempt(f, "timeout");
        }
        self.step(now);
    }

    /// Next action for the driver, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Next notice for dashboards, if any.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// The earliest instant at which [`Session::handle_timeout`] must be called;
    /// `None` once playback has ended and nothing is in flight.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.is_finished() {
            return None;
        }
        let probe = self
            .next_probe
            .iter()
            .min()
            .copied()
            .filter(|t| *t != Duration::MAX);
        let download = self.in_flight.iter().map(|f| f.deadline).min();
        let playback = self.buffer.next_deadline();
        [probe, download, playback, self.gate_until]
            .into_iter()
            .flatten()
            .min()
    }

    /// Playback ended and no download is in flight.
    pub fn is_finished(&self) -> bool {
        self.buffer.state() == PlaybackState::Ended && self.in_flight.is_empty()
    }

    /// The network monitor (scores, health, stats per node).
    pub fn monitor(&self) -> &NetworkMonitor {
        &self.monitor
    }

    /// The buffer manager (state, level, counters).
    pub fn buffer(&self) -> &BufferManager {
        &self.buffer
    }

    /// The manifest being played.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Every successful chunk download so far, in completion order.
    pub fn records(&self) -> &[DownloadRecord] {
        &self.records
    }

    /// Downloads currently in flight per node.
    pub fn in_flight_per_node(&self) -> &[usize] {
        &self.in_flight_per_node
    }

    /// Number of downloads in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Selector name.
    pub fn strategy(&self) -> &'static str {
        self.selector.name()
    }

    /// The QoE report as of the last `now`.
    pub fn report(&self) -> QoeReport {
        let attempts = self.download_ms.len() as u64 + self.failovers;
        let busy = self.busy_time
            + self
                .busy_since
                .map(|s| self.now.saturating_sub(s))
                .unwrap_or_default();
        let end = self.buffer.ended_at().unwrap_or(self.now);
        QoeReport {
            strategy: self.selector.name().to_string(),
            startup_latency_ms: self.buffer.startup_latency().map(|d| d.as_secs_f64() * 1e3),
            rebuffer_count: self.buffer.rebuffer_count(),
            rebuffer_time_ms: self.buffer.rebuffer_time().as_secs_f64() * 1e3,
            avg_buffer_s: self.buffer.average_level_secs().unwrap_or(0.0),
            avg_throughput_mbps: if busy.is_zero() {
                0.0
            } else {
                self.bytes_total as f64 * 8.0 / busy.as_secs_f64() / 1e6
            },
            download_time: TimeStats::of(&self.download_ms),
            downloads: self.download_ms.len() as u64,
            failovers: self.failovers,
            success_rate: if attempts == 0 {
                1.0
            } else {
                self.download_ms.len() as f64 / attempts as f64
            },
            bytes_total: self.bytes_total,
            per_node: self.loads.clone(),
            chunks_played: self.buffer.chunks_played(),
            chunk_count: self.buffer.chunk_count(),
            ended: self.buffer.state() == PlaybackState::Ended,
            session_ms: end.saturating_sub(self.started_at).as_secs_f64() * 1e3,
        }
    }

    fn set_now(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
        }
        self.buffer.advance(self.now);
    }

    fn take_in_flight(&mut self, id: DownloadId) -> Option<InFlight> {
        let pos = self.in_flight.iter().position(|f| f.id == id)?;
        let f = self.in_flight.swap_remove(pos);
        self.in_flight_per_node[f.node.index()] -= 1;
        if self.in_flight.is_empty()
            && let Some(s) = self.busy_since.take()
        {
            self.busy_time += self.now.saturating_sub(s);
        }
        Some(f)
    }

    fn fail_attempt(&mut self, f: InFlight, reason: &str) {
        self.monitor.record_failure(f.node);
        self.failovers += 1;
        self.loads[f.node.index()].failures += 1;
        let tried = &mut self.tried[f.chunk];
        if !tried.contains(&f.node) {
            tried.push(f.node);
        }
        if self.manifest.chunks[f.chunk]
            .replicas
            .iter()
            .all(|r| tried.contains(r))
        {
            tried.clear();
            self.rounds[f.chunk] += 1;
        }
        self.notices.push_back(Notice::Failover {
            chunk: f.chunk as u32,
            node: f.node,
            reason: reason.to_string(),
            attempt_ms: self.now.saturating_sub(f.started).as_secs_f64() * 1e3,
        });
    }

    /// Common tail of every entry point: probes due, new downloads, notices.
    fn step(&mut self, now: Duration) {
        for i in 0..self.next_probe.len() {
            if self.next_probe[i] <= now {
                self.actions.push_back(Action::Probe {
                    node: NodeId(i as u16),
                });
                self.next_probe[i] = now + self.config.monitor.probe_interval;
            }
        }
        self.schedule(now);
        for i in 0..self.health.len() {
            let h = self.monitor.health(NodeId(i as u16));
            if h != self.health[i] {
                self.health[i] = h;
                self.notices.push_back(Notice::NodeStatus {
                    node: NodeId(i as u16),
                    health: h,
                });
            }
        }
        let state = self.buffer.state();
        if state != self.last_state {
            self.last_state = state;
            self.notices.push_back(Notice::PlaybackState { state });
        }
    }

    fn schedule(&mut self, now: Duration) {
        if let Some(until) = self.gate_until {
            // Only the replicas of the first chunk still needed matter.
            let next = (0..self.manifest.chunks.len()).find(|&i| !self.buffer.is_downloaded(i));
            let all_probed = next.is_none_or(|i| {
                self.manifest.chunks[i].replicas.iter().all(|n| {
                    n.index() >= self.health.len() || self.monitor.stats(*n).samples_total > 0
                })
            });
            if now < until && !all_probed {
                return;
            }
            self.gate_until = None;
        }
        while self.in_flight.len() < self.config.scheduler.max_in_flight.max(1) {
            let Some(chunk) = (0..self.manifest.chunks.len()).find(|&i| {
                !self.buffer.is_downloaded(i) && !self.in_flight.iter().any(|f| f.chunk == i)
            }) else {
                break;
            };
            let start = self.buffer.chunk_start(chunk);
            if !self.buffer.wants_more(start) {
                break;
            }
            if self.config.scheduler.focus_on_start {
                let threshold = match self.buffer.state() {
                    PlaybackState::Startup => Some(self.buffer.config().start_threshold),
                    PlaybackState::Rebuffering => Some(self.buffer.config().resume_threshold),
                    _ => None,
                };
                if let Some(t) = threshold
                    && start >= self.buffer.playhead() + t
                {
                    break;
                }
            }
            let meta = &self.manifest.chunks[chunk];
            if meta.replicas.is_empty() {
                break;
            }
            let candidates: Vec<NodeId> = meta
                .replicas
                .iter()
                .copied()
                .filter(|n| !self.tried[chunk].contains(n) && n.index() < self.health.len())
                .collect();
            if candidates.is_empty() {
                break;
            }
            let node = self.selector.select(&SelectionContext {
                now,
                chunk: meta,
                candidates: &candidates,
                monitor: &self.monitor,
                in_flight_per_node: &self.in_flight_per_node,
            });
            let node = if candidates.contains(&node) {
                node
            } else {
                candidates[0]
            };
            let timeout = self.timeout_for(node, meta.size_bytes, self.rounds[chunk]);
            let id = DownloadId(self.next_id);
            self.next_id += 1;
            let size_bytes = meta.size_bytes;
            self.in_flight.push(InFlight {
                id,
                chunk,
                node,
                started: now,
                deadline: now + timeout,
            });
            self.in_flight_per_node[node.index()] += 1;
            if self.busy_since.is_none() {
                self.busy_since = Some(now);
            }
            self.actions.push_back(Action::Download {
                id,
                chunk: chunk as u32,
                node,
                size_bytes,
                deadline: now + timeout,
            });
        }
    }

    fn timeout_for(&self, node: NodeId, size_bytes: u64, round: u32) -> Duration {
        let cfg = &self.config.scheduler;
        let stats = self.monitor.stats(node);
        let base = match stats.bandwidth_mbps {
            Some(bw) if bw > 0.0 => {
                let share = bw / (self.in_flight_per_node[node.index()] + 1) as f64;
                let expected_s =
                    stats.latency_ms.unwrap_or(0.0) / 1e3 + size_bytes as f64 * 8.0 / (share * 1e6);
                Duration::from_secs_f64((expected_s * cfg.timeout_factor).min(1e6))
                    .clamp(cfg.min_timeout, cfg.max_timeout.max(cfg.min_timeout))
            }
            _ => cfg.initial_timeout,
        };
        base * 2u32.saturating_pow(round.min(6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{NodeId, RoundRobinSelector, SmartSelector, striped_manifest};

    fn secs(v: f64) -> Duration {
        Duration::from_secs_f64(v)
    }

    fn manifest(chunks: usize, nodes: usize, replication: usize) -> Manifest {
        striped_manifest(
            "t",
            &vec![(secs(10.0), 1_000_000); chunks],
            nodes,
            replication,
        )
    }

    /// Engine defaults without the startup probe gate and the start-up focus,
    /// so downloads start at t=0 and the hysteresis alone decides how many fly.
    fn ungated() -> EngineConfig {
        let mut c = EngineConfig::default();
        c.scheduler.startup_probe_wait = Duration::ZERO;
        c.scheduler.focus_on_start = false;
        c
    }

    fn drain(s: &mut Session) -> Vec<Action> {
        std::iter::from_fn(|| s.poll_action()).collect()
    }

    fn downloads(actions: &[Action]) -> Vec<(DownloadId, u32, NodeId)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Download {
                    id, chunk, node, ..
                } => Some((*id, *chunk, *node)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn start_probes_every_node_and_caps_in_flight_at_four() {
        let mut s = Session::new(
            ungated(),
            manifest(20, 3, 2),
            Box::new(SmartSelector),
            Duration::ZERO,
        );
        let actions = drain(&mut s);
        let probes = actions
            .iter()
            .filter(|a| matches!(a, Action::Probe { .. }))
            .count();
        assert_eq!(probes, 3);
        let d = downloads(&actions);
        // Target 30 s = 3 chunks of 10 s: the buffer wants 3 even though 4 may fly.
        assert_eq!(d.iter().map(|x| x.1).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(s.in_flight() <= 4);

        let mut cfg = ungated();
        cfg.buffer.target = secs(100.0);
        let mut s = Session::new(
            cfg,
            manifest(20, 3, 2),
            Box::new(SmartSelector),
            Duration::ZERO,
        );
        assert_eq!(
            downloads(&drain(&mut s)).len(),
            4,
            "capped at max_in_flight"
        );
    }

    #[test]
    fn smart_waits_for_the_first_probes_before_downloading() {
        let mut gated = EngineConfig::default();
        gated.scheduler.startup_probe_wait = secs(0.5);
        let mut s = Session::new(
            gated.clone(),
            manifest(6, 3, 2),
            Box::new(SmartSelector),
            Duration::ZERO,
        );
        assert!(downloads(&drain(&mut s)).is_empty(), "gate closed at t=0");
        assert_eq!(s.poll_timeout(), Some(secs(0.5)), "wakes at the gate's end");
        s.handle(
            secs(0.05),
            Event::ProbeOk {
                node: NodeId(0),
                rtt: secs(0.01),
                payload: None,
            },
        );
        assert!(
            downloads(&drain(&mut s)).is_empty(),
            "node 1 (the other replica of chunk 0) not probed yet"
        );
        // Node 2 holds no replica of chunk 0: the gate does not wait for it.
        s.handle(secs(0.06), Event::ProbeFailed { node: NodeId(1) });
        let d = downloads(&drain(&mut s));
        assert_eq!(d.len(), 1, "start-up focus: only chunk 0");
        assert_eq!(d[0].1, 0);
        assert_eq!(
            d[0].2,
            NodeId(0),
            "chunk 0 on the healthier of its replicas (0, 1)"
        );
        // Without answers the gate opens after 500 ms.
        let mut s = Session::new(
            gated.clone(),
            manifest(6, 3, 2),
            Box::new(SmartSelector),
            Duration::ZERO,
        );
        drain(&mut s);
        s.handle_timeout(secs(0.5));
        assert!(!downloads(&drain(&mut s)).is_empty());
    }

    #[test]
    fn start_up_focus_fetches_only_what_starting_needs() {
        let mut cfg = EngineConfig::default();
        cfg.scheduler.startup_probe_wait = Duration::ZERO;
        let mut s = Session::new(
            cfg,
            manifest(20, 3, 2),
            Box::new(RoundRobinSelector::default()),
            Duration::ZERO,
        );
        let d = downloads(&drain(&mut s));
        assert_eq!(d.len(), 1, "10 s to start = chunk 0 alone: {d:?}");
        assert_eq!(d[0].1, 0);
        s.handle(
            secs(1.0),
            Event::DownloadDone {
                id: d[0].0,
                bytes: 1_000_000,
            },
        );
        assert_eq!(s.buffer().state(), PlaybackState::Playing);
        let d = downloads(&drain(&mut s));
        assert_eq!(
            d.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![1, 2],
            "playing: refill up to the 30 s horizon"
        );
    }

    #[test]
    fn naive_sends_no_probes_and_round_robins() {
        let mut cfg = ungated();
        cfg.buffer.target = secs(100.0);
        let mut s = Session::new(
            cfg,
            manifest(20, 3, 3),
            Box::new(RoundRobinSelector::default()),
            Duration::ZERO,
        );
        let actions = drain(&mut s);
        assert!(!actions.iter().any(|a| matches!(a, Action::Probe { .. })));
        let nodes: Vec<u16> = downloads(&actions).iter().map(|d| d.2.0).collect();
        assert_eq!(nodes, vec![0, 1, 2, 0]);
    }

    #[test]
    fn failover_moves_the_chunk_to_the_next_replica() {
        let mut s = Session::new(
            ungated(),
            manifest(6, 3, 2),
            Box::new(RoundRobinSelector::default()),
            Duration::ZERO,
        );
        let d = downloads(&drain(&mut s));
        let (id0, chunk0, node0) = d[0];
        assert_eq!(chunk0, 0);
        s.handle(secs(0.5), Event::DownloadFailed { id: id0 });
        let retry = downloads(&drain(&mut s));
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].1, 0, "the same chunk again");
        assert_ne!(retry[0].2, node0, "on another replica");
        assert_eq!(s.report().failovers, 1);
        assert!(matches!(
            s.poll_notice(),
            Some(Notice::Failover { chunk: 0, .. })
        ));
    }

    #[test]
    fn timeout_cancels_and_fails_over() {
        let mut s = Session::new(
            ungated(),
            manifest(6, 3, 2),
            Box::new(SmartSelector),
            Duration::ZERO,
        );
        let actions = drain(&mut s);
        let deadline = actions
            .iter()
            .find_map(|a| match a {
                Action::Download {
                    chunk: 0, deadline, ..
                } => Some(*deadline),
                _ => None,
            })
            .unwrap();
        assert_eq!(deadline, SchedulerConfig::default().initial_timeout);
        assert!(s.poll_timeout().unwrap() <= deadline);
        s.handle_timeout(deadline);
        let after = drain(&mut s);
        assert!(after.iter().any(|a| matches!(a, Action::Cancel { .. })));
        let again = downloads(&after);
        assert!(again.iter().any(|d| d.1 == 0), "chunk 0 re-requested");
    }

    #[test]
    fn a_late_event_for_a_cancelled_download_is_ignored() {
        let mut s = Session::new(
            ungated(),
            manifest(3, 3, 1),
            Box::new(SmartSelector),
            Duration::ZERO,
        );
        let d = downloads(&drain(&mut s));
        s.handle_timeout(secs(100.0));
        s.handle(
            secs(100.5),
            Event::DownloadDone {
                id: d[0].0,
                bytes: 1_000_000,
            },
        );
        assert_eq!(s.report().downloads, 0);
    }

    #[test]
    fn full_session_reports_qoe() {
        let mut s = Session::new(
            ungated(),
            manifest(6, 3, 2),
            Box::new(SmartSelector),
            Duration::ZERO,
        );
        // An instant network: every download completes 0.1 s after it starts.
        let mut now = Duration::ZERO;
        let mut pending: Vec<(Duration, DownloadId)> = Vec::new();
        for _ in 0..10_000 {
            for a in drain(&mut s) {
                match a {
                    Action::Download { id, .. } => pending.push((now + secs(0.1), id)),
                    Action::Probe { node } => s.handle(
                        now,
                        Event::ProbeOk {
                            node,
                            rtt: secs(0.005),
                            payload: None,
                        },
                    ),
                    Action::Cancel { .. } => {}
                }
            }
            if s.is_finished() {
                break;
            }
            pending.sort();
            let next_dl = pending.first().map(|p| p.0);
            let next = [next_dl, s.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            now = next;
            if next_dl == Some(next) {
                let (_, id) = pending.remove(0);
                s.handle(
                    now,
                    Event::DownloadDone {
                        id,
                        bytes: 1_000_000,
                    },
                );
            } else {
                s.handle_timeout(now);
            }
        }
        let r = s.report();
        assert!(r.ended);
        assert_eq!(r.rebuffer_count, 0);
        assert_eq!(r.downloads, 6);
        assert_eq!(r.chunks_played, 6);
        assert!((r.startup_latency_ms.unwrap() - 100.0).abs() < 1e-6);
        assert!(r.avg_buffer_s > 10.0);
        assert_eq!(r.per_node.iter().map(|n| n.chunks).sum::<u64>(), 6);
        assert_eq!(s.records().len(), 6);
    }
}
