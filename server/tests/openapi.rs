//! The OpenAPI description (`GET /api/openapi.json`) against the real
//! router, both ways: every documented route is served and answers one of
//! its documented statuses when called plainly; every route the web module
//! declares is documented.

mod common;

use std::{collections::BTreeSet, time::Duration};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use tower::ServiceExt;
use vstack::{
    cluster::embedded::{ClusterConfig, SyntheticVideo},
    history::{History, HistoryConfig, Recorder},
    hub::{Hub, HubConfig},
    web::{AppState, ServerStatsConfig, app, openapi::ROUTES},
};

/// `path` with its parameters filled: a real run id, a real scenario.
fn concrete(path: &str, run_id: &str) -> String {
    path.replace("{id}", run_id)
        .replace("{scenario}", "normal")
        .replace("{kind}", "smart")
        .replace("{node}", "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_matches_the_real_routes() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(dir.path(), HistoryConfig::default())
        .await
        .unwrap();
    let recorder = Recorder::spawn(history.clone());
    let hub = Hub::start(HubConfig {
        metrics_interval: Duration::from_millis(200),
        speed: 8.0,
        cluster: ClusterConfig {
            video: Some(SyntheticVideo {
                duration: Duration::from_secs(20),
                ..SyntheticVideo::default()
            }),
            ..ClusterConfig::default()
        },
        ..HubConfig::default()
    })
    .await
    .unwrap();
    // A stored run, so /api/runs/{id} has something to answer.
    let run: vstack_core::wire::RunRecord = serde_json::from_value(serde_json::json!({
        "summary": {"id": "0123456789abcdef", "kind": "bench", "title": "t", "headline": "h",
            "passed": true, "started_unix_ms": 1, "finished_unix_ms": 2, "conditions": "c", "source": "cli"},
        "machine": [], "version": "v", "tables": [], "charts": [], "notes": [], "report": {}
    }))
    .unwrap();
    history.save_run(&run).await.unwrap();
    let router = app(
        AppState::new(common::leptos_options(), ServerStatsConfig::default())
            .with_hub(hub)
            .with_recorder(recorder),
    );

    let resp = router
        .clone()
        .oneshot(
            Request::get("/api/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(documented, listed);

    // Every documented route answers one of its documented statuses.
    for r in ROUTES {
        let uri = concrete(r.path, "0123456789abcdef");
        let mut req = Request::builder().method(r.method).uri(&uri);
        if r.method == "POST" {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let resp = router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!(
            status != 404 || r.answers.iter().any(|(s, _)| *s == 404),
            "{} {uri}: 404",
            r.method
        );
        assert_ne!(status, 405, "{} {uri}: method not allowed", r.method);
        if r.path != "/ws" {
            assert!(
                r.answers.iter().any(|(s, _)| *s == status),
                "{} {uri} answered {status}, documented {:?}",
                r.method,
                r.answers
            );
        }
    }

    // Every route the web module declares is documented (`/metrics` is the
    // Prometheus listener's, on its own port, see README).
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut declared = BTreeSet::new();
    for f in std::fs::read_dir(&src).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        for part in text.split(".route(\"").skip(1) {
            declared.insert(part.split('"').next().unwrap().to_string());
        }
    }
    let doc_paths: BTreeSet<String> = listed.iter().map(|(_, p)| p.clone()).collect();
    let undocumented: Vec<_> = declared
        .iter()
        .filter(|p| p.starts_with('/') && !doc_paths.contains(*p) && p.as_str() != "/metrics")
        .collect();
    assert!(
        undocumented.is_empty(),
        "routes without a description: {undocumented:?}"
    );
}
