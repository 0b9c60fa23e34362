//! The axum application: pages (leptos SSR), server functions, the `/ws` live
//! stream, `/healthz`, and the built site's static files.
//!
//! [`app`] builds the [`Router`] from an [`AppState`] without binding a port, so
//! integration tests drive it with `tower::ServiceExt::oneshot`.

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
    routing::get,
};
use leptos::{config::LeptosOptions, prelude::provide_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
use serde_json::json;

use crate::live::{LiveConfig, LiveServer};

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    /// Where the site is built and which address it serves on.
    pub leptos_options: LeptosOptions,
    /// The server's live figures.
    pub live: Arc<LiveServer>,
}

impl AppState {
    /// A fresh state; the uptime clock starts now.
    pub fn new(leptos_options: LeptosOptions, live: LiveConfig) -> Self {
        Self {
            leptos_options,
            live: LiveServer::new(live),
        }
    }
}

struct BackendImpl(Arc<LiveServer>);

impl DashboardBackend for BackendImpl {
    fn server_info(&self) -> ServerInfo {
        self.0.info()
    }
}

/// Builds the complete router.
///
/// Routes: the four dashboard tabs (`/`, `/metrics`, `/compare`, `/analytics`,
/// server-rendered), server functions under `/api/fn/`, `GET /ws` (WebSocket of
/// [`WsEvent`] JSON frames), `GET /healthz` (200 `{"status":"ok"}`), and static
/// files from the site root; anything else renders the 404 page.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let backend = Backend(Arc::new(BackendImpl(state.live.clone())));
    let options = state.leptos_options.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/ws", get(ws_upgrade))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

async fn ws_upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> impl IntoResponse {
    ws.on_upgrade(move |socket| push_loop(socket, state.live))
}

/// Sends a heartbeat every push interval until the peer goes away. Incoming
/// frames are read only to notice a close.
async fn push_loop(mut socket: WebSocket, live: Arc<LiveServer>) {
    let _guard = live.subscribe();
    let mut beats = live.heartbeats();
    loop {
        tokio::select! {
            hb = beats.next() => {
                let text = match serde_json::to_string(&WsEvent::Heartbeat(hb)) {
                    Ok(t) => t,
                    Err(e) => { tracing::error!("heartbeat serialisation: {e}"); break; }
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
}
