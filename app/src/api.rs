//! Server functions called by the dashboard, and the server-side seam they use.
//!
//! The `app` crate cannot depend on the `server` crate (the server depends on
//! `app`), so server functions reach the live engine through the
//! [`DashboardBackend`] trait: the server implements it and provides a [`Backend`]
//! in the leptos context of every request.

use leptos::{
    prelude::*,
    server_fn::{
        codec::JsonEncoding,
        error::{FromServerFnError, ServerFnErrorErr},
    },
};
use serde::{Deserialize, Serialize};

use crate::wire::{
    Access, CompareReport, ConsensusRecording, ConsensusScenario, Control, DashboardSnapshot,
    HistoryRange, HistoryResponse, RunKind, RunRecord, RunSummary, ServerInfo,
};

/// Error of every server function: a message and the HTTP status it is
/// answered with, encoded as the JSON body `{"error": "...", "status": 400}`.
///
/// Arguments that do not decode are 400; a refused control 400 (bad node,
/// unknown scenario) or 401 (a viewer in public mode); no engine 503; a
/// wiring bug 500. (Server functions answer every error with 500; the server
/// copies `status` onto the response.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FnError {
    /// What went wrong, for the user.
    pub error: String,
    /// HTTP status, 400–599.
    pub status: u16,
}

impl FnError {
    /// An error with `status` and `message`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            error: message.into(),
            status,
        }
    }
}

impl std::fmt::Display for FnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)
    }
}

impl std::error::Error for FnError {}

impl FromServerFnError for FnError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let status = match &value {
            // On the server, `Deserialization` is an argument that did not
            // decode; in the browser, a response that did not.
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::Deserialization(_) => 400,
            ServerFnErrorErr::Request(_) => 502,
            _ => 500,
        };
        Self::new(status, value.to_string())
    }
}

/// The server-side state a server function may read. Implemented by the `server`
/// crate; only compiled with the `ssr` feature.
#[cfg(feature = "ssr")]
pub trait DashboardBackend: Send + Sync + 'static {
    /// Identity and liveness of the running server.
    fn server_info(&self) -> ServerInfo;
    /// The live engine's full state; `None` when no engine runs.
    fn snapshot(&self) -> Option<DashboardSnapshot>;
    /// Applies a control; `Ok` carries a short confirmation, `Err` the
    /// status and message for the user (400 bad node index or unknown
    /// scenario, 503 no engine).
    fn control(&self, control: Control) -> FnFuture<'_, String>;
    /// The latest saved `vstack compare` result; `Ok(None)` when there is none
    /// yet, `Err` (500) when the file is unreadable or not a comparison.
    fn latest_compare(&self) -> FnFuture<'_, Option<CompareReport>>;
    /// Runs a ChunkPaxos scenario in-process on a virtual clock with `seed`
    /// and returns its recording.
    fn consensus_run(&self, scenario: ConsensusScenario, seed: u64) -> ConsensusRecording;
    /// The stored history of `range`; 503 without a history.
    fn metrics_history(&self, range: HistoryRange) -> FnFuture<'_, HistoryResponse>;
    /// Stored runs, newest first, of `kind` if given; 503 without a history.
    fn list_runs(&self, kind: Option<RunKind>) -> FnFuture<'_, Vec<RunSummary>>;
    /// One stored run; 400 malformed id, 404 unknown, 503 without a history.
    fn get_run(&self, id: String) -> FnFuture<'_, RunRecord>;
}

/// A backend method's future.
#[cfg(feature = "ssr")]
pub type FnFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, FnError>> + Send + 'a>>;

/// Handle to the [`DashboardBackend`], provided as leptos context by the server.
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct Backend(pub std::sync::Arc<dyn DashboardBackend>);

#[cfg(feature = "ssr")]
fn backend() -> Result<Backend, FnError> {
    use_context::<Backend>()
        .ok_or_else(|| FnError::new(500, "dashboard backend missing from the request context"))
}

/// The caller's [`Access`], as the server's access guard put it on the request
/// (admin when absent: a server without the guard is a test's).
#[cfg(feature = "ssr")]
fn caller() -> Access {
    use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Access>().copied())
        .unwrap_or(Access {
            public: false,
            admin: true,
        })
}

/// What the caller may do: public mode or not, admin or viewer.
///
/// Served as `POST /api/fn/access`.
#[server(name = GetAccess, prefix = "/api/fn", endpoint = "access")]
pub async fn access() -> Result<Access, FnError> {
    Ok(caller())
}

/// Returns the server's identity and liveness figures (see [`ServerInfo`]).
///
/// Served as `POST /api/fn/server_info`. Errors: a 500 [`FnError`] when the
/// server was started without a backend in context (a wiring bug, not user input).
#[server(name = GetServerInfo, prefix = "/api/fn", endpoint = "server_info")]
pub async fn server_info() -> Result<ServerInfo, FnError> {
    Ok(backend()?.0.server_info())
}

/// The live engine's full state (see [`DashboardSnapshot`]); `None` when the
/// server runs without an engine.
///
/// Served as `POST /api/fn/dashboard_snapshot`.
#[server(name = GetDashboardSnapshot, prefix = "/api/fn", endpoint = "dashboard_snapshot")]
pub async fn dashboard_snapshot() -> Result<Option<DashboardSnapshot>, FnError> {
    Ok(backend()?.0.snapshot())
}

/// Applies a dashboard control (play / stop / restart, scenario, node
/// conditions, kill / revive, re-run the comparison). Returns a confirmation;
/// a bad request (unknown node or scenario) is a 400 [`FnError`] with the
/// reason; a viewer of a public dashboard gets 401.
///
/// Served as `POST /api/fn/control` with a JSON body `{"control": {...}}`.
#[server(name = ApplyControl, prefix = "/api/fn", endpoint = "control", input = leptos::server_fn::codec::Json)]
pub async fn control(control: Control) -> Result<String, FnError> {
    if !caller().admin {
        return Err(FnError::new(401, "sign in as admin to use the controls"));
    }
    backend()?.0.control(control).await
}

/// The latest `vstack compare` result saved where the server looks for it
/// (`vstack serve --compare-results`, default `compare_results.json`); `None`
/// when no comparison was saved yet.
///
/// Served as `POST /api/fn/latest_compare`. Errors: a 500 [`FnError`] naming
/// the file when it exists but is not a comparison.
#[server(name = GetLatestCompare, prefix = "/api/fn", endpoint = "latest_compare")]
pub async fn latest_compare() -> Result<Option<CompareReport>, FnError> {
    backend()?.0.latest_compare().await
}

/// Runs a ChunkPaxos scenario (`normal`, `conflict`, `node_failure`) with the
/// real protocol code, in-process on a virtual clock seeded with `seed`, and
/// returns every recorded step for the Consensus tab to replay.
///
/// Served as `POST /api/fn/consensus_run` (form fields `scenario`, `seed`).
/// Errors: 400 for a scenario or seed that does not decode.
#[server(name = RunConsensus, prefix = "/api/fn", endpoint = "consensus_run")]
pub async fn consensus_run(
    scenario: ConsensusScenario,
    seed: u64,
) -> Result<ConsensusRecording, FnError> {
    Ok(backend()?.0.consensus_run(scenario, seed))
}

/// The stored history of `range` (`15m`, `1h`, `24h`, `7d`) for the Metrics
/// tab's time ranges.
///
/// Served as `POST /api/fn/metrics_history`. Errors: 400 for a range that
/// does not decode, 503 when the server keeps no history.
#[server(name = GetMetricsHistory, prefix = "/api/fn", endpoint = "metrics_history")]
pub async fn metrics_history(range: HistoryRange) -> Result<HistoryResponse, FnError> {
    backend()?.0.metrics_history(range).await
}

/// Stored runs (compare, bench, chaos, demo, players), newest first, of `kind` if
/// given.
///
/// Served as `POST /api/fn/list_runs`. Errors: 400 for a kind that does not
/// decode, 503 without a history.
#[server(name = ListRuns, prefix = "/api/fn", endpoint = "list_runs")]
pub async fn list_runs(kind: Option<RunKind>) -> Result<Vec<RunSummary>, FnError> {
    backend()?.0.list_runs(kind).await
}

/// One stored run, for its permalink page.
///
/// Served as `POST /api/fn/get_run`. Errors: 400 malformed id, 404 unknown,
/// 503 without a history.
#[server(name = GetRun, prefix = "/api/fn", endpoint = "get_run")]
pub async fn get_run(id: String) -> Result<RunRecord, FnError> {
    backend()?.0.get_run(id).await
}
