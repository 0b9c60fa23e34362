//! One playback session: the chunk scheduler around the monitor and the buffer.
//!
//! Scheduling rules (seed 002, "Intelligent Chunk Scheduling", extended;
//! defaults in [`SchedulerConfig`]):
//! - chunks are requested in playback order: always the lowest-index chunk that
//!   is neither downloaded nor being fetched;
//! - a new chunk starts while fewer than [`SchedulerConfig::max_in_flight`] (4)
//!   chunks are being fetched and the buffer wants it (low-water / target
//!   hysteresis on a media-time horizon, see [`super::buffer`]);
//! - a chunk is fetched in *parts*, byte ranges each requested from one node
//!   ([`super::fetch`]). Usually one part is the whole chunk, on the replica
//!   the session's [`NodeSelector`] picks among those not yet tried for this
//!   chunk in the current round;
//! - each part gets a timeout: `timeout_factor × expected`, where `expected =
//!   latency + (bytes queued on the node + the part's bytes) / bandwidth` from
//!   the monitor, clamped to [`SchedulerConfig::min_timeout`,
//!   `SchedulerConfig::max_timeout`], or [`SchedulerConfig::initial_timeout`]
//!   while the node's bandwidth is unknown; it doubles with every round of
//!   failures on the same chunk;
//! - on an error or a timeout the node is charged a failure and the attempt is
//!   recorded as a failover; once every replica failed, a new round starts.
//!
//! A selector that does *multi-source* fetching (the smart client,
//! [`NodeSelector::multi_source`]) also gets:
//! - **progress monitoring**: while parts run, the core asks to be woken every
//!   [`SchedulerConfig::progress_interval`] (0.5 s); the driver reports each
//!   running part's bytes ([`Event::DownloadProgress`]) before it calls
//!   [`Session::handle_timeout`]. Each node's bytes over the interval feed its
//!   bandwidth estimate while downloads run, not only when they end;
//! - **stall detection**: a part with no new byte for
//!   [`SchedulerConfig::stall_timeout`] (1.5 s; before its first byte, at least
//!   four latency estimates) fails as `stall` — how a partitioned node, which
//!   answers nothing, is found;
//! - **multi-source chunks**: a chunk on the critical path (starting, stalled,
//!   or starting before the playhead + the low-water mark) is split into byte
//!   ranges across its replicas so that all parts finish together
//!   ([`super::fetch::split`]: each node's share follows its estimated rate
//!   and the bytes it already has queued);
//! - **late parts**: a part past its timeout that still delivers (a byte
//!   within the stall timeout) is not cancelled: its node is charged, and the
//!   rest of its range is split between it (at its observed rate) and the
//!   other replicas, which take the tail; it is *trimmed* to where they meet;
//! - **hedging the tail**: an idle replica takes over the end of the open
//!   range of a running part (up to the first byte another part already
//!   brought) of the earliest chunk it holds, when the two together finish
//!   sooner (by at least 50 ms and twice the helper's latency), decided on a
//!   fresh progress report (the core asks for one first, and idle nodes wait
//!   for it before taking later chunks), each share sized so that both end
//!   together; the helped part is trimmed there, so whichever node finishes
//!   first can in turn help the other. A trimmed part that already delivered past its new end keeps
//!   those bytes; an extra progress check is asked for when a trimmed part
//!   should hold its range, so the chunk completes without waiting for the
//!   next regular check;
//! - **earliest chunk first**: gaps of critical chunks are filled first, then
//!   idle replicas help chunks under way, then later chunks' gaps;
//! - **resume**: a failed part keeps the bytes it received; only the rest is
//!   requested again.
//!
//! When the held bytes cover the chunk, the core emits [`Action::Assemble`]
//! with which part supplies which bytes; the driver verifies the chunk (size
//! and SHA-256) and answers [`Event::ChunkAssembled`]. A chunk that fails
//! verification charges every node that supplied bytes and is fetched again,
//! whole, from one replica at a time.
//!
//! Probes: every node is probed at the start and then every
//! [`MonitorConfig::probe_interval`] (3 s), unless the selector does no monitoring
//! (the naive client); a multi-source session skips nodes that are serving
//! it. Each probe asks for a payload sized to the node's estimated bandwidth
//! ([`NetworkMonitor::probe_bytes`], about 40 ms of transfer), so that on a
//! slow 3G link it does not take a second away from the downloads. The
//! driver must answer every probe with
//! [`Event::ProbeOk`] or [`Event::ProbeFailed`] (applying its own probe timeout).

use std::{collections::VecDeque, time::Duration};

use serde::{Deserialize, Serialize};

use super::{
    BufferConfig, BufferManager, Manifest, MonitorConfig, NetworkMonitor, NodeHealth, NodeId,
    NodeSelector, PlaybackState, SelectionContext, Strategy,
    fetch::{Fetch, Lane, Part, PartState, split},
    monitor::{PRIOR_BANDWIDTH_MBPS, PRIOR_LATENCY_MS},
};

/// Tail help must bring a part's end forward by at least this much (and by
/// twice the helper's latency), seconds: 50 ms. (At 0.3 s a 6 MB first chunk
/// on a 100 and a 40 Mbit/s replica went unhelped and startup took 640 ms
/// instead of 378 ms in the simulator.)
const MIN_HELP_GAIN_S: f64 = 0.05;

/// Tail help is decided on a progress report at most this old; otherwise
/// the core asks for one first.
const FRESH_REPORT: Duration = Duration::from_millis(20);

/// The soonest an extra progress check for a trimmed part is asked for.
const MIN_EARLY_CHECK: Duration = Duration::from_millis(10);

/// Scheduler settings; every default stated on its field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchedulerConfig {
    /// Chunks being fetched at most. Default 4 (seed 002).
    pub max_in_flight: usize,
    /// Multiple of the expected transfer time after which a part times out.
    /// Default 4.
    pub timeout_factor: f64,
    /// Lower bound of a timeout. Default 2 s.
    pub min_timeout: Duration,
    /// Upper bound of a timeout (before doubling for retry rounds). Default 60 s.
    pub max_timeout: Duration,
    /// Timeout while a node's bandwidth is still unknown. Default 20 s.
    pub initial_timeout: Duration,
    /// Startup probe gate: a selector that monitors waits for the first probe
    /// answer (or failure) of every replica of chunk 0 before its first
    /// download, but at most this long, so that chunk 0 goes to the best
    /// replicas instead of arbitrary ones. Zero disables the gate. Default 0
    /// (off); 3 s, past a 2 s probe timeout, makes a gate end on the last
    /// answer.
    pub startup_probe_wait: Duration,
    /// Start-up focus: while playback is starting or stalled, only the chunks
    /// needed to reach the start (resp. resume) threshold are requested, so they
    /// do not share node links and the client's access link with later chunks.
    /// Applies to every strategy alike. Default true.
    pub focus_on_start: bool,
    /// Multi-source selectors: how often running parts' progress is checked.
    /// Default 500 ms.
    pub progress_interval: Duration,
    /// Multi-source selectors: a part with no new byte for this long fails as
    /// stalled (before its first byte: at least 4 × the node's latency
    /// estimate). Default 1.5 s.
    pub stall_timeout: Duration,
    /// Multi-source selectors: no part is smaller than this, bytes. Default
    /// 16 KiB (0.1 s at 1.3 Mbit/s: on a 3G link a 64 KiB floor left up to
    /// 10 s of a slow node's tail that no idle replica could take).
    pub min_part_bytes: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 4,
            timeout_factor: 4.0,
            min_timeout: Duration::from_secs(2),
            max_timeout: Duration::from_secs(60),
            initial_timeout: Duration::from_secs(20),
            startup_probe_wait: Duration::ZERO,
            focus_on_start: true,
            progress_interval: Duration::from_millis(500),
            stall_timeout: Duration::from_millis(1500),
            min_part_bytes: 16 << 10,
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

/// Identifies one download attempt (one byte range of a chunk from one node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DownloadId(pub u64);

/// What the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Probe `node` and answer with `ProbeOk` / `ProbeFailed`.
    Probe {
        /// The node to probe.
        node: NodeId,
        /// Payload to ask for, bytes ([`NetworkMonitor::probe_bytes`]: the
        /// node's estimated bandwidth × [`MonitorConfig::probe_airtime`],
        /// within the configured bounds).
        bytes: u64,
    },
    /// Download bytes `offset .. offset + len` of chunk `chunk` from `node`
    /// (the whole chunk when `offset` is 0 and `len` its size); report
    /// progress with `DownloadProgress` when asked, and the end with
    /// `DownloadDone` / `DownloadFailed` for `id`. Keep the bytes until the
    /// chunk's [`Action::Assemble`]. The core itself times the part out at
    /// `deadline` (it then emits [`Action::Cancel`]).
    Download {
        /// Attempt id.
        id: DownloadId,
        /// Chunk index.
        chunk: u32,
        /// Chosen replica.
        node: NodeId,
        /// First byte of the range.
        offset: u64,
        /// Bytes in the range.
        len: u64,
        /// Size of the whole chunk, bytes.
        size_bytes: u64,
        /// When the core gives up on this attempt.
        deadline: Duration,
    },
    /// Abort download `id`; keep what it received (a later assembly may use
    /// it); any later event for it is ignored.
    Cancel {
        /// Attempt id.
        id: DownloadId,
    },
    /// The chunk's bytes are all here: join `parts` (`(download, from, to)`,
    /// absolute chunk offsets, in order; each part's bytes from `from`, which
    /// is where that part's received prefix is first used), verify the result
    /// against the manifest, answer [`Event::ChunkAssembled`], and drop the
    /// chunk's part buffers.
    Assemble {
        /// Chunk index.
        chunk: u32,
        /// Which part supplies which bytes.
        parts: Vec<(DownloadId, u64, u64)>,
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
    /// Download `id` has received `bytes` of its range so far.
    DownloadProgress {
        /// Attempt id.
        id: DownloadId,
        /// Bytes received so far (cumulative).
        bytes: u64,
    },
    /// Download `id` received its whole range: `bytes` bytes.
    DownloadDone {
        /// Attempt id.
        id: DownloadId,
        /// Bytes received.
        bytes: u64,
    },
    /// Download `id` failed (error status, reset) after receiving `bytes`
    /// bytes of its range (kept for a resume).
    DownloadFailed {
        /// Attempt id.
        id: DownloadId,
        /// Bytes received before the failure.
        bytes: u64,
    },
    /// The answer to [`Action::Assemble`]: `ok` when the joined bytes match
    /// the manifest's size and hash.
    ChunkAssembled {
        /// Chunk index.
        chunk: u32,
        /// Verified.
        ok: bool,
    },
}

/// Things dashboards want to hear about, drained with [`Session::poll_notice`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// A chunk arrived (verified).
    ChunkDownloaded {
        /// Chunk index.
        chunk: u32,
        /// Node that supplied most of its bytes.
        node: NodeId,
        /// Bytes.
        bytes: u64,
        /// Download time in ms, from its first request to its verification.
        download_ms: f64,
    },
    /// A download attempt failed, timed out, stalled or delivered bad bytes,
    /// and its bytes move on to another replica.
    Failover {
        /// Chunk index.
        chunk: u32,
        /// Node that failed.
        node: NodeId,
        /// `error`, `timeout`, `stall` or `corrupt`.
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
    /// A re-read manifest moved chunks to other replicas (adaptive
    /// redundancy repaired or re-replicated them) and the session took them.
    ReplicasUpdated {
        /// Chunks whose replica list changed.
        chunks: u32,
    },
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
    /// Chunks of which it supplied the most bytes.
    pub chunks: u64,
    /// Bytes it supplied to delivered chunks.
    pub bytes: u64,
    /// Attempts on it that failed, timed out or stalled.
    pub failures: u64,
}

/// Quality of experience of a session, all measured by the core.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QoeReport {
    /// The selector's strategy (`"smart"`, `"naive"`, `"oracle"`; the
    /// simulator's bound says `"bound"`).
    pub strategy: Strategy,
    /// Play request → playback start, ms; `None` if playback never started.
    pub startup_latency_ms: Option<f64>,
    /// Rebuffering events.
    pub rebuffer_count: u32,
    /// Total stall time, ms.
    pub rebuffer_time_ms: f64,
    /// Time-weighted average buffer level since playback start, seconds.
    pub avg_buffer_s: f64,
    /// Busy-time rate: delivered bytes × 8 / time with at least one download
    /// in flight, Mbit/s.
    pub avg_throughput_mbps: f64,
    /// Session goodput: delivered bytes × 8 / session time (play request to
    /// the end or now), Mbit/s.
    #[serde(default)]
    pub goodput_mbps: f64,
    /// Chunk download times (first request to verification).
    pub download_time: TimeStats,
    /// Chunks delivered.
    pub downloads: u64,
    /// Attempts that failed, timed out, stalled or delivered bad bytes.
    pub failovers: u64,
    /// Chunks delivered / (chunks delivered + failed attempts), in [0, 1].
    pub success_rate: f64,
    /// Bytes of the chunks delivered.
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

/// Record of one chunk delivered, for "which node served chunk i".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DownloadRecord {
    /// Chunk index.
    pub chunk: u32,
    /// Node that supplied most of its bytes.
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
    /// The selector's [`NodeSelector::multi_source`].
    multi: bool,
    monitor: NetworkMonitor,
    buffer: BufferManager,
    started_at: Duration,
    now: Duration,
    next_id: u64,
    /// Chunks being fetched (not yet delivered), in request order.
    fetches: Vec<Fetch>,
    /// Running parts per node.
    in_flight_per_node: Vec<usize>,
    /// Nodes that failed chunk i in the current round.
    tried: Vec<Vec<NodeId>>,
    /// Completed retry rounds per chunk (timeout doubles per round).
    rounds: Vec<u32>,
    next_probe: Vec<Duration>,
    /// Next progress check, while multi-source parts run.
    next_check: Option<Duration>,
    last_check: Duration,
    /// When running parts' progress was last reported (any check).
    last_report: Duration,
    /// Tail help waits for a fresh progress report: ask for one now.
    want_report: bool,
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
    /// The answer of [`Session::poll_timeout`], kept current by `step`.
    next_timeout: Option<Duration>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("strategy", &self.selector.strategy())
            .field("video", &self.manifest.video_id)
            .field("now", &self.now)
            .field("state", &self.buffer.state())
            .finish_non_exhaustive()
    }
}

/// `d` in seconds, saturating a non-finite or negative value to zero.
fn secs(s: f64) -> Duration {
    if s.is_finite() && s > 0.0 {
        Duration::from_secs_f64(s.min(1e9))
    } else {
        Duration::ZERO
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
            multi: selector.multi_source(),
            config,
            selector,
            started_at: now,
            now,
            next_id: 0,
            fetches: Vec::with_capacity(8),
            in_flight_per_node: vec![0; n],
            tried: vec![Vec::new(); chunks],
            rounds: vec![0; chunks],
            next_probe: vec![if probes { now } else { Duration::MAX }; n],
            next_check: None,
            last_check: now,
            last_report: now,
            want_report: false,
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
            next_timeout: None,
            manifest,
        };
        s.step(now);
        s
    }

    /// Feeds one event observed at `now`.
    pub fn handle(&mut self, now: Duration, event: Event) {
        self.set_now(now);
        if let Event::DownloadProgress { id, bytes } = event {
            // Bookkeeping only: the next progress check acts on it.
            self.on_progress(id, bytes);
            return;
        }
        match event {
            Event::ProbeOk { node, rtt, payload } if node.index() < self.health.len() => {
                self.monitor.record_probe_success(node, rtt, payload);
            }
            Event::ProbeFailed { node } if node.index() < self.health.len() => {
                self.monitor.record_failure(node);
            }
            Event::DownloadDone { id, bytes } => self.on_done(id, bytes),
            Event::DownloadFailed { id, bytes } => {
                if let Some((fi, pi)) = self.find_running(id) {
                    self.record_bytes(fi, pi, bytes);
                    self.end_part(fi, pi, PartState::Failed);
                    self.fail_attempt(fi, pi, "error");
                }
            }
            Event::ChunkAssembled { chunk, ok } => self.on_assembled(chunk as usize, ok),
            _ => {}
        }
        self.step(now);
    }

    /// Processes everything due at `now` (probes, progress checks, part
    /// timeouts, playback). Call when [`Session::poll_timeout`] has passed,
    /// after reporting the running parts' progress; calling early is harmless.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.set_now(now);
        let mut expired = Vec::new();
        for (fi, f) in self.fetches.iter().enumerate() {
            for (pi, p) in f.parts.iter().enumerate() {
                if p.state == PartState::Running && p.deadline <= now {
                    expired.push((fi, pi));
                }
            }
        }
        let stall = self.config.scheduler.stall_timeout;
        for (fi, pi) in expired {
            let p = &mut self.fetches[fi].parts[pi];
            if self.multi && !p.stalled && now.saturating_sub(p.last_progress) < stall {
                // A late part that still delivers keeps running, as a
                // stalled one does: its node is charged and the rest of its
                // range goes to the other replicas, which take its tail
                // (`request_split` trims it at the meeting point).
                p.stalled = true;
                p.deadline = Duration::MAX;
                self.fetches[fi].dirty = true;
            } else {
                self.cancel_part(fi, pi);
            }
            self.fail_attempt(fi, pi, "timeout");
        }
        if self.next_check.is_some_and(|t| t <= now) {
            self.check_progress(now);
        }
        self.step(now);
    }

    /// Whether a [`Session::handle_timeout`] at `now` wants the running
    /// downloads' progress reported first (a progress check is due).
    pub fn wants_progress(&self, now: Duration) -> bool {
        self.next_check.is_some_and(|t| t <= now)
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
        self.next_timeout
    }

    /// Recomputes [`Session::poll_timeout`]'s answer (after every change).
    fn compute_timeout(&self) -> Option<Duration> {
        if self.is_finished() {
            return None;
        }
        let probe = self
            .next_probe
            .iter()
            .min()
            .copied()
            .filter(|t| *t != Duration::MAX);
        let download = self
            .fetches
            .iter()
            .flat_map(|f| f.running())
            .map(|p| p.deadline)
            .min();
        let playback = self.buffer.next_deadline();
        [probe, download, playback, self.gate_until, self.next_check]
            .into_iter()
            .flatten()
            .min()
    }

    /// Playback ended and no download is in flight.
    pub fn is_finished(&self) -> bool {
        self.buffer.state() == PlaybackState::Ended && self.in_flight() == 0
    }

    /// The network monitor (scores, health, stats per node).
    pub fn monitor(&self) -> &NetworkMonitor {
        &self.monitor
    }

    /// The buffer manager (state, level, counters).
    pub fn buffer(&self) -> &BufferManager {
        &self.buffer
    }

    /// Takes a re-read manifest's replica lists (`replicas[i]` for chunk
    /// `i`; lists of other lengths, empty lists and node ids outside the
    /// session's nodes are ignored). Downloads under way keep their
    /// replicas; later attempts and failovers use the new ones. Returns how
    /// many chunks changed and, when some did, queues
    /// [`Notice::ReplicasUpdated`].
    pub fn update_replicas(&mut self, replicas: &[Vec<NodeId>]) -> u32 {
        if replicas.len() != self.manifest.chunks.len() {
            return 0;
        }
        let nodes = self.manifest.node_count;
        let mut changed = 0u32;
        for (c, new) in self.manifest.chunks.iter_mut().zip(replicas) {
            let new: Vec<NodeId> = new.iter().copied().filter(|n| n.index() < nodes).collect();
            if !new.is_empty() && new != c.replicas {
                c.replicas = new;
                changed += 1;
            }
        }
        if changed > 0 {
            self.notices
                .push_back(Notice::ReplicasUpdated { chunks: changed });
        }
        changed
    }

    /// The manifest being played.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Every chunk delivered so far, in delivery order.
    pub fn records(&self) -> &[DownloadRecord] {
        &self.records
    }

    /// Running downloads (parts) per node.
    pub fn in_flight_per_node(&self) -> &[usize] {
        &self.in_flight_per_node
    }

    /// Number of running downloads (parts).
    pub fn in_flight(&self) -> usize {
        self.in_flight_per_node.iter().sum()
    }

    /// The chunks being fetched and their parts.
    pub fn fetches(&self) -> &[Fetch] {
        &self.fetches
    }

    /// The strategy of the session's selector.
    pub fn strategy(&self) -> Strategy {
        self.selector.strategy()
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
        let session = end.saturating_sub(self.started_at);
        let rate = |d: Duration| {
            if d.is_zero() {
                0.0
            } else {
                self.bytes_total as f64 * 8.0 / d.as_secs_f64() / 1e6
            }
        };
        QoeReport {
            strategy: self.selector.strategy(),
            startup_latency_ms: self.buffer.startup_latency().map(|d| d.as_secs_f64() * 1e3),
            rebuffer_count: self.buffer.rebuffer_count(),
            rebuffer_time_ms: self.buffer.rebuffer_time().as_secs_f64() * 1e3,
            avg_buffer_s: self.buffer.average_level_secs().unwrap_or(0.0),
            avg_throughput_mbps: rate(busy),
            goodput_mbps: rate(session),
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
            session_ms: session.as_secs_f64() * 1e3,
        }
    }

    fn set_now(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
        }
        self.buffer.advance(self.now);
    }

    /// (fetch, part) of running download `id`.
    fn find_running(&self, id: DownloadId) -> Option<(usize, usize)> {
        self.fetches.iter().enumerate().find_map(|(fi, f)| {
            f.parts
                .iter()
                .position(|p| p.id == id && p.state == PartState::Running)
                .map(|pi| (fi, pi))
        })
    }

    /// A part's received count grew (or stayed): its progress bookkeeping.
    fn record_bytes(&mut self, fi: usize, pi: usize, bytes: u64) {
        let now = self.now;
        let p = &mut self.fetches[fi].parts[pi];
        if p.trimmed && bytes > p.len {
            // It delivered past the point it was trimmed to before it heard
            // (the driver still streams the range it was asked for): those
            // bytes are held too, and an offset-0 part's hash state covers
            // all of them, so its range grows back to what it holds.
            p.len = bytes;
        }
        let bytes = bytes.min(p.len);
        if bytes > p.received {
            p.received = bytes;
            p.last_progress = now;
            p.first_byte.get_or_insert(now);
        }
    }

    fn on_progress(&mut self, id: DownloadId, bytes: u64) {
        if let Some((fi, pi)) = self.find_running(id) {
            self.record_bytes(fi, pi, bytes);
            let p = &self.fetches[fi].parts[pi];
            if p.trimmed && p.received >= p.len {
                // It holds its shortened range: done; the rest of its
                // transfer is not needed.
                self.end_part(fi, pi, PartState::Done);
                self.actions.push_back(Action::Cancel { id });
            }
        }
    }

    fn on_done(&mut self, id: DownloadId, bytes: u64) {
        let Some((fi, pi)) = self.find_running(id) else {
            return;
        };
        self.record_bytes(fi, pi, bytes);
        let p = &self.fetches[fi].parts[pi];
        if p.received < p.len {
            // Fewer bytes than asked for: a failure that keeps its prefix.
            self.end_part(fi, pi, PartState::Failed);
            self.fail_attempt(fi, pi, "error");
            return;
        }
        let (node, took) = (p.node, self.now.saturating_sub(p.started));
        self.monitor.record_download(node, p.len, took);
        self.end_part(fi, pi, PartState::Done);
    }

    /// A part stops running.
    fn end_part(&mut self, fi: usize, pi: usize, state: PartState) {
        let p = &mut self.fetches[fi].parts[pi];
        if p.state != PartState::Running {
            return;
        }
        p.state = state;
        if state != PartState::Done {
            self.fetches[fi].dirty = true;
        }
        let p = &mut self.fetches[fi].parts[pi];
        if state == PartState::Failed && !self.multi {
            // No resume: the chunk is fetched again from its start.
            p.received = 0;
        }
        let node = p.node.index();
        self.in_flight_per_node[node] -= 1;
        if self.in_flight() == 0
            && let Some(s) = self.busy_since.take()
        {
            self.busy_time += self.now.saturating_sub(s);
        }
    }

    /// Aborts a running part (the driver is told).
    fn cancel_part(&mut self, fi: usize, pi: usize) {
        let id = self.fetches[fi].parts[pi].id;
        self.end_part(fi, pi, PartState::Cancelled);
        self.actions.push_back(Action::Cancel { id });
    }

    /// Charges a failed attempt to its node and moves the chunk on.
    fn fail_attempt(&mut self, fi: usize, pi: usize, reason: &str) {
        let (chunk, node, started) = {
            let p = &self.fetches[fi].parts[pi];
            (self.fetches[fi].chunk, p.node, p.started)
        };
        self.charge(chunk, node, reason, self.now.saturating_sub(started));
    }

    fn charge(&mut self, chunk: usize, node: NodeId, reason: &str, ran: Duration) {
        self.monitor.record_failure(node);
        self.failovers += 1;
        self.loads[node.index()].failures += 1;
        let tried = &mut self.tried[chunk];
        if !tried.contains(&node) {
            tried.push(node);
        }
        if self.manifest.chunks[chunk]
            .replicas
            .iter()
            .all(|r| tried.contains(r))
        {
            tried.clear();
            self.rounds[chunk] += 1;
        }
        self.notices.push_back(Notice::Failover {
            chunk: chunk as u32,
            node,
            reason: reason.to_string(),
            attempt_ms: ran.as_secs_f64() * 1e3,
        });
    }

    /// The driver's verdict on an assembly.
    fn on_assembled(&mut self, chunk: usize, ok: bool) {
        let Some(fi) = self
            .fetches
            .iter()
            .position(|f| f.chunk == chunk && f.assembling)
        else {
            return;
        };
        let contributions = self.fetches[fi].contributions();
        if !ok {
            let f = &mut self.fetches[fi];
            let ran = self.now.saturating_sub(f.started);
            f.parts.clear();
            f.assembling = false;
            f.whole_only = true;
            f.dirty = true;
            for (node, _) in contributions {
                self.charge(chunk, node, "corrupt", ran);
            }
            return;
        }
        let f = self.fetches.remove(fi);
        let took = self.now.saturating_sub(f.started);
        self.buffer.add_chunk(self.now, chunk);
        let ms = took.as_secs_f64() * 1e3;
        self.download_ms.push(ms);
        self.bytes_total += f.size;
        let main = contributions
            .iter()
            .max_by_key(|(n, b)| (*b, std::cmp::Reverse(*n)))
            .map_or(NodeId(0), |(n, _)| *n);
        for (node, bytes) in &contributions {
            self.loads[node.index()].bytes += bytes;
        }
        self.loads[main.index()].chunks += 1;
        self.records.push(DownloadRecord {
            chunk: chunk as u32,
            node: main,
            bytes: f.size,
            download_ms: ms,
            finished_at_ms: self.now.saturating_sub(self.started_at).as_secs_f64() * 1e3,
        });
        self.notices.push_back(Notice::ChunkDownloaded {
            chunk: chunk as u32,
            node: main,
            bytes: f.size,
            download_ms: ms,
        });
    }

    /// Common tail of every entry point: probes due, complete chunks, new
    /// parts, the next progress check, notices.
    fn step(&mut self, now: Duration) {
        self.assemble_complete();
        self.schedule(now);
        // Probes after scheduling: a node that just got work is measured by it.
        for i in 0..self.next_probe.len() {
            if self.next_probe[i] <= now {
                // A multi-source session measures a node that is serving it
                // from the transfer itself; a probe would only steal bandwidth.
                if !(self.multi && self.in_flight_per_node[i] > 0) {
                    let node = NodeId(i as u16);
                    self.actions.push_back(Action::Probe {
                        node,
                        bytes: self.monitor.probe_bytes(node),
                    });
                }
                self.next_probe[i] = now + self.config.monitor.probe_interval;
            }
        }

        if self.multi && self.in_flight() > 0 {
            if self.next_check.is_none() {
                self.last_check = now;
                self.next_check = Some(now + self.config.scheduler.progress_interval);
            }
            // A trimmed part ends when it holds its range, which only a
            // progress report tells: ask for one when it should.
            if let (Some(next), Some(eta)) = (self.next_check, self.trimmed_eta(now)) {
                self.next_check = Some(next.min(eta));
            }
            if std::mem::take(&mut self.want_report) {
                self.next_check = Some(now);
            }
        } else {
            self.next_check = None;
        }
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
        self.next_timeout = self.compute_timeout();
    }

    /// Chunks whose bytes are all held: running parts cancelled, assembly
    /// requested.
    fn assemble_complete(&mut self) {
        for fi in 0..self.fetches.len() {
            if self.fetches[fi].assembling || !self.fetches[fi].complete() {
                continue;
            }
            for pi in 0..self.fetches[fi].parts.len() {
                if self.fetches[fi].parts[pi].state == PartState::Running {
                    self.cancel_part(fi, pi);
                }
            }
            let f = &mut self.fetches[fi];
            f.assembling = true;
            if let Some(parts) = f.assembly() {
                self.actions.push_back(Action::Assemble {
                    chunk: f.chunk as u32,
                    parts,
                });
            }
        }
    }

    /// The progress check of multi-source selectors: bandwidth samples from
    /// the bytes each node delivered since the last check, stalled parts
    /// failed.
    fn check_progress(&mut self, now: Duration) {
        let interval = self.config.scheduler.progress_interval;
        let dt = now.saturating_sub(self.last_check);
        // An early check (for a trimmed part) samples no rate: over a few
        // milliseconds the bytes say more about bursts than bandwidth.
        if dt >= interval / 2 {
            self.sample_rates(dt);
            self.last_check = now;
        }
        self.next_check = Some(self.last_check + interval);
        self.last_report = now;
        let stall = self.config.scheduler.stall_timeout;
        let mut stalled = Vec::new();
        for (fi, f) in self.fetches.iter().enumerate() {
            for (pi, p) in f.parts.iter().enumerate() {
                if p.state != PartState::Running || p.stalled {
                    continue;
                }
                let limit = match p.first_byte {
                    Some(_) => stall,
                    None => stall.max(secs(4.0 * self.latency_s(p.node))),
                };
                if now.saturating_sub(p.last_progress) >= limit {
                    stalled.push((fi, pi));
                }
            }
        }
        // A stalled part keeps running (a node that only paused still
        // delivers), but its node is charged and the rest of its range goes
        // to the other replicas.
        for (fi, pi) in stalled {
            self.fetches[fi].parts[pi].stalled = true;
            self.fetches[fi].dirty = true;
            self.fail_attempt(fi, pi, "stall");
        }
    }

    /// When the first running trimmed part should hold its whole range, at
    /// its observed rate (at least [`MIN_EARLY_CHECK`] from `now`).
    fn trimmed_eta(&self, now: Duration) -> Option<Duration> {
        self.fetches
            .iter()
            .flat_map(|f| f.running())
            .filter(|p| p.trimmed)
            .map(|p| now + secs(self.part_finish_s(p, now)).max(MIN_EARLY_CHECK))
            .min()
    }

    /// Each node's bytes over the last `dt` as a bandwidth sample, when all
    /// of its running parts were requested before the interval began.
    fn sample_rates(&mut self, dt: Duration) {
        let n = self.in_flight_per_node.len();
        let mut bytes = vec![0u64; n];
        let mut whole = vec![true; n];
        let mut any = vec![false; n];
        for f in &mut self.fetches {
            for p in f.parts.iter_mut().filter(|p| p.state == PartState::Running) {
                let i = p.node.index();
                any[i] = true;
                bytes[i] += p.received.saturating_sub(p.received_at_check);
                whole[i] &= p.started <= self.last_check;
                p.received_at_check = p.received;
            }
        }
        for i in 0..n {
            if any[i] && whole[i] {
                let mbps = bytes[i] as f64 * 8.0 / dt.as_secs_f64() / 1e6;
                self.monitor.update_bandwidth(NodeId(i as u16), mbps);
            }
        }
    }

    /// Nodes that hold no running part and are not down: free for work.
    fn idle(&self, nodes: &[NodeId]) -> Vec<NodeId> {
        nodes
            .iter()
            .copied()
            .filter(|n| {
                self.in_flight_per_node[n.index()] == 0
                    && self.monitor.health(*n) != NodeHealth::Down
            })
            .collect()
    }

    /// Hedges the tail: an idle replica takes over the end of a running part
    /// of the earliest chunk it holds, when the two together finish that part
    /// sooner than it would alone (each node's share so that both finish
    /// together; the part keeps running, whichever bytes come first are
    /// used). A part is helped again once its helper is done.
    fn help_idle(&mut self, now: Duration) {
        let min = self.config.scheduler.min_part_bytes;

        for fi in 0..self.fetches.len() {
            let f = &self.fetches[fi];
            if f.assembling || f.whole_only {
                continue;
            }
            let Some(helper) = self.manifest.chunks[f.chunk]
                .replicas
                .iter()
                .copied()
                .find(|&n| {
                    n.index() < self.health.len()
                        && self.in_flight_per_node[n.index()] == 0
                        && !self.tried[f.chunk].contains(&n)
                        && self.monitor.health(n) != NodeHealth::Down
                })
            else {
                continue;
            };
            // A part already being helped (a running part starts inside its
            // remaining range) waits for that help to end.
            let helped = |p: &Part| {
                f.running()
                    .any(|q| q.id != p.id && q.offset > p.reach() && q.offset < p.end())
            };
            // What a part still has to deliver that nothing else holds: from
            // its reach to the first byte another part already brought.
            let open_end = |p: &Part| {
                f.parts
                    .iter()
                    .filter(|q| {
                        q.id != p.id
                            && q.state == PartState::Done
                            && q.offset > p.reach()
                            && q.offset < p.end()
                    })
                    .map(|q| q.offset)
                    .min()
                    .unwrap_or(p.end())
            };
            let best = f
                .parts
                .iter()
                .enumerate()
                .filter(|(_, p)| p.state == PartState::Running && !helped(p))
                .map(|(pi, p)| (pi, p, open_end(p)))
                .filter(|(_, p, e)| e.saturating_sub(p.reach()) >= 2 * min)
                .map(|(pi, p, e)| (pi, e, self.part_eta_s(p, e - p.reach(), now)))
                .max_by(|a, b| a.2.total_cmp(&b.2));
            let Some((pi, e, alone_s)) = best else {
                continue;
            };
            // Where the part stands is known from the last progress report:
            // split its tail only on a fresh one.
            if now.saturating_sub(self.last_report) > FRESH_REPORT {
                self.want_report = true;
                return;
            }
            let p = &self.fetches[fi].parts[pi];
            let (rate_p, rate_h) = (self.part_rate(p), self.rate_bytes_per_s(helper));
            let lat_h = self.latency_s(helper);
            // The helper takes the tail: b bytes with lat_h + b/rate_h =
            // (open - b)/rate_p, both from now.
            let r = (e - p.reach()) as f64;
            let b = ((r / rate_p - lat_h) * rate_p * rate_h / (rate_p + rate_h)).clamp(0.0, r);
            let together_s = (r - b) / rate_p;
            let gain = alone_s - together_s;
            if b < min as f64 || gain < (2.0 * lat_h).max(MIN_HELP_GAIN_S) {
                continue;
            }
            let b = b as u64;
            let (offset, len) = (e - b, b);
            // The helped part ends where the helper starts: once it holds
            // its shortened range its node is free for other work (and may
            // in turn help the helper).
            let p = &mut self.fetches[fi].parts[pi];
            p.len = offset - p.offset;
            p.trimmed = true;
            self.request_part(fi, helper, offset, len, now);
        }
    }

    /// A running part's rate: observed once bytes came, else the node's
    /// estimate (bytes/s).
    fn part_rate(&self, p: &Part) -> f64 {
        // Progress is reported at checks, so the first byte's time is known
        // only to a check interval; count from the expected first byte.
        let since = self.now.saturating_sub(p.started).as_secs_f64() - self.latency_s(p.node);
        if p.received > 0 && since > 0.0 {
            (p.received as f64 / since).max(1.0)
        } else {
            self.rate_bytes_per_s(p.node)
        }
    }

    /// Seconds until a running part has `bytes` more at its rate (latency
    /// still to come before its first byte).
    fn part_eta_s(&self, p: &Part, bytes: u64, now: Duration) -> f64 {
        let wait = match p.first_byte {
            Some(_) => 0.0,
            None => (self.latency_s(p.node) - now.saturating_sub(p.started).as_secs_f64()).max(0.0),
        };
        wait + bytes as f64 / self.part_rate(p)
    }

    /// Seconds until a running part is done at its rate.
    fn part_finish_s(&self, p: &Part, now: Duration) -> f64 {
        self.part_eta_s(p, p.remaining(), now)
    }

    /// The node's latency estimate, s.
    fn latency_s(&self, node: NodeId) -> f64 {
        self.monitor
            .stats(node)
            .latency_ms
            .unwrap_or(PRIOR_LATENCY_MS)
            / 1e3
    }

    /// The node's estimated rate for new bytes, bytes/s: its bandwidth
    /// estimate (or the prior) times its reliability.
    fn rate_bytes_per_s(&self, node: NodeId) -> f64 {
        let s = self.monitor.stats(node);
        let mbps = s.bandwidth_mbps.unwrap_or(PRIOR_BANDWIDTH_MBPS) * s.reliability();
        (mbps * 1e6 / 8.0).max(1.0)
    }

    /// Bytes still to come from the node's running parts.
    fn queued_bytes(&self, node: NodeId) -> u64 {
        self.fetches
            .iter()
            .flat_map(|f| f.running())
            .filter(|p| p.node == node)
            .map(Part::remaining)
            .sum()
    }

    /// Replicas of `chunk` that may be asked now (not failed this round).
    fn candidates(&self, chunk: usize) -> Vec<NodeId> {
        self.manifest.chunks[chunk]
            .replicas
            .iter()
            .copied()
            .filter(|n| !self.tried[chunk].contains(n) && n.index() < self.health.len())
            .collect()
    }

    /// Whether `chunk` is on the critical path: it is needed to start (or
    /// resume) playback, or, while playing, it starts before the playhead +
    /// the low-water mark.
    fn critical(&self, chunk: usize) -> bool {
        let b = &self.buffer;
        let ahead = match b.state() {
            PlaybackState::Startup => b.config().start_threshold,
            PlaybackState::Rebuffering => b.config().resume_threshold,
            _ => b.config().low_water_mark,
        };
        b.chunk_start(chunk) < b.playhead() + ahead
    }

    /// Requests bytes `offset .. offset + len` of fetch `fi`'s chunk from `node`.
    fn request_part(&mut self, fi: usize, node: NodeId, offset: u64, len: u64, now: Duration) {
        let chunk = self.fetches[fi].chunk;
        let timeout = self.timeout_for(node, len, self.rounds[chunk]);
        let id = DownloadId(self.next_id);
        self.next_id += 1;
        self.fetches[fi].parts.push(Part {
            id,
            node,
            offset,
            len,
            received: 0,
            state: PartState::Running,
            started: now,
            deadline: now + timeout,
            first_byte: None,
            last_progress: now,
            received_at_check: 0,
            stalled: false,
            trimmed: false,
        });
        self.in_flight_per_node[node.index()] += 1;
        if self.busy_since.is_none() {
            self.busy_since = Some(now);
        }
        self.actions.push_back(Action::Download {
            id,
            chunk: chunk as u32,
            node,
            offset,
            len,
            size_bytes: self.fetches[fi].size,
            deadline: now + timeout,
        });
    }

    /// Whether the startup probe gate holds new requests back at `now`.
    fn gated(&mut self, now: Duration) -> bool {
        let Some(until) = self.gate_until else {
            return false;
        };
        // Only the replicas of the first chunk still needed matter.
        let next = (0..self.manifest.chunks.len()).find(|&i| !self.buffer.is_downloaded(i));
        let all_probed = next.is_none_or(|i| {
            self.manifest.chunks[i]
                .replicas
                .iter()
                .all(|n| n.index() >= self.health.len() || self.monitor.stats(*n).samples_total > 0)
        });
        if now < until && !all_probed {
            return true;
        }
        self.gate_until = None;
        false
    }

    /// Whether the buffer rules let chunk `chunk` start now.
    fn may_start(&mut self, chunk: usize) -> bool {
        let start = self.buffer.chunk_start(chunk);
        if !self.buffer.wants_more(start) {
            return false;
        }
        // A multi-source session gets the same focus from its own rules:
        // critical chunks take every free replica first, and a later chunk
        // only starts on a replica that is free. (Applying this rule to it
        // as well left a stall on the fcc-2col traces.)
        if self.config.scheduler.focus_on_start && !self.multi {
            let threshold = match self.buffer.state() {
                PlaybackState::Startup => Some(self.buffer.config().start_threshold),
                PlaybackState::Rebuffering => Some(self.buffer.config().resume_threshold),
                _ => None,
            };
            if let Some(t) = threshold
                && start >= self.buffer.playhead() + t
            {
                return false;
            }
        }
        true
    }

    /// Starts new chunks (playback order, buffer rules, the in-flight cap)
    /// and requests parts for every gap of the chunks being fetched; a
    /// multi-source selector then puts idle replicas to work on the tails.
    fn schedule(&mut self, now: Duration) {
        if self.gated(now) {
            return;
        }
        // Gaps of chunks already being fetched (failures, resumes) first.
        // A fetch keeps its dirty mark while a gap waits for a free node.
        // Critical chunks' gaps, then idle replicas help the chunks already
        // under way (earliest first), then later chunks' gaps: a free node
        // works on the earliest chunk it can.
        for critical in [true, false] {
            for fi in 0..self.fetches.len() {
                let f = &self.fetches[fi];
                if !f.assembling && f.dirty && (!self.multi || self.critical(f.chunk) == critical) {
                    self.fill_gaps(fi, now);
                }
            }
            if critical && self.multi && self.in_flight_per_node.contains(&0) {
                self.help_idle(now);
                if self.want_report {
                    // Idle nodes wait for the report (asked for now) before
                    // they take later work.
                    return;
                }
            }
        }
        let cap = self.config.scheduler.max_in_flight.max(1);
        while self.fetches.len() < cap {
            let Some(chunk) = (0..self.manifest.chunks.len()).find(|&i| {
                !self.buffer.is_downloaded(i) && !self.fetches.iter().any(|f| f.chunk == i)
            }) else {
                break;
            };
            if self.manifest.chunks[chunk].replicas.is_empty() || !self.may_start(chunk) {
                break;
            }
            // Multi-source: a new chunk waits for an idle replica rather than
            // slowing the chunks before it down.
            if self.multi && !self.critical(chunk) && self.idle(&self.candidates(chunk)).is_empty()
            {
                break;
            }
            let size = self.manifest.chunks[chunk].size_bytes;
            self.fetches.push(Fetch::new(chunk, size, now));
            let fi = self.fetches.len() - 1;
            if !self.fill_gaps(fi, now) {
                break;
            }
        }
    }

    /// Requests parts for fetch `fi`'s gaps; `false` when no replica may be
    /// asked. A multi-source selector splits a gap across the idle replicas
    /// (all candidates when the chunk is critical) so that its parts finish
    /// together, and waits for a replica to be free otherwise.
    fn fill_gaps(&mut self, fi: usize, now: Duration) -> bool {
        let chunk = self.fetches[fi].chunk;
        if self.multi && !self.fetches[fi].whole_only && !self.critical(chunk) {
            // A multi-source gap of a non-critical chunk only goes to a free
            // replica: nothing to do (and nothing to compute) while none is.
            let free = self.manifest.chunks[chunk]
                .replicas
                .iter()
                .any(|n| n.index() < self.health.len() && self.in_flight_per_node[n.index()] == 0);
            if !free {
                return true;
            }
        }
        let gaps = self.fetches[fi].gaps();
        if gaps.is_empty() {
            self.fetches[fi].dirty = false;
            return true;
        }
        let candidates = self.candidates(chunk);
        if candidates.is_empty() {
            return false;
        }
        let f = &self.fetches[fi];
        if f.whole_only && f.is_running() {
            return true;
        }
        if !self.multi || f.whole_only {
            for (a, b) in gaps {
                let node = self.pick(chunk, &candidates, b - a, now);
                self.request_part(fi, node, a, b - a, now);
            }
            return true;
        }
        let up = self.up(&candidates);
        let running = f.is_running();
        let mut requested = false;
        for (a, b) in gaps {
            requested |= self.request_split(fi, &up, a, b - a, now, true);
        }
        if !requested && self.critical(chunk) && self.preempt(fi, &up) {
            for (a, b) in self.fetches[fi].gaps() {
                requested |= self.request_split(fi, &up, a, b - a, now, true);
            }
        }
        if !requested && !running && self.critical(chunk) {
            // Every good replica is busy, but playback needs this chunk:
            // share the node that would deliver it first.
            let node = self.pick(chunk, &up, self.fetches[fi].size, now);
            for (a, b) in self.fetches[fi].gaps() {
                self.request_part(fi, node, a, b - a, now);
            }
        }
        true
    }

    /// Frees a replica for critical fetch `fi` by cancelling its parts of
    /// later, non-critical chunks (they keep their bytes and resume later):
    /// a node always works on the earliest chunk it can. Returns whether a
    /// node was freed.
    fn preempt(&mut self, fi: usize, nodes: &[NodeId]) -> bool {
        let chunk = self.fetches[fi].chunk;
        let victim = nodes.iter().copied().find(|n| {
            let mut parts = self
                .fetches
                .iter()
                .flat_map(|f| f.running().map(move |p| (f.chunk, p.node)))
                .filter(|(_, node)| node == n)
                .peekable();
            parts.peek().is_some() && parts.all(|(c, _)| c > chunk && !self.critical(c))
        });
        let Some(victim) = victim else { return false };
        for gi in 0..self.fetches.len() {
            for pi in 0..self.fetches[gi].parts.len() {
                let p = &self.fetches[gi].parts[pi];
                if p.state == PartState::Running && p.node == victim {
                    self.cancel_part(gi, pi);
                }
            }
        }
        true
    }

    /// The nodes that are not down (all of them when every one is).
    fn up(&self, nodes: &[NodeId]) -> Vec<NodeId> {
        let up: Vec<NodeId> = nodes
            .iter()
            .copied()
            .filter(|n| self.monitor.health(*n) != NodeHealth::Down)
            .collect();
        if up.is_empty() { nodes.to_vec() } else { up }
    }

    /// One replica for `bytes` of `chunk`, by the selector.
    fn pick(&mut self, chunk: usize, candidates: &[NodeId], bytes: u64, now: Duration) -> NodeId {
        let queued: Vec<u64> = (0..self.health.len())
            .map(|i| self.queued_bytes(NodeId(i as u16)))
            .collect();
        let node = self.selector.select(&SelectionContext {
            now,
            chunk: &self.manifest.chunks[chunk],
            bytes,
            candidates,
            monitor: &self.monitor,
            in_flight_per_node: &self.in_flight_per_node,
            queued_bytes_per_node: &queued,
        });
        if candidates.contains(&node) {
            node
        } else {
            candidates[0]
        }
    }

    /// Splits `len` bytes from `offset` across `nodes` so that the parts
    /// would finish together (each node's share from its rate and the bytes
    /// it has queued) and requests the shares; with `idle_only`, only the
    /// shares of idle nodes (a busy node's share stays a gap until it is
    /// free). Returns whether anything was requested.
    fn request_split(
        &mut self,
        fi: usize,
        nodes: &[NodeId],
        offset: u64,
        len: u64,
        now: Duration,
        idle_only: bool,
    ) -> bool {
        let lanes: Vec<Lane> = nodes
            .iter()
            .map(|&n| {
                let rate = self.rate_bytes_per_s(n);
                Lane {
                    free_in_s: self.latency_s(n) + self.queued_bytes(n) as f64 / rate,
                    bytes_per_s: rate,
                }
            })
            .collect();
        let min = self.config.scheduler.min_part_bytes;
        // A late part still delivering from `offset` on (`stalled` with
        // recent progress) is the first lane: the new parts take the tail
        // and it is trimmed to where they meet.
        let stall = self.config.scheduler.stall_timeout;
        let lead = self.fetches[fi].parts.iter().position(|p| {
            p.state == PartState::Running
                && p.stalled
                && p.reach() == offset
                && p.end() > offset
                && self.now.saturating_sub(p.last_progress) < stall
        });
        let mut at = offset;
        let mut len = len;
        if let Some(li) = lead {
            let p = &self.fetches[fi].parts[li];
            let mut with_lead = Vec::with_capacity(lanes.len() + 1);
            with_lead.push(Lane {
                free_in_s: 0.0,
                bytes_per_s: self.part_rate(p),
            });
            with_lead.extend_from_slice(&lanes);
            let lead_share = split(len, &with_lead, min)[0].min(p.end() - offset);
            let any_new = nodes
                .iter()
                .any(|n| !idle_only || self.in_flight_per_node[n.index()] == 0);
            if lead_share > 0 && lead_share < len && any_new {
                let p = &mut self.fetches[fi].parts[li];
                p.len = offset + lead_share - p.offset;
                p.stalled = false;
                p.trimmed = true;
                at += lead_share;
                len -= lead_share;
            }
        }
        let shares = split(len, &lanes, min);
        let mut requested = false;
        for (&node, share) in nodes.iter().zip(shares) {
            let free = self.in_flight_per_node[node.index()] == 0;
            if share > 0 && (free || !idle_only) {
                self.request_part(fi, node, at, share, now);
                requested = true;
            }
            at += share;
        }
        requested
    }

    fn timeout_for(&self, node: NodeId, bytes: u64, round: u32) -> Duration {
        let cfg = &self.config.scheduler;
        let stats = self.monitor.stats(node);
        let base = match stats.bandwidth_mbps {
            Some(bw) if bw > 0.0 => {
                let queued = self.queued_bytes(node);
                let expected_s = stats.latency_ms.unwrap_or(0.0) / 1e3
                    + (queued + bytes) as f64 * 8.0 / (bw * 1e6);
                secs(expected_s * cfg.timeout_factor)
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

    /// Download `id` completes at `now`; every assembly it triggers is
    /// verified. Returns the other actions that followed.
    fn deliver(s: &mut Session, now: Duration, id: DownloadId, bytes: u64) -> Vec<Action> {
        s.handle(now, Event::DownloadDone { id, bytes });
        let mut out = Vec::new();
        loop {
            let actions = drain(s);
            if actions.is_empty() {
                return out;
            }
            for a in actions {
                match a {
                    Action::Assemble { chunk, .. } => {
                        s.handle(now, Event::ChunkAssembled { chunk, ok: true })
                    }
                    a => out.push(a),
                }
            }
        }
    }

    /// The distinct chunks of the download actions, in order.
    fn chunks_of(actions: &[Action]) -> Vec<u32> {
        let mut v: Vec<u32> = downloads(actions).iter().map(|d| d.1).collect();
        v.dedup();
        v
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
        // The hysteresis and the cap, on round robin (one part per chunk).
        let mut cfg = ungated();
        let mut s = Session::new(
            cfg.clone(),
            manifest(20, 3, 2),
            Box::new(RoundRobinSelector::default()),
            Duration::ZERO,
        );
        // Target 30 s = 3 chunks of 10 s: the buffer wants 3 even though 4 may fly.
        assert_eq!(chunks_of(&drain(&mut s)), vec![0, 1, 2]);
        cfg.buffer.target = secs(100.0);
        let mut s = Session::new(
            cfg,
            manifest(20, 3, 2),
            Box::new(RoundRobinSelector::default()),
            Duration::ZERO,
        );
        assert_eq!(
            chunks_of(&drain(&mut s)).len(),
            4,
            "capped at max_in_flight chunks"
        );
        // The smart client splits the chunk it needs to start across both
        // replicas and starts the next chunk only on a free replica (node 2;
        // chunk 2's replicas 2 and 0 are then busy). Every node got work, so
        // none is probed: the transfers measure them.
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
        assert_eq!(probes, 0);
        let d = downloads(&actions);
        let nodes_of = |c: u32| {
            d.iter()
                .filter(|x| x.1 == c)
                .map(|x| x.2.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(nodes_of(0), vec![0, 1]);
        assert_eq!(nodes_of(1), vec![2]);
        assert!(nodes_of(2).is_empty());
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
        let chunk0: Vec<NodeId> = d.iter().filter(|x| x.1 == 0).map(|x| x.2).collect();
        assert_eq!(
            chunk0,
            vec![NodeId(0)],
            "chunk 0 all on the healthier of its replicas (0, 1)"
        );
        assert!(
            d.iter().all(|x| x.1 == 0 || x.2 == NodeId(2)),
            "a later chunk only on the free node 2: {d:?}"
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
        let after = deliver(&mut s, secs(1.0), d[0].0, 1_000_000);
        assert_eq!(s.buffer().state(), PlaybackState::Playing);
        let d = downloads(&after);
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
    fn a_reread_manifest_moves_later_attempts_to_the_new_replicas() {
        let mut s = Session::new(
            ungated(),
            manifest(6, 3, 2),
            Box::new(RoundRobinSelector::default()),
            Duration::ZERO,
        );
        let _ = drain(&mut s);
        while s.poll_notice().is_some() {}
        let mut lists: Vec<Vec<NodeId>> = s
            .manifest()
            .chunks
            .iter()
            .map(|c| c.replicas.clone())
            .collect();
        assert_eq!(s.update_replicas(&lists), 0, "nothing changed");
        lists[4] = vec![NodeId(2), NodeId(0), NodeId(1)];
        lists[5] = vec![NodeId(9)]; // unknown node: ignored
        assert_eq!(s.update_replicas(&lists[..3]), 0, "another layout");
        assert_eq!(s.update_replicas(&lists), 1);
        assert_eq!(s.manifest().chunks[4].replicas.len(), 3);
        assert!(!s.manifest().chunks[5].replicas.is_empty());
        assert_eq!(s.poll_notice(), Some(Notice::ReplicasUpdated { chunks: 1 }));
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
        s.handle(secs(0.5), Event::DownloadFailed { id: id0, bytes: 0 });
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

    /// Download actions with their ranges and deadlines.
    fn ranges(actions: &[Action]) -> Vec<Range> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Download {
                    id,
                    chunk,
                    node,
                    offset,
                    len,
                    deadline,
                    ..
                } => Some((*id, *chunk, *node, *offset, *len, *deadline)),
                _ => None,
            })
            .collect()
    }

    type Range = (DownloadId, u32, NodeId, u64, u64, Duration);

    /// A smart session on 20 chunks, 3 nodes, replication 2, and the two
    /// parts of chunk 0 it starts with (nodes 0 and 1).
    fn smart_start() -> (Session, Range, Range) {
        let mut s = Session::new(
            ungated(),
            manifest(20, 3, 2),
            Box::new(SmartSelector),
            Duration::ZERO,
        );
        let r = ranges(&drain(&mut s));
        (s, r[0], r[1])
    }

    fn cancels(actions: &[Action], id: DownloadId) -> bool {
        actions
            .iter()
            .any(|a| matches!(a, Action::Cancel { id: x } if *x == id))
    }

    #[test]
    fn a_late_part_that_still_delivers_runs_on_and_shares_its_tail() {
        let (mut s, a, b) = smart_start();
        assert_eq!((a.1, b.1, a.2, b.2), (0, 0, NodeId(0), NodeId(1)));
        // Both parts of chunk 0 creep along (1 kB per progress check) past
        // their deadlines: they are charged, not cancelled.
        let (mut t, mut got) = (0.5, 0);
        let mut seen = Vec::new();
        while secs(t) <= a.5.max(b.5) + secs(1.0) {
            got += 1000;
            for id in [a.0, b.0] {
                s.handle(secs(t), Event::DownloadProgress { id, bytes: got });
            }
            s.handle_timeout(secs(t));
            seen.extend(drain(&mut s));
            t += 0.5;
        }
        assert!(!cancels(&seen, a.0) && !cancels(&seen, b.0), "{seen:?}");
        assert!(s.report().failovers >= 2, "both late parts charged");
        // Node 0's part ends: node 0 takes the tail of node 1's range, past
        // what node 1 holds, and node 1's part runs on, trimmed.
        let next = ranges(&deliver(&mut s, secs(t), a.0, a.4));
        let help = next
            .iter()
            .find(|x| x.1 == 0 && x.2 == NodeId(0))
            .expect("node 0 helps");
        assert!(
            help.3 > b.3 + got,
            "{help:?} starts past node 1's {got} bytes"
        );
        assert_eq!(
            help.3 + help.4,
            b.3 + b.4,
            "up to the end of node 1's range"
        );
        // Node 1 reaching the meeting point ends its part: its transfer is
        // cancelled, and node 1 is not charged for it.
        while s.poll_notice().is_some() {}
        t += 0.5;
        s.handle(
            secs(t),
            Event::DownloadProgress {
                id: b.0,
                bytes: help.3 - b.3,
            },
        );
        s.handle_timeout(secs(t));
        assert!(cancels(&drain(&mut s), b.0));
        let notices: Vec<Notice> = std::iter::from_fn(|| s.poll_notice()).collect();
        assert!(
            !notices.iter().any(|n| matches!(
                n,
                Notice::Failover {
                    node: NodeId(1),
                    ..
                }
            )),
            "{notices:?}"
        );
    }

    #[test]
    fn an_idle_replica_asks_for_progress_before_it_helps() {
        let (mut s, a, b) = smart_start();
        // Node 0's half of chunk 0 is in; node 1's is unknown since t=0: the
        // core asks for a report at once and gives node 0 nothing else yet.
        let t = secs(0.25);
        let next = deliver(&mut s, t, a.0, a.4);
        assert!(ranges(&next).is_empty(), "{next:?}");
        assert_eq!(s.poll_timeout(), Some(t));
        assert!(s.wants_progress(t));
        // Node 1 is 40 % through: node 0 takes the tail beyond that.
        let got = b.4 * 2 / 5;
        s.handle(
            t,
            Event::DownloadProgress {
                id: b.0,
                bytes: got,
            },
        );
        s.handle_timeout(t);
        let help = ranges(&drain(&mut s));
        let h = help.first().expect("node 0 helps");
        assert_eq!((h.1, h.2), (0, NodeId(0)), "{help:?}");
        assert!(h.3 > b.3 + got && h.3 + h.4 == b.3 + b.4, "{h:?}");
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
        let mut pending: Vec<(Duration, DownloadId, u64)> = Vec::new();
        for _ in 0..10_000 {
            for a in drain(&mut s) {
                match a {
                    Action::Download { id, len, .. } => pending.push((now + secs(0.1), id, len)),
                    Action::Assemble { chunk, .. } => {
                        s.handle(now, Event::ChunkAssembled { chunk, ok: true })
                    }
                    Action::Probe { node, .. } => s.handle(
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
                let (_, id, len) = pending.remove(0);
                s.handle(now, Event::DownloadDone { id, bytes: len });
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
