//! The Watch tab's data path: the browser players reach the storage nodes
//! through the dashboard's own origin (one URL behind a proxy serves
//! everything; no extra port, no CORS), each viewer on links of its own
//! ([`crate::hub::watch`]).
//!
//! - `GET /watch/api/manifest`: [`WatchManifest`], what a player needs
//!   before its first byte: the chunks (ids, durations, sizes, SHA-256,
//!   replicas as node indices), the node ids, the MSE type of the video.
//! - `GET /watch/{kind}/{node}/chunks/{id}?viewer=V` (a `Range: bytes=`
//!   header for a part): the chunk from node number `node` of the `kind`
//!   client's cluster (`smart` or `naive`), paced on viewer `V`'s link.
//! - `GET /watch/{kind}/{node}/ping?viewer=V&bytes=N`: a probe on that link.
//!
//! Anyone may call them (public viewers may watch); they change nothing but
//! the viewer's place among [`crate::hub::watch::WatchConfig::max_watchers`].
//! Errors are JSON: 400 (bad viewer id, kind or query), 404 (no such node
//! or chunk), 416, 429 (every place taken: `{"error", "watching",
//! "max_watchers"}`), 503 (a node down, or no embedded cluster).

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use vstack_core::{
    engine::ClientKind,
    wire::{WatchChunk, WatchManifest, WatchRung},
};

use crate::{
    http::ApiError,
    hub::{
        Hub,
        watch::{WatchError, WatchedNode},
    },
};

/// The Watch routes (see the module docs); 503 without an engine.
pub fn router<S>(hub: Option<Arc<Hub>>) -> Router<S> {
    Router::new()
        .route("/watch/api/manifest", get(manifest))
        .route("/watch/{kind}/{node}/chunks/{id}", get(chunk))
        .route("/watch/{kind}/{node}/ping", get(ping))
        .with_state(hub)
}

fn no_engine() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no engine runs on this server",
    )
}

fn watch_error(e: WatchError) -> Response {
    let status = match &e {
        WatchError::Full { .. } => StatusCode::TOO_MANY_REQUESTS,
        WatchError::BadViewer => StatusCode::BAD_REQUEST,
        WatchError::UnknownNode(_) => StatusCode::NOT_FOUND,
        WatchError::NodeDown(_) | WatchError::NoCluster => StatusCode::SERVICE_UNAVAILABLE,
    };
    match e {
        WatchError::Full {
            watching,
            max_watchers,
        } => (
            status,
            Json(serde_json::json!({
                "error": e.to_string(),
                "watching": watching,
                "max_watchers": max_watchers,
            })),
        )
            .into_response(),
        e => ApiError::new(status, e.to_string()).into_response(),
    }
}

async fn manifest(State(hub): State<Option<Arc<Hub>>>) -> Response {
    let Some(hub) = hub else {
        return no_engine().into_response();
    };
    let Some(m) = hub.watch_manifest() else {
        return watch_error(WatchError::NoCluster);
    };
    let nodes = hub.node_ids().to_vec();
    let index = |id: &str| {
        nodes
            .iter()
            .position(|n| n == id)
            .and_then(|i| u16::try_from(i).ok())
    };
    let mse_type = match m.init_segment() {
        Some(init) => read_init(&hub, init)
            .await
            .as_deref()
            .and_then(vstack_core::input::media::mse_type),
        None => None,
    };
    let chunks = |m: &crate::cluster::wire::VideoManifest| -> Vec<WatchChunk> {
        m.chunks
            .iter()
            .map(|c| WatchChunk {
                chunk_id: c.chunk_id.clone(),
                duration_ms: c.duration_ms,
                size_bytes: c.size_bytes,
                sha256: c.sha256.clone(),
                replicas: c.replicas.iter().filter_map(|r| index(r)).collect(),
            })
            .collect()
    };
    let rungs = hub
        .watch_rungs(&m)
        .iter()
        .zip(&m.ladder)
        .map(|(r, l)| WatchRung {
            bitrate_kbps: l.bandwidth_bps as f64 / 1e3,
            chunks: chunks(r),
        })
        .collect();
    Json(WatchManifest {
        video_id: m.video_id.clone(),
        chunks: chunks(&m),
        rungs,
        init: m.init_segment().is_some(),
        mse_type,
        watching: hub.watchers().watching(),
        max_watchers: hub.watchers().config().max_watchers,
        nodes,
    })
    .into_response()
}

/// The initialization segment's bytes from the first replica that has it.
async fn read_init(hub: &Hub, init: &crate::cluster::wire::ChunkEntry) -> Option<bytes::Bytes> {
    for storage in hub.storages(ClientKind::Smart).await {
        if let Ok((_, bytes)) = storage.read(&init.chunk_id).await {
            return Some(bytes);
        }
    }
    None
}

/// Query of the chunk and ping routes.
#[derive(Debug, Deserialize)]
struct WatchQuery {
    /// The viewer's id.
    viewer: String,
    /// Ping payload, bytes (the ping route only; default 0).
    #[serde(default)]
    bytes: u64,
}

/// The node a viewer's request reaches on its own link, and the request's
/// query; or the JSON error to answer.
async fn watched(
    hub: Option<Arc<Hub>>,
    kind: &str,
    node: &str,
    q: Result<Query<WatchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(WatchedNode, WatchQuery), Response> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()).into_response())?;
    let hub = hub.ok_or_else(|| no_engine().into_response())?;
    let kind = ClientKind::parse(kind).ok_or_else(|| {
        ApiError::bad_request(format!("unknown client {kind:?}: smart or naive")).into_response()
    })?;
    let node: usize = node.parse().map_err(|_| {
        ApiError::bad_request(format!("node {node:?} is not a node index")).into_response()
    })?;
    let n = hub
        .watch_node(&q.viewer, kind, node)
        .await
        .map_err(watch_error)?;
    Ok((n, q))
}

/// The answer, never kept by a cache (a part of a chunk, a probe's timing).
fn no_store(r: Result<Response, ApiError>) -> Response {
    let mut resp = r.into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}

async fn chunk(
    State(hub): State<Option<Arc<Hub>>>,
    Path((kind, node, id)): Path<(String, String, String)>,
    q: Result<Query<WatchQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    match watched(hub, &kind, &node, q).await {
        Ok((n, _)) => no_store(
            n.storage
                .serve_chunk(n.link, &id, headers.get(header::RANGE), None)
                .await,
        ),
        Err(r) => r,
    }
}

async fn ping(
    State(hub): State<Option<Arc<Hub>>>,
    Path((kind, node)): Path<(String, String)>,
    q: Result<Query<WatchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match watched(hub, &kind, &node, q).await {
        Ok((n, q)) => no_store(n.storage.serve_ping(n.link, q.bytes).await),
        Err(r) => r,
    }
}
