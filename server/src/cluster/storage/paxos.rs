//! The node's ChunkPaxos acceptor endpoint: one message in, the replies
//! out, the durable acceptor state behind it.

use super::*;

/// `POST /paxos/{chunk_id}`: a ChunkPaxos message from a proposer (`prepare`
/// or `accept`, JSON tagged by `type`), through the emulator like any request
/// (a down node answers 503, a partitioned one not at all, latency delays it,
/// a loss draw drops the request or the reply with a 503); the reply message
/// after the acceptor state is durable.
pub(super) async fn paxos_message(
    State(node): State<Arc<StorageNode>>,
    UrlPath(id): UrlPath<String>,
    body: Result<
        Json<vstack_core::consensus::paxos::Message<vstack_core::consensus::ChunkRecord>>,
        axum::extract::rejection::JsonRejection,
    >,
) -> Result<
    Json<vstack_core::consensus::paxos::Message<vstack_core::consensus::ChunkRecord>>,
    ApiError,
> {
    let Json(msg) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let e = node.emulator.clone();
    e.wait_reachable().await;
    // 2 bytes of "body" so a loss draw can pick the request or the reply.
    let Plan::Serve {
        first_byte_delay,
        cut_after,
    } = e.plan(2, false)
    else {
        return Err(down());
    };
    tokio::time::sleep(first_byte_delay).await;
    let lost = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "message lost (network emulator)",
        )
    };
    match cut_after {
        // The request is lost: the acceptor never sees it.
        Some(0) => Err(lost()),
        // The reply is lost: the acceptor acted (and persisted) all the same.
        Some(_) => {
            node.paxos.handle(&id, &msg).await?;
            Err(lost())
        }
        None => Ok(Json(node.paxos.handle(&id, &msg).await?)),
    }
}

/// `GET /paxos/{chunk_id}`: the node's acceptor state for that chunk.
pub(super) async fn paxos_state(
    State(node): State<Arc<StorageNode>>,
    UrlPath(id): UrlPath<String>,
) -> Result<
    Json<vstack_core::consensus::paxos::Acceptor<vstack_core::consensus::ChunkRecord>>,
    ApiError,
> {
    let state = tokio::task::spawn_blocking(move || node.paxos.state(&id))
        .await
        .map_err(|e| ApiError::internal(format!("acceptor task: {e}")))??;
    Ok(Json(state))
}
