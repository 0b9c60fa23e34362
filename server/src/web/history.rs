//! The durable history over HTTP ([`crate::history`]):
//!
//! - `GET /api/history?range=15m|1h|24h|7d`: [`vstack_core::wire::HistoryResponse`]
//!   (the Metrics tab's time ranges); 400 for another range.
//! - `GET /api/runs?kind=compare|bench|chaos|demo|players`: the runs, newest first
//!   ([`vstack_core::wire::RunSummary`], at most 500); 400 for another kind.
//! - `GET /api/runs/{id}`: one [`vstack_core::wire::RunRecord`]; 404 JSON for an
//!   unknown id, 400 for an id that is not 16 hex digits.
//! - `POST /api/runs`: stores a run a CLI tool publishes (`--publish`): the
//!   admin only in public mode, loopback only in local mode (the access
//!   guard); the body is a [`vstack_core::wire::RunRecord`] of at most
//!   [`MAX_RUN_BODY_BYTES`], checked by [`validate_run`]; answers 201
//!   `{"id","url"}`, or 409 when a run with that id is stored (a published
//!   run never replaces one).
//!
//! Without a history (a server started with nothing to keep it in) every
//! route answers 503 JSON.

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    routing::get,
};
use serde::Deserialize;
use vstack_core::wire::{HistoryRange, HistoryResponse, RunKind, RunRecord, RunSummary};

use crate::{
    history::{Recorder, unix_ms_now},
    http::ApiError,
    hub::Hub,
    runs::is_run_id,
};

/// Largest `POST /api/runs` body, bytes (the history's own bound).
pub const MAX_RUN_BODY_BYTES: usize = crate::history::MAX_RUN_BYTES;

/// State of the routes: the history and the engine (for node ids and the
/// collector interval).
#[derive(Clone)]
pub struct HistoryState {
    /// The history, if this server keeps one.
    pub recorder: Option<Recorder>,
    /// The engine, if one runs.
    pub hub: Option<std::sync::Arc<Hub>>,
}

/// The routes of the module docs.
pub fn router<S>(state: HistoryState) -> Router<S> {
    Router::new()
        .route("/api/history", get(history))
        .route(
            "/api/runs",
            get(list)
                .post(publish)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_RUN_BODY_BYTES)),
        )
        .route("/api/runs/{id}", get(one))
        .with_state(state)
}

fn recorder(s: &HistoryState) -> Result<&Recorder, ApiError> {
    s.recorder.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server keeps no history",
        )
    })
}

fn db_error(e: crate::history::HistoryError) -> ApiError {
    tracing::warn!("history: {e}");
    ApiError::internal(e.to_string())
}

/// Query of `GET /api/history`.
#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    /// `15m`, `1h`, `24h` or `7d`.
    pub range: String,
}

/// Parses a `range` query value.
///
/// # Errors
/// 400 naming the four ranges.
fn parse_range(range: &str) -> Result<HistoryRange, ApiError> {
    HistoryRange::parse(range).ok_or_else(|| {
        ApiError::bad_request(format!("unknown range {range:?}: one of 15m, 1h, 24h, 7d"))
    })
}

/// The history of `range` (see [`crate::history::History::samples`]).
///
/// # Errors
/// 503 without a history, 500 from the database.
pub async fn history_of(
    s: &HistoryState,
    range: HistoryRange,
) -> Result<HistoryResponse, ApiError> {
    let rec = recorder(s)?;
    let (node_ids, interval_ms) = s.hub.as_ref().map_or((Vec::new(), 2000), |h| {
        let snap_nodes = h.snapshot().node_ids;
        (
            snap_nodes,
            u64::try_from(h.config().metrics_interval.as_millis()).unwrap_or(u64::MAX),
        )
    });
    rec.history()
        .samples(range, unix_ms_now(), node_ids, interval_ms)
        .await
        .map_err(db_error)
}

async fn history(
    State(s): State<HistoryState>,
    q: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<HistoryResponse>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    history_of(&s, parse_range(&q.range)?).await.map(Json)
}

/// Query of `GET /api/runs`.
#[derive(Debug, Deserialize)]
pub struct KindQuery {
    /// `compare`, `bench`, `chaos` or `demo`; all when absent.
    pub kind: Option<String>,
}

/// Parses a `kind` query value.
///
/// # Errors
/// 400 naming the four kinds.
fn parse_kind(k: &str) -> Result<RunKind, ApiError> {
    RunKind::parse(k).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown kind {k:?}: one of compare, bench, chaos, demo, players"
        ))
    })
}

/// The runs, newest first, of `kind` if given.
///
/// # Errors
/// 503 without a history, 500 from the database.
pub async fn runs_of(s: &HistoryState, kind: Option<RunKind>) -> Result<Vec<RunSummary>, ApiError> {
    recorder(s)?
        .history()
        .list_runs(kind)
        .await
        .map_err(db_error)
}

async fn list(
    State(s): State<HistoryState>,
    q: Result<Query<KindQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<RunSummary>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let kind = q.kind.as_deref().map(parse_kind).transpose()?;
    runs_of(&s, kind).await.map(Json)
}

/// One run.
///
/// # Errors
/// 400 for a malformed id, 404 for an unknown one, 503 without a history.
pub async fn run_of(s: &HistoryState, id: &str) -> Result<RunRecord, ApiError> {
    if !is_run_id(id) {
        return Err(ApiError::bad_request(format!(
            "run id {id:?} is not 16 hex digits"
        )));
    }
    recorder(s)?
        .history()
        .run(id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ApiError::not_found(format!("no run {id} in this server's history")))
}

async fn one(
    State(s): State<HistoryState>,
    Path(id): Path<String>,
) -> Result<Json<RunRecord>, ApiError> {
    run_of(&s, &id).await.map(Json)
}

/// Bounds of a published run: what a run page can show.
///
/// # Errors
/// A message naming the first field out of bounds.
pub fn validate_run(r: &RunRecord) -> Result<(), String> {
    let s = &r.summary;
    let text_ok = |t: &str, max: usize| t.chars().count() <= max;
    let checks = [
        (is_run_id(&s.id), "summary.id must be 16 hex digits"),
        (
            text_ok(&s.title, 300),
            "summary.title is over 300 characters",
        ),
        (
            text_ok(&s.headline, 300),
            "summary.headline is over 300 characters",
        ),
        (
            text_ok(&s.conditions, 2000),
            "summary.conditions is over 2000 characters",
        ),
        (
            s.started_unix_ms <= s.finished_unix_ms,
            "summary.started_unix_ms is after finished_unix_ms",
        ),
        (r.tables.len() <= 64, "over 64 tables"),
        (
            r.tables
                .iter()
                .all(|t| t.rows.len() <= 2000 && t.columns.len() <= 16),
            "a table is over 2000 rows or 16 columns",
        ),
        (
            r.tables
                .iter()
                .all(|t| t.rows.iter().all(|row| row.len() <= t.columns.len())),
            "a row has more cells than its table has columns",
        ),
        (r.charts.len() <= 32, "over 32 charts"),
        (
            r.charts
                .iter()
                .all(|c| c.categories.len() <= 500 && c.series.len() <= 8),
            "a chart is over 500 categories or 8 series",
        ),
        (
            r.charts.iter().all(|c| {
                c.series
                    .iter()
                    .all(|x| x.values.len() == c.categories.len())
            }),
            "a chart series has not one value per category",
        ),
        (r.notes.len() <= 200, "over 200 notes"),
        (r.machine.len() <= 32, "over 32 machine facts"),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some((_, m)) => Err((*m).to_string()),
        None => Ok(()),
    }
}

async fn publish(
    State(s): State<HistoryState>,
    body: Result<Json<RunRecord>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(mut run) = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    validate_run(&run).map_err(ApiError::bad_request)?;
    let rec = recorder(&s)?;
    run.summary.source = "published".into();
    rec.history().publish_run(&run).await.map_err(|e| match e {
        crate::history::HistoryError::TooLarge(_) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
        }
        crate::history::HistoryError::Exists(_) => {
            ApiError::new(StatusCode::CONFLICT, e.to_string())
        }
        e => db_error(e),
    })?;
    let id = run.summary.id;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": id, "url": format!("/runs/{id}") })),
    ))
}
