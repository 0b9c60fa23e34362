//! Integration tests of the axum app: routes through `oneshot` (no port), and one
//! real-port test of the `/ws` stream with a WebSocket client.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use futures::StreamExt;
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use tower::ServiceExt;
use vstack::{
    web::ServerStatsConfig,
    web::{AppState, app},
};
use vstack_core::wire::{ServerInfo, WsEvent};

fn state(push_ms: u64) -> AppState {
    let options = LeptosOptions::builder()
        .output_name("vstack")
        .site_root("target/site")
        .site_pkg_dir("pkg")
        .build();
    AppState::new(
        options,
        ServerStatsConfig {
            push_interval: Duration::from_millis(push_ms),
        },
    )
}

async fn body_string(resp: axum::response::Response) -> String {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn healthz_answers_ok() {
    let resp = app(state(1000))
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body_string(resp).await).unwrap();
    assert_eq!(v["status"], "ok");
}

#[tokio::test]
async fn every_tab_is_server_rendered_with_its_nav() {
    for (path, label) in app::TABS {
        let resp = app(state(1000))
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let html = body_string(resp).await;
        assert!(html.contains(label), "{path} lacks tab label {label}");
        assert!(
            html.contains(r#"aria-current="page""#),
            "{path} has no active tab"
        );
        // ECharts loads on demand (the first chart adds its script); no
        // page's HTML carries it, so `/` never downloads it.
        assert!(
            !html.contains(app::ECHARTS_PATH),
            "{path} loads ECharts up front"
        );
        assert!(
            html.contains("/pkg/vstack"),
            "{path} does not load the WASM bundle"
        );
        assert!(
            html.contains(r#"data-state="connecting""#),
            "{path}: SSR connection state"
        );
    }
}

#[tokio::test]
async fn unknown_page_is_404() {
    let resp = app(state(1000))
        .oneshot(Request::get("/no-such-tab").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(body_string(resp).await.contains("Page not found"));
}

#[tokio::test]
async fn server_info_server_function_reports_the_live_server() {
    let resp = app(state(250))
        .oneshot(
            Request::post("/api/fn/server_info")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let info: ServerInfo = serde_json::from_str(&body_string(resp).await).unwrap();
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.pid, std::process::id());
    assert_eq!(info.ws_push_interval_ms, 250);
    assert_eq!(info.dashboards_connected, 0);
}

/// Real port: two clients subscribe, frames arrive at the push interval with
/// increasing sequence numbers and the live subscriber count, and the count drops
/// when a client leaves.
#[tokio::test]
async fn ws_pushes_heartbeats_on_a_real_port() {
    let st = state(50);
    let live = st.stats.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app(st)).await });

    let url = format!("ws://{addr}/ws");
    let (mut a, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (b, _) = tokio_tungstenite::connect_async(&url).await.unwrap();

    let mut beats = Vec::new();
    while beats.len() < 4 {
        let msg = tokio::time::timeout(Duration::from_secs(5), a.next())
            .await
            .expect("a heartbeat within 5 s")
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = msg
            && let WsEvent::Heartbeat(hb) = serde_json::from_str(&text).unwrap()
        {
            beats.push(hb);
        }
    }
    for w in beats.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1);
        assert!(w[1].uptime_ms >= w[0].uptime_ms);
    }
    assert_eq!(beats.last().unwrap().dashboards_connected, 2);
    assert!(beats.last().unwrap().rss_bytes.unwrap_or(1) > 0);

    drop(b);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while live.dashboards_connected() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "closed client still counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.abort();
}

#[tokio::test]
async fn pages_are_served_gzipped_when_accepted() {
    let resp = app(state(1000))
        .oneshot(
            Request::get("/")
                .header("accept-encoding", "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers().get("content-encoding").unwrap(),
        "gzip",
        "first-load bytes are measured gzipped, so the server must gzip"
    );
}
