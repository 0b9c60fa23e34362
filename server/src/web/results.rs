//! REST routes over computed results: the latest saved comparison
//! (`GET /api/compare`) and recorded ChunkPaxos runs
//! (`GET /api/consensus/{scenario}`).

use super::*;

/// `GET /api/compare`: the latest saved `vstack compare` result; 404 with a
/// JSON error when none was saved, 500 when the file is not a comparison
/// (neither names the file). Read on the blocking pool.
pub(super) async fn latest_compare(
    State(state): State<AppState>,
) -> Result<Json<vstack_core::wire::CompareReport>, ApiError> {
    let path = state.compare_results.clone();
    tokio::task::spawn_blocking(move || saved_compare_for_caller(&path))
        .await
        .map_err(|e| ApiError::internal(format!("reading the saved comparison: {e}")))?
        .map(Json)
}

/// Query of `GET /api/consensus/{scenario}`.
#[derive(Debug, serde::Deserialize)]
pub(super) struct SeedQuery {
    #[serde(default = "one")]
    seed: u64,
}

fn one() -> u64 {
    1
}

/// `GET /api/consensus/{scenario}?seed=N`: a recorded ChunkPaxos run; 404
/// JSON for an unknown scenario, 400 for a bad seed.
pub(super) async fn consensus_rest(
    axum::extract::Path(scenario): axum::extract::Path<String>,
    q: Result<axum::extract::Query<SeedQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<vstack_core::wire::ConsensusRecording>, ApiError> {
    let axum::extract::Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    use vstack_core::wire::ConsensusScenario;
    let scenario = ConsensusScenario::parse(&scenario).ok_or_else(|| {
        let known: Vec<_> = ConsensusScenario::ALL.iter().map(|c| c.name()).collect();
        ApiError::not_found(format!(
            "unknown scenario {scenario:?}; one of {}",
            known.join(", ")
        ))
    })?;
    Ok(Json(vstack_core::consensus::run::scenario(
        scenario, q.seed,
    )))
}
