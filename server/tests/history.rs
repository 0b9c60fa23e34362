//! Durable history on the live engine: the collector's samples, finished
//! sessions, alerts and the dashboard's comparison run go to SQLite through
//! the recorder; `/api/history` serves the time ranges, `/api/runs` the
//! runs, `/runs/{id}` the server-rendered permalink; a reopened database
//! (a restart) still has all of it. Everything through `app()`.

mod common;

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use vstack::{
    history::{History, HistoryConfig, Recorder},
    hub::{Hub, HubConfig},
    web::{AppState, ServerStatsConfig, app},
};
use vstack_core::wire::Control;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_keeps_samples_sessions_alerts_and_its_comparison_run() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::spawn(
        History::open(dir.path(), HistoryConfig::default())
            .await
            .unwrap(),
    );
    let hub: Arc<Hub> = Hub::start(HubConfig {
        recorder: Some(recorder.clone()),
        ..common::hub_config(200, 8.0, 16, 1000.0)
    })
    .await
    .unwrap();
    let router = app(
        AppState::new(common::leptos_options(), ServerStatsConfig::default())
            .with_hub(hub.clone())
            .with_recorder(recorder.clone()),
    );
    // A re-run starts a comparison run; kill a node for an alert.
    hub.control(Control::RerunComparison { scenario: None })
        .await
        .unwrap();
    hub.control(Control::KillNode { node: 2 }).await.unwrap();
    let mut run_id = None;
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        run_id = hub.snapshot().compare_run_id;
        if run_id.is_some() && !hub.alerts().is_empty() {
            break;
        }
    }
    let run_id = run_id.expect("a comparison pair finished and was stored");
    hub.control(Control::ReviveNode { node: 2 }).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let h = common::get_json(&router, "/api/history?range=15m").await;
    let points = h["points"].as_array().unwrap();
    assert!(points.len() > 10, "{h}");
    assert!(points.iter().any(|p| p["client"] == "smart"));
    assert_eq!(h["node_ids"].as_array().unwrap().len(), 3);
    assert_eq!(h["resolution_ms"], 200);
    assert!(
        !h["alerts"].as_array().unwrap().is_empty(),
        "the kill's alerts are stored"
    );
    let day = common::get_json(&router, "/api/history?range=24h").await;
    assert!(
        !day["points"].as_array().unwrap().is_empty(),
        "minute means on the fly"
    );
    let (status, body) = common::get(&router, "/api/history?range=2h").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("15m, 1h, 24h, 7d"), "{body}");

    let runs = common::get_json(&router, "/api/runs?kind=compare").await;
    let run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == run_id.as_str())
        .unwrap_or_else(|| panic!("{runs}"));
    assert_eq!(run["source"], "dashboard");
    let (status, _) = common::get(&router, "/api/runs?kind=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, html) = common::get(&router, &format!("/runs/{run_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("run-title"), "{html}");
    assert!(html.contains("startup latency"), "{html}");

    // Publishing: a bad record is refused with the reason; a good one is 201.
    let mut record = serde_json::from_str::<serde_json::Value>(
        &common::get(&router, &format!("/api/runs/{run_id}")).await.1,
    )
    .unwrap();
    record["summary"]["id"] = "not-an-id".into();
    let post = |body: String| {
        Request::post("/api/runs")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let (status, body) = common::call(&router, post(record.to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("16 hex digits"), "{body}");
    record["summary"]["id"] = "00112233445566ff".into();
    let (status, body) = common::call(&router, post(record.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = common::call(&router, post("{\"summary\":".into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // The players' table publishes as its own kind, with its permalink.
    record["summary"]["id"] = "00112233445566fe".into();
    record["summary"]["kind"] = "players".into();
    let (status, body) = common::call(&router, post(record.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let players = common::get_json(&router, "/api/runs?kind=players").await;
    assert_eq!(players.as_array().unwrap().len(), 1, "{players}");
    assert_eq!(players[0]["id"], "00112233445566fe");
    let (status, html) = common::get(&router, "/runs/00112233445566fe").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("run-title"), "{html}");

    // A restart: the same directory opened again still has everything.
    drop(router);
    drop(hub);
    let reopened = History::open(dir.path(), HistoryConfig::default())
        .await
        .unwrap();
    let now = vstack::history::unix_ms_now();
    let kept = reopened
        .samples(vstack_core::wire::HistoryRange::Hour1, now, vec![], 200)
        .await
        .unwrap();
    assert!(
        kept.points.len() >= points.len(),
        "{} < {}",
        kept.points.len(),
        points.len()
    );
    assert!(!kept.alerts.is_empty());
    assert!(reopened.run(&run_id).await.unwrap().is_some());
    assert!(reopened.run("00112233445566ff").await.unwrap().is_some());
    assert!(!reopened.sessions(0).await.unwrap().is_empty());
    assert_eq!(recorder.dropped(), 0, "no write was dropped");
}
