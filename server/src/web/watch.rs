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
//! The same video as HLS, for the players most sites ship (the Watch tab's
//! hls.js peer), on links of the viewer's own (its peer player's), from the
//! smart client's cluster:
//!
//! - `GET /watch/hls/main.m3u8?viewer=V&origin=O`: the multivariant
//!   playlist. `O` is a node index (that node the single origin), `pathways`
//!   (every node a pathway: the player fails over between them on errors)
//!   or `steering` (pathways plus `#EXT-X-CONTENT-STEERING`: vstack ranks
//!   them every TTL).
//! - `GET /watch/hls/{node}/{rung}/media.m3u8?viewer=V`: rung `rung`'s media
//!   playlist (lowest first) as node `node` serves it.
//! - `GET /watch/hls/{node}/segments/{id}?viewer=V`: a segment from node
//!   `node`; one it lacks it pulls from a running replica first, as an edge
//!   does on a miss (so every node is a whole origin, as hls.js expects).
//! - `GET /watch/hls/steering?viewer=V&_HLS_pathway=P&_HLS_throughput=T`:
//!   the steering manifest ([`vstack_core::hls::SteeringManifest`]): the
//!   nodes ranked by the smart monitor's scores
//!   ([`Hub::pathway_scores`]), the player kept on `P` within the
//!   stickiness unless its throughput `T` (bit/s) is below the lowest
//!   rung. 429 with `Retry-After` for a reload within a second of the
//!   last; 410 when this server cannot steer (no embedded cluster).
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
        .route("/watch/hls/main.m3u8", get(hls_main))
        .route("/watch/hls/steering", get(hls_steering))
        .route("/watch/hls/{node}/{rung}/media.m3u8", get(hls_media))
        .route("/watch/hls/{node}/segments/{id}", get(hls_segment))
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
        WatchError::Full { .. } | WatchError::TooSoon { .. } => StatusCode::TOO_MANY_REQUESTS,
        WatchError::BadViewer => StatusCode::BAD_REQUEST,
        WatchError::UnknownNode(_) => StatusCode::NOT_FOUND,
        WatchError::NodeDown(_) | WatchError::NoCluster => StatusCode::SERVICE_UNAVAILABLE,
    };
    match e {
        WatchError::TooSoon { retry_after_s } => {
            let mut r = ApiError::new(status, e.to_string()).into_response();
            r.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(retry_after_s),
            );
            r
        }
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
        .watch_node(&q.viewer, crate::hub::watch::LinkOwner::Engine(kind), node)
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

/// The content type of HLS playlists (RFC 8216 §4).
const M3U8: &str = "application/vnd.apple.mpegurl";

/// Query of the HLS routes.
#[derive(Debug, Deserialize)]
struct HlsQuery {
    /// The viewer's id.
    viewer: String,
    /// The multivariant playlist's origin: a node index, `pathways` or
    /// `steering` (that route only).
    origin: Option<String>,
    /// The pathway the player uses now (steering reloads).
    #[serde(rename = "_HLS_pathway")]
    hls_pathway: Option<String>,
    /// The player's throughput estimate, bit/s (steering reloads; at most
    /// 10^12).
    #[serde(rename = "_HLS_throughput")]
    hls_throughput: Option<u64>,
}

type HlsQueryResult = Result<Query<HlsQuery>, axum::extract::rejection::QueryRejection>;

/// The rungs of the watched video, lowest first, as (manifest, `BANDWIDTH`
/// bit/s): its ladder, or the video alone at its mean bitrate.
/// `None` from an external cluster.
fn hls_rungs(hub: &Hub) -> Option<Vec<(crate::cluster::wire::VideoManifest, u64)>> {
    let m = hub.watch_manifest()?;
    let rungs = hub.watch_rungs(&m);
    if rungs.is_empty() {
        let bps = (m.size_bytes() as f64 * 8.0 / (m.duration_ms().max(1) as f64 / 1e3)) as u64;
        return Some(vec![(m, bps.max(1))]);
    }
    let bws: Vec<u64> = m.ladder.iter().map(|l| l.bandwidth_bps).collect();
    Some(rungs.into_iter().zip(bws).collect())
}

/// `text` as a playlist (never kept by a cache: a node's state changes).
fn playlist(text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, M3U8),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response()
}

async fn hls_main(State(hub): State<Option<Arc<Hub>>>, q: HlsQueryResult) -> Response {
    use vstack_core::hls::{ContentSteering, MultivariantPlaylist, VariantStream};
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return ApiError::bad_request(e.body_text()).into_response(),
    };
    let Some(hub) = hub else {
        return no_engine().into_response();
    };
    if !crate::hub::watch::valid_viewer_id(&q.viewer) {
        return watch_error(WatchError::BadViewer);
    }
    let nodes = hub.node_ids().to_vec();
    let origin = q.origin.as_deref().unwrap_or("");
    let (pathways, steering): (Vec<usize>, bool) = match origin {
        "steering" => ((0..nodes.len()).collect(), true),
        "pathways" => ((0..nodes.len()).collect(), false),
        n => match n.parse::<usize>() {
            Ok(i) if i < nodes.len() => (vec![i], false),
            _ => {
                return ApiError::bad_request(format!(
                    "origin {n:?}: a node index below {}, pathways or steering",
                    nodes.len()
                ))
                .into_response();
            }
        },
    };
    let Some(rungs) = hls_rungs(&hub) else {
        return watch_error(WatchError::NoCluster);
    };
    let mut codecs = Vec::with_capacity(rungs.len());
    for (m, _) in &rungs {
        codecs.push(match m.init_segment() {
            Some(init) => read_init(&hub, init)
                .await
                .as_deref()
                .and_then(vstack_core::input::media::mse_type)
                .and_then(|t| t.split('"').nth(1).map(str::to_string)),
            None => None,
        });
    }
    let viewer = &q.viewer;
    let with_ids = pathways.len() > 1;
    let nodes = &nodes;
    let variants = pathways
        .iter()
        .flat_map(|&node| {
            rungs
                .iter()
                .zip(&codecs)
                .enumerate()
                .map(move |(r, ((_, bps), c))| VariantStream {
                    bandwidth_bps: *bps,
                    codecs: c.clone(),
                    pathway_id: with_ids.then(|| nodes[node].clone()),
                    uri: format!("{node}/{r}/media.m3u8?viewer={viewer}"),
                })
        })
        .collect();
    let steering = steering.then(|| {
        let first = vstack_core::hls::rank_pathways(
            &hub.pathway_scores(),
            &vstack_core::hls::SteeringRequest::default(),
            &vstack_core::hls::SteeringPolicy::default(),
        );
        ContentSteering {
            server_uri: format!("steering?viewer={viewer}"),
            pathway_id: first.into_iter().next(),
        }
    });
    playlist(MultivariantPlaylist { steering, variants }.render())
}

/// Node `node` for viewer `q.viewer`'s hls.js player, or the JSON error.
async fn peer_node(
    hub: Option<Arc<Hub>>,
    node: &str,
    q: HlsQueryResult,
) -> Result<(Arc<Hub>, usize, WatchedNode), Response> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()).into_response())?;
    let hub = hub.ok_or_else(|| no_engine().into_response())?;
    let index: usize = node.parse().map_err(|_| {
        ApiError::bad_request(format!("node {node:?} is not a node index")).into_response()
    })?;
    let n = hub
        .watch_node(&q.viewer, crate::hub::watch::LinkOwner::Peer, index)
        .await
        .map_err(watch_error)?;
    Ok((hub, index, n))
}

async fn hls_media(
    State(hub): State<Option<Arc<Hub>>>,
    Path((node, rung)): Path<(String, String)>,
    q: HlsQueryResult,
) -> Response {
    use vstack_core::hls::{MediaPlaylist, MediaSegment};
    let viewer = match &q {
        Ok(Query(q)) => q.viewer.clone(),
        Err(_) => String::new(),
    };
    let (hub, _, n) = match peer_node(hub, &node, q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(rungs) = hls_rungs(&hub) else {
        return watch_error(WatchError::NoCluster);
    };
    let Some((m, _)) = rung.parse::<usize>().ok().and_then(|r| rungs.get(r)) else {
        return ApiError::not_found(format!("no rung {rung:?}: 0 to {}", rungs.len() - 1))
            .into_response();
    };
    // A playlist from a partitioned node arrives when the partition heals,
    // as its segments would.
    n.link.wait_reachable().await;
    let uri = |id: &str| format!("../segments/{id}?viewer={viewer}");
    let init = m.init_segment();
    let text = MediaPlaylist {
        map_uri: init.map(|c| uri(&c.chunk_id)),
        segments: m
            .chunks
            .iter()
            .skip(usize::from(init.is_some()))
            .map(|c| MediaSegment {
                duration_ms: c.duration_ms,
                uri: uri(&c.chunk_id),
            })
            .collect(),
    }
    .render();
    playlist(text)
}

async fn hls_segment(
    State(hub): State<Option<Arc<Hub>>>,
    Path((node, id)): Path<(String, String)>,
    q: HlsQueryResult,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = crate::http::validate_id("chunk", &id) {
        return e.into_response();
    }
    let (hub, index, n) = match peer_node(hub, &node, q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let range = headers.get(header::RANGE);
    if n.storage.holds(&id) {
        return no_store(n.storage.serve_chunk(n.link, &id, range, None).await);
    }
    let Some(holder) = hub.holder(ClientKind::Smart, &id, index).await else {
        return ApiError::not_found(format!("no running node holds chunk {id:?}")).into_response();
    };
    match holder.read(&id).await {
        Ok((meta, bytes)) => no_store(n.storage.serve_pulled(n.link, &meta, bytes, range).await),
        Err(e) => e.into_response(),
    }
}

/// Largest `_HLS_throughput` accepted, bit/s (1 Tbit/s).
const MAX_HLS_THROUGHPUT_BPS: u64 = 1_000_000_000_000;

async fn hls_steering(State(hub): State<Option<Arc<Hub>>>, q: HlsQueryResult) -> Response {
    use vstack_core::hls::{SteeringManifest, SteeringPolicy, SteeringRequest, rank_pathways};
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return ApiError::bad_request(e.body_text()).into_response(),
    };
    if let Some(p) = &q.hls_pathway
        && !vstack_core::hls::valid_pathway_id(p)
        && p != "."
    {
        return ApiError::bad_request(
            "_HLS_pathway: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
        )
        .into_response();
    }
    if q.hls_throughput.is_some_and(|t| t > MAX_HLS_THROUGHPUT_BPS) {
        return ApiError::bad_request(format!(
            "_HLS_throughput: at most {MAX_HLS_THROUGHPUT_BPS} bit/s"
        ))
        .into_response();
    }
    // 410: this server will never steer (the spec's "stop reloading").
    let Some(hub) = hub.filter(|h| h.watch_manifest().is_some()) else {
        return ApiError::new(
            StatusCode::GONE,
            "this server steers no pathways: no embedded cluster",
        )
        .into_response();
    };
    if let Err(e) = hub.watchers().steering_reload(&q.viewer) {
        return watch_error(e);
    }
    let lowest_bps = hls_rungs(&hub)
        .and_then(|r| r.first().map(|(_, b)| *b))
        .unwrap_or(0);
    let policy = SteeringPolicy {
        starving_below_bps: lowest_bps,
        ..SteeringPolicy::default()
    };
    let request = SteeringRequest {
        pathway: q.hls_pathway.filter(|p| p != "."),
        throughput_bps: q.hls_throughput,
    };
    let priority = rank_pathways(&hub.pathway_scores(), &request, &policy);
    let ttl_s = hub.watchers().config().steering_ttl.as_secs().max(1);
    no_store(Ok(Json(SteeringManifest {
        version: 1,
        ttl_s,
        reload_uri: Some(format!("steering?viewer={}", q.viewer)),
        pathway_priority: priority,
    })
    .into_response()))
}
