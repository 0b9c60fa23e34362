//! The axum application: pages (leptos SSR), server functions, the `/ws` live
//! stream, `/healthz`, the REST API ([`rest`]) and the built site's static
//! files.
//!
//! [`app`] builds the [`Router`] from an [`AppState`] without binding a port, so
//! integration tests drive it with `tower::ServiceExt::oneshot`.
//! [`server_stats`] holds the server's own figures (uptime, dashboards
//! connected, memory, timer lag) that every `/ws` subscriber gets.
//! [`access`] decides who may call what (same-origin and host checks, public
//! mode with admin sign-in, rate limits); [`WebLimits`] bounds the rest.

pub mod access;
pub mod headers;
pub mod history;
pub mod openapi;
pub mod rest;
pub mod server_stats;
pub mod site;

use std::sync::Arc;

use app::{
    App,
    api::{Backend, DashboardBackend},
    shell,
    wire::{ServerInfo, WsEvent},
};
use axum::{
    Json, Router,
    extract::{
        State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    response::IntoResponse,
    routing::{get, post},
};
use leptos::{config::LeptosOptions, prelude::provide_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
use serde_json::json;

use crate::{
    http::{ApiError, serve::ConnectionSlot},
    hub::Hub,
    runs::saved::read_saved,
};

pub use access::{AccessConfig, AccessControl};
pub use server_stats::{ServerStats, ServerStatsConfig};
pub use site::SiteOptions;

/// Bounds of the dashboard server's routes. Every field has a stated default
/// ([`WebLimits::default`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebLimits {
    /// Time a request may take until its response starts (a WebSocket's
    /// upgrade, not its life), then 408. Default 30 s.
    pub request_timeout: std::time::Duration,
    /// Largest request body, enforced while it streams in (413). Default
    /// 64 KiB: server-function calls and sign-in forms are small.
    pub max_body_bytes: usize,
    /// Largest message a dashboard may send on `/ws` (it sends none but
    /// pings and a close); a larger one closes the connection. Default 64 KiB.
    pub ws_max_message_bytes: usize,
    /// `/ws` subscribers at most; one more is answered 503. Default 8 000
    /// (each holds one of the accept loop's connections, 8192 by default;
    /// `vstack serve` refuses a value above `--max-connections`).
    pub max_dashboards: u32,
    /// Time one frame may take to go out to a `/ws` subscriber; a dashboard
    /// whose socket stops draining is dropped after it. Default 5 s.
    pub ws_send_timeout: std::time::Duration,
}

impl Default for WebLimits {
    fn default() -> Self {
        Self {
            request_timeout: std::time::Duration::from_secs(30),
            max_body_bytes: 64 << 10,
            ws_max_message_bytes: 64 << 10,
            max_dashboards: 8_000,
            ws_send_timeout: std::time::Duration::from_secs(5),
        }
    }
}

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    /// Where the site is built and which address it serves on.
    pub leptos_options: LeptosOptions,
    /// The server's own live figures.
    pub stats: Arc<ServerStats>,
    /// The live engine (clusters, clients, collector); `None` serves the shell
    /// alone (REST answers 503).
    pub hub: Option<Arc<Hub>>,
    /// Where `vstack compare` saved its latest result (read on each request).
    /// Default `compare_results.json`.
    pub compare_results: std::path::PathBuf,
    /// Who may call what. Default: local mode ([`AccessConfig::default`]).
    pub access: Arc<AccessControl>,
    /// Bounds of the routes. Default [`WebLimits::default`].
    pub limits: WebLimits,
    /// The durable history (samples, sessions, alerts, runs); `None`: the
    /// history routes answer 503. Default `None`.
    pub recorder: Option<crate::history::Recorder>,
    /// Serve the site embedded in the binary ([`site`]) before looking on
    /// disk. Default `false`; `vstack serve` turns it on when the binary
    /// carries the site and no `--site-root` is given.
    pub embedded_site: bool,
}

impl AppState {
    /// A fresh state; the uptime clock starts now.
    pub fn new(leptos_options: LeptosOptions, stats: ServerStatsConfig) -> Self {
        Self {
            leptos_options,
            stats: ServerStats::new(stats),
            hub: None,
            compare_results: "compare_results.json".into(),
            access: AccessControl::new(AccessConfig::default())
                .expect("the default access rules are valid"),
            limits: WebLimits::default(),
            recorder: None,
            embedded_site: false,
        }
    }

    /// The same state reading and writing the history through `recorder`.
    pub fn with_recorder(mut self, recorder: crate::history::Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// The same state serving the embedded site (when the binary has one).
    pub fn with_embedded_site(mut self, on: bool) -> Self {
        self.embedded_site = on && site::embedded();
        self
    }

    /// The same state with other access rules.
    pub fn with_access(mut self, access: Arc<AccessControl>) -> Self {
        self.access = access;
        self
    }

    /// The same state with other route bounds.
    pub fn with_limits(mut self, limits: WebLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The same state reading `vstack compare` results from `path`.
    pub fn with_compare_results(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.compare_results = path.into();
        self
    }

    /// The same state with the live engine attached.
    pub fn with_hub(mut self, hub: Arc<Hub>) -> Self {
        self.hub = Some(hub);
        self
    }
}

struct BackendImpl(
    Arc<ServerStats>,
    Option<Arc<Hub>>,
    std::path::PathBuf,
    history::HistoryState,
);

use app::api::{FnError, FnFuture};

fn fn_error(e: ApiError) -> FnError {
    FnError::new(e.status.as_u16(), e.message)
}

impl DashboardBackend for BackendImpl {
    fn server_info(&self) -> ServerInfo {
        self.0.info()
    }

    fn snapshot(&self) -> Option<vstack_core::wire::DashboardSnapshot> {
        self.1.as_ref().map(|h| h.snapshot())
    }

    fn control(&self, control: vstack_core::wire::Control) -> FnFuture<'_, String> {
        Box::pin(async move {
            match &self.1 {
                Some(h) => h.control(control).await.map_err(|e| FnError::new(400, e)),
                None => Err(FnError::new(503, "no engine running in this server")),
            }
        })
    }

    fn latest_compare(&self) -> Result<Option<vstack_core::wire::CompareReport>, FnError> {
        match saved_compare_for_caller(&self.2) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => Ok(None),
            Err(e) => Err(fn_error(e)),
        }
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
        Box::pin(async move { history::history_of(&self.3, range).await.map_err(fn_error) })
    }

    fn list_runs(
        &self,
        kind: Option<vstack_core::wire::RunKind>,
    ) -> FnFuture<'_, Vec<vstack_core::wire::RunSummary>> {
        Box::pin(async move { history::runs_of(&self.3, kind).await.map_err(fn_error) })
    }

    fn get_run(&self, id: String) -> FnFuture<'_, vstack_core::wire::RunRecord> {
        Box::pin(async move { history::run_of(&self.3, &id).await.map_err(fn_error) })
    }
}

/// Builds the complete router.
///
/// Routes: the four dashboard tabs (`/`, `/metrics`, `/compare`, `/analytics`,
/// server-rendered), server functions under `/api/fn/`, `GET /ws` (WebSocket of
/// [`WsEvent`] JSON frames), `GET /healthz` (200 `{"status":"ok"}`), `GET
/// /api/compare` (the latest saved `vstack compare` result), the REST API of
/// [`rest`], and static
/// files from the site root; anything else renders the 404 page.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let history_state = history::HistoryState {
        recorder: state.recorder.clone(),
        hub: state.hub.clone(),
    };
    let backend = Backend(Arc::new(BackendImpl(
        state.stats.clone(),
        state.hub.clone(),
        state.compare_results.clone(),
        history_state.clone(),
    )));
    let options = state.leptos_options.clone();
    let access = state.access.clone();
    let limits = state.limits.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/api/auth/signin", post(access::sign_in))
        .route("/api/auth/signout", post(access::sign_out))
        .route("/api/auth/me", get(access::me))
        .route("/ws", get(ws_upgrade))
        .route("/api/compare", get(latest_compare))
        .route("/api/consensus/{scenario}", get(consensus_rest))
        .merge(rest::router(state.hub.clone()))
        .merge(history::router(history_state))
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(backend.clone());
                headers::provide_request_nonce();
            },
            move || shell(options.clone()),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.stats.http().clone(),
            crate::http::prom::HttpMetrics::track,
        ))
        .fallback(site_or_404)
        .layer(axum::middleware::from_fn(access::fn_error_status))
        // Layers run bottom-up for a request: panics become 500 JSON, then
        // the access guard, the body bound and the timeout.
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::middleware::from_fn(headers::security_headers))
                .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                    panic_response,
                ))
                // brotli (quality 4) or gzip for pages, JSON and any static
                // file without a precompressed sibling, when the browser
                // accepts it; bodies already encoded and WebSocket upgrades
                // pass through.
                .layer(tower_http::compression::CompressionLayer::new())
                .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    limits.request_timeout,
                ))
                .layer(axum::middleware::from_fn_with_state(access, access::guard))
                .layer(axum::middleware::from_fn_with_state(
                    limits.max_body_bytes,
                    access::bounded_body,
                )),
        )
        .with_state(state)
}

/// The metrics listener's router (`--metrics-addr`, default
/// `127.0.0.1:9898`, kept apart because the Performance Metrics tab owns
/// `/metrics` on the main port): `GET /metrics` in the Prometheus text
/// format, anyone who can reach the listener may read it (it binds loopback
/// unless told otherwise, in public mode too). Series: the hub's
/// ([`crate::hub::prom`]), `vstack_dashboard_subscribers`,
/// `vstack_dashboard_dropped_subscribers_total`,
/// `vstack_process_resident_memory_bytes`, `vstack_process_uptime_seconds`
/// and the main port's `vstack_http_request_duration_seconds`.
///
/// Its `Host` must be an IP literal, `localhost` or an `--allow-host` name
/// (DNS-rebinding guard, [`crate::http::host`]).
pub fn metrics_router(state: AppState) -> Router {
    let hosts = crate::http::host::HostAllowList::new(state.access.config().allowed_hosts.clone());
    Router::new()
        .route("/metrics", get(prometheus_metrics))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(hosts),
            crate::http::host::host_guard,
        ))
        .with_state(state)
}

async fn prometheus_metrics(State(state): State<AppState>) -> axum::response::Response {
    let mut s = crate::http::prom::Scrape::new();
    let st = &state.stats;
    s.gauge(
        "vstack_dashboard_subscribers",
        "Dashboards subscribed to /ws",
        vec![],
        f64::from(st.dashboards_connected()),
    );
    s.counter(
        "vstack_dashboard_dropped_subscribers",
        "Dashboards closed for falling too far behind the event stream",
        vec![],
        st.dashboards_dropped() as f64,
    );
    if let Some(m) = memory_stats::memory_stats() {
        s.gauge(
            "vstack_process_resident_memory_bytes",
            "Resident memory of the server process",
            vec![],
            m.physical_mem as f64,
        );
    }
    s.gauge(
        "vstack_process_uptime_seconds",
        "Time since the server started",
        vec![],
        st.uptime_ms() as f64 / 1e3,
    );
    let Some(hub) = &state.hub else {
        return crate::http::prom::render(&[s.registry(), st.http().registry()]);
    };
    hub.scrape(&mut s).await;
    let qoe = hub.histograms();
    crate::http::prom::render(&[s.registry(), qoe.registry(), st.http().registry()])
}

/// Static files (embedded, then from the site root), else the 404 page.
async fn site_or_404(
    uri: axum::http::Uri,
    State(state): State<AppState>,
    req: axum::extract::Request,
) -> axum::response::Response {
    if state.embedded_site
        && let Some(r) = site::serve_embedded(uri.path(), req.headers())
    {
        return r;
    }
    leptos_axum::file_and_error_handler_with_context::<AppState, _>(
        headers::provide_request_nonce,
        shell,
    )(uri, State(state), req)
    .await
}

/// What a panic in a handler answers: 500 with a JSON body (the panic itself
/// is logged, never sent).
pub fn panic_response(
    err: Box<dyn std::any::Any + Send + 'static>,
) -> axum::http::Response<axum::body::Body> {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!("a request handler panicked: {what}");
    ApiError::internal("internal error (the server logged it)").into_response()
}

/// The latest saved comparison for a caller: the file's path and the
/// reader's error stay in the server's log (a viewer learns nothing of the
/// server's file system).
fn saved_compare_for_caller(
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

/// `GET /api/compare`: the latest saved `vstack compare` result; 404 with a
/// JSON error when none was saved, 500 when the file is not a comparison
/// (neither names the file). Read on the blocking pool.
async fn latest_compare(
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
struct SeedQuery {
    #[serde(default = "one")]
    seed: u64,
}

fn one() -> u64 {
    1
}

/// `GET /api/consensus/{scenario}?seed=N`: a recorded ChunkPaxos run; 404
/// JSON for an unknown scenario, 400 for a bad seed.
async fn consensus_rest(
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

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Read buffer of a `/ws` connection, bytes (dashboards send nothing but
/// pings and a close).
pub const WS_READ_BUFFER_BYTES: usize = 4096;

/// `GET /ws`: 503 JSON once [`WebLimits::max_dashboards`] are subscribed;
/// inbound messages are bounded by [`WebLimits::ws_max_message_bytes`].
/// The upgraded socket keeps the connection's [`ConnectionSlot`], so it still
/// counts against the accept loop's caps.
async fn ws_upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    slot: Option<axum::Extension<ConnectionSlot>>,
) -> axum::response::Response {
    let Some(guard) = state.stats.try_subscribe(state.limits.max_dashboards) else {
        return ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} dashboards are connected, the most this server takes",
                state.limits.max_dashboards
            ),
        )
        .into_response();
    };
    let max = state.limits.ws_max_message_bytes;
    // Small socket buffers: an idle dashboard holds little (tungstenite's
    // defaults are 128 KiB each way); frames are written out at once.
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .on_upgrade(move |socket| {
            let held = (guard, slot.map(|s| s.0));
            push_loop(
                socket,
                held,
                state.stats,
                state.hub,
                state.limits.ws_send_timeout,
            )
        })
        .into_response()
}

/// Sends one frame; `false` when the socket failed or did not take it
/// within `timeout` (a subscriber that stopped reading).
/// A timed-out subscriber counts as dropped in `stats`.
async fn send(
    socket: &mut WebSocket,
    ev: &WsEvent,
    timeout: std::time::Duration,
    stats: &ServerStats,
) -> bool {
    match serde_json::to_string(ev) {
        Ok(t) => match tokio::time::timeout(timeout, socket.send(Message::Text(t.into()))).await {
            Ok(r) => r.is_ok(),
            Err(_) => {
                tracing::info!("dropping a dashboard that took no frame for {timeout:?}");
                stats.count_dropped();
                false
            }
        },
        Err(e) => {
            tracing::error!("event serialisation: {e}");
            false
        }
    }
}

async fn next_event(
    rx: &mut Option<tokio::sync::broadcast::Receiver<WsEvent>>,
) -> Result<WsEvent, tokio::sync::broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// One subscriber: a full snapshot first (with an engine), then the engine's
/// events as they happen and a heartbeat every push interval, until the peer
/// goes away. A subscriber more than [`crate::hub::EVENT_QUEUE`] events
/// behind is dropped (the connection is closed; the dashboard reconnects and
/// gets a fresh snapshot). Incoming frames are read only to notice a close.
/// A subscriber whose socket does not take a frame within `send_timeout` is
/// dropped too. `_held` (the subscriber count's guard and the connection's
/// slot) is released when the loop ends.
async fn push_loop(
    mut socket: WebSocket,
    _held: (server_stats::SubscriberGuard, Option<ConnectionSlot>),
    stats: Arc<ServerStats>,
    hub: Option<Arc<Hub>>,
    send_timeout: std::time::Duration,
) {
    let mut beats = stats.heartbeats();
    let mut events = hub.as_ref().map(|h| h.subscribe());
    if let Some(h) = &hub
        && !send(
            &mut socket,
            &WsEvent::Snapshot(Box::new(h.snapshot())),
            send_timeout,
            &stats,
        )
        .await
    {
        return;
    }
    loop {
        tokio::select! {
            hb = beats.next() => {
                if !send(&mut socket, &WsEvent::Heartbeat(hb), send_timeout, &stats).await {
                    break;
                }
            }
            ev = next_event(&mut events) => match ev {
                Ok(ev) => if !send(&mut socket, &ev, send_timeout, &stats).await { break },
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::info!("dropping a slow dashboard ({n} events behind)");
                    stats.count_dropped();
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => events = None,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
}
