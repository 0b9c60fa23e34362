//! `vstack steer` in front of two origins it does not serve: real HTTP
//! origins on loopback ports (one fast, one 200 ms slower to answer), the
//! steering routes called through `app()` and once on a real port.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::State,
    http::{Request, StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use tower::ServiceExt;
use vstack::steer::{Pathway, Steer, SteerConfig, app};

/// One origin: its multivariant playlist, one media playlist per variant
/// and a 128 KiB first segment; answers 503 while `failing`, and
/// after `delay` on every request.
struct Origin {
    url: String,
    failing: Arc<AtomicBool>,
}

#[derive(Clone)]
struct OriginState {
    delay: Duration,
    failing: Arc<AtomicBool>,
}

async fn origin(delay: Duration) -> Origin {
    let failing = Arc::new(AtomicBool::new(false));
    let state = OriginState {
        delay,
        failing: failing.clone(),
    };
    async fn gate(s: &OriginState) -> Option<axum::response::Response> {
        tokio::time::sleep(s.delay).await;
        s.failing
            .load(Ordering::SeqCst)
            .then(|| StatusCode::SERVICE_UNAVAILABLE.into_response())
    }
    let app = Router::new()
        .route(
            "/vod/master.m3u8",
            get(|State(s): State<OriginState>| async move {
                if let Some(r) = gate(&s).await {
                    return r;
                }
                "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
                 #EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.4d401e\"\nlow/index.m3u8\n\
                 #EXT-X-STREAM-INF:BANDWIDTH=2400000,RESOLUTION=1280x720\nhigh/index.m3u8\n"
                    .into_response()
            }),
        )
        .route(
            "/vod/{variant}/index.m3u8",
            get(|State(s): State<OriginState>| async move {
                if let Some(r) = gate(&s).await {
                    return r;
                }
                "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4.0,\nseg0.m4s\n#EXT-X-ENDLIST\n"
                    .into_response()
            }),
        )
        .route(
            "/vod/{variant}/seg0.m4s",
            get(|State(s): State<OriginState>| async move {
                if let Some(r) = gate(&s).await {
                    return r;
                }
                vec![7u8; 128 << 10].into_response()
            }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/vod/master.m3u8", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Origin { url, failing }
}

fn steer(a: &Origin, b: &Origin) -> Arc<Steer> {
    let pathways = vec![
        format!("cdn-a={}", a.url).parse::<Pathway>().unwrap(),
        format!("cdn-b={}", b.url).parse::<Pathway>().unwrap(),
    ];
    Steer::new(SteerConfig::new(pathways)).unwrap()
}

async fn get_text(s: &Arc<Steer>, uri: &str) -> (StatusCode, String, axum::http::HeaderMap) {
    let r = app(s.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = r.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    (
        parts.status,
        String::from_utf8(bytes.to_vec()).unwrap(),
        parts.headers,
    )
}

async fn priority(s: &Arc<Steer>, query: &str) -> Vec<String> {
    let (status, body, _) = get_text(s, &format!("/steering?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["VERSION"], 1);
    assert_eq!(v["TTL"], 5);
    assert_eq!(v["RELOAD-URI"], "steering");
    v["PATHWAY-PRIORITY"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn steering_ranks_origins_by_their_probes_and_moves_players_off_a_failing_one() {
    let a = origin(Duration::ZERO).await;
    let b = origin(Duration::from_millis(200)).await;
    let s = steer(&a, &b);
    for _ in 0..2 {
        s.probe_round().await;
    }
    let status = s.status();
    assert!(status.iter().all(|p| p.probes == 2), "{status:?}");
    let (la, lb) = (status[0].latency_ms.unwrap(), status[1].latency_ms.unwrap());
    assert!(la < 100.0 && lb >= 200.0, "latency a {la} ms, b {lb} ms");
    assert!(status[0].bandwidth_mbps.is_some(), "{status:?}");

    // The steered playlist: every variant once per origin, absolute URIs,
    // the fast origin first.
    let (code, text, headers) = get_text(&s, "/master.m3u8").await;
    assert_eq!(code, StatusCode::OK, "{text}");
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(
        text.contains("#EXT-X-CONTENT-STEERING:SERVER-URI=\"steering\",PATHWAY-ID=\"cdn-a\"\n"),
        "{text}"
    );
    assert_eq!(text.matches("#EXT-X-STREAM-INF").count(), 4, "{text}");
    let low_b = b.url.replace("master.m3u8", "low/index.m3u8");
    assert!(
        text.contains(&format!(
            "BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.4d401e\",PATHWAY-ID=\"cdn-b\"\n{low_b}\n"
        )),
        "{text}"
    );
    // A player on the slow origin is moved to the fast one (1.25× rule).
    assert_eq!(
        priority(&s, "_HLS_pathway=cdn-b&_HLS_throughput=5000000").await,
        ["cdn-a", "cdn-b"]
    );

    // The fast origin fails: after three failed probes it is down and last.
    a.failing.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        s.probe_round().await;
    }
    assert_eq!(s.status()[0].health, vstack_core::engine::NodeHealth::Down);
    assert_eq!(priority(&s, "_HLS_pathway=cdn-a").await, ["cdn-b", "cdn-a"]);
    let (_, text, _) = get_text(&s, "/master.m3u8").await;
    assert!(text.contains("PATHWAY-ID=\"cdn-b\"\n"), "{text}");
    // It recovers: probes succeed again and it scores back ahead.
    a.failing.store(false, Ordering::SeqCst);
    for _ in 0..6 {
        s.probe_round().await;
    }
    assert_eq!(priority(&s, "").await[0], "cdn-a");
}

#[tokio::test]
async fn bad_reloads_get_json_400_and_no_origin_gets_502() {
    let a = origin(Duration::ZERO).await;
    let b = origin(Duration::ZERO).await;
    let s = steer(&a, &b);
    for query in [
        "_HLS_throughput=abc",
        "_HLS_throughput=-1",
        "_HLS_throughput=99999999999999999999",
        "_HLS_pathway=bad%20id",
        "_HLS_pathway=",
    ] {
        let (code, body, headers) = get_text(&s, &format!("/steering?{query}")).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{query}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }
    // "." is what hls.js sends before it has a pathway: accepted.
    assert_eq!(priority(&s, "_HLS_pathway=.").await.len(), 2);
    a.failing.store(true, Ordering::SeqCst);
    b.failing.store(true, Ordering::SeqCst);
    let (code, body, _) = get_text(&s, "/master.m3u8").await;
    assert_eq!(code, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("503"), "{body}");
}

#[tokio::test]
async fn a_real_port_serves_the_steered_playlist() {
    let a = origin(Duration::ZERO).await;
    let b = origin(Duration::ZERO).await;
    let s = steer(&a, &b);
    let probes = s.spawn_probes();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(vstack::http::serve(
        listener,
        app(s.clone()),
        vstack::http::ServeLimits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let http = reqwest::Client::new();
    let text = http
        .get(format!("http://{addr}/master.m3u8"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("#EXTM3U\n"), "{text}");
    assert_eq!(text.matches("PATHWAY-ID=\"cdn-b\"").count(), 2, "{text}");
    let pathways: serde_json::Value = http
        .get(format!("http://{addr}/pathways"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pathways.as_array().unwrap().len(), 2);
    probes.abort();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
