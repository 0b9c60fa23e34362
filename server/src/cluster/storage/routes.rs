//! The node's HTTP routes: chunks (ranges, hashes, atomic PUT), ping,
//! health and the emulator's run-time conditions.

use super::*;

/// The node's routes (see the module docs). `GET /metrics` (Prometheus
/// text, anyone may read it, like `/health`) is answered even while the
/// emulator holds the node down: it is the operator's view, not the data
/// path.
pub fn router(node: Arc<StorageNode>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/ping", get(ping))
        .route("/health", get(health))
        .route("/chunks", get(list_chunks))
        .route(
            "/chunks/{id}",
            get(get_chunk)
                .head(head_chunk)
                .put(put_chunk)
                .delete(delete_chunk)
                .layer(axum::extract::DefaultBodyLimit::max(
                    usize::try_from(node.config.max_chunk_bytes).unwrap_or(usize::MAX),
                )),
        )
        .route(
            "/paxos/{id}",
            get(paxos_state)
                .post(paxos_message)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_CONTROL_BODY_BYTES)),
        )
        .route(
            "/emulator",
            get(get_emulator)
                .put(put_emulator)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_CONTROL_BODY_BYTES)),
        )
        .route(
            "/emulator/scenario",
            put(put_scenario).layer(axum::extract::DefaultBodyLimit::max(MAX_CONTROL_BODY_BYTES)),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            node.http.clone(),
            crate::http::prom::HttpMetrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            node.config.cluster_token.clone(),
            crate::cluster::auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(node.config.allowed_hosts.clone()),
            crate::http::host::host_guard,
        ))
        .with_state(node)
}

pub(super) fn down() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "node is down (network emulator)",
    )
}

/// Query of `GET /ping`.
#[derive(Debug, Deserialize)]
pub struct PingQuery {
    /// Payload size, bytes (default 0, at most [`MAX_PING_BYTES`]).
    #[serde(default)]
    pub bytes: u64,
}

pub(super) async fn ping(
    State(node): State<Arc<StorageNode>>,
    q: Result<Query<PingQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    node.serve_ping(node.emulator.clone(), q.bytes).await
}

impl StorageNode {
    /// `GET /ping?bytes=N` through `link` (the node's own emulator, or a
    /// viewer's link to it: [`Emulator::viewer_link`]): `bytes` zero bytes
    /// after the link's latency, paced at its rate.
    ///
    /// # Errors
    /// 400 over [`MAX_PING_BYTES`]; 503 while the link is down.
    pub async fn serve_ping(&self, link: Emulator, bytes: u64) -> Result<Response, ApiError> {
        if bytes > MAX_PING_BYTES {
            return Err(ApiError::bad_request(format!(
                "bytes must be at most {MAX_PING_BYTES}"
            )));
        }
        link.wait_reachable().await;
        let Plan::Serve {
            first_byte_delay,
            cut_after,
        } = link.plan(bytes, false)
        else {
            return Err(down());
        };
        tokio::time::sleep(first_byte_delay).await;
        let body = paced_body(link, BodySource::Zeros { left: bytes }, bytes, cut_after);
        Ok((
            [(header::CONTENT_TYPE, "application/octet-stream")],
            [(header::CONTENT_LENGTH, bytes.to_string())],
            body,
        )
            .into_response())
    }

    /// `GET /chunks/{id}` (the whole chunk, or the `range` of a `Range:
    /// bytes=` header) through `link` (the node's own emulator, or a
    /// viewer's link: [`Emulator::viewer_link`]), counted for the popularity
    /// of `voter` when given (a viewer's request is not counted).
    ///
    /// # Errors
    /// 400 for a bad id, 404 for a chunk this node lacks, 416 (with
    /// `Content-Range: bytes */size`) for an unsatisfiable range, 503 while
    /// the link is down.
    pub async fn serve_chunk(
        &self,
        link: Emulator,
        id: &str,
        range: Option<&HeaderValue>,
        voter: Option<&str>,
    ) -> Result<Response, ApiError> {
        validate_id("chunk", id)?;
        let meta = self
            .lookup(id)
            .ok_or_else(|| ApiError::not_found(format!("no chunk {id:?} on this node")))?;
        if let Some(voter) = voter {
            self.count_get(id, voter);
        }
        self.send_chunk(link, &meta, range, Held::OnDisk).await
    }
}

impl StorageNode {
    /// A chunk this node lacks, `bytes` pulled from another replica (`meta`
    /// its record there), served as [`StorageNode::serve_chunk`] serves its
    /// own: through `link`, the whole chunk or the `range` of a `Range:`
    /// header; the way an edge serves a cache miss. Not counted for
    /// popularity; the pull itself adds no delay.
    ///
    /// # Errors
    /// 416 (with `Content-Range: bytes */size`) for an unsatisfiable range,
    /// 503 while the link is down.
    pub async fn serve_pulled(
        &self,
        link: Emulator,
        meta: &StoredChunk,
        bytes: Bytes,
        range: Option<&HeaderValue>,
    ) -> Result<Response, ApiError> {
        self.send_chunk(link, meta, range, Held::InMemory(bytes))
            .await
    }

    /// Sends chunk `meta` (whole, or the `range` of a `Range:` header) from
    /// where it is `held`, paced on `link`: after the link's first-byte
    /// delay, cut where its plan says.
    async fn send_chunk(
        &self,
        link: Emulator,
        meta: &StoredChunk,
        range: Option<&HeaderValue>,
        held: Held,
    ) -> Result<Response, ApiError> {
        let range = match requested_range(range, meta.size_bytes) {
            Ok(r) => r,
            Err(resp) => return Ok(*resp),
        };
        let (start, end) = range.unwrap_or((0, meta.size_bytes));
        link.wait_reachable().await;
        let Plan::Serve {
            first_byte_delay,
            cut_after,
        } = link.plan(end - start, true)
        else {
            return Err(down());
        };
        tokio::time::sleep(first_byte_delay).await;
        let source = match held {
            Held::OnDisk => BodySource::File {
                file: Some(self.open_range(&meta.chunk_id, start, end).await?),
                left: end - start,
            },
            Held::InMemory(mut bytes) => {
                let to = usize::try_from(end).unwrap_or(usize::MAX).min(bytes.len());
                let from = usize::try_from(start).unwrap_or(usize::MAX).min(to);
                bytes.truncate(to);
                BodySource::Memory {
                    bytes: bytes.split_off(from),
                }
            }
        };
        let sent = cut_after.map_or(end - start, |c| c.min(end - start));
        self.served_bytes.fetch_add(sent, Ordering::Relaxed);
        let body = paced_body(link, source, end - start, cut_after);
        let mut h = chunk_headers(meta, end - start);
        let status = if range.is_some() {
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, meta.size_bytes))
                    .expect("ascii"),
            );
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        };
        Ok((status, h, body).into_response())
    }
}

/// Where a chunk to send is held.
enum Held {
    /// In this node's store.
    OnDisk,
    /// In memory (pulled from another replica).
    InMemory(Bytes),
}

/// The byte range a `Range:` header asks of a `size`-byte chunk (`None`:
/// the whole chunk), or the 416 answer (with `Content-Range: bytes */size`)
/// for an unsatisfiable one.
fn requested_range(
    range: Option<&HeaderValue>,
    size: u64,
) -> Result<Option<(u64, u64)>, Box<Response>> {
    let Some(v) = range else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or("");
    parse_range(v, size).map(Some).map_err(|()| {
        let mut resp = ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            format!("unsatisfiable range {v:?} for {size} bytes"),
        )
        .into_response();
        resp.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"),
        );
        Box::new(resp)
    })
}

pub(super) async fn health(
    State(node): State<Arc<StorageNode>>,
) -> Result<Json<StorageHealth>, ApiError> {
    let conditions = node.emulator.conditions();
    if conditions.down {
        return Err(down());
    }
    let u = node.usage();
    Ok(Json(StorageHealth {
        node_id: node.node_id().to_string(),
        chunk_count: u.chunk_count,
        bytes_stored: u.bytes_stored,
        conditions,
    }))
}

async fn list_chunks(State(node): State<Arc<StorageNode>>) -> Json<Vec<StoredChunk>> {
    Json(node.chunks())
}

/// A parsed `Range: bytes=` header: the half-open byte range to send.
pub(super) fn parse_range(value: &str, len: u64) -> Result<(u64, u64), ()> {
    let spec = value.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Err(()); // multipart ranges are not supported
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            len
        } else {
            b.parse::<u64>().map_err(|_| ())?.saturating_add(1).min(len)
        };
        (start, end)
    };
    if start >= end || start >= len {
        return Err(());
    }
    Ok((start, end))
}

fn chunk_headers(meta: &StoredChunk, len: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&meta.sha256) {
        h.insert(HASH_HEADER, v);
    }
    h
}

/// The popularity voter of a request from `peer`: its address (IPv6 per
/// /64); on loopback, the address and the player's
/// [`crate::cluster::wire::CLIENT_ID_HEADER`] (at most 64 visible ASCII characters).
pub(super) fn voter(peer: Option<std::net::SocketAddr>, headers: &HeaderMap) -> String {
    let ip = peer.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |p| p.ip());
    let key = crate::http::serve::ip_key(ip);
    let id = headers
        .get(crate::cluster::wire::CLIENT_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()));
    match id {
        Some(id) if ip.is_loopback() || ip.is_unspecified() => format!("{key}+{id}"),
        _ => key.to_string(),
    }
}

async fn get_chunk(
    State(node): State<Arc<StorageNode>>,
    UrlPath(id): UrlPath<String>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    node.serve_chunk(
        node.emulator.clone(),
        &id,
        headers.get(header::RANGE),
        Some(&voter(peer, &headers)),
    )
    .await
}

async fn head_chunk(
    State(node): State<Arc<StorageNode>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    validate_id("chunk", &id)?;
    if node.emulator.conditions().down {
        return Err(down());
    }
    let meta = node
        .lookup(&id)
        .ok_or_else(|| ApiError::not_found(format!("no chunk {id:?} on this node")))?;
    Ok((StatusCode::OK, chunk_headers(&meta, meta.size_bytes)).into_response())
}

async fn put_chunk(
    State(node): State<Arc<StorageNode>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    validate_id("chunk", &id)?;
    if node.emulator.conditions().down {
        return Err(down());
    }
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > node.config.max_chunk_bytes
    {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "chunk of {len} bytes exceeds the {} byte limit",
                node.config.max_chunk_bytes
            ),
        ));
    }
    let hash = headers
        .get(HASH_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request(format!("missing header {HASH_HEADER}")))?
        .to_string();
    let body = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let new = node.store(&id, &hash, body).await?;
    let meta = node.lookup(&id).ok_or_else(|| ApiError::internal("lost"))?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(meta)).into_response())
}

async fn delete_chunk(
    State(node): State<Arc<StorageNode>>,
    UrlPath(id): UrlPath<String>,
) -> Result<StatusCode, ApiError> {
    node.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_emulator(State(node): State<Arc<StorageNode>>) -> Json<Conditions> {
    Json(node.emulator.conditions())
}

async fn put_emulator(
    State(node): State<Arc<StorageNode>>,
    body: Result<Json<Conditions>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Conditions>, ApiError> {
    let Json(c) = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    c.validate().map_err(ApiError::bad_request)?;
    node.emulator.set_conditions(c);
    Ok(Json(node.emulator.conditions()))
}

async fn put_scenario(
    State(node): State<Arc<StorageNode>>,
    body: Result<Json<ScenarioRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Conditions>, ApiError> {
    let Json(r) = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let i = r.node_index.unwrap_or_else(|| node.node_index());
    node.emulator.apply_scenario(r.scenario, i);
    Ok(Json(node.emulator.conditions()))
}
