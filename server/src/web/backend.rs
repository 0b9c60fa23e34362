//! The server side of the dashboard's server functions: [`app::api::DashboardBackend`]
//! implemented over the server's stats, the engine host, the saved comparison
//! and the history.

use super::*;

/// What the server functions read.
pub(super) struct BackendImpl {
    /// The server's own figures.
    pub(super) stats: Arc<ServerStats>,
    /// The engine host, when one runs.
    pub(super) hub: Option<Arc<Hub>>,
    /// The saved comparison's file.
    pub(super) compare_results: std::path::PathBuf,
    /// The history, when kept.
    pub(super) history: history::HistoryState,
}

fn fn_error(e: ApiError) -> FnError {
    FnError::new(e.status.as_u16(), e.message)
}

impl DashboardBackend for BackendImpl {
    fn server_info(&self) -> ServerInfo {
        self.stats.info()
    }

    fn snapshot(&self) -> Option<vstack_core::wire::DashboardSnapshot> {
        self.hub.as_ref().map(|h| h.snapshot())
    }

    fn control(&self, control: vstack_core::wire::Control) -> FnFuture<'_, String> {
        Box::pin(async move {
            match &self.hub {
                Some(h) => h.control(control).await.map_err(|e| FnError::new(400, e)),
                None => Err(FnError::new(503, "no engine running in this server")),
            }
        })
    }

    fn latest_compare(&self) -> FnFuture<'_, Option<vstack_core::wire::CompareReport>> {
        // The file is read on the blocking pool, not on an async worker.
        let path = self.compare_results.clone();
        Box::pin(async move {
            let read = tokio::task::spawn_blocking(move || saved_compare_for_caller(&path))
                .await
                .map_err(|e| FnError::new(500, format!("reading the saved comparison: {e}")))?;
            match read {
                Ok(r) => Ok(Some(r)),
                Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => Ok(None),
                Err(e) => Err(fn_error(e)),
            }
        })
    }

    fn consensus_run(
        &self,
        scenario: vstack_core::wire::ConsensusScenario,
        seed: u64,
    ) -> vstack_core::wire::ConsensusRecording {
        vstack_core::consensus::run::scenario(scenario, seed)
    }

    fn metrics_history(
        &self,
        range: vstack_core::wire::HistoryRange,
    ) -> FnFuture<'_, vstack_core::wire::HistoryResponse> {
        Box::pin(async move {
            history::history_of(&self.history, range)
                .await
                .map_err(fn_error)
        })
    }

    fn list_runs(
        &self,
        kind: Option<vstack_core::wire::RunKind>,
    ) -> FnFuture<'_, Vec<vstack_core::wire::RunSummary>> {
        Box::pin(async move {
            history::runs_of(&self.history, kind)
                .await
                .map_err(fn_error)
        })
    }

    fn get_run(&self, id: String) -> FnFuture<'_, vstack_core::wire::RunRecord> {
        Box::pin(async move { history::run_of(&self.history, &id).await.map_err(fn_error) })
    }
}

/// The latest saved comparison for a caller: the file's path and the
/// reader's error stay in the server's log (a viewer learns nothing of the
/// server's file system).
pub(super) fn saved_compare_for_caller(
    path: &std::path::Path,
) -> Result<vstack_core::wire::CompareReport, ApiError> {
    match read_saved(path) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(ApiError::not_found(
            "no comparison saved: run `vstack compare` on the server",
        )),
        Err(e) => {
            tracing::warn!("the saved comparison: {e}");
            Err(ApiError::internal(
                "the saved comparison cannot be read (the server logged why)",
            ))
        }
    }
}
