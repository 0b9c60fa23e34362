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
//! The other rooms: `backend` (what server functions read), `ws` (the live
//! stream), `results` (the saved comparison and consensus runs over REST),
//! `prom` (the Prometheus listener), [`history`] (stored history and runs),
//! [`headers`] (security headers, the CSP nonce), [`site`] (static files).

pub mod access;
pub mod headers;
pub mod history;
pub mod openapi;
pub mod rest;
pub mod server_stats;
pub mod site;
pub mod watch;

use std::sync::Arc;

use app::api::{FnError, FnFuture};
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

mod backend;
mod prom;
mod results;
mod ws;

use backend::*;
pub use prom::*;
use results::*;
pub use ws::*;

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
    let backend = Backend(Arc::new(BackendImpl {
        stats: state.stats.clone(),
        hub: state.hub.clone(),
        compare_results: state.compare_results.clone(),
        history: history_state.clone(),
    }));
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
        .merge(watch::router(state.hub.clone()))
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
                // pass through, and so do the Watch tab's media and probes
                // (octet streams: compressing them would cost CPU for
                // nothing and falsify a probe's transfer time).
                .layer(
                    tower_http::compression::CompressionLayer::new().compress_when({
                        use tower_http::compression::predicate::{
                            DefaultPredicate, NotForContentType, Predicate,
                        };
                        DefaultPredicate::new()
                            .and(NotForContentType::const_new("application/octet-stream"))
                    }),
                )
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

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}
