//! Wire types shared by the server and the browser.
//!
//! Everything here is plain serde data: the server serialises it as JSON (server
//! function responses, WebSocket frames) and the WASM front end deserialises the
//! same structs, so the two sides cannot disagree about a field's name or unit.
//! Units are part of every field name (`_ms`, `_bytes`, ...).

use serde::{Deserialize, Serialize};

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

/// One storage node as a live client sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeSnapshot {
    /// Node id, e.g. `node-1`.
    pub node_id: String,
    /// Seed score `(bandwidth_mbps × reliability) / (1 + latency_ms × 0.1)`.
    pub score: f64,
    /// Latency EWMA, ms; `None` before the first probe (naive never probes).
    pub latency_ms: Option<f64>,
    /// Bandwidth EWMA, Mbit/s; `None` before the first sample.
    pub bandwidth_mbps: Option<f64>,
    /// Success ratio of the recent samples, 0–1.
    pub success_rate: f64,
    /// `healthy`, `degraded` or `down` (the client's monitor).
    pub health: String,
    /// Downloads in flight on this node.
    pub in_flight: u32,
    /// Chunks served this session.
    pub chunks: u64,
    /// Bytes served this session.
    pub bytes: u64,
    /// Failed attempts this session.
    pub failures: u64,
    /// Whether the node's server is killed (from the controls).
    pub killed: bool,
}

/// One finished chunk download.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkSnapshot {
    /// Chunk index.
    pub chunk: u32,
    /// Node that served it.
    pub node_id: String,
    /// Bytes.
    pub bytes: u64,
    /// Download time, ms (media time).
    pub download_ms: f64,
}

/// One live client (smart or naive) at a point in time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientSnapshot {
    /// `smart` or `naive`.
    pub kind: String,
    /// Video being played.
    pub video_id: String,
    /// `startup`, `playing`, `rebuffering`, `ended` or `stopped`.
    pub state: String,
    /// Sessions started by this client since the server started (1-based).
    pub session: u32,
    /// Media time since this session's play request, ms.
    pub elapsed_ms: f64,
    /// Buffered media ahead of the playhead, s.
    pub buffer_level_s: f64,
    /// Buffer target, s (default 30).
    pub buffer_target_s: f64,
    /// Low-water mark, s (default 15).
    pub low_water_mark_s: f64,
    /// Playhead, s.
    pub playhead_s: f64,
    /// Video length, s.
    pub video_duration_s: f64,
    /// Play request → playback start, ms; `None` until playback starts.
    pub startup_latency_ms: Option<f64>,
    /// Rebuffering events this session.
    pub rebuffer_count: u32,
    /// Total stall time this session, ms.
    pub rebuffer_time_ms: f64,
    /// Chunks played.
    pub chunks_played: u32,
    /// Chunks in the video.
    pub chunk_count: u32,
    /// Successful downloads.
    pub downloads: u64,
    /// Failed attempts that moved to another replica.
    pub failovers: u64,
    /// downloads / attempts, 0–1.
    pub success_rate: f64,
    /// Bytes downloaded this session.
    pub bytes_total: u64,
    /// Bytes over busy download time, Mbit/s.
    pub avg_throughput_mbps: f64,
    /// Mean download time, ms.
    pub avg_download_ms: f64,
    /// Time-weighted mean buffer level, s.
    pub avg_buffer_s: f64,
    /// Per-node view, in node order.
    pub nodes: Vec<NodeSnapshot>,
    /// The last 50 downloads, oldest first.
    pub recent_chunks: Vec<ChunkSnapshot>,
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
    pub state: String,
}

/// One metrics-collector tick (every 2 s by default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsSample {
    /// Server uptime at the sample, ms.
    pub uptime_ms: u64,
    /// The smart client, when running.
    pub smart: Option<ClientSample>,
    /// The naive client, when running.
    pub naive: Option<ClientSample>,
}

/// QoE of one finished session (the Smart vs Naive tab aggregates these).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionResult {
    /// `smart` or `naive`.
    pub kind: String,
    /// Session number of that client.
    pub session: u32,
    /// Scenario in force when the session ended.
    pub scenario: String,
    /// Startup latency, ms.
    pub startup_latency_ms: Option<f64>,
    /// Rebuffering events.
    pub rebuffer_count: u32,
    /// Stall time, ms.
    pub rebuffer_time_ms: f64,
    /// Time-weighted mean buffer, s.
    pub avg_buffer_s: f64,
    /// Throughput, Mbit/s.
    pub avg_throughput_mbps: f64,
    /// Failovers.
    pub failovers: u64,
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
    /// Scenario in force (`normal`, … or `custom`).
    pub scenario: String,
    /// Where the conditions come from: the embedded twin clusters' profiles,
    /// traces or an external cluster.
    pub conditions: String,
    /// Time compression factor.
    pub speed: f64,
    /// Metrics collector interval, ms.
    pub metrics_interval_ms: u64,
    /// Storage node ids, in node order.
    pub node_ids: Vec<String>,
    /// The smart client.
    pub smart: Option<ClientSnapshot>,
    /// The naive client.
    pub naive: Option<ClientSnapshot>,
    /// The last samples (at most 100 by default), oldest first.
    pub history: Vec<MetricsSample>,
    /// Finished sessions, oldest first (at most 200).
    pub sessions: Vec<SessionResult>,
    /// The demo's progress, once one was started from the dashboard.
    #[serde(default)]
    pub demo: Option<DemoStatus>,
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
        name: String,
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
    /// Clear the session results and restart both clients (re-run the
    /// comparison under the current conditions).
    RerunComparison,
    /// Run the seed's demo (normal → degradation → node failure → recovery →
    /// chaos) on the dashboard's clusters; both clients restart first.
    StartDemo {
        /// Media seconds per phase, 10–600. Default 30.
        #[serde(default = "default_phase_s")]
        phase_s: u64,
    },
    /// Stop a running demo and restore the nodes' base profiles.
    StopDemo,
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
}

/// Payload of [`WsEvent::MetricsUpdate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsUpdate {
    /// The new sample.
    pub sample: MetricsSample,
    /// Scenario in force.
    pub scenario: String,
    /// The smart client now.
    pub smart: Option<ClientSnapshot>,
    /// The naive client now.
    pub naive: Option<ClientSnapshot>,
    /// A session finished since the last tick, if any.
    pub finished: Vec<SessionResult>,
}

/// Payload of [`WsEvent::ChunkDownloaded`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkEvent {
    /// `smart` or `naive`.
    pub client: String,
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
    pub client: String,
    /// The node.
    pub node_id: String,
    /// `healthy`, `degraded` or `down`.
    pub health: String,
}

/// Payload of [`WsEvent::PlaybackState`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaybackStateEvent {
    /// `smart` or `naive`.
    pub client: String,
    /// `startup`, `playing`, `rebuffering` or `ended`.
    pub state: String,
}

/// One metric of one condition of a `vstack compare` run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    /// Metric name (`startup latency`, …).
    pub metric: String,
    /// Unit (`ms`, `s`, `Mbit/s` or empty for counts).
    pub unit: String,
    /// Smart client: mean over its sessions.
    pub smart_mean: f64,
    /// Smart client: standard deviation.
    pub smart_sd: f64,
    /// Naive client: mean.
    pub naive_mean: f64,
    /// Naive client: standard deviation.
    pub naive_sd: f64,
    /// Improvement of the means, % (positive = smart better); `None` when the
    /// naive mean is 0 and the smart one is not.
    pub improvement_pct: Option<f64>,
    /// 10th and 90th percentile of the per-session-pair improvements, %.
    pub improvement_p10_p90: Option<(f64, f64)>,
}

/// One condition (scenario or trace folder) of a `vstack compare` run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionResult {
    /// Scenario name or trace path.
    pub condition: String,
    /// Sessions per client.
    pub sessions: usize,
    /// The metrics.
    pub metrics: Vec<MetricRow>,
    /// Chunks per node summed over the sessions: smart, naive.
    pub load_per_node: (Vec<u64>, Vec<u64>),
}

/// A `vstack compare` run: its `--json` output and the `compare_results.json`
/// file the dashboard's Smart vs Naive tab shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    /// `live` (twin clusters) or `sim` (simulator).
    pub mode: String,
    /// Video: duration s, bitrate kbit/s.
    pub video: (u64, f64),
    /// Live mode: time compression factor (1 in sim mode).
    pub speed: f64,
    /// When the run finished, seconds since the Unix epoch (absent in older
    /// files).
    #[serde(default)]
    pub finished_unix_s: Option<u64>,
    /// One entry per condition.
    pub conditions: Vec<ConditionResult>,
}

/// One client's figures over one demo phase: differences of its counters
/// across the phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseFigures {
    /// Chunks downloaded in the phase.
    pub chunks: u64,
    /// Rebuffering events that started in the phase.
    pub rebuffers: u32,
    /// Stall time in the phase, ms.
    pub stall_ms: f64,
    /// Failovers in the phase.
    pub failovers: u64,
    /// Bytes in the phase × 8 / phase length (media time), Mbit/s.
    pub goodput_mbps: f64,
    /// Buffer level at the phase's end, s.
    pub buffer_end_s: f64,
    /// Chunks per node in the phase.
    pub per_node: Vec<u64>,
}

/// One phase of the demo as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoPhase {
    /// `normal`, `high_latency`, …, `chaos`.
    pub name: String,
    /// What to look for.
    pub narration: String,
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
