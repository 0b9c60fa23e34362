//! Wire types shared by the server, the command line and the browser.
//!
//! Everything here is plain serde data: the server serialises it as JSON (server
//! function responses, WebSocket frames) and the WASM front end deserialises the
//! same structs, so the two sides cannot disagree about a field's name or unit.
//! What the engine, the comparison, the demo and ChunkPaxos produce is the
//! core's own types, re-exported here unchanged (a client publishes its
//! [`ClientSnapshot`] and the browser receives that very struct); enums cross
//! the wire as their snake_case names (`"smart"`, `"healthy"`, `"degraded"`).
//! Units are part of every field name (`_ms`, `_bytes`, ...).

use serde::{Deserialize, Serialize};

pub use crate::{
    anomaly::{Alert, AlertKind, Metric as AlertMetric, Severity},
    compare::{CompareMode, CompareReport, ConditionResult, MetricRow},
    conditions::{Override, Scenario, ScenarioInForce},
    consensus::record::{
        AcceptorView, ConsensusRecording, ConsensusScenario, ConsensusStep, ProposerPhase,
        ProposerView, StepKind,
    },
    demo::PhaseFigures,
    engine::{
        ChunkSnapshot, ClientKind, ClientSnapshot, NodeHealth, NodeSnapshot, PerClient,
        PlaybackQoe, PlaybackState, QualitySnapshot,
    },
    redundancy::{
        ChunkReplication, NodeReplication, NodeStatus as ReplicaNodeStatus, RedundancyConfig,
        RedundancyEvent, RedundancyEventKind, ReplicationReport, ReplicationTotals,
    },
};

/// Samples of the redundancy history the dashboard keeps (and sends first).
pub const REDUNDANCY_HISTORY: usize = 300;

/// One sample of adaptive redundancy over time (one per collector tick).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RedundancySample {
    /// Server uptime, ms.
    pub uptime_ms: u64,
    /// Chunks below their target replication factor.
    pub under_replicated: usize,
    /// Chunks above it.
    pub over_replicated: usize,
    /// Chunks without a counted copy.
    pub unavailable: usize,
    /// Repair read rate over the last 5 s, Mbit/s.
    pub repair_mbps: f64,
    /// Copies, adoptions and trims running.
    pub in_flight: usize,
    /// Actions planned behind them.
    pub queued: usize,
    /// Bytes copied since start.
    pub bytes_repaired: u64,
}

/// The extra clients that make a video hot: a separate population of
/// headless smart clients, never counted in the smart vs naive comparison.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HotPopulation {
    /// The video they play (`None`: none running).
    pub video_id: Option<String>,
    /// Clients on each twin cluster (the same number on both, so the
    /// comparison's conditions stay identical).
    pub clients: u32,
    /// Their sessions finished so far.
    pub sessions_done: u64,
}

/// Adaptive redundancy as the Redundancy tab shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RedundancyView {
    /// The replication manager's latest report (of the smart client's
    /// cluster; the twin mirrors its changes).
    pub report: ReplicationReport,
    /// The last [`REDUNDANCY_HISTORY`] samples, oldest first.
    pub history: Vec<RedundancySample>,
    /// The hot-video population.
    pub hot: HotPopulation,
}

/// Payload of [`WsEvent::Redundancy`]: the report, the new sample, the hot
/// population.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedundancyUpdate {
    /// The latest report.
    pub report: ReplicationReport,
    /// The sample this tick added.
    pub sample: RedundancySample,
    /// The hot-video population.
    pub hot: HotPopulation,
}

/// Identity and liveness of the dashboard server, returned by the
/// [`crate::api::server_info`] server function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// `vstack` crate version, e.g. `"0.1.0"`.
    pub version: String,
    /// OS process id of the server.
    pub pid: u32,
    /// Wall-clock start time of the server, milliseconds since the Unix epoch.
    pub started_at_unix_ms: u64,
    /// Time since the server started, in milliseconds (monotonic clock).
    pub uptime_ms: u64,
    /// Number of dashboards currently subscribed to the `/ws` stream.
    pub dashboards_connected: u32,
    /// Interval between two `heartbeat` frames on `/ws`, in milliseconds.
    pub ws_push_interval_ms: u64,
}

/// What the caller of a request may do on this dashboard server.
///
/// Outside public mode every (same-origin) caller is the admin. In public
/// mode (`vstack serve --public`) viewers see everything live and only the
/// admin (Bearer token or signed-in session) changes state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// The server runs in public mode.
    pub public: bool,
    /// The caller may use the controls.
    pub admin: bool,
}

/// One live sample of the server itself, pushed on `/ws` every
/// [`ServerInfo::ws_push_interval_ms`] (default 1000 ms).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Sequence number of this frame on this connection, starting at 0.
    pub seq: u64,
    /// Time since the server started, in milliseconds (monotonic clock).
    pub uptime_ms: u64,
    /// Server wall clock when the frame was built, milliseconds since the Unix epoch.
    pub server_time_unix_ms: u64,
    /// Number of dashboards currently subscribed to `/ws`.
    pub dashboards_connected: u32,
    /// Resident set size of the server process in bytes, when the OS reports it.
    pub rss_bytes: Option<u64>,
    /// How late the server's push timer fired compared to its schedule, in
    /// milliseconds: a direct measurement of how busy the server's runtime is.
    pub tick_lag_ms: f64,
}

/// One metrics-collector sample of one client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientSample {
    /// Buffer level, s.
    pub buffer_level_s: f64,
    /// Throughput over the last collector interval (bytes received × 8 / the
    /// interval's media time), Mbit/s.
    pub throughput_mbps: f64,
    /// Node scores, in node order.
    pub node_scores: Vec<f64>,
    /// Mean download time so far this session, ms.
    pub avg_download_ms: f64,
    /// Bytes received since the server started.
    pub bytes_transferred: u64,
    /// Playback state.
    pub state: PlaybackState,
    /// Nominal bitrate of the level playing, kbit/s
    /// ([`ClientSnapshot::bitrate_kbps`]); `None` for a video without a
    /// ladder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<f64>,
}

/// One metrics-collector tick (every 2 s by default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsSample {
    /// Server uptime at the sample, ms.
    pub uptime_ms: u64,
    /// Each client's sample, when it runs (`"smart"`, `"naive"` beside
    /// `uptime_ms` on the wire).
    #[serde(flatten)]
    pub clients: PerClient<Option<ClientSample>>,
}

/// QoE of one finished session (the Smart vs Naive tab aggregates these).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionResult {
    /// `smart` or `naive`.
    pub kind: ClientKind,
    /// Session number. The twin clients start each session together, so
    /// smart's session `n` and naive's session `n` form a pair played under
    /// the same conditions from the same moment.
    pub session: u32,
    /// Scenario in force when the session ended.
    pub scenario: ScenarioInForce,
    /// Nothing changed the conditions while the session played (no scenario,
    /// slider, kill or revive) and no demo ran: only such sessions enter the
    /// finished-session means, grouped by `scenario`.
    #[serde(default)]
    pub steady: bool,
    /// The session's startup, rebuffering, buffer and rates (the same JSON
    /// fields as the engine's report, flattened).
    #[serde(flatten)]
    pub playback: PlaybackQoe,
    /// Failovers.
    pub failovers: u64,
    /// Played bitrate, switches and linear QoE, for a video with a ladder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualitySnapshot>,
}

/// One client's counters summed over every session since the server
/// started: finished, stopped and restarted ones plus the one playing now.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CumulativeTotals {
    /// Sessions that ended (finished, stopped or restarted).
    pub sessions_ended: u64,
    /// Sessions that played to their end.
    pub sessions_finished: u64,
    /// Bytes of verified chunks received.
    pub bytes_transferred: u64,
    /// Chunks downloaded.
    pub downloads: u64,
    /// Failed attempts moved to another replica.
    pub failovers: u64,
    /// Rebuffering events.
    pub rebuffer_events: u64,
    /// Stall time, ms.
    pub stall_ms: f64,
}

impl CumulativeTotals {
    /// Adds one session's counters (its latest snapshot).
    pub fn add(&mut self, c: &ClientSnapshot) {
        self.bytes_transferred = self.bytes_transferred.saturating_add(c.bytes_total);
        self.downloads = self.downloads.saturating_add(c.downloads);
        self.failovers = self.failovers.saturating_add(c.failovers);
        self.rebuffer_events = self
            .rebuffer_events
            .saturating_add(u64::from(c.rebuffer_count));
        self.stall_ms += c.rebuffer_time_ms;
    }

    /// Failovers ÷ attempts (downloads + failovers), in %; 0 without any.
    pub fn failover_rate_pct(&self) -> f64 {
        let attempts = self.downloads.saturating_add(self.failovers);
        if attempts == 0 {
            0.0
        } else {
            self.failovers as f64 * 100.0 / attempts as f64
        }
    }
}

/// Everything a dashboard needs at once: sent first on `/ws`, and by the
/// `dashboard_snapshot` server function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardSnapshot {
    /// Server uptime, ms.
    pub uptime_ms: u64,
    /// Video the clients play.
    pub video_id: String,
    /// Every video in the cluster's catalog.
    pub videos: Vec<String>,
    /// Scenario in force (`normal`, …, `custom` or `chaos`).
    pub scenario: ScenarioInForce,
    /// Where the conditions come from: the embedded twin clusters' profiles,
    /// traces or an external cluster.
    pub conditions: String,
    /// Time compression factor.
    pub speed: f64,
    /// Metrics collector interval, ms.
    pub metrics_interval_ms: u64,
    /// Storage node ids, in node order.
    pub node_ids: Vec<String>,
    /// Both clients, when running (`"smart"`, `"naive"` on the wire).
    #[serde(flatten)]
    pub clients: PerClient<Option<ClientSnapshot>>,
    /// The last samples (at most 100 by default), oldest first.
    pub history: Vec<MetricsSample>,
    /// Finished sessions, oldest first (at most 200).
    pub sessions: Vec<SessionResult>,
    /// Each client's counters since the server started.
    #[serde(default)]
    pub totals: PerClient<CumulativeTotals>,
    /// The demo's progress, once one was started from the dashboard.
    #[serde(default)]
    pub demo: Option<DemoStatus>,
    /// Adaptive redundancy (`None`: no replication manager runs here).
    #[serde(default)]
    pub redundancy: Option<RedundancyView>,
    /// Every open alert and the newest resolved ones (at most
    /// `vstack_core::anomaly::MAX_RESOLVED_ALERTS`), newest first.
    #[serde(default)]
    pub anomalies: Vec<Alert>,
    /// The permalink id (`/runs/{id}`) of the comparison since the last
    /// re-run, once a pair finished and the history stored it.
    #[serde(default)]
    pub compare_run_id: Option<String>,
    /// The server keeps durable history (time ranges, run pages).
    #[serde(default)]
    pub keeps_history: bool,
}

/// A control applied from the dashboard (the `control` server function).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Control {
    /// Start both clients (if stopped).
    Play,
    /// Stop both clients.
    Stop,
    /// Restart both clients' sessions from the beginning.
    Restart,
    /// Play another video of the catalog (both clients restart on it).
    PickVideo {
        /// The video id.
        video_id: String,
    },
    /// Apply a named scenario on every node of both clusters.
    Scenario {
        /// `normal`, `high_latency`, `low_bandwidth`, `packet_loss`,
        /// `node_failure`, `degraded` or `recovery`.
        name: Scenario,
    },
    /// Set one node's conditions on both clusters.
    NodeConditions {
        /// Node position (0-based).
        node: usize,
        /// Added latency, ms.
        latency_ms: f64,
        /// Bandwidth limit, Mbit/s (`None` = unshaped).
        bandwidth_mbps: Option<f64>,
        /// Transfer loss probability, 0–1.
        loss: f64,
        /// Refuse requests (503).
        down: bool,
    },
    /// Kill a node's server (both clusters).
    KillNode {
        /// Node position.
        node: usize,
    },
    /// Restart a killed node (both clusters).
    ReviveNode {
        /// Node position.
        node: usize,
    },
    /// Cut a node off by a network partition, or heal it (both clusters):
    /// requests reach it and no answer comes back until it heals; its other
    /// conditions stay as they are.
    PartitionNode {
        /// Node position.
        node: usize,
        /// True to partition, false to heal.
        partitioned: bool,
    },
    /// Clear the session results and restart both clients: re-run the
    /// comparison, under `scenario` when given (applied first, on both
    /// clusters), else under the current conditions. Every open dashboard
    /// receives the cleared state.
    RerunComparison {
        /// Scenario to apply before the re-run; `None` keeps the conditions.
        #[serde(default)]
        scenario: Option<Scenario>,
    },
    /// Run the seed's demo (normal → degradation → node failure → recovery →
    /// chaos) on the dashboard's clusters; both clients restart first.
    StartDemo {
        /// Media seconds per phase, 10–600. Default 30.
        #[serde(default = "default_phase_s")]
        phase_s: u64,
    },
    /// Stop a running demo and restore the nodes' base profiles.
    StopDemo,
    /// Make a video hot: `clients` extra headless smart clients (1–50) play
    /// it on each twin cluster, a population the comparison never counts.
    /// Replaces a running hot population.
    MakeHot {
        /// The video (default: the one the clients play).
        #[serde(default)]
        video_id: Option<String>,
        /// Clients per cluster, 1–50.
        clients: u32,
    },
    /// Stop the hot population: the video cools down.
    CoolDown,
}

fn default_phase_s() -> u64 {
    30
}

/// A typed frame on the `/ws` WebSocket, serialised as JSON with a `type` tag,
/// e.g. `{"type":"heartbeat","seq":3,...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WsEvent {
    /// A server liveness sample, see [`Heartbeat`].
    Heartbeat(Heartbeat),
    /// The full state, sent first to every new subscriber.
    Snapshot(Box<DashboardSnapshot>),
    /// Each metrics-collector tick: the new sample and both clients' state.
    MetricsUpdate(Box<MetricsUpdate>),
    /// A chunk arrived at a client.
    ChunkDownloaded(ChunkEvent),
    /// A client's view of a node's health changed.
    NodeStatus(NodeStatusEvent),
    /// A client's playback state changed.
    PlaybackState(PlaybackStateEvent),
    /// The demo moved on (phase started or ended, chaos event, findings).
    Demo(Box<DemoStatus>),
    /// Each collector tick: adaptive redundancy's report and sample.
    Redundancy(Box<RedundancyUpdate>),
    /// An alert opened or resolved (`{"type":"anomaly","id",…}`, the fields
    /// of [`Alert`]; `ended_uptime_ms` is null while open).
    Anomaly(Box<Alert>),
}

/// Payload of [`WsEvent::MetricsUpdate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsUpdate {
    /// The new sample.
    pub sample: MetricsSample,
    /// Scenario in force.
    pub scenario: ScenarioInForce,
    /// Both clients now (`"smart"`, `"naive"` on the wire).
    #[serde(flatten)]
    pub clients: PerClient<Option<ClientSnapshot>>,
    /// A session finished since the last tick, if any.
    pub finished: Vec<SessionResult>,
    /// Each client's counters since the server started.
    #[serde(default)]
    pub totals: PerClient<CumulativeTotals>,
}

/// Payload of [`WsEvent::ChunkDownloaded`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkEvent {
    /// `smart` or `naive`.
    pub client: ClientKind,
    /// Chunk index.
    pub chunk: u32,
    /// Serving node.
    pub node_id: String,
    /// Bytes.
    pub bytes: u64,
    /// Download time, ms.
    pub download_ms: f64,
}

/// Payload of [`WsEvent::NodeStatus`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStatusEvent {
    /// `smart` or `naive`.
    pub client: ClientKind,
    /// The node.
    pub node_id: String,
    /// `healthy`, `degraded` or `down`.
    pub health: NodeHealth,
}

/// Payload of [`WsEvent::PlaybackState`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaybackStateEvent {
    /// `smart` or `naive`.
    pub client: ClientKind,
    /// `startup`, `playing`, `rebuffering` or `ended`.
    pub state: PlaybackState,
}

/// One phase of the demo as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoPhase {
    /// `normal`, `high_latency`, …, `chaos`.
    pub name: String,
    /// The conditions the phase applies (stated before it runs).
    pub narration: String,
    /// What the clients did in the phase, measured at its end
    /// (`vstack_core::demo::narrate`); `None` until then.
    #[serde(default)]
    pub measured: Option<String>,
    /// Smart client's figures, once the phase is over.
    pub smart: Option<PhaseFigures>,
    /// Naive client's figures, once the phase is over.
    pub naive: Option<PhaseFigures>,
}

/// The demo run on the dashboard's clusters (`start_demo` control).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoStatus {
    /// The demo is running.
    pub running: bool,
    /// Index of the phase in progress, if running.
    pub current: Option<usize>,
    /// Media seconds per phase.
    pub phase_s: u64,
    /// Server uptime when the current phase started, ms.
    pub phase_started_uptime_ms: u64,
    /// Phase length in wall-clock ms (media seconds ÷ speed).
    pub phase_wall_ms: u64,
    /// Every phase, in order.
    pub phases: Vec<DemoPhase>,
    /// What the chaos phase did, one line per failure.
    pub events: Vec<String>,
    /// Key findings once the demo ended (measured in that run).
    pub findings: Vec<String>,
    /// The run's permalink id (`/runs/{id}`) once it was stored in the
    /// history.
    #[serde(default)]
    pub run_id: Option<String>,
}

/// A time range of the Metrics tab's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryRange {
    /// The last 15 minutes, from the raw samples.
    #[serde(rename = "15m")]
    Min15,
    /// The last hour, from the raw samples.
    #[serde(rename = "1h")]
    Hour1,
    /// The last 24 hours, from the one-minute averages.
    #[serde(rename = "24h")]
    Hour24,
    /// The last 7 days (the retention), from the one-minute averages.
    #[serde(rename = "7d")]
    Day7,
}

impl HistoryRange {
    /// Every range, shortest first.
    pub const ALL: [HistoryRange; 4] = [
        HistoryRange::Min15,
        HistoryRange::Hour1,
        HistoryRange::Hour24,
        HistoryRange::Day7,
    ];

    /// The range's length, ms.
    pub fn span_ms(self) -> u64 {
        match self {
            HistoryRange::Min15 => 15 * 60_000,
            HistoryRange::Hour1 => 3_600_000,
            HistoryRange::Hour24 => 86_400_000,
            HistoryRange::Day7 => 7 * 86_400_000,
        }
    }

    /// `15m`, `1h`, `24h`, `7d`.
    pub fn label(self) -> &'static str {
        match self {
            HistoryRange::Min15 => "15m",
            HistoryRange::Hour1 => "1h",
            HistoryRange::Hour24 => "24h",
            HistoryRange::Day7 => "7d",
        }
    }

    /// Parses [`Self::label`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.label() == s)
    }
}

/// One client's stored sample: a raw collector sample or a one-minute mean.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// When (the sample's time, or the minute's start), Unix ms.
    pub unix_ms: u64,
    /// `smart` or `naive`.
    pub client: ClientKind,
    /// Buffer level, s (the minute's mean).
    pub buffer_level_s: f64,
    /// Throughput over the sample interval, Mbit/s (the minute's mean).
    pub throughput_mbps: f64,
    /// Mean chunk download time, ms.
    pub avg_download_ms: f64,
    /// Each node's seed-002 score, in node order (the minute's means).
    pub node_scores: Vec<f64>,
    /// Nominal bitrate of the level playing, kbit/s (the minute's mean);
    /// `None` without a ladder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<f64>,
}

/// The Metrics tab's history for a [`HistoryRange`]
/// (`GET /api/history?range=…`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryResponse {
    /// The range asked for.
    pub range: HistoryRange,
    /// Spacing of the points: the collector interval (raw) or 60 000 (means).
    pub resolution_ms: u64,
    /// The server's clock when answering, Unix ms (the range ends here).
    pub now_unix_ms: u64,
    /// Node ids, in the order of `node_scores`.
    pub node_ids: Vec<String>,
    /// Points, oldest first (at most 2 × 10 080).
    pub points: Vec<HistoryPoint>,
    /// Alerts that overlap the range, newest first (at most 500).
    pub alerts: Vec<Alert>,
}

/// What produced a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// `vstack compare` or the dashboard's re-run.
    Compare,
    /// `vstack bench`.
    Bench,
    /// `vstack chaos`.
    Chaos,
    /// `vstack demo` or the dashboard's demo.
    Demo,
    /// The players' table: vstack's browser players beside hls.js
    /// (`scripts/players-table.sh`, published from its Playwright run).
    Players,
}

impl RunKind {
    /// `compare`, `bench`, `chaos`, `demo`, `players`.
    pub fn name(self) -> &'static str {
        match self {
            RunKind::Compare => "compare",
            RunKind::Bench => "bench",
            RunKind::Chaos => "chaos",
            RunKind::Demo => "demo",
            RunKind::Players => "players",
        }
    }

    /// Parses [`Self::name`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            RunKind::Compare,
            RunKind::Bench,
            RunKind::Chaos,
            RunKind::Demo,
            RunKind::Players,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// A run in the list (`GET /api/runs`, the `/runs` page).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The permalink's id (`/runs/{id}`): 16 hex digits.
    pub id: String,
    /// What produced it.
    pub kind: RunKind,
    /// One line: what ran.
    pub title: String,
    /// One line: the outcome (`12/14 targets met`, `smart +38 % startup`).
    pub headline: String,
    /// Whether it passed, for runs that judge (bench targets, chaos
    /// invariants); `None` for the others.
    pub passed: Option<bool>,
    /// Start, Unix ms.
    pub started_unix_ms: u64,
    /// End, Unix ms.
    pub finished_unix_ms: u64,
    /// The conditions it ran under.
    pub conditions: String,
    /// Where it came from: `cli` (written with --data-dir), `published`
    /// (--publish) or `dashboard`.
    pub source: String,
}

/// A table of a run page: per-metric rows with their spread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunTable {
    /// Heading.
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Cells, already formatted with units.
    pub rows: Vec<Vec<String>>,
}

/// A bar chart of a run page: one bar group per category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunChart {
    /// Heading.
    pub title: String,
    /// The value axis' name, with its unit.
    pub y_name: String,
    /// The groups (metrics, phases, conditions).
    pub categories: Vec<String>,
    /// One series per client (or measured / target).
    pub series: Vec<RunSeries>,
}

/// One series of a [`RunChart`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSeries {
    /// Legend name.
    pub name: String,
    /// One value per category.
    pub values: Vec<f64>,
}

/// A whole run (`GET /api/runs/{id}`, the `/runs/{id}` page).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The list's view of it.
    pub summary: RunSummary,
    /// The machine it ran on: (label, value) pairs.
    pub machine: Vec<(String, String)>,
    /// vstack's version (and build: debug or release).
    pub version: String,
    /// Per-metric tables.
    pub tables: Vec<RunTable>,
    /// Charts.
    pub charts: Vec<RunChart>,
    /// Findings or notes, one line each.
    pub notes: Vec<String>,
    /// The tool's own report, as it saved it (compare, bench, chaos, demo
    /// or players JSON).
    pub report: serde_json::Value,
}

// Labels the server, the CLI and the browser all print.

/// `n` and the noun in the right number: `counted(1, "session", "sessions")`
/// is `"1 session"`, any other `n` takes `many` (`"0 sessions"`, `"5 sessions"`).
/// Used by page titles and table captions that the server and the UI both show.
pub fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A metric's table label with its unit: `"startup latency ms"`; the unit
/// is left off when empty or when the name already ends with it
/// (`"rebuffering events"`, unit `events`).
pub fn metric_with_unit(metric: &str, unit: &str) -> String {
    if unit.is_empty() || metric.ends_with(unit) {
        metric.to_owned()
    } else {
        format!("{metric} {unit}")
    }
}

/// Smart's and naive's session `n`.
pub type Pair<'a> = (&'a SessionResult, &'a SessionResult);

/// Pairs by scenario name.
pub type Groups<'a> = Vec<(String, Vec<Pair<'a>>)>;

/// Finished sessions in pairs: smart's and naive's session `n`, both steady
/// and under the same scenario; grouped by scenario name (in order of
/// first appearance). Returns the groups and how many sessions were left out.
pub fn paired_groups(sessions: &[SessionResult]) -> (Groups<'_>, usize) {
    let mut groups: Groups<'_> = Vec::new();
    let mut used = 0;
    for s in sessions
        .iter()
        .filter(|r| r.kind == ClientKind::Smart && r.steady)
    {
        let twin = sessions.iter().find(|r| {
            r.kind == ClientKind::Naive
                && r.session == s.session
                && r.steady
                && r.scenario == s.scenario
        });
        if let Some(n) = twin {
            used += 2;
            let name = s.scenario.name().to_string();
            match groups.iter_mut().find(|(g, _)| *g == name) {
                Some((_, v)) => v.push((s, n)),
                None => groups.push((name, vec![(s, n)])),
            }
        }
    }
    (groups, sessions.len() - used)
}

/// One chunk as a browser player needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchChunk {
    /// Storage id.
    pub chunk_id: String,
    /// Media duration, ms (0 for the initialization segment).
    pub duration_ms: u64,
    /// Size, bytes.
    pub size_bytes: u64,
    /// Hex SHA-256.
    pub sha256: String,
    /// The nodes holding it, as indices into [`WatchManifest::nodes`].
    pub replicas: Vec<u16>,
}

/// `GET /watch/api/manifest`: what a browser player needs before its
/// first byte.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchManifest {
    /// The video both clients play.
    pub video_id: String,
    /// Node ids, in node-index order (`/watch/{kind}/{index}/…`).
    pub nodes: Vec<String>,
    /// Chunks in playback order; chunk 0 is the initialization segment when
    /// `init` is set.
    pub chunks: Vec<WatchChunk>,
    /// Whether chunk 0 is an fMP4 initialization segment.
    pub init: bool,
    /// The MSE type with its codecs (`video/mp4; codecs="avc1.64001e"`);
    /// `None` when the video is not H.264 in fMP4 (synthetic bytes): no
    /// browser can play it.
    pub mse_type: Option<String>,
    /// Viewers now.
    pub watching: usize,
    /// The most viewers at once.
    pub max_watchers: usize,
    /// The video's ladder, lowest first (`chunks` is the top rung's); empty
    /// for one rendition. At most 16 rungs, each with as many chunks as
    /// `chunks`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rungs: Vec<WatchRung>,
}

/// One rendition of a video with a ladder, as a browser player sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchRung {
    /// Its nominal bitrate, kbit/s.
    pub bitrate_kbps: f64,
    /// Its chunks, in playback order (chunk 0 its own initialization
    /// segment when [`WatchManifest::init`] is set).
    pub chunks: Vec<WatchChunk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(kind: ClientKind, n: u32, scenario: Scenario, steady: bool) -> SessionResult {
        SessionResult {
            kind,
            session: n,
            scenario: ScenarioInForce::from(scenario),
            steady,
            playback: PlaybackQoe {
                startup_latency_ms: Some(1000.0),
                rebuffer_count: 0,
                rebuffer_time_ms: 0.0,
                avg_buffer_s: 20.0,
                avg_throughput_mbps: 10.0,
                goodput_mbps: 2.0,
            },
            failovers: 0,
            quality: None,
        }
    }

    #[test]
    fn only_steady_twins_of_one_scenario_pair_up() {
        use ClientKind::{Naive, Smart};
        let v = vec![
            session(Smart, 1, Scenario::Normal, true),
            session(Naive, 1, Scenario::Normal, true),
            session(Smart, 2, Scenario::Normal, false),
            session(Naive, 2, Scenario::Normal, true),
            session(Smart, 3, Scenario::LowBandwidth, true),
            session(Naive, 3, Scenario::LowBandwidth, true),
            session(Smart, 4, Scenario::LowBandwidth, true),
        ];
        let (groups, left_out) = paired_groups(&v);
        assert_eq!(left_out, 3, "session 2 (not steady, both) and 4 (no twin)");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, "normal");
        assert_eq!(groups[1].0, "low_bandwidth");
        assert_eq!(groups[1].1.len(), 1);
    }

    #[test]
    fn ws_event_is_tagged_json() {
        let ev = WsEvent::Heartbeat(Heartbeat {
            seq: 7,
            uptime_ms: 1500,
            server_time_unix_ms: 1_700_000_000_000,
            dashboards_connected: 2,
            rss_bytes: Some(1024),
            tick_lag_ms: 0.25,
        });
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["type"], "heartbeat");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["dashboards_connected"], 2);
        let back: WsEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn counted_picks_the_number() {
        assert_eq!(counted(1, "session", "sessions"), "1 session");
        assert_eq!(counted(0, "session", "sessions"), "0 sessions");
        assert_eq!(counted(12, "condition", "conditions"), "12 conditions");
    }

    #[test]
    fn metric_labels_name_the_unit_once() {
        assert_eq!(metric_with_unit("stall time", "ms"), "stall time ms");
        assert_eq!(
            metric_with_unit("rebuffering events", "events"),
            "rebuffering events"
        );
        assert_eq!(metric_with_unit("failovers", ""), "failovers");
    }

    #[test]
    fn a_session_result_keeps_its_json_fields_and_order() {
        // The playback figures are flattened from `PlaybackQoe`: the JSON is
        // the one the struct had when it declared them itself.
        let r = session(ClientKind::Smart, 3, Scenario::Normal, true);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"smart","session":3,"scenario":"normal","steady":true,"startup_latency_ms":1000.0,"rebuffer_count":0,"rebuffer_time_ms":0.0,"avg_buffer_s":20.0,"avg_throughput_mbps":10.0,"goodput_mbps":2.0,"failovers":0}"#
        );
        let back: SessionResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        // Saved before goodput existed: it defaults to 0.
        let old = json.replace(r#","goodput_mbps":2.0"#, "");
        let back: SessionResult = serde_json::from_str(&old).unwrap();
        assert_eq!(back.playback.goodput_mbps, 0.0);
    }
}
