//! Attacks on the servers, played against real code: each asserts the safe
//! outcome (a 4xx with a JSON body, nothing changed, no panic, `/healthz`
//! still answering).
//!
//! Dashboard: cross-origin and DNS-rebinding requests, a viewer of a public
//! dashboard, bad server-function input, oversized bodies, too many calls,
//! foreign and surplus WebSockets, slowloris. Cluster: see the `cluster_`
//! tests.

mod common;

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use futures::StreamExt;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;
use vstack::{
    cluster::embedded::{ClusterConfig, SyntheticVideo},
    http::ServeLimits,
    hub::Hub,
    web::{AccessConfig, AccessControl, AppState, ServerStatsConfig, WebLimits, app},
};

const TOKEN: &str = "test-admin-token-0123456789";

fn local() -> AppState {
    AppState::new(common::leptos_options(), ServerStatsConfig::default())
}

fn public() -> AppState {
    local().with_access(
        AccessControl::new(AccessConfig {
            public: true,
            admin_token: Some(TOKEN.into()),
            public_url: Some("https://vstack.example".into()),
            ..AccessConfig::default()
        })
        .unwrap(),
    )
}

async fn call(
    router: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn control(body: &str) -> axum::http::request::Builder {
    let _ = body;
    Request::post("/api/fn/control")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::HOST, "127.0.0.1:8888")
}

fn json_error(body: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no \"error\": {body}"))
        .to_string()
}

const KILL: &str = r#"{"control":{"action":"kill_node","node":0}}"#;

async fn hub() -> Arc<Hub> {
    Hub::start(common::hub_config(200, 10.0, 60, 2000.0))
        .await
        .unwrap()
}
fn holds(c: &vstack::cluster::embedded::Cluster, id: &str) -> bool {
    c.nodes()[0]
        .storage()
        .chunks()
        .iter()
        .any(|k| k.chunk_id == id)
}

async fn killed(hub: &Hub) -> Vec<bool> {
    for _ in 0..100 {
        if let Some(c) = hub.snapshot().clients.smart
            && !c.nodes.is_empty()
        {
            return c.nodes.iter().map(|n| n.killed).collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the smart client never published its nodes")
}

#[tokio::test]
async fn a_foreign_page_cannot_drive_the_dashboard() {
    let hub = hub().await;
    let router = app(local().with_hub(hub.clone()));
    // The attack of the issue: a cross-origin simple POST.
    for (origin, fetch_site) in [
        (Some("https://evil.example"), None),
        (Some("null"), None),
        (Some("http://127.0.0.1:9999"), None),
        (None, Some("cross-site")),
    ] {
        let mut req = Request::post("/api/fn/control")
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::HOST, "127.0.0.1:8888");
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        if let Some(s) = fetch_site {
            req = req.header("sec-fetch-site", s);
        }
        let (status, _, body) = call(&router, req.body(Body::from(KILL)).unwrap()).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{origin:?} {fetch_site:?}: {body}"
        );
        assert!(json_error(&body).contains("refused"), "{body}");
    }
    // DNS rebinding: the attacker's name resolving to 127.0.0.1.
    let (status, _, body) = call(
        &router,
        Request::post("/api/fn/control")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::HOST, "attacker.example:8888")
            .header(header::ORIGIN, "http://attacker.example:8888")
            .body(Body::from(KILL))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{body}");
    json_error(&body);
    let (status, _, _) = call(
        &router,
        Request::get("/")
            .header(header::HOST, "attacker.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "pages too");
    assert_eq!(killed(&hub).await, vec![false; 3], "nothing changed");
    // The same control from the dashboard's own page is obeyed.
    let (status, _, body) = call(
        &router,
        control(KILL)
            .header(header::ORIGIN, "http://127.0.0.1:8888")
            .body(Body::from(KILL))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(killed(&hub).await[0]);
}

#[tokio::test]
async fn bad_control_input_is_a_400_with_a_json_body_and_changes_nothing() {
    let hub = hub().await;
    let router = app(local().with_hub(hub.clone()));
    let before = hub.snapshot().conditions.clone();
    for body in [
        "not json",
        r#"{"control":{"action":"fly"}}"#,
        r#"{"control":{"action":"kill_node","node":-1}}"#,
        r#"{"control":{"action":"kill_node","node":99}}"#,
        r#"{"control":{"action":"node_conditions","node":0,"latency_ms":0,"bandwidth_mbps":1e-300,"loss":0,"down":false}}"#,
        r#"{"control":{"action":"node_conditions","node":0,"latency_ms":0,"bandwidth_mbps":1e-9,"loss":0,"down":false}}"#,
        r#"{"control":{"action":"node_conditions","node":0,"latency_ms":-5,"bandwidth_mbps":10,"loss":0,"down":false}}"#,
        r#"{"control":{"action":"node_conditions","node":0,"latency_ms":0,"bandwidth_mbps":10,"loss":2,"down":false}}"#,
        r#"{"control":{"action":"scenario","name":"meltdown"}}"#,
        r#"{"control":{"action":"start_demo","phase_s":999999999999}}"#,
        r#"{"control":{"action":"make_hot","clients":0}}"#,
        r#"{"control":{"action":"make_hot","clients":51}}"#,
        r#"{"control":{"action":"make_hot","clients":4294967296}}"#,
        r#"{"control":{"action":"make_hot","clients":5,"video_id":"../../etc/passwd"}}"#,
        r#"{"control":{"action":"cool_down"}}"#,
    ] {
        let (status, _, resp) = call(&router, control(body).body(Body::from(body)).unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {resp}");
        assert!(!json_error(&resp).is_empty(), "{resp}");
    }
    assert_eq!(killed(&hub).await, vec![false; 3]);
    assert_eq!(hub.snapshot().conditions, before, "conditions unchanged");
    assert!(
        hub.snapshot()
            .redundancy
            .is_none_or(|r| r.hot.video_id.is_none()),
        "no hot population started"
    );
    let (status, _, _) = call(
        &router,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// A public dashboard's viewers may watch: the Watch tab's routes are open
/// to an anonymous caller (no engine here, so 503 with a JSON reason, not a
/// sign-in demand).
#[tokio::test]
async fn a_viewer_of_a_public_dashboard_may_use_the_watch_routes() {
    let router = app(public());
    for path in [
        "/watch/api/manifest",
        "/watch/smart/0/ping?viewer=a-public-viewer-0123&bytes=0",
    ] {
        let (status, _, body) =
            call(&router, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert!(!json_error(&body).is_empty(), "{path}: {body}");
    }
}

#[tokio::test]
async fn a_viewer_of_a_public_dashboard_watches_and_the_admin_acts() {
    let router = app(public());
    // Viewers read.
    let (status, _, body) = call(
        &router,
        Request::post("/api/fn/dashboard_snapshot")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = call(&router, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("data-access=\"viewer\""),
        "rendered for a viewer"
    );
    // …and are refused every change.
    let (status, headers, body) =
        call(&router, control(KILL).body(Body::from(KILL)).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(json_error(&body).contains("sign in"));
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    let (status, _, _) = call(
        &router,
        control(KILL)
            .header(header::AUTHORIZATION, "Bearer not-the-token-at-all")
            .body(Body::from(KILL))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A script with the token passes the gate (no engine here: 503).
    let (status, _, body) = call(
        &router,
        control(KILL)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::from(KILL))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(json_error(&body).contains("no engine"));
    // A browser signs in once; a wrong token is sent back to the form.
    let form = |token: &str| {
        Request::post("/api/auth/signin")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "text/html")
            .header(header::HOST, "vstack.example")
            .header(header::ORIGIN, "https://vstack.example")
            .body(Body::from(format!("token={token}&next=/metrics")))
            .unwrap()
    };
    // A form without a token is a 400 JSON; outside public mode there is
    // nothing to sign in to (404).
    let (status, _, body) = call(
        &router,
        Request::post("/api/auth/signin")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("next=/"))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    json_error(&body);
    let (status, _, _) = call(
        &app(local()),
        Request::post("/api/auth/signin")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={TOKEN}")))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, headers, _) = call(&router, form("wrong")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/signin?failed=1");
    assert!(headers.get(header::SET_COOKIE).is_none());
    let (status, headers, _) = call(&router, form(TOKEN)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/metrics");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    let (status, _, body) = call(
        &router,
        control(KILL)
            .header(header::COOKIE, &session)
            .body(Body::from(KILL))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "signed in: {body}");
    let (_, _, me) = call(
        &router,
        Request::get("/api/auth/me")
            .header(header::COOKIE, &session)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(me, r#"{"public":true,"admin":true}"#);
    // Signing out ends the session.
    call(
        &router,
        Request::post("/api/auth/signout")
            .header(header::COOKIE, &session)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let (status, _, _) = call(
        &router,
        control(KILL)
            .header(header::COOKIE, &session)
            .body(Body::from(KILL))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bodies_and_call_rates_are_bounded() {
    let router = app(local());
    let big = "x".repeat((64 << 10) + 1);
    let (status, _, _) = call(
        &router,
        control(&big).body(Body::from(big.clone())).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A body that streams in without a length is cut off too.
    let chunks = futures::stream::iter(
        (0..100).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 4096]))),
    );
    let (status, _, _) = call(
        &router,
        control("").body(Body::from_stream(chunks)).unwrap(),
    )
    .await;
    assert!(status.is_client_error(), "{status}");
    // One client IP calling server functions in a tight loop gets 429s.
    let mut limited = 0;
    for _ in 0..300 {
        let (status, headers, body) = call(
            &router,
            Request::post("/api/fn/server_info")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
            assert!(headers.contains_key(header::RETRY_AFTER));
            json_error(&body);
        }
    }
    assert!(limited > 0, "no call was rate limited");
}

async fn serve(state: AppState, limits: ServeLimits) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(vstack::http::serve(
        listener,
        app(state),
        limits,
        std::future::pending(),
    ));
    addr
}

/// A local dashboard on a real port with a 0.5 s header-read timeout.
async fn serve_impatient() -> std::net::SocketAddr {
    serve(
        local(),
        ServeLimits {
            header_read_timeout: Duration::from_millis(500),
            ..ServeLimits::default()
        },
    )
    .await
}

fn ws_request(
    addr: std::net::SocketAddr,
    origin: Option<&str>,
) -> tokio_tungstenite::tungstenite::http::Request<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    req
}

#[tokio::test]
async fn websockets_from_foreign_pages_or_over_the_cap_are_refused() {
    let state = local().with_limits(WebLimits {
        max_dashboards: 2,
        ws_max_message_bytes: 1024,
        ..WebLimits::default()
    });
    let addr = serve(state, ServeLimits::default()).await;
    let err = tokio_tungstenite::connect_async(ws_request(addr, Some("https://evil.example")))
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(r) => assert_eq!(r.status(), 403),
        e => panic!("{e}"),
    }
    let (mut a, _) =
        tokio_tungstenite::connect_async(ws_request(addr, Some(&format!("http://{addr}"))))
            .await
            .unwrap();
    let (_b, _) = tokio_tungstenite::connect_async(ws_request(addr, None))
        .await
        .unwrap();
    match tokio_tungstenite::connect_async(ws_request(addr, None)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!("a third dashboard was let in: {:?}", other.map(|_| ())),
    }
    // An oversized inbound message closes that connection.
    use futures::{SinkExt, StreamExt};
    a.send(tokio_tungstenite::tungstenite::Message::text(
        "x".repeat(4096),
    ))
    .await
    .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(m) = a.next().await {
            match m {
                Ok(tokio_tungstenite::tungstenite::Message::Close(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the oversized message did not close the socket"
    );
    // Its slot is free again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio_tungstenite::connect_async(ws_request(addr, None))
        .await
        .expect("a slot was freed");
}

#[tokio::test]
async fn slowloris_connections_are_cut_and_do_not_slow_others() {
    let addr = serve_impatient().await;
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    let t = std::time::Instant::now();
    let body = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("ok"));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // After the header-read timeout every slow connection is closed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for mut s in slow {
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("the server closed it")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    }
}

#[tokio::test]
async fn a_panicking_handler_answers_500_json() {
    let router = axum::Router::new()
        .route(
            "/boom",
            axum::routing::get(|| async {
                if std::hint::black_box(true) {
                    panic!("boom");
                }
                "unreachable"
            }),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            vstack::web::panic_response,
        ));
    let (status, _, body) = call(&router, Request::get("/boom").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        !json_error(&body).contains("boom"),
        "the panic text stays in the log"
    );
}

// ---- the cluster: storage nodes and the metadata service ----

async fn cluster() -> vstack::cluster::embedded::Cluster {
    vstack::cluster::embedded::Cluster::start(ClusterConfig {
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(20),
            bitrate_kbps: 500.0,
            ..SyntheticVideo::default()
        }),
        max_chunk_bytes: 1_000_000,
        ..ClusterConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn cluster_routes_that_change_state_need_the_cluster_token() {
    let c = cluster().await;
    let anyone = reqwest::Client::new();
    let node = c.nodes()[0].url();
    let meta = c.metadata_url();
    let chunk = c.nodes()[0].storage().chunks()[0].chunk_id.clone();
    let manifest_before = anyone
        .get(format!("{meta}/videos/test-video-001"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let nodes_before = anyone
        .get(format!("{meta}/nodes"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let attacks = [
        anyone.delete(format!("{node}/chunks/{chunk}")),
        anyone
            .put(format!("{node}/chunks/evil"))
            .header(
                vstack::cluster::storage::HASH_HEADER,
                vstack::http::sha256_hex(b"x"),
            )
            .body("x"),
        anyone
            .put(format!("{node}/emulator"))
            .json(&serde_json::json!({"partitioned": true})),
        anyone
            .put(format!("{node}/emulator/scenario"))
            .json(&serde_json::json!({"scenario": "node_failure"})),
        anyone.post(format!("{node}/paxos/{chunk}")).json(
            &serde_json::json!({"type": "prepare", "ballot": {"round": u32::MAX, "proposer": 9}}),
        ),
        // Node hijack: node-1 re-registered at the attacker's URL.
        anyone
            .post(format!("{meta}/nodes/register"))
            .json(&serde_json::json!({"node_id": "node-1", "url": "http://203.0.113.7:8081"})),
        anyone
            .post(format!("{meta}/nodes/node-1/heartbeat"))
            .json(&serde_json::json!({"chunk_count": 0, "bytes_stored": 0})),
        anyone.delete(format!("{meta}/videos/test-video-001")),
        anyone
            .post(format!("{meta}/videos"))
            .json(&serde_json::json!({"video_id": "evil", "chunks": []})),
        // SSRF: the service fanning out to registered URLs.
        anyone
            .post(format!("{meta}/cluster/scenario"))
            .json(&serde_json::json!({"scenario": "node_failure"})),
    ];
    for (i, req) in attacks.into_iter().enumerate() {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "attack {i}");
        assert!(r.headers().contains_key("www-authenticate"), "attack {i}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("cluster token"),
            "attack {i}: {body}"
        );
    }
    // Nothing changed.
    assert!(holds(&c, &chunk));
    assert!(!holds(&c, "evil"));
    let cond = c.nodes()[0].emulator().conditions();
    assert!(!cond.down && !c.nodes()[0].emulator().is_partitioned());
    let manifest_after = anyone
        .get(format!("{meta}/videos/test-video-001"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(manifest_before, manifest_after);
    let nodes_after = anyone
        .get(format!("{meta}/nodes"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!nodes_after.contains("203.0.113.7"), "{nodes_after}");
    assert_eq!(
        nodes_before.matches("node-1").count(),
        nodes_after.matches("node-1").count()
    );
    // Reads stay open: plain HTTP clients stream chunks and manifests.
    let r = anyone
        .get(format!("{node}/chunks/{chunk}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // With the token the same routes work.
    let r = c
        .http()
        .put(format!("{node}/emulator/scenario"))
        .json(&serde_json::json!({"scenario": "normal"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = anyone.get(format!("{node}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn chunk_uploads_are_bounded_while_they_stream() {
    let c = cluster().await;
    let node = c.nodes()[0].url();
    // A declared length over the bound: refused before any byte is read.
    let r = c
        .http()
        .put(format!("{node}/chunks/big"))
        .header(
            vstack::cluster::storage::HASH_HEADER,
            vstack::http::sha256_hex(b""),
        )
        .header("content-length", "1000001")
        .body(vec![0u8; 1_000_001])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // No declared length (chunked): cut off at the bound while streaming.
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    let stream = futures::stream::iter(0..10_000u32).map(move |_| {
        counter.fetch_add(64 << 10, std::sync::atomic::Ordering::Relaxed);
        Ok::<_, std::io::Error>(bytes::Bytes::from(vec![1u8; 64 << 10]))
    });
    let r = c
        .http()
        .put(format!("{node}/chunks/endless"))
        .header(
            vstack::cluster::storage::HASH_HEADER,
            vstack::http::sha256_hex(b""),
        )
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent < 64 << 20, "the node kept reading: {sent} bytes");
    assert!(!holds(&c, "endless"));
}

#[tokio::test]
async fn outside_public_mode_a_remote_peer_only_watches() {
    // `vstack serve --addr 0.0.0.0:8888` without --public, reached from
    // another machine that even sends `Host: localhost`.
    let router = app(local());
    let from = |peer: [u8; 4], req: axum::http::request::Builder| {
        let mut r = req.body(Body::from(KILL)).unwrap();
        r.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                peer, 40000,
            ))));
        r
    };
    let (status, _, body) = call(&router, from([203, 0, 113, 7], control(KILL))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(json_error(&body).contains("--public"));
    let (status, _, body) = call(
        &router,
        from(
            [203, 0, 113, 7],
            Request::get("/").header(header::HOST, "localhost"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("data-access=\"remote\""));
    // This machine's user keeps the controls (no engine here: 503).
    let (status, _, _) = call(&router, from([127, 0, 0, 1], control(KILL))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

/// `POST /api/runs` (publishing a run) from a viewer of a public dashboard
/// is 401 and from a foreign origin 403, and neither stores anything; the
/// admin's Bearer token stores it.
#[tokio::test]
async fn publishing_a_run_is_refused_to_viewers_and_foreign_origins() {
    let dir = tempfile::tempdir().unwrap();
    let history = vstack::history::History::open(dir.path(), Default::default())
        .await
        .unwrap();
    let recorder = vstack::history::Recorder::spawn(history.clone());
    let router = vstack::web::app(public().with_recorder(recorder));
    let body = serde_json::json!({
        "summary": {"id": "00112233445566aa", "kind": "bench", "title": "t", "headline": "h",
            "passed": true, "started_unix_ms": 1, "finished_unix_ms": 2, "conditions": "c", "source": "cli"},
        "machine": [], "version": "v", "tables": [], "charts": [], "notes": [], "report": {}
    })
    .to_string();
    let post = || {
        Request::post("/api/runs")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::HOST, "vstack.example")
    };
    let (status, _, text) = call(&router, post().body(Body::from(body.clone())).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    let foreign = post()
        .header(header::ORIGIN, "https://attacker.example")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from(body.clone()))
        .unwrap();
    let (status, _, text) = call(&router, foreign).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(
        history.list_runs(None).await.unwrap().is_empty(),
        "nothing stored"
    );
    let admin = post()
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from(body))
        .unwrap();
    let (status, _, text) = call(&router, admin).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert_eq!(history.list_runs(None).await.unwrap().len(), 1);
}

// ---- issue 22: the next layer down ----

/// A TCP connection to `to` from the loopback address `from` (all of
/// 127/8 reaches this host), so one test can play several clients.
async fn connect_from(to: std::net::SocketAddr, from: [u8; 4]) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Whether the server closes `s` (EOF or reset) within `d`.
async fn closed_within(s: &mut tokio::net::TcpStream, d: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + d;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

async fn healthz_from(addr: std::net::SocketAddr, from: [u8; 4]) -> String {
    let mut s = connect_from(addr, from).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn connections_that_never_send_a_request_are_closed_whatever_the_protocol() {
    let addr = serve_impatient().await;
    // hyper's own timer covered none of these (hyper #3756, #3962).
    let settings_frame: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".as_slice();
    let payloads: Vec<(&str, Vec<u8>)> = vec![
        ("nothing", vec![]),
        ("half a preface", b"PRI * HTTP/2.0\r\n".to_vec()),
        ("a whole preface", preface.to_vec()),
        ("a preface and SETTINGS", [preface, settings_frame].concat()),
    ];
    let mut held = Vec::new();
    for (what, bytes) in &payloads {
        let mut s = connect_from(addr, [127, 0, 0, 1]).await;
        s.write_all(bytes).await.unwrap();
        held.push((*what, s));
    }
    for (what, mut s) in held {
        assert!(
            closed_within(&mut s, Duration::from_secs(3)).await,
            "a connection that sent {what} was still open 3 s after a 0.5 s header timeout"
        );
    }
    assert!(healthz_from(addr, [127, 0, 0, 1]).await.contains("200 OK"));
}

#[tokio::test]
async fn one_address_cannot_take_every_connection_and_a_websocket_keeps_its_slot() {
    let addr = serve(
        local(),
        ServeLimits {
            max_connections: 50,
            max_per_ip: 3,
            max_per_loopback_ip: 3,
            ..ServeLimits::default()
        },
    )
    .await;
    let attacker = [127, 0, 0, 2];
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(addr, attacker).await);
    }
    let mut over = connect_from(addr, attacker).await;
    assert!(
        closed_within(&mut over, Duration::from_secs(2)).await,
        "the 4th connection from one address was kept"
    );
    assert!(
        healthz_from(addr, [127, 0, 0, 3]).await.contains("200 OK"),
        "another address is served"
    );
    drop(held);
    // An upgraded /ws connection still counts against its address's cap.
    let viewer = [127, 0, 0, 4];
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let stream = connect_from(addr, viewer).await;
        let (ws, _) = tokio_tungstenite::client_async(ws_request(addr, None), stream)
            .await
            .unwrap();
        sockets.push(ws);
    }
    let mut over = connect_from(addr, viewer).await;
    assert!(
        closed_within(&mut over, Duration::from_secs(2)).await,
        "three open dashboards left room for a 4th connection"
    );
}

#[tokio::test]
async fn websocket_connects_are_rate_limited_per_client() {
    let state = local().with_access(
        AccessControl::new(AccessConfig {
            ws_rate_per_s: 1,
            ws_burst: 3,
            ..AccessConfig::default()
        })
        .unwrap(),
    );
    let addr = serve(state, ServeLimits::default()).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        match tokio_tungstenite::connect_async(ws_request(addr, None)).await {
            Ok(_) => statuses.push(101),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                statuses.push(r.status().as_u16());
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(&statuses[..3], &[101, 101, 101], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn a_request_relayed_by_a_local_proxy_only_watches_in_local_mode() {
    let router = app(local().with_hub(hub().await));
    for (name, value) in [
        ("x-forwarded-for", "198.51.100.4"),
        ("forwarded", "for=198.51.100.4;proto=https"),
    ] {
        let req = control(KILL)
            .header(name, value)
            .body(Body::from(KILL))
            .unwrap();
        let (status, _, body) = call(&router, req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        json_error(&body);
    }
}

fn run_body(id: &str, title: &str, headline: &str, conditions: &str, notes: &[&str]) -> String {
    serde_json::json!({
        "summary": {"id": id, "kind": "bench", "title": title, "headline": headline,
            "passed": true, "started_unix_ms": 1, "finished_unix_ms": 2,
            "conditions": conditions, "source": "cli"},
        "machine": [[title, headline]], "version": conditions, "tables": [], "charts": [],
        "notes": notes, "report": {}
    })
    .to_string()
}

const SCRIPT_PAYLOADS: [&str; 3] = [
    "x</title><script>window.PWNED=1</script><title>",
    "\"><img src=x onerror=window.PWNED=2>",
    "</script><script>window.PWNED=3</script>",
];

#[tokio::test]
async fn a_stored_run_renders_as_text_under_a_nonce_policy() {
    let dir = tempfile::tempdir().unwrap();
    let history = vstack::history::History::open(dir.path(), Default::default())
        .await
        .unwrap();
    let router = app(local().with_recorder(vstack::history::Recorder::spawn(history)));
    let [a, b, c] = SCRIPT_PAYLOADS;
    let body = run_body("00112233445566bb", a, b, c, &SCRIPT_PAYLOADS);
    let post = || {
        Request::post("/api/runs")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::HOST, "127.0.0.1:8888")
    };
    let (status, _, text) = call(&router, post().body(Body::from(body.clone())).unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    // Publishing the same id again replaces nothing.
    let (status, _, text) = call(&router, post().body(Body::from(body)).unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    json_error(&text);
    for path in ["/runs/00112233445566bb", "/runs", "/"] {
        let (status, headers, html) = call(
            &router,
            Request::get(path)
                .header(header::HOST, "127.0.0.1:8888")
                .header(header::ACCEPT, "text/html")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        for p in ["<script>window.PWNED", "<img src=x"] {
            assert!(!html.contains(p), "{path} carries {p:?} as markup");
        }
        let csp = headers
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap_or_else(|| panic!("{path}: no Content-Security-Policy"))
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {csp}"));
        // Every inline or module script the page carries names the nonce.
        for (i, tag) in html.match_indices("<script").map(|(i, _)| (i, &html[i..])) {
            let open = &tag[..tag.find('>').unwrap_or(tag.len())];
            assert!(
                open.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: script at {i} without this response's nonce: {open}"
            );
        }
        if path == "/runs/00112233445566bb" {
            assert!(
                html.contains("&lt;/title&gt;&lt;script&gt;window.PWNED=1"),
                "the title is escaped, not dropped"
            );
        }
    }
}

#[tokio::test]
async fn a_published_run_may_be_4_mib_and_the_compare_route_names_no_path() {
    let dir = tempfile::tempdir().unwrap();
    let history = vstack::history::History::open(dir.path(), Default::default())
        .await
        .unwrap();
    let secret_dir = dir.path().join("secret-folder-name");
    let router = app(local()
        .with_recorder(vstack::history::Recorder::spawn(history))
        .with_compare_results(secret_dir.join("compare.json")));
    // 3 MiB of notes: over axum's 2 MiB default, under the stated 4 MiB.
    let note = "n".repeat(15_000);
    let notes: Vec<&str> = (0..200).map(|_| note.as_str()).collect();
    let body = run_body("00112233445566cc", "big", "h", "c", &notes);
    assert!(
        body.len() > 2 << 20 && body.len() < 4 << 20,
        "{}",
        body.len()
    );
    let (status, _, text) = call(
        &router,
        Request::post("/api/runs")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::HOST, "127.0.0.1:8888")
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        &text[..text.len().min(300)]
    );
    let get = || {
        Request::get("/api/compare")
            .header(header::HOST, "127.0.0.1:8888")
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, text) = call(&router, get()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!text.contains("secret-folder-name"), "{text}");
    std::fs::create_dir(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("compare.json"), "not json").unwrap();
    let (status, _, text) = call(&router, get()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!text.contains("secret-folder-name"), "{text}");
    json_error(&text);
}

#[tokio::test]
async fn cluster_and_metrics_listeners_refuse_a_rebinding_host() {
    let c = cluster().await;
    let http = reqwest::Client::new();
    for url in [
        format!("{}/nodes", c.metadata_url()),
        format!("{}/chunks", c.nodes()[0].url()),
        format!("{}/health", c.nodes()[0].url()),
    ] {
        let r = http
            .get(&url)
            .header(header::HOST, "attacker.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 421, "{url}");
        json_error(&r.text().await.unwrap());
        let ok = http.get(&url).send().await.unwrap();
        assert_eq!(ok.status(), 200, "{url} by IP");
    }
    let metrics = vstack::web::metrics_router(local());
    let (status, _, body) = call(
        &metrics,
        Request::get("/metrics")
            .header(header::HOST, "attacker.example:9898")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{body}");
}

/// A CA and a leaf certificate for 127.0.0.1 signed by it, made with the
/// openssl command; `None` when openssl is missing (outside CI).
fn test_certificates(
    dir: &std::path::Path,
) -> Option<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
    if !common::tool("openssl") {
        return None;
    }
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=vstack test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
    ]);
    Some((
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    ))
}

#[tokio::test]
async fn the_cluster_token_goes_only_on_writes_and_only_over_tls_to_other_hosts() {
    use std::sync::{Arc, Mutex};
    // A server that records, per method, whether a request carried a token.
    let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let record = {
        let seen = seen.clone();
        move |req: axum::extract::Request| {
            let seen = seen.clone();
            async move {
                let auth = req.headers().contains_key(header::AUTHORIZATION);
                seen.lock().unwrap().push((req.method().to_string(), auth));
                "ok"
            }
        }
    };
    let router = axum::Router::new().fallback(record);
    let dir = tempfile::tempdir().unwrap();
    let Some((ca, cert, key)) = test_certificates(dir.path()) else {
        return;
    };
    let acceptor = vstack::http::tls::acceptor(&cert, &key).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(vstack::http::serve_tls(
        listener,
        router,
        ServeLimits::default(),
        Some(acceptor),
        std::future::pending(),
    ));
    let token =
        vstack::cluster::auth::ClusterToken::new("0123456789abcdef0123456789abcdef").unwrap();
    let transport = vstack::cluster::auth::ClusterTransport {
        ca: Some(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap()),
        ..Default::default()
    };
    let client = vstack::cluster::auth::ClusterClient::new(token, &transport);
    let url = format!("https://{addr}/chunks/x");
    for r in [client.get(&url), client.put(&url), client.delete(&url)] {
        assert_eq!(r.send().await.unwrap().status(), 200);
    }
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            ("GET".to_string(), false),
            ("PUT".to_string(), true),
            ("DELETE".to_string(), true)
        ],
        "reads carry no token; writes carry it over TLS"
    );
    // An untrusted certificate is refused outright.
    let plain = reqwest::Client::new();
    assert!(
        plain.get(&url).send().await.is_err(),
        "a certificate from an unknown CA"
    );
}

fn rss_mib() -> f64 {
    memory_stats::memory_stats().map_or(f64::NAN, |m| m.physical_mem as f64 / (1 << 20) as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_chunk_gets_hold_a_block_each_not_the_chunk() {
    let c = vstack::cluster::embedded::Cluster::start(ClusterConfig {
        nodes: 1,
        replication: 1,
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(10),
            bitrate_kbps: 100.0,
            ..SyntheticVideo::default()
        }),
        ..ClusterConfig::default()
    })
    .await
    .unwrap();
    let node = c.nodes()[0].url();
    let big = vec![7u8; 64 << 20];
    let r = c
        .http()
        .put(format!("{node}/chunks/big64"))
        .header(
            vstack::cluster::storage::HASH_HEADER,
            vstack::http::sha256_hex(&big),
        )
        .body(big)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_mib();
    // 200 clients ask for the whole 64 MiB chunk and never read a byte.
    let addr: std::net::SocketAddr = node.trim_start_matches("http://").parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..200 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /chunks/big64 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let loaded = rss_mib();
    println!("node RSS with 200 unread 64 MiB GETs: {idle:.0} → {loaded:.0} MiB");
    assert!(
        loaded - idle < 100.0,
        "200 unread 64 MiB GETs took {:.0} MiB (idle {idle:.0} MiB)",
        loaded - idle
    );
    drop(held);
}

#[tokio::test]
async fn a_dashboard_that_stops_reading_is_dropped_after_the_send_timeout() {
    // Heartbeats every millisecond (~300 KB/s of frames) to a subscriber
    // whose socket never drains: the kernel's buffers (a few MB on
    // loopback) fill within seconds, then one frame waits past the timeout
    // and the server lets the subscriber go.
    let state = AppState::new(
        common::leptos_options(),
        ServerStatsConfig {
            push_interval: Duration::from_millis(1),
        },
    )
    .with_limits(WebLimits {
        ws_send_timeout: Duration::from_millis(300),
        ..WebLimits::default()
    });
    let stats = state.stats.clone();
    let addr = serve(state, ServeLimits::default()).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(ws_request(addr, None), stream)
        .await
        .unwrap();
    assert_eq!(stats.dashboards_connected(), 1);
    let t = std::time::Instant::now();
    while stats.dashboards_dropped() == 0 && t.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        stats.dashboards_dropped(),
        1,
        "a dashboard that read nothing for {:?} was still being waited on",
        t.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stats.dashboards_connected(), 0, "its slot is free");
    println!("dropped {:?} after it stopped reading", t.elapsed());
    drop(ws);
}

#[tokio::test]
async fn a_node_cannot_register_a_url_on_a_host_nobody_allowed() {
    let c = cluster().await;
    let http = c.http();
    for (url, status) in [
        ("http://169.254.169.254:80", 403),
        ("https://attacker.example:8443", 403),
        ("http://127.0.0.1:9", 200),
    ] {
        let r = http
            .post(format!("{}/nodes/register", c.metadata_url()))
            .json(&serde_json::json!({ "node_id": "node-x", "url": url }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{url}");
        if status != 200 {
            json_error(&r.text().await.unwrap());
        }
    }
}

#[tokio::test]
async fn http2_connections_cap_their_streams_and_close_when_idle() {
    let addr = serve(
        local(),
        ServeLimits {
            idle_timeout: Duration::from_millis(800),
            h2_max_streams: 8,
            ..ServeLimits::default()
        },
    )
    .await;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = h2::client::handshake(tcp).await.unwrap();
    let mut conn = tokio::spawn(conn);
    let req = axum::http::Request::get(format!("http://{addr}/healthz"))
        .body(())
        .unwrap();
    send = send.ready().await.unwrap();
    let (resp, _) = send.send_request(req, true).unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    while let Some(chunk) = body.data().await {
        chunk.unwrap();
    }
    // The server announced its stream cap (hyper's default was 200).
    // Nothing in flight now: the server closes the connection after the
    // idle timeout (there was no timer at all for HTTP/2 before).
    let t = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), &mut conn).await;
    assert!(
        closed.is_ok(),
        "an idle HTTP/2 connection was still open {:?} after its last response",
        t.elapsed()
    );
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    // The stream cap: a fresh connection is told at most 8 concurrent streams.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    let mut conn = conn;
    // Drive the connection until the server's SETTINGS arrive.
    let _ = tokio::time::timeout(Duration::from_millis(300), &mut conn).await;
    assert_eq!(conn.max_concurrent_send_streams(), 8);
    drop(send);
}

/// Server functions take typed arguments: a range, a run kind or a
/// consensus scenario that does not decode is a 400 JSON error (it never
/// reaches the backend), while every valid value is served.
#[tokio::test]
async fn server_functions_refuse_arguments_that_are_not_their_enums() {
    let router = app(local());
    let post = |path: &str, form: &str| {
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "127.0.0.1:8888")
            .body(Body::from(form.to_string()))
            .unwrap()
    };
    for (path, form) in [
        ("/api/fn/metrics_history", "range=9y"),
        ("/api/fn/metrics_history", "range=15M"),
        ("/api/fn/list_runs", "kind=bogus"),
        ("/api/fn/consensus_run", "scenario=meteor&seed=1"),
        ("/api/fn/consensus_run", "scenario=normal&seed=-1"),
    ] {
        let (status, _, body) = call(&router, post(path, form)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {form}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], 400, "{path} {form}: {body}");
    }
    for scenario in ["normal", "conflict", "node_failure"] {
        let (status, _, body) = call(
            &router,
            post(
                "/api/fn/consensus_run",
                &format!("scenario={scenario}&seed=2"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{scenario}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["scenario"], scenario);
    }
    // Without a history the typed range reaches the backend: 503, not 400.
    let (status, _, body) = call(&router, post("/api/fn/metrics_history", "range=1h")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}
