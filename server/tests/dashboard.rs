//! The engine host behind the dashboard: REST endpoints through `app()` (no
//! port), bad requests, controls, and a slow event subscriber that is dropped
//! while the engine keeps going.

mod common;

use std::{sync::Arc, time::Duration};

use axum::http::StatusCode;
use tokio::sync::broadcast::error::TryRecvError;
use vstack::{
    hub::{Hub, HubConfig},
    web::ServerStatsConfig,
    web::{AppState, app},
};
use vstack_core::wire::{Control, Scenario, WsEvent};

async fn hub(event_queue: usize) -> Arc<Hub> {
    Hub::start(HubConfig {
        event_queue,
        ..common::hub_config(200, 10.0, 60, 2000.0)
    })
    .await
    .unwrap()
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_endpoints_report_the_live_engine() {
    let hub = hub(1024).await;
    let router = app(
        AppState::new(common::leptos_options(), ServerStatsConfig::default()).with_hub(hub.clone()),
    );
    // Let both clients play and the collector sample a few times.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let s = common::get_json(&router, "/api/status").await;
    assert_eq!(s["video_id"], "test-video-001");
    assert_eq!(s["scenario"], "normal");
    for kind in ["smart", "naive"] {
        let c = &s[kind];
        assert_eq!(c["kind"], kind);
        assert!(c["downloads"].as_u64().unwrap() > 0, "{c}");
        assert_eq!(c["nodes"].as_array().unwrap().len(), 3);
        assert!(c["buffer_level_s"].as_f64().unwrap() > 0.0);
    }

    let st = common::get_json(&router, "/api/stats").await;
    assert!(st["buffer_history"].as_array().unwrap().len() >= 3, "{st}");
    assert!(st["scheduler"]["smart"]["downloads"].as_u64().unwrap() > 0);
    assert_eq!(st["network"]["naive"].as_array().unwrap().len(), 3);

    let m = common::get_json(&router, "/api/metrics").await;
    let samples = m["samples"].as_u64().unwrap();
    assert!((3..=100).contains(&samples), "{samples}");
    assert!(m["averages"]["smart"]["buffer_s"].as_f64().unwrap() > 0.0);
    assert!(m["totals"]["smart"]["bytes_transferred"].as_u64().unwrap() > 0);
    let (status, csv) = common::get(&router, "/api/metrics?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with("uptime_ms,client,state,buffer_level_s"));
    assert!(csv.lines().count() > 3);
    let (status, body) = common::get(&router, "/api/metrics?format=xml").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("\"error\""), "{body}");

    let p = common::get_json(&router, "/api/performance").await;
    let targets = p["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 5);
    let met = targets.iter().filter(|t| t["met"] == true).count() as f64;
    assert_eq!(p["overall_score_pct"].as_f64().unwrap(), met * 20.0);
    let startup = &targets[0];
    assert_eq!(startup["name"], "startup_latency");
    assert!(startup["measured"].as_f64().unwrap() > 0.0);

    // The history stays bounded (100 by default).
    assert!(hub.snapshot().history.len() <= 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_validate_and_act_on_both_clusters() {
    let hub = hub(1024).await;
    // A scenario is typed: an unknown name never reaches the hub, the control
    // itself does not decode.
    let e = serde_json::from_value::<Control>(
        serde_json::json!({"action": "scenario", "name": "meteor"}),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown scenario"), "{e}");
    let e = hub
        .control(Control::KillNode { node: 7 })
        .await
        .unwrap_err();
    assert!(e.contains("no node 7"), "{e}");
    // Negative, and positive but vanishing (1e-300 overflowed the pacer and
    // panicked workers): both refused, naming the field.
    for bandwidth in [-1.0, 1e-300] {
        let e = hub
            .control(Control::NodeConditions {
                node: 0,
                latency_ms: 0.0,
                bandwidth_mbps: Some(bandwidth),
                loss: 0.0,
                down: false,
            })
            .await
            .unwrap_err();
        assert!(e.contains("bandwidth_mbps"), "{bandwidth}: {e}");
    }

    let e = hub
        .control(Control::PickVideo {
            video_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert!(
        e.contains("unknown video") && e.contains("test-video-001"),
        "{e}"
    );
    assert_eq!(hub.snapshot().videos, vec!["test-video-001".to_string()]);
    hub.control(Control::PickVideo {
        video_id: "test-video-001".into(),
    })
    .await
    .unwrap();

    hub.control(Control::Scenario {
        name: Scenario::Degraded,
    })
    .await
    .unwrap();
    assert_eq!(hub.snapshot().scenario.name(), "degraded");
    hub.control(Control::KillNode { node: 0 }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = hub.snapshot();
    for c in [s.clients.smart.unwrap(), s.clients.naive.unwrap()] {
        assert!(c.nodes[0].killed);
    }
    hub.control(Control::ReviveNode { node: 0 }).await.unwrap();
    assert!(!hub.snapshot().clients.smart.unwrap().nodes[0].killed);
    hub.control(Control::Stop).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        hub.snapshot().clients.smart.unwrap().state.name(),
        "stopped"
    );
    hub.control(Control::Play).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_lags_and_the_engine_does_not_wait() {
    // A queue of 4 events and a subscriber that never reads.
    let hub = hub(4).await;
    let mut slow = hub.subscribe();
    let before = hub.snapshot();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = hub.snapshot();
    // The engine kept playing and the collector kept sampling.
    let dl = |s: &vstack_core::wire::DashboardSnapshot| {
        s.clients.smart.as_ref().map(|c| c.downloads).unwrap_or(0)
    };
    assert!(dl(&after) > dl(&before), "{} → {}", dl(&before), dl(&after));
    assert!(after.history.len() > before.history.len());
    // The subscriber fell behind: `/ws` drops a subscriber on exactly this.
    assert!(matches!(slow.try_recv(), Err(TryRecvError::Lagged(_))));
    // A fresh subscriber gets events again.
    let mut fresh = hub.subscribe();
    let ev = tokio::time::timeout(Duration::from_secs(2), fresh.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(!matches!(ev, WsEvent::Heartbeat(_)));
}

#[tokio::test]
async fn without_an_engine_rest_answers_503() {
    let router = app(AppState::new(
        common::leptos_options(),
        ServerStatsConfig::default(),
    ));
    let (status, body) = common::get(&router, "/api/status").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("no engine"), "{body}");
}

#[tokio::test]
async fn saved_compare_results_are_served_or_explained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("compare_results.json");
    let router = app(
        AppState::new(common::leptos_options(), ServerStatsConfig::default())
            .with_compare_results(path.clone()),
    );
    let (status, body) = common::get(&router, "/api/compare").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("run `vstack compare`"), "{body}");
    std::fs::write(&path, "{\"not\": \"a comparison\"}").unwrap();
    let (status, body) = common::get(&router, "/api/compare").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    // The reason stays in the server's log; the path is nobody else's business.
    assert!(body.contains("cannot be read"), "{body}");
    assert!(!body.contains(path.to_str().unwrap()), "{body}");
    // A real (simulated) comparison round-trips.
    let q = |strategy: vstack_core::sim::Strategy| {
        let chunks = vstack_core::input::load_chunks(
            &vstack_core::input::VideoSource::Synthetic {
                bitrate_kbps: 2000.0,
                duration: Duration::from_secs(60),
                vbr: 0.2,
                seed: 1,
            },
            Duration::from_secs(10),
        )
        .unwrap();
        let manifest = vstack_core::engine::striped_manifest("v", &chunks, 3, 2);
        let trace = std::sync::Arc::new(vstack_core::input::Trace::constant(10.0, 20.0));
        vstack_core::sim::run_experiment(&vstack_core::sim::Experiment {
            base: vstack_core::sim::SimConfig::new(Vec::new()),
            traces: vec![trace],
            manifest,
            strategies: vec![strategy],
            sessions: 2,
            seed: 1,
            random_offsets: false,
            abr: Default::default(),
        })
        .into_iter()
        .map(|r| r.qoe)
        .collect::<Vec<_>>()
    };
    let report = vstack_core::wire::CompareReport {
        mode: vstack_core::compare::CompareMode::Sim,
        video: (60, 2000.0),
        ladder_kbps: Vec::new(),
        speed: 1.0,
        finished_unix_s: Some(1),
        conditions: vec![vstack_core::compare::aggregate(
            "constant",
            &q(vstack_core::sim::Strategy::Smart),
            &q(vstack_core::sim::Strategy::Naive),
        )],
    };
    std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
    let (status, body) = common::get(&router, "/api/compare").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let back: vstack_core::wire::CompareReport = serde_json::from_str(&body).unwrap();
    assert_eq!(back, report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_subscriber_that_stops_reading_is_dropped() {
    use futures::StreamExt;
    // Frequent, large frames (a metrics_update every 2 ms) and a queue of 4:
    // a client that stops reading fills the socket buffers within seconds,
    // the server's sender falls behind and drops it.
    let hub = Hub::start(HubConfig {
        event_queue: 4,
        ..common::hub_config(2, 10.0, 600, 2000.0)
    })
    .await
    .unwrap();
    let router = app(
        AppState::new(common::leptos_options(), ServerStatsConfig::default()).with_hub(hub.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    // Read the first frame (the snapshot), then stop reading for a while.
    let first = ws.next().await.unwrap().unwrap();
    assert!(
        first
            .to_text()
            .unwrap()
            .starts_with("{\"type\":\"snapshot\"")
    );
    let before = hub
        .snapshot()
        .clients
        .smart
        .map(|c| c.downloads)
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = hub
        .snapshot()
        .clients
        .smart
        .map(|c| c.downloads)
        .unwrap_or(0);
    assert!(
        after > before,
        "the engine kept downloading: {before} → {after}"
    );
    // Now drain: the server closed the connection after what was buffered.
    let drained = tokio::time::timeout(Duration::from_secs(60), async {
        let mut frames = 0u64;
        while let Some(m) = ws.next().await {
            match m {
                Ok(tokio_tungstenite::tungstenite::Message::Close(_)) | Err(_) => break,
                Ok(_) => frames += 1,
            }
        }
        frames
    })
    .await
    .expect("the server ended the connection");
    assert!(drained > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_every_phase_on_the_dashboard_clusters() {
    let hub = Hub::start(common::hub_config(200, 10.0, 300, 2000.0))
        .await
        .unwrap();
    let mut events = hub.subscribe();
    let e = hub
        .control(Control::StartDemo { phase_s: 5 })
        .await
        .unwrap_err();
    assert!(e.contains("phase_s"), "{e}");
    let e = hub.control(Control::StopDemo).await.unwrap_err();
    assert!(e.contains("no demo"), "{e}");

    let ok = hub
        .control(Control::StartDemo { phase_s: 10 })
        .await
        .unwrap();
    assert!(ok.contains("8 phases of 10 s"), "{ok}");
    // 8 phases of 10 media s at ×10: about 8 s of wall time.
    let t = std::time::Instant::now();
    let demo = loop {
        if let Some(d) = hub.snapshot().demo
            && !d.running
        {
            break d;
        }
        assert!(t.elapsed() < Duration::from_secs(40), "demo never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(demo.phases.len(), 8);
    assert_eq!(demo.phases[6].name, "chaos");
    assert!(
        demo.phases
            .iter()
            .all(|p| p.smart.is_some() && p.naive.is_some())
    );
    let chunks: u64 = demo
        .phases
        .iter()
        .map(|p| p.smart.as_ref().unwrap().chunks + p.naive.as_ref().unwrap().chunks)
        .sum();
    assert!(chunks > 0, "both clients downloaded during the demo");
    // Two chaos steps, then the redundancy phase's loss (the dashboard's
    // default grace outlasts a 1 s phase: no repair event follows).
    assert_eq!(demo.events.len(), 3, "{:?}", demo.events);
    assert!(demo.events[2].ends_with("node-3 failed for good"));
    for p in &demo.phases {
        let m = p.measured.as_deref().unwrap_or_default();
        assert!(
            m.starts_with("smart fetched ") && m.contains("; naive fetched "),
            "{m}"
        );
    }
    assert!(
        demo.findings[0].starts_with("rebuffering: smart"),
        "{:?}",
        demo.findings
    );
    // Afterwards every node is up and on its base profile.
    let s = hub.snapshot();
    assert_eq!(s.scenario.name(), "normal");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        hub.snapshot()
            .clients
            .smart
            .unwrap()
            .nodes
            .iter()
            .all(|n| !n.killed)
    );
    let mut demo_events = 0;
    while let Ok(ev) = events.try_recv() {
        demo_events += usize::from(matches!(ev, WsEvent::Demo(_)));
    }
    assert!(
        demo_events >= 14,
        "a frame per phase start and end: {demo_events}"
    );

    // A demo can be stopped half-way.
    hub.control(Control::StartDemo { phase_s: 30 })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(hub.snapshot().demo.unwrap().running);
    hub.control(Control::StopDemo).await.unwrap();
    let d = hub.snapshot().demo.unwrap();
    assert!(!d.running && d.current.is_none());
    assert_eq!(hub.snapshot().scenario.name(), "normal");
}

#[tokio::test]
async fn consensus_scenarios_are_recorded_runs_of_the_real_protocol() {
    let router = app(AppState::new(
        common::leptos_options(),
        ServerStatsConfig::default(),
    ));
    let normal = common::get_json(&router, "/api/consensus/normal").await;
    assert_eq!(normal["messages"], 6);
    assert_eq!(normal["fast_path_messages"], 6);
    assert_eq!(normal["classic_messages"], 12);
    let steps = normal["steps"].as_array().unwrap();
    // The start, then 3 accepts and 3 accepted.
    assert_eq!(steps.len(), 7);
    assert!(normal["chosen"].as_str().unwrap().starts_with("uploader-a"));
    let last = steps.last().unwrap();
    assert_eq!(last["acceptors"].as_array().unwrap().len(), 3);
    assert_eq!(last["proposers"][0]["phase"], "chosen");

    let conflict = common::get_json(&router, "/api/consensus/conflict?seed=3").await;
    let last = conflict["steps"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let learned: Vec<_> = last["proposers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["chosen"].clone())
        .collect();
    assert_eq!(learned.len(), 2);
    assert_eq!(learned[0], learned[1], "{conflict}");
    assert_eq!(conflict["chosen_by_quorum"].as_array().unwrap().len(), 1);

    let failure = common::get_json(&router, "/api/consensus/node_failure").await;
    assert!(
        failure["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["lost"] == true)
    );
    assert!(failure["chosen"].is_string());

    let (status, body) = common::get(&router, "/api/consensus/meteor").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("normal, conflict, node_failure"), "{body}");
    let (status, _) = common::get(&router, "/api/consensus/normal?seed=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twins_play_paired_sessions_and_totals_add_up_across_them() {
    let hub = Hub::start(HubConfig {
        session_gap: Duration::from_millis(200),
        ..common::hub_config(100, 20.0, 20, 1000.0)
    })
    .await
    .unwrap();
    let wait_for = |pred: &dyn Fn(&vstack_core::wire::DashboardSnapshot) -> bool| {
        let t = std::time::Instant::now();
        loop {
            let s = hub.snapshot();
            if pred(&s) {
                return s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "timed out: {:?}",
                s.sessions
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // Two sessions of each twin under steady conditions: paired by number.
    let s = tokio::task::block_in_place(|| wait_for(&|s| s.sessions.len() >= 4));
    for r in &s.sessions {
        assert!(r.steady, "{r:?}");
        assert!(
            s.sessions
                .iter()
                .any(|t| t.kind != r.kind && t.session == r.session),
            "session {} of {:?} has no twin: {:?}",
            r.session,
            r.kind,
            s.sessions
        );
        assert!(
            r.playback.goodput_mbps > 0.0
                && r.playback.goodput_mbps < r.playback.avg_throughput_mbps,
            "{r:?}"
        );
    }
    // Totals cover every ended session plus the current one.
    let smart_sessions: Vec<_> = s
        .sessions
        .iter()
        .filter(|r| r.kind == vstack_core::wire::ClientKind::Smart)
        .collect();
    let t = &s.totals.smart;
    assert!(t.sessions_ended >= smart_sessions.len() as u64, "{t:?}");
    assert!(t.sessions_finished >= smart_sessions.len() as u64, "{t:?}");
    let current = s.clients.smart.as_ref().unwrap();
    assert!(
        t.bytes_transferred > current.bytes_total,
        "cumulative, not the current session: {t:?} vs {}",
        current.bytes_total
    );
    assert!(
        t.downloads >= u64::from(current.chunk_count) * smart_sessions.len() as u64,
        "every chunk of every finished session: {t:?}"
    );

    // A scenario change mid-session: that session is not steady. (Wait
    // until the smart client is inside a session, not at its edge: a change
    // between two sessions leaves both steady.)
    let mid = tokio::task::block_in_place(|| {
        wait_for(&|s| {
            s.clients
                .smart
                .as_ref()
                .is_some_and(|c| c.chunks_played >= 1 && c.chunks_played < c.chunk_count)
        })
    });
    let session = mid.clients.smart.as_ref().unwrap().session;
    hub.control(Control::Scenario {
        name: Scenario::HighLatency,
    })
    .await
    .unwrap();
    let ended = |s: &vstack_core::wire::DashboardSnapshot| {
        s.sessions
            .iter()
            .find(|r| r.kind == vstack_core::wire::ClientKind::Smart && r.session == session)
            .cloned()
    };
    let s = tokio::task::block_in_place(|| wait_for(&|s| ended(s).is_some()));
    let changed = ended(&s).unwrap();
    assert!(!changed.steady, "{changed:?}");

    // Re-run under a scenario: applied first, then every dashboard gets the
    // cleared state.
    let mut events = hub.subscribe();
    let ok = hub
        .control(Control::RerunComparison {
            scenario: Some(Scenario::LowBandwidth),
        })
        .await
        .unwrap();
    assert!(ok.contains("scenario low_bandwidth"), "{ok}");
    let snap = loop {
        match events.recv().await.unwrap() {
            WsEvent::Snapshot(s) => break s,
            _ => continue,
        }
    };
    assert!(snap.sessions.is_empty());
    assert_eq!(snap.scenario.name(), "low_bandwidth");
    let e = hub
        .control(Control::RerunComparison { scenario: None })
        .await
        .unwrap();
    assert!(e.contains("current conditions"), "{e}");
}

/// `GET uri` through `router` with `range` (a `Range` header value): the
/// status, the body's bytes and how long the whole body took.
async fn fetch_timed(
    router: &axum::Router,
    uri: &str,
    range: Option<&str>,
) -> (StatusCode, bytes::Bytes, Duration) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = axum::http::Request::get(uri);
    if let Some(r) = range {
        req = req.header(axum::http::header::RANGE, r);
    }
    let t0 = std::time::Instant::now();
    let resp = router
        .clone()
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, body, t0.elapsed())
}

/// Bad input on the Watch routes is a JSON 4xx that takes no viewer place.
async fn bad_watch_requests_are_json_4xx(router: &axum::Router, node: u64, id: &str, viewer: &str) {
    for (uri, want) in [
        (format!("/watch/smart/{node}/chunks/{id}?viewer=short"), 400),
        (format!("/watch/smart/{node}/chunks/{id}"), 400),
        (
            format!("/watch/other/{node}/chunks/{id}?viewer={viewer}"),
            400,
        ),
        (format!("/watch/smart/x/chunks/{id}?viewer={viewer}"), 400),
        (format!("/watch/smart/9/chunks/{id}?viewer={viewer}"), 404),
        (
            format!("/watch/smart/{node}/chunks/..%2F..%2Fetc%2Fpasswd?viewer={viewer}"),
            400,
        ),
        (
            format!("/watch/smart/99999999999999999999999/chunks/{id}?viewer={viewer}"),
            400,
        ),
        (
            format!("/watch/smart/{node}/chunks/{id}?viewer=aaaaaaaaaaaaaaaa%3Cscript%3E"),
            400,
        ),
        (
            format!("/watch/smart/{node}/chunks/nope?viewer={viewer}"),
            404,
        ),
        (
            format!("/watch/smart/{node}/ping?viewer={viewer}&bytes=99999999"),
            400,
        ),
    ] {
        let (status, body) = common::get(router, &uri).await;
        assert_eq!(status.as_u16(), want, "{uri}: {body}");
        assert!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"].is_string(),
            "{uri}: {body}"
        );
    }
}

/// A hub playing a 20 s ffmpeg HLS video written to `dir` (200 ms ticks, real
/// time, 500 kbit/s links) with `watch`'s viewer settings, and the app over
/// it; `None` when ffmpeg is absent (which panics under
/// `VSTACK_REQUIRE_TOOLS`, as in CI).
async fn hls_video_hub(
    dir: &std::path::Path,
    watch: vstack::hub::watch::WatchConfig,
) -> Option<(Arc<Hub>, axum::Router)> {
    common::ffmpeg_hls(dir, 20)?;
    let hub = Hub::start(HubConfig {
        video: Some(dir.to_path_buf()),
        watch,
        ..common::hub_config(200, 1.0, 20, 500.0)
    })
    .await
    .unwrap();
    let router = app(
        AppState::new(common::leptos_options(), ServerStatsConfig::default()).with_hub(hub.clone()),
    );
    Some((hub, router))
}

/// The Watch tab's data path: a browser player reaches the nodes through
/// the dashboard's origin, on links of its own that follow the nodes'
/// conditions without slowing the nodes' own clients, within a bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_routes_serve_each_viewer_on_its_own_link() {
    let d = tempfile::tempdir().unwrap();
    let watch = vstack::hub::watch::WatchConfig {
        max_watchers: 2,
        ..Default::default()
    };
    let Some((hub, router)) = hls_video_hub(d.path(), watch).await else {
        return;
    };
    // What a player needs first: an fMP4 video (MPEG-TS was remuxed), its
    // MSE type read from the initialization segment, the nodes.
    let m = common::get_json(&router, "/watch/api/manifest").await;
    assert_eq!(m["init"], true, "{m}");
    assert!(
        m["mse_type"]
            .as_str()
            .unwrap()
            .starts_with("video/mp4; codecs=\"avc1."),
        "{m}"
    );
    assert_eq!(m["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(m["chunks"][0]["duration_ms"], 0);
    assert_eq!(
        (m["watching"].as_u64(), m["max_watchers"].as_u64()),
        (Some(0), Some(2))
    );
    let chunk = &m["chunks"][1];
    let (id, sha) = (
        chunk["chunk_id"].as_str().unwrap(),
        chunk["sha256"].as_str().unwrap(),
    );
    let node = chunk["replicas"][0].as_u64().unwrap();
    let viewer = "viewer-aaaaaaaaaaaa";
    let url = format!("/watch/smart/{node}/chunks/{id}?viewer={viewer}");
    let (status, body, _) = fetch_timed(&router, &url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(vstack::http::sha256_hex(&body), sha, "the stored bytes");
    let (status, part, _) = fetch_timed(&router, &url, Some("bytes=100-199")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part, body.slice(100..200));

    bad_watch_requests_are_json_4xx(&router, node, id, viewer).await;

    // The viewer's link follows the node's conditions: node-1 at 8 Mbit/s
    // sends 1 MiB in about 1.05 s. The nodes' own link is not shared: the
    // same probe straight to the node at the same time takes as long, not
    // twice as long.
    hub.control(Control::NodeConditions {
        node: 0,
        latency_ms: 0.0,
        bandwidth_mbps: Some(8.0),
        loss: 0.0,
        down: false,
    })
    .await
    .unwrap();
    let node = hub.storages(vstack_core::engine::ClientKind::Smart).await[0].clone();
    let direct = async {
        // The node's own link, the one the twins' clients are paced on.
        use http_body_util::BodyExt;
        let t0 = std::time::Instant::now();
        let resp = node
            .serve_ping(node.emulator().clone(), 1 << 20)
            .await
            .unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (StatusCode::OK, body, t0.elapsed())
    };
    let ping = format!("/watch/smart/0/ping?viewer={viewer}&bytes=1048576");
    let other = "/watch/smart/0/ping?viewer=viewer-bbbbbbbbbbbb&bytes=1048576".to_string();
    let (a, b, c) = tokio::join!(
        fetch_timed(&router, &ping, None),
        fetch_timed(&router, &other, None),
        direct
    );
    for (who, (status, body, took)) in
        [("viewer a", a), ("viewer b", b), ("the node's own link", c)]
    {
        assert_eq!(status, StatusCode::OK, "{who}");
        assert_eq!(body.len(), 1 << 20, "{who}");
        let s = took.as_secs_f64();
        // Alone: 1.05 s; on one shared link the three would take 3.1 s.
        assert!(
            (0.95..2.5).contains(&s),
            "{who}: 1 MiB at 8 Mbit/s beside two other transfers took {s} s"
        );
    }

    // The bound: a third viewer is refused while two are watching.
    let (status, body) =
        common::get(&router, "/watch/smart/0/ping?viewer=viewer-cccccccccccc").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["watching"].as_u64(), v["max_watchers"].as_u64()),
        (Some(2), Some(2))
    );

    // A killed node refuses viewers as it refuses the twins.
    hub.control(Control::KillNode { node: 0 }).await.unwrap();
    let (status, body) = common::get(&router, &ping).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

/// The multivariant playlists of the three origins.
async fn hls_playlists_name_their_origins(router: &axum::Router, viewer: &str) {
    // Steering: every node a pathway, the tag first, codecs read from the
    // initialization segment.
    let (status, main) = common::get(
        router,
        &format!("/watch/hls/main.m3u8?viewer={viewer}&origin=steering"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{main}");
    assert!(
        main.contains(&format!(
            "#EXT-X-CONTENT-STEERING:SERVER-URI=\"steering?viewer={viewer}\",PATHWAY-ID=\"node-"
        )),
        "{main}"
    );
    for (i, node) in ["node-1", "node-2", "node-3"].iter().enumerate() {
        assert!(
            main.contains(&format!(
                ",PATHWAY-ID=\"{node}\"\n{i}/0/media.m3u8?viewer={viewer}\n"
            )),
            "{main}"
        );
    }
    assert!(main.contains(",CODECS=\"avc1."), "{main}");
    // One node as the origin: no pathways.
    let (_, single) = common::get(
        router,
        &format!("/watch/hls/main.m3u8?viewer={viewer}&origin=1"),
    )
    .await;
    assert_eq!(single.matches("#EXT-X-STREAM-INF").count(), 1, "{single}");
    assert!(
        !single.contains("PATHWAY-ID") && !single.contains("STEERING"),
        "{single}"
    );
    assert!(
        single.contains(&format!("\n1/0/media.m3u8?viewer={viewer}\n")),
        "{single}"
    );
    let (_, pathways) = common::get(
        router,
        &format!("/watch/hls/main.m3u8?viewer={viewer}&origin=pathways"),
    )
    .await;
    assert_eq!(pathways.matches("PATHWAY-ID").count(), 3, "{pathways}");
    assert!(!pathways.contains("STEERING"), "{pathways}");
}

/// Each node's media playlist lists every segment; each node serves every
/// one of them, byte for byte (a chunk it lacks is pulled).
async fn every_node_serves_every_segment(
    router: &axum::Router,
    chunks: &[serde_json::Value],
    viewer: &str,
) {
    // Each node's media playlist lists every segment; each node serves
    // every one of them, byte for byte (a chunk it lacks is pulled).
    let mut pulled = 0;
    for node in 0..3u64 {
        let (status, media) = common::get(
            router,
            &format!("/watch/hls/{node}/0/media.m3u8?viewer={viewer}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{media}");
        assert!(
            media.contains(&format!(
                "#EXT-X-MAP:URI=\"../segments/{}?viewer={viewer}\"",
                chunks[0]["chunk_id"].as_str().unwrap()
            )),
            "{media}"
        );
        assert_eq!(
            media.matches("#EXTINF:").count(),
            chunks.len() - 1,
            "{media}"
        );
        assert!(media.ends_with("#EXT-X-ENDLIST\n"), "{media}");
        for c in chunks {
            let id = c["chunk_id"].as_str().unwrap();
            let holds = c["replicas"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r.as_u64() == Some(node));
            pulled += usize::from(!holds);
            let url = format!("/watch/hls/{node}/segments/{id}?viewer={viewer}");
            let (status, body, _) = fetch_timed(router, &url, None).await;
            assert_eq!(status, StatusCode::OK, "{url}");
            assert_eq!(
                vstack::http::sha256_hex(&body),
                c["sha256"].as_str().unwrap(),
                "{url}"
            );
            if !holds {
                let (status, part, _) = fetch_timed(router, &url, Some("bytes=10-19")).await;
                assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{url}");
                assert_eq!(part, body.slice(10..20), "{url}");
            }
        }
    }
    assert!(pulled > 0, "replication 2 of 3: some node lacks some chunk");
}

/// Bad input on the HLS routes: JSON 400s (and a 404 for a missing rung).
async fn bad_hls_requests_are_json_4xx(router: &axum::Router, viewer: &str) {
    // Bad input: JSON 400s.
    for uri in [
        format!("/watch/hls/main.m3u8?viewer={viewer}&origin=7"),
        format!("/watch/hls/main.m3u8?viewer={viewer}&origin=best"),
        "/watch/hls/main.m3u8?viewer=short&origin=steering".to_string(),
        format!("/watch/hls/steering?viewer={viewer}&_HLS_pathway=a%20b"),
        format!("/watch/hls/steering?viewer={viewer}&_HLS_throughput=fast"),
        format!("/watch/hls/steering?viewer={viewer}&_HLS_throughput=9000000000000"),
        format!("/watch/hls/x/0/media.m3u8?viewer={viewer}"),
        // Hostile segment ids are refused before any node is asked.
        format!("/watch/hls/0/segments/..%2F..%2Fetc%2Fpasswd?viewer={viewer}"),
        format!("/watch/hls/0/segments/.hidden?viewer={viewer}"),
        format!("/watch/hls/0/segments/{}?viewer={viewer}", "a".repeat(200)),
    ] {
        let (status, body) = common::get(router, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"].is_string());
    }
    let (status, _) = common::get(
        router,
        &format!("/watch/hls/0/5/media.m3u8?viewer={viewer}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The same video as HLS for the players most sites ship: playlists for a
/// single origin, static pathways and content steering; every node serves
/// every segment (pulling what it lacks from a replica); the steering
/// manifest ranks the nodes by the smart monitor, puts a killed node last,
/// refuses a reload within a second with 429 and `Retry-After`, and a
/// server without an engine answers 410.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_routes_serve_every_node_as_an_origin_and_steer() {
    let d = tempfile::tempdir().unwrap();
    let Some((hub, router)) = hls_video_hub(d.path(), Default::default()).await else {
        return;
    };
    let m = common::get_json(&router, "/watch/api/manifest").await;
    let chunks = m["chunks"].as_array().unwrap();
    let viewer = "viewer-hls-aaaaaaaaaa";

    hls_playlists_name_their_origins(&router, viewer).await;
    every_node_serves_every_segment(&router, chunks, viewer).await;
    bad_hls_requests_are_json_4xx(&router, viewer).await;

    // The steering manifest, then a reload too soon.
    let steer =
        format!("/watch/hls/steering?viewer={viewer}&_HLS_pathway=node-1&_HLS_throughput=5000000");
    let s = common::get_json(&router, &steer).await;
    assert_eq!(
        (s["VERSION"].as_u64(), s["TTL"].as_u64()),
        (Some(1), Some(5)),
        "{s}"
    );
    assert_eq!(s["RELOAD-URI"], format!("steering?viewer={viewer}"));
    let mut ids: Vec<&str> = s["PATHWAY-PRIORITY"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["node-1", "node-2", "node-3"], "{s}");
    let resp = {
        use tower::ServiceExt;
        router
            .clone()
            .oneshot(
                axum::http::Request::get(&steer)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
    };
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "1");

    // A killed node goes last, whatever the player says it uses, and
    // refuses the player's requests.
    hub.control(Control::KillNode { node: 0 }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let s = common::get_json(&router, &steer).await;
    assert_eq!(s["PATHWAY-PRIORITY"][2], "node-1", "{s}");
    let (status, _) = common::get(
        &router,
        &format!(
            "/watch/hls/0/segments/{}?viewer={viewer}",
            chunks[1]["chunk_id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // A partitioned node answers nothing until it heals: its playlist waits.
    let media = format!("/watch/hls/1/0/media.m3u8?viewer={viewer}");
    hub.control(Control::PartitionNode {
        node: 1,
        partitioned: true,
    })
    .await
    .unwrap();
    let waiting =
        tokio::time::timeout(Duration::from_millis(500), common::get(&router, &media)).await;
    assert!(waiting.is_err(), "a partitioned node answered");
    hub.control(Control::PartitionNode {
        node: 1,
        partitioned: false,
    })
    .await
    .unwrap();
    let (status, _) = common::get(&router, &media).await;
    assert_eq!(status, StatusCode::OK);

    // No engine: nothing to steer, ever.
    let bare = app(AppState::new(
        common::leptos_options(),
        ServerStatsConfig::default(),
    ));
    let (status, body) = common::get(&bare, &steer).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
}
