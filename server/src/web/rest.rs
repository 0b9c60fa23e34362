//! The seed's REST API over the live engine (JSON; units in field names):
//!
//! - `GET /api/status`: [`StatusResponse`]: video, scenario, conditions, and per
//!   client (smart, naive) the playback state, buffer, QoE so far, per-node
//!   network stats and scores, scheduler stats ([`ClientSnapshot`]).
//! - `GET /api/stats`: [`StatsResponse`]: buffer history, scheduler stats and
//!   per-node network stats of both clients.
//! - `GET /api/metrics` (`?format=csv` for the history as CSV):
//!   [`MetricsResponse`]: averages over the kept history, each client's totals
//!   since the server started (every session, not only the current one),
//!   uptime, the history series.
//! - `GET /api/performance`: [`PerformanceResponse`]: each seed target, the
//!   smart client's measured value, met or not, and the overall score.
//! - `GET /api/redundancy`: [`vstack_core::wire::RedundancyView`]: adaptive
//!   redundancy (per chunk target RF, live replicas, popularity; totals;
//!   events; history), 404 without a replication manager.
//!
//! Without an engine (tests of the bare shell) every route answers 503 with
//! `{"error": "..."}`; an unknown `format` answers 400.

use std::sync::Arc;

use app::{
    perf::{Target, targets},
    wire::{
        ClientKind, ClientSnapshot, CumulativeTotals, MetricsSample, NodeSnapshot, PerClient,
        ScenarioInForce,
    },
};
use axum::{
    Json, Router,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Serialize};

use crate::{http::ApiError, hub::Hub};

/// `GET /api/status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusResponse {
    /// Server uptime, s.
    pub uptime_s: f64,
    /// Video being played.
    pub video_id: String,
    /// Scenario in force.
    pub scenario: ScenarioInForce,
    /// Where the network conditions come from.
    pub conditions: String,
    /// Both clients (`"smart"`, `"naive"` on the wire).
    #[serde(flatten)]
    pub clients: PerClient<Option<ClientSnapshot>>,
}

/// One point of the buffer history.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BufferPoint {
    /// Server uptime, ms.
    pub uptime_ms: u64,
    /// Smart client's buffer, s.
    pub smart_buffer_s: Option<f64>,
    /// Naive client's buffer, s.
    pub naive_buffer_s: Option<f64>,
}

/// Scheduler statistics of one client's current session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SchedulerStats {
    /// Successful downloads.
    pub downloads: u64,
    /// Failed attempts moved to another replica.
    pub failovers: u64,
    /// downloads / attempts, 0–1.
    pub success_rate: f64,
    /// Bytes downloaded.
    pub bytes_total: u64,
    /// Mean download time, ms.
    pub avg_download_ms: f64,
    /// Chunks served per node, in node order.
    pub chunks_per_node: Vec<u64>,
}

/// `GET /api/stats`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatsResponse {
    /// Buffer levels per collector tick, oldest first.
    pub buffer_history: Vec<BufferPoint>,
    /// Scheduler statistics per client.
    pub scheduler: PerClient<Option<SchedulerStats>>,
    /// Per-node network statistics per client.
    pub network: PerClient<Option<Vec<NodeSnapshot>>>,
}

/// Averages over the kept history of one client.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Averages {
    /// Mean buffer level, s.
    pub buffer_s: f64,
    /// Mean throughput per interval, Mbit/s.
    pub throughput_mbps: f64,
    /// Mean of the sampled mean download times, ms.
    pub download_ms: f64,
}

/// `GET /api/metrics`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricsResponse {
    /// Server uptime, s.
    pub uptime_s: f64,
    /// Collector period, ms.
    pub metrics_interval_ms: u64,
    /// Samples in `history`.
    pub samples: usize,
    /// Averages over `history`.
    pub averages: PerClient<Option<Averages>>,
    /// Each client's counters summed over every session since the server
    /// started (finished, stopped and restarted ones and the current one).
    pub totals: PerClient<CumulativeTotals>,
    /// The kept samples, oldest first.
    pub history: Vec<MetricsSample>,
}

/// `GET /api/performance`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PerformanceResponse {
    /// Whose figures (`smart`).
    pub client: ClientKind,
    /// The targets.
    pub targets: Vec<Target>,
    /// Targets met / targets, in %.
    pub overall_score_pct: f64,
}

/// The routes (see the module docs).
pub fn router<S>(hub: Option<Arc<Hub>>) -> Router<S> {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/stats", get(stats))
        .route("/api/metrics", get(metrics))
        .route("/api/performance", get(performance))
        .route("/api/redundancy", get(redundancy))
        .route("/api/anomalies", get(anomalies))
        .with_state(hub)
}

type HubState = State<Option<Arc<Hub>>>;

fn hub(h: &Option<Arc<Hub>>) -> Result<&Arc<Hub>, ApiError> {
    h.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no engine running in this server",
        )
    })
}

/// `GET /api/redundancy`: adaptive redundancy as the Redundancy tab shows
/// it (the replication manager's report, the history, the hot population);
/// 404 when no replication manager runs (an external cluster or
/// `--no-adaptive-redundancy`).
/// Body of `GET /api/anomalies`.
#[derive(Debug, serde::Serialize)]
struct AnomaliesBody {
    /// Alerts open now.
    open: usize,
    /// Every open alert and the newest resolved ones, newest first.
    alerts: Vec<vstack_core::anomaly::Alert>,
}

/// `GET /api/anomalies`: `{"open","alerts":[Alert…]}`, newest first.
async fn anomalies(State(h): HubState) -> Result<Json<AnomaliesBody>, ApiError> {
    let alerts = hub(&h)?.alerts();
    Ok(Json(AnomaliesBody {
        open: alerts.iter().filter(|a| a.is_open()).count(),
        alerts,
    }))
}

async fn redundancy(
    State(h): HubState,
) -> Result<Json<vstack_core::wire::RedundancyView>, ApiError> {
    hub(&h)?.redundancy().map(Json).ok_or_else(|| {
        ApiError::not_found(
            "no replication manager runs here (external cluster or --no-adaptive-redundancy)",
        )
    })
}

async fn status(State(h): HubState) -> Result<Json<StatusResponse>, ApiError> {
    let s = hub(&h)?.snapshot();
    Ok(Json(StatusResponse {
        uptime_s: s.uptime_ms as f64 / 1e3,
        video_id: s.video_id,
        scenario: s.scenario,
        conditions: s.conditions,
        clients: s.clients,
    }))
}

fn scheduler(c: &ClientSnapshot) -> SchedulerStats {
    SchedulerStats {
        downloads: c.downloads,
        failovers: c.failovers,
        success_rate: c.success_rate,
        bytes_total: c.bytes_total,
        avg_download_ms: c.avg_download_ms,
        chunks_per_node: c.nodes.iter().map(|n| n.chunks).collect(),
    }
}

async fn stats(State(h): HubState) -> Result<Json<StatsResponse>, ApiError> {
    let s = hub(&h)?.snapshot();
    Ok(Json(StatsResponse {
        buffer_history: s
            .history
            .iter()
            .map(|m| BufferPoint {
                uptime_ms: m.uptime_ms,
                smart_buffer_s: m.clients.smart.as_ref().map(|c| c.buffer_level_s),
                naive_buffer_s: m.clients.naive.as_ref().map(|c| c.buffer_level_s),
            })
            .collect(),
        scheduler: s.clients.as_ref().map(|_, c| c.as_ref().map(scheduler)),
        network: s.clients.map(|_, c| c.map(|c| c.nodes)),
    }))
}

/// Query of `GET /api/metrics`.
#[derive(Debug, Deserialize)]
pub struct MetricsQuery {
    /// `json` (default) or `csv`.
    #[serde(default)]
    pub format: Option<String>,
}

fn averages(history: &[MetricsSample], kind: ClientKind) -> Option<Averages> {
    let v: Vec<_> = history
        .iter()
        .filter_map(|m| m.clients.get(kind).as_ref())
        .collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    Some(Averages {
        buffer_s: v.iter().map(|c| c.buffer_level_s).sum::<f64>() / n,
        throughput_mbps: v.iter().map(|c| c.throughput_mbps).sum::<f64>() / n,
        download_ms: v.iter().map(|c| c.avg_download_ms).sum::<f64>() / n,
    })
}

/// The history as CSV: one row per sample and client.
pub fn history_csv(history: &[MetricsSample]) -> String {
    let mut out = String::from(
        "uptime_ms,client,state,buffer_level_s,throughput_mbps,avg_download_ms,bytes_transferred,node_scores\n",
    );
    for m in history {
        for (name, c) in m.clients.iter() {
            if let Some(c) = c {
                let scores: Vec<String> = c.node_scores.iter().map(|s| format!("{s:.4}")).collect();
                out.push_str(&format!(
                    "{},{name},{},{:.3},{:.3},{:.1},{},{}\n",
                    m.uptime_ms,
                    c.state.name(),
                    c.buffer_level_s,
                    c.throughput_mbps,
                    c.avg_download_ms,
                    c.bytes_transferred,
                    scores.join(";")
                ));
            }
        }
    }
    out
}

async fn metrics(
    State(h): HubState,
    q: Result<Query<MetricsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let s = hub(&h)?.snapshot();
    match q.format.as_deref() {
        None | Some("json") => {}
        Some("csv") => {
            return Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"vstack-metrics.csv\"",
                    ),
                ],
                history_csv(&s.history),
            )
                .into_response());
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown format {other:?}: use json or csv"
            )));
        }
    }
    Ok(Json(MetricsResponse {
        uptime_s: s.uptime_ms as f64 / 1e3,
        metrics_interval_ms: s.metrics_interval_ms,
        samples: s.history.len(),
        averages: PerClient::from_fn(|kind| averages(&s.history, kind)),
        totals: s.totals,
        history: s.history,
    })
    .into_response())
}

async fn performance(State(h): HubState) -> Result<Json<PerformanceResponse>, ApiError> {
    let s = hub(&h)?.snapshot();
    let targets = targets(s.clients.smart.as_ref());
    Ok(Json(PerformanceResponse {
        client: ClientKind::Smart,
        overall_score_pct: app::perf::score_pct(&targets),
        targets,
    }))
}
