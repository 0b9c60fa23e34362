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
//!
//! Layout (one `impl Session` per job, as quinn-proto splits its
//! connection): this file holds the types, the public API (`handle`,
//! `handle_timeout`, `poll_*`, the report) and the step loop; `schedule`
//! decides what starts where, `delivery` applies what the driver reports,
//! `progress` watches running parts and hedges their tails.

mod delivery;
mod progress;
mod schedule;

use std::{collections::VecDeque, time::Duration};

use serde::{Deserialize, Serialize};

use super::{
    BufferConfig, BufferManager, Manifest, MonitorConfig, NetworkMonitor, NodeHealth, NodeId,
    NodeSelector, PlaybackState, SelectionContext, Strategy,
    fetch::{Fetch, Lane, Part, PartState, Shares, split},
    monitor::{PRIOR_BANDWIDTH_MBPS, PRIOR_LATENCY_MS},
};

/// A few nodes (a chunk's replicas, those of them up), inline up to eight.
type NodeList = Shares<NodeId>;

/// Tail help must bring a part's end forward by at least this much (and by
/// twice the helper's latency), seconds: 50 ms. (At 0.3 s a 6 MB first chunk
/// on a 100 and a 40 Mbit/s replica went unhelped and startup took 640 ms
/// instead of 378 ms in the simulator.)
const MIN_HELP_GAIN_S: f64 = 0.05;

/// The startup probe gate, once every chunk it waits for has a replica
/// that answered, stops waiting for the others at this multiple of the
/// slowest answer so far (from the session's start): a replica more than
/// twice as slow to answer as the others is a slow one, and the first
/// media segment goes out on those that answered (the slow one sits it
/// out). In Chromium under `degraded` the probes of the two good nodes
/// answered 0.10–0.15 s after play and the degraded node's (300 ms added,
/// 2 Mbit/s) 0.57 s; the gate waited for it and gave it a part of the
/// first segment, which the others then had to take over.
pub const GATE_PATIENCE: f64 = 2.0;

/// The startup probe gate's longest wait
/// ([`SchedulerConfig::startup_probe_wait`]'s default): 3 s, past the
/// drivers' 2 s probe timeout, so a gate ends on the last answer (or
/// failure). With it the first media segment's level is scored on
/// measured replicas instead of taken blind at the bottom rung. In the
/// simulator (`bbb.json`, 3 nodes, replication 2, 20 sessions) it lifted
/// smart on the LTE traces from 288.1 to 294.1 (the first chunk at the top
/// instead of the bottom, no switch); FCC, 3G and fcc-2col moved by −10 to
/// +2. Live (`vstack compare`, ladder 1,000/2,500/5,000 kbit/s, 2 sessions)
/// smart's first segment went from the bottom rung to the top under
/// `normal` and `degraded` (1.08× → 1.22× and 1.05× → 1.16× the best
/// single node), and its startup from 0.19 to 0.74 s under `normal` (the
/// live client grows a node's first probes until they can be timed).
pub const STARTUP_PROBE_WAIT: Duration = Duration::from_secs(3);

/// The gate never opens on [`GATE_PATIENCE`] before this long from the
/// session's start, so that replicas a few tens of milliseconds apart (the
/// default profile's 5, 20 and 50 ms) are all waited for.
pub const GATE_MIN_WAIT: Duration = Duration::from_millis(250);

/// Tail help is decided on a progress report at most this old; otherwise
/// the core asks for one first.
const FRESH_REPORT: Duration = Duration::from_millis(20);

/// The soonest an extra progress check for a trimmed part is asked for.
const MIN_EARLY_CHECK: Duration = Duration::from_millis(10);

/// A chunk is fetched this long before abandonment may drop it to a lower
/// level (its parts' rates need a sample).
pub(super) const DOWNSHIFT_MIN_ELAPSED: Duration = Duration::from_secs(1);

/// Abandonment drops a chunk only when it would be this late, s (a smaller
/// shortfall is cheaper as a short stall than as a lower level).
pub(super) const DOWNSHIFT_MARGIN_S: f64 = 1.0;

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
    /// answer (or failure) of every replica of chunk 0 (and, when chunk 0 is
    /// an initialization segment, of the first media chunk) before its first
    /// download, but at most this long, so that chunk 0 goes to the best
    /// replicas instead of arbitrary ones and a ladder's first level is
    /// scored on them. Zero disables the gate. Default
    /// [`STARTUP_PROBE_WAIT`] (3 s). Once every chunk the gate waits for has a replica that
    /// answered, the gate waits at most [`GATE_PATIENCE`] × the slowest
    /// answer so far (at least [`GATE_MIN_WAIT`]) for the rest, and while
    /// the gate is on a replica never measured sits out a chunk another
    /// replica of which was ([`Session`]'s held-back rule).
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
            startup_probe_wait: STARTUP_PROBE_WAIT,
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
    /// Quality choice for a video with a ladder ([`Manifest::bitrates_kbps`]);
    /// ignored for one rendition. Default `fixed` at the top level.
    #[serde(default)]
    pub abr: crate::abr::AbrSettings,
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
        /// The ladder level the bytes are of (an index into
        /// [`Manifest::bitrates_kbps`]); 0 for a video of one rendition.
        /// Every part of one assembly is of the same level.
        level: usize,
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

/// Notices a session holds for its driver at most ([`Session::poll_notice`]):
/// the live client drains them after every event; the simulator never does,
/// and a long session's chunk and status notices would otherwise pile up.
pub const MAX_PENDING_NOTICES: usize = 1024;

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

/// The playback QoE every session reports: the figures both a full
/// [`QoeReport`] and the dashboard's per-session result
/// (`crate::wire::SessionResult`) carry. Flattened into both, so each
/// keeps its JSON fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlaybackQoe {
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
}

/// Quality of experience of a session, all measured by the core.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QoeReport {
    /// The selector's strategy (`"smart"`, `"naive"`, `"oracle"`; the
    /// simulator's bound says `"bound"`).
    pub strategy: Strategy,
    /// Startup, rebuffering, buffer and rates (flattened: the same JSON
    /// fields as before, beside `strategy`).
    #[serde(flatten)]
    pub playback: PlaybackQoe,
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
    /// What was played, scored (a video with a ladder only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<crate::abr::QualityQoe>,
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
    notices_dropped: u64,
    records: Vec<DownloadRecord>,
    loads: Vec<NodeLoad>,
    download_ms: Vec<f64>,
    failovers: u64,
    bytes_total: u64,
    busy_since: Option<Duration>,
    busy_time: Duration,
    /// End of the startup probe gate, while it is closed.
    gate_until: Option<Duration>,
    /// Nodes that had answered a probe when the gate last looked.
    gate_answered: usize,
    /// The answer of [`Session::poll_timeout`], kept current by `step`.
    next_timeout: Option<Duration>,
    /// Quality choice, for a video with a ladder.
    abr: Option<SessionAbr>,
}

/// A session's quality choice: the rule, the ladder it sees, the throughput
/// history it keeps (Sabre's EWMA over whole chunks: bits ÷ first request
/// to delivery), and the level each chunk was fetched at.
struct SessionAbr {
    rule: Box<dyn crate::abr::AbrRule>,
    kind: crate::abr::AbrKind,
    fixed_level: usize,
    ladder: crate::abr::Ladder,
    estimate: crate::abr::Ewma,
    levels: Vec<Option<usize>>,
    /// Chunks already dropped to a lower level in flight (once each).
    downshifted: Vec<bool>,
    /// `bytes_total` and busy time at the last throughput sample.
    sampled_bytes: u64,
    sampled_busy: Duration,
}

impl SessionAbr {
    /// `None` unless the manifest has a ladder every chunk has sizes for.
    fn new(config: &crate::abr::AbrSettings, manifest: &Manifest) -> Option<Self> {
        let levels = manifest.bitrates_kbps.len();
        if levels == 0
            || manifest.chunks.is_empty()
            || manifest
                .chunks
                .iter()
                .any(|c| c.level_sizes.len() != levels)
        {
            return None;
        }
        let media_ms: f64 = manifest
            .chunks
            .iter()
            .map(|c| c.duration.as_secs_f64() * 1e3)
            .sum();
        let ladder = crate::abr::Ladder {
            name: manifest.video_id.clone(),
            segment_ms: media_ms / manifest.chunks.len() as f64,
            bitrates_kbps: manifest.bitrates_kbps.clone(),
            segments_bits: manifest
                .chunks
                .iter()
                .map(|c| c.level_sizes.iter().map(|b| *b as f64 * 8.0).collect())
                .collect(),
        };
        Some(Self {
            rule: config
                .rule
                .build(&ladder, &config.config, config.fixed_level),
            kind: config.rule,
            fixed_level: config.fixed_level.min(levels - 1),
            estimate: crate::abr::Ewma::new(
                &crate::abr::Ewma::DEFAULT_HALF_LIFE_S,
                ladder.segment_ms,
            ),
            levels: vec![None; manifest.chunks.len()],
            downshifted: vec![false; manifest.chunks.len()],
            sampled_bytes: 0,
            sampled_busy: Duration::ZERO,
            ladder,
        })
    }
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
            notices_dropped: 0,
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
            gate_until: None,
            gate_answered: 0,
            next_timeout: None,
            abr: None,
            manifest,
        };
        s.abr = SessionAbr::new(&s.config.abr, &s.manifest);
        s.gate_until = s.gate_deadline();
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
            self.downshift_late_chunks(now);
        }
        self.step(now);
    }

    /// What the real player reported at `now` (its position, media time
    /// from the video's start, and the event), for a session whose
    /// [`BufferConfig::external_playhead`] is set: see
    /// [`BufferManager::observe_player`]. The level this leaves may start a
    /// refill.
    pub fn observe_player(&mut self, now: Duration, position: Duration, event: super::PlayerEvent) {
        self.set_now(now);
        self.buffer.observe_player(self.now, position, event);
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

    /// Next notice for dashboards, if any. At most [`MAX_PENDING_NOTICES`]
    /// wait; a driver that never drains them (the simulator) loses the
    /// oldest, counted by [`Session::notices_dropped`].
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// Notices dropped because [`MAX_PENDING_NOTICES`] were waiting.
    pub fn notices_dropped(&self) -> u64 {
        self.notices_dropped
    }

    /// Queues a notice, dropping the oldest when [`MAX_PENDING_NOTICES`]
    /// are waiting.
    pub(super) fn notify(&mut self, notice: Notice) {
        if self.notices.len() >= MAX_PENDING_NOTICES {
            self.notices.pop_front();
            self.notices_dropped += 1;
        }
        self.notices.push_back(notice);
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
        // Plain loops: this runs after every event (with the iterator
        // chains it replaced, a profile put 7 % of a simulated session's
        // time here).
        // A probe slot at `Duration::MAX` is no timer; a running part's
        // deadline at `Duration::MAX` (stalled, kept running) still is one.
        let mut next: Option<Duration> = None;
        let mut at = |t: Duration| next = Some(next.map_or(t, |n| n.min(t)));
        for &t in &self.next_probe {
            if t != Duration::MAX {
                at(t);
            }
        }
        for f in &self.fetches {
            for p in &f.parts {
                if p.state == PartState::Running {
                    at(p.deadline);
                }
            }
        }
        for t in [
            self.buffer.next_deadline(),
            self.gate_until,
            self.next_check,
        ]
        .into_iter()
        .flatten()
        {
            at(t);
        }
        next
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
            self.notify(Notice::ReplicasUpdated { chunks: changed });
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

    /// The ladder level chosen for chunk `chunk`; `None` without a ladder
    /// or before the chunk's first request.
    pub fn chunk_level(&self, chunk: usize) -> Option<usize> {
        self.abr.as_ref()?.levels.get(chunk).copied().flatten()
    }

    /// The QoE report as of the last `now` (at the end, the final figures).
    pub fn report(&self) -> QoeReport {
        let attempts = self.download_ms.len() as u64 + self.failovers;
        let busy = self.busy_so_far();
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
            playback: PlaybackQoe {
                startup_latency_ms: self.buffer.startup_latency().map(|d| d.as_secs_f64() * 1e3),
                rebuffer_count: self.buffer.rebuffer_count(),
                rebuffer_time_ms: self.buffer.rebuffer_time().as_secs_f64() * 1e3,
                avg_buffer_s: self.buffer.average_level_secs().unwrap_or(0.0),
                avg_throughput_mbps: rate(busy),
                goodput_mbps: rate(session),
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
            session_ms: session.as_secs_f64() * 1e3,
            quality: self.abr.as_ref().map(|a| {
                // An initialization segment (no duration) plays nothing.
                let played: Vec<(usize, f64)> = (0..self.buffer.chunks_played())
                    .filter(|&i| !self.manifest.chunks[i].duration.is_zero())
                    .filter_map(|i| {
                        Some((
                            a.levels.get(i).copied().flatten()?,
                            self.manifest.chunks[i].duration.as_secs_f64(),
                        ))
                    })
                    .collect();
                // Startup counts as stall (Pensieve: the buffer starts
                // empty); a session that never started waited all along.
                let startup = self.buffer.startup_latency().unwrap_or(session);
                crate::abr::QualityQoe::of(
                    &self.manifest.bitrates_kbps,
                    &played,
                    (startup + self.buffer.rebuffer_time()).as_secs_f64(),
                )
            }),
        }
    }

    /// Picks chunk `chunk`'s level (a video with a ladder) before its first
    /// request, and sizes the chunk for it. The first chunk takes the rule's
    /// first level (the lowest for every rule but `fixed`): nothing is
    /// measured yet.
    pub(super) fn choose_level(&mut self, chunk: usize) {
        if self.abr.as_ref().is_none_or(|a| a.levels[chunk].is_some()) {
            return;
        }
        let meta = &self.manifest.chunks[chunk];
        let replica_rate_kbps: f64 = meta
            .replicas
            .iter()
            .filter(|n| n.index() < self.manifest.node_count)
            .filter(|n| !self.held_back(chunk, **n))
            .map(|n| self.expected_rate_kbps(*n))
            .sum();
        // Once the buffer is deep, chunks on other replica sets are fetched
        // beside this one: the whole cluster's rate is what the client
        // settles at. Below the low-water mark a slow replica set would
        // stall it first.
        let pool_rate_kbps =
            (self.buffer.level() >= self.config.buffer.low_water_mark).then(|| {
                (0..self.manifest.node_count)
                    .map(|i| self.expected_rate_kbps(NodeId(i as u16)))
                    .sum::<f64>()
            });
        let probed = self.replicas_measured(chunk);
        let latency_ms = self.replica_latency_ms(chunk);
        let replica_queued_bits: f64 = meta
            .replicas
            .iter()
            .filter(|n| n.index() < self.manifest.node_count)
            .map(|n| self.queued_bytes(*n) as f64 * 8.0)
            .sum();
        let until_needed_ms = self
            .buffer
            .chunk_start(chunk)
            .saturating_sub(self.buffer.playhead())
            .as_secs_f64()
            * 1e3;
        let Some(abr) = self.abr.as_mut() else {
            return;
        };
        let previous = chunk.checked_sub(1).and_then(|c| abr.levels[c]);
        let state = crate::abr::AbrState {
            buffer_level_ms: self.buffer.level().as_secs_f64() * 1e3,
            throughput_kbps: abr.estimate.throughput_kbps(),
            latency_ms: abr
                .estimate
                .latency_ms()
                .or(latency_ms.is_finite().then_some(latency_ms)),
            replica_rate_kbps: Some(replica_rate_kbps),
            pool_rate_kbps,
            replica_queued_bits,
            until_needed_ms: Some(until_needed_ms),
            previous_level: previous,
            prediction_error: abr.estimate.prediction_error(),
        };
        let level = match abr.kind {
            crate::abr::AbrKind::Fixed => abr.fixed_level,
            _ if (chunk == 0 || state.throughput_kbps.is_none()) && probed => {
                abr.rule.startup_level(&abr.ladder, &state, chunk, previous)
            }
            _ if chunk == 0 || state.throughput_kbps.is_none() => abr.rule.first_level(),
            _ => abr.rule.choose(&abr.ladder, &state, chunk).level,
        }
        .min(abr.ladder.top());
        abr.levels[chunk] = Some(level);
        let meta = &mut self.manifest.chunks[chunk];
        meta.size_bytes = meta.level_sizes[level];
    }

    /// The rate `node` is expected to deliver, kbit/s: its bandwidth
    /// estimate ([`monitor::PRIOR_BANDWIDTH_MBPS`] before it has one) ×
    /// its reliability; 0 while it is down.
    fn expected_rate_kbps(&self, node: NodeId) -> f64 {
        if self.monitor.health(node) == NodeHealth::Down {
            return 0.0;
        }
        let s = self.monitor.stats(node);
        s.bandwidth_mbps.unwrap_or(PRIOR_BANDWIDTH_MBPS) * s.reliability() * 1e3
    }

    /// Whether every live replica of `chunk` has a bandwidth estimate of
    /// its own (a probe or a transfer measured it): the pooled rate is
    /// theirs, not [`monitor::PRIOR_BANDWIDTH_MBPS`]'s.
    pub(super) fn replicas_measured(&self, chunk: usize) -> bool {
        self.manifest.chunks[chunk]
            .replicas
            .iter()
            .filter(|n| n.index() < self.manifest.node_count)
            .filter(|n| self.monitor.health(**n) != NodeHealth::Down)
            .filter(|n| !self.held_back(chunk, **n))
            .all(|n| self.monitor.stats(*n).bandwidth_mbps.is_some())
    }

    /// Whether `chunk`'s level would be chosen blind now: an adaptive rule,
    /// no throughput sample of the client's own yet and a replica never
    /// measured.
    pub(super) fn level_blind(&self, chunk: usize) -> bool {
        self.abr.as_ref().is_some_and(|a| {
            a.kind != crate::abr::AbrKind::Fixed
                && a.levels[chunk].is_none()
                && a.estimate.throughput_kbps().is_none()
        }) && !self.replicas_measured(chunk)
    }

    /// A chunk was delivered: a throughput sample for the quality choice,
    /// the whole client's: the bytes of every chunk delivered since the
    /// previous sample over the time parts were running since then (with
    /// several chunks in flight one chunk's own time would count the others'
    /// share of the links against it). An initialization segment (no media
    /// duration) is no sample: a few hundred bytes measure the latency, not
    /// the rate (its ~1 KB at 0.3 Mbit/s held the browser's smart player at
    /// the bottom rung for its first three segments); its bytes and time
    /// are left out of the next sample too.
    pub(super) fn sample_throughput(&mut self, chunk: usize) {
        let busy = self.busy_so_far();
        let latency = self.replica_latency_ms(chunk);
        let init = self.manifest.chunks[chunk].duration.is_zero();
        let Some(abr) = self.abr.as_mut() else {
            return;
        };
        let bits = (self.bytes_total - abr.sampled_bytes) as f64 * 8.0;
        let took_ms = busy.saturating_sub(abr.sampled_busy).as_secs_f64() * 1e3;
        abr.sampled_bytes = self.bytes_total;
        abr.sampled_busy = busy;
        if took_ms > 0.0 && !init {
            abr.estimate.push(
                took_ms,
                bits / took_ms,
                if latency.is_finite() { latency } else { 0.0 },
            );
        }
    }

    /// The lowest latency estimate among `chunk`'s replicas, ms (the prior
    /// for one never measured); infinite when it has none.
    fn replica_latency_ms(&self, chunk: usize) -> f64 {
        self.manifest.chunks[chunk]
            .replicas
            .iter()
            .filter(|n| n.index() < self.manifest.node_count)
            .filter(|n| !self.held_back(chunk, **n))
            .map(|n| {
                self.monitor
                    .stats(*n)
                    .latency_ms
                    .unwrap_or(PRIOR_LATENCY_MS)
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// Time parts have been running, so far.
    fn busy_so_far(&self) -> Duration {
        self.busy_time
            + self
                .busy_since
                .map(|s| self.now.saturating_sub(s))
                .unwrap_or_default()
    }

    fn set_now(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
        }
        self.buffer.advance(self.now);
    }

    /// Common tail of every entry point: probes due, complete chunks, new
    /// parts, the next progress check, notices.
    fn step(&mut self, now: Duration) {
        // Parts that ended holding no byte are history: drop them, so that a
        // chunk retried for minutes against a dead or idle node does not
        // carry every attempt (the per-step work grew with them: a
        // 900 s session took minutes).
        for f in &mut self.fetches {
            f.parts
                .retain(|p| p.state == PartState::Running || p.received > 0);
        }
        if self.selector.knows_links() {
            for i in 0..self.manifest.node_count {
                let node = NodeId(i as u16);
                if let Some(truth) = self.selector.known_link(now, node) {
                    self.monitor.set_truth(node, truth);
                }
            }
        }
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
                self.notify(Notice::NodeStatus {
                    node: NodeId(i as u16),
                    health: h,
                });
            }
        }
        let state = self.buffer.state();
        if state != self.last_state {
            self.last_state = state;
            self.notify(Notice::PlaybackState { state });
        }
        self.next_timeout = self.compute_timeout();
    }
}

#[cfg(test)]
mod tests;
