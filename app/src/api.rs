//! Server functions called by the dashboard, and the server-side seam they use.
//!
//! The `app` crate cannot depend on the `server` crate (the server depends on
//! `app`), so server functions reach the live engine through the
//! [`DashboardBackend`] trait: the server implements it and provides a [`Backend`]
//! in the leptos context of every request.

use leptos::prelude::*;

use crate::wire::{CompareReport, ConsensusRecording, Control, DashboardSnapshot, ServerInfo};

/// The server-side state a server function may read. Implemented by the `server`
/// crate; only compiled with the `ssr` feature.
#[cfg(feature = "ssr")]
pub trait DashboardBackend: Send + Sync + 'static {
    /// Identity and liveness of the running server.
    fn server_info(&self) -> ServerInfo;
    /// The live engine's full state; `None` when no engine runs.
    fn snapshot(&self) -> Option<DashboardSnapshot>;
    /// Applies a control; `Ok` carries a short confirmation, `Err` a message
    /// for the user (bad node index, unknown scenario, no engine).
    fn control(
        &self,
        control: Control,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + '_>>;
    /// The latest saved `vstack compare` result; `Ok(None)` when there is none
    /// yet, `Err` when the file is unreadable or not a comparison.
    fn latest_compare(&self) -> Result<Option<CompareReport>, String>;
    /// Runs a ChunkPaxos scenario (`normal`, `conflict`, `node_failure`)
    /// in-process on a virtual clock with `seed` and returns its recording;
    /// `Err` names the known scenarios.
    fn consensus_run(&self, scenario: &str, seed: u64) -> Result<ConsensusRecording, String>;
}

/// Handle to the [`DashboardBackend`], provided as leptos context by the server.
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct Backend(pub std::sync::Arc<dyn DashboardBackend>);

#[cfg(feature = "ssr")]
fn backend() -> Result<Backend, ServerFnError> {
    use_context::<Backend>()
        .ok_or_else(|| ServerFnError::new("dashboard backend missing from the request context"))
}

/// Returns the server's identity and liveness figures (see [`ServerInfo`]).
///
/// Served as `POST /api/fn/server_info`. Errors: a `ServerFnError` when the
/// server was started without a backend in context (a wiring bug, not user input).
#[server(name = GetServerInfo, prefix = "/api/fn", endpoint = "server_info")]
pub async fn server_info() -> Result<ServerInfo, ServerFnError> {
    Ok(backend()?.0.server_info())
}

/// The live engine's full state (see [`DashboardSnapshot`]); `None` when the
/// server runs without an engine.
///
/// Served as `POST /api/fn/dashboard_snapshot`.
#[server(name = GetDashboardSnapshot, prefix = "/api/fn", endpoint = "dashboard_snapshot")]
pub async fn dashboard_snapshot() -> Result<Option<DashboardSnapshot>, ServerFnError> {
    Ok(backend()?.0.snapshot())
}

/// Applies a dashboard control (play / stop / restart, scenario, node
/// conditions, kill / revive, re-run the comparison). Returns a confirmation;
/// a bad request (unknown node or scenario) is a `ServerFnError` with the
/// reason.
///
/// Served as `POST /api/fn/control` with a JSON body `{"control": {...}}`.
#[server(name = ApplyControl, prefix = "/api/fn", endpoint = "control", input = leptos::server_fn::codec::Json)]
pub async fn control(control: Control) -> Result<String, ServerFnError> {
    backend()?
        .0
        .control(control)
        .await
        .map_err(ServerFnError::new)
}

/// The latest `vstack compare` result saved where the server looks for it
/// (`vstack serve --compare-results`, default `compare_results.json`); `None`
/// when no comparison was saved yet.
///
/// Served as `POST /api/fn/latest_compare`. Errors: a `ServerFnError` naming
/// the file when it exists but is not a comparison.
#[server(name = GetLatestCompare, prefix = "/api/fn", endpoint = "latest_compare")]
pub async fn latest_compare() -> Result<Option<CompareReport>, ServerFnError> {
    backend()?.0.latest_compare().map_err(ServerFnError::new)
}

/// Runs a ChunkPaxos scenario (`normal`, `conflict`, `node_failure`) with the
/// real protocol code, in-process on a virtual clock seeded with `seed`, and
/// returns every recorded step for the Consensus tab to replay.
///
/// Served as `POST /api/fn/consensus_run`. Errors: a `ServerFnError` naming
/// the known scenarios for an unknown one.
#[server(name = RunConsensus, prefix = "/api/fn", endpoint = "consensus_run")]
pub async fn consensus_run(
    scenario: String,
    seed: u64,
) -> Result<ConsensusRecording, ServerFnError> {
    backend()?
        .0
        .consensus_run(&scenario, seed)
        .map_err(ServerFnError::new)
}
