//! Prometheus exposition against real tools: every server's `/metrics` is
//! linted by Debian's `promtool check metrics`, the shipped alert rules pass
//! `promtool check rules` and their unit tests, and a real `prometheus`
//! scrapes a running dashboard, metadata service and node for ~15 s, then
//! answers PromQL queries over its HTTP API with their series.
//!
//! `scripts/setup.sh` installs promtool and prometheus; without them each
//! test says so and skips, unless `VSTACK_REQUIRE_TOOLS` is set (the test
//! script sets it, so CI cannot skip).

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use axum::{body::Body, http::Request};
use http_body_util::BodyExt;
use tower::ServiceExt;
use vstack::{
    cluster::embedded::{Cluster, ClusterConfig, SyntheticVideo},
    hub::{Hub, HubConfig},
    web::{AppState, ServerStatsConfig, app, metrics_router},
};
use vstack_core::redundancy::RedundancyConfig;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cluster_config() -> ClusterConfig {
    ClusterConfig {
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(16),
            bitrate_kbps: 1000.0,
            ..SyntheticVideo::default()
        }),
        redundancy: Some(RedundancyConfig::default()),
        ..ClusterConfig::default()
    }
}

async fn hub() -> Arc<Hub> {
    Hub::start(HubConfig {
        metrics_interval: Duration::from_millis(200),
        speed: 8.0,
        cluster: cluster_config(),
        ..HubConfig::default()
    })
    .await
    .unwrap()
}

/// Waits until both clients finished a session (so the startup histogram
/// has observations).
async fn until_sessions_finish(hub: &Hub) {
    for _ in 0..300 {
        let s = hub.snapshot();
        if s.sessions.iter().any(|r| r.kind.name() == "smart")
            && s.sessions.iter().any(|r| r.kind.name() == "naive")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no session finished within 30 s");
}

async fn body_of(router: &axum::Router, uri: &str) -> String {
    let resp = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{uri}: {}", resp.status());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// `promtool check metrics` on `text`: panics with promtool's complaints.
fn promtool_lints_clean(what: &str, text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics on {what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A sample's value: the line starting with `series ` (exact labels).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_exposes_vstack_series_that_promtool_accepts() {
    if !common::tool("promtool") {
        return;
    }
    let hub = hub().await;
    let state =
        AppState::new(common::leptos_options(), ServerStatsConfig::default()).with_hub(hub.clone());
    let main = app(state.clone());
    let metrics = metrics_router(state);
    until_sessions_finish(&hub).await;
    // A request on the main port shows up in its duration histogram.
    body_of(&main, "/api/status").await;

    let text = body_of(&metrics, "/metrics").await;
    promtool_lints_clean("the dashboard", &text);
    for kind in ["smart", "naive"] {
        let c = format!("{{client=\"{kind}\"}}");
        assert!(
            value(
                &text,
                &format!("vstack_client_startup_latency_seconds_count{c}")
            ) >= 1.0
        );
        assert!(value(&text, &format!("vstack_client_received_bytes_total{c}")) > 0.0);
        assert!(value(&text, &format!("vstack_client_downloads_total{c}")) > 0.0);
        value(&text, &format!("vstack_client_rebuffer_events_total{c}"));
        value(&text, &format!("vstack_client_rebuffer_seconds_total{c}"));
        value(&text, &format!("vstack_client_failovers_total{c}"));
        value(&text, &format!("vstack_client_buffer_level_seconds{c}"));
        let score = value(
            &text,
            &format!("vstack_client_node_score{{client=\"{kind}\",node=\"node-1\"}}"),
        );
        assert!(score > 0.0 && score.is_finite(), "score {score}");
        let healthy: f64 = ["healthy", "degraded", "down"]
            .iter()
            .map(|h| {
                value(
                    &text,
                    &format!(
                        "vstack_client_node_health{{client=\"{kind}\",node=\"node-2\",health=\"{h}\"}}"
                    ),
                )
            })
            .sum();
        assert_eq!(healthy, 1.0, "exactly one health per node");
    }
    assert!(
        value(
            &text,
            "vstack_client_node_bandwidth_bytes_per_second{client=\"smart\",node=\"node-1\"}"
        ) > 0.0
    );
    // The default profile: node-3 is 50 ms away (seed 000).
    let lat = value(
        &text,
        "vstack_emulator_latency_seconds{cluster=\"smart\",node=\"node-3\"}",
    );
    assert!((lat - 0.05).abs() < 1e-9, "{lat}");
    value(&text, "vstack_repair_bytes_total");
    value(&text, "vstack_replication_under_replicated_chunks");
    value(&text, "vstack_dashboard_subscribers");
    value(&text, "vstack_dashboard_dropped_subscribers_total");
    assert!(
        value(
            &text,
            "vstack_http_request_duration_seconds_count{server=\"dashboard\",route=\"/api/status\",method=\"GET\",status=\"200\"}"
        ) >= 1.0
    );

    let cluster = Cluster::start(cluster_config()).await.unwrap();
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    // A request to a chunk route, then the node's own view.
    let node = &cluster.nodes()[0];
    get(format!("{}/chunks", node.url())).await;
    let text = get(format!("{}/metrics", node.url())).await;
    promtool_lints_clean("a storage node", &text);
    assert!(value(&text, "vstack_node_chunks{node=\"node-1\"}") > 0.0);
    assert!(value(&text, "vstack_node_stored_bytes{node=\"node-1\"}") > 0.0);
    value(&text, "vstack_node_served_bytes_total{node=\"node-1\"}");
    value(&text, "vstack_emulator_down{node=\"node-1\"}");
    assert!(
        value(
            &text,
            "vstack_http_request_duration_seconds_count{server=\"node\",route=\"/chunks\",method=\"GET\",status=\"200\"}"
        ) >= 1.0
    );

    let text = get(format!("{}/metrics", cluster.metadata_url())).await;
    promtool_lints_clean("the metadata service", &text);
    assert_eq!(
        value(&text, "vstack_metadata_node_up{node=\"node-3\"}"),
        1.0
    );
    assert_eq!(value(&text, "vstack_metadata_videos"), 1.0);
    assert!(value(&text, "vstack_replication_chunks") > 0.0);
    assert_eq!(value(&text, "vstack_replication_enabled"), 1.0);
    value(&text, "vstack_repair_bytes_total");
    value(&text, "vstack_repair_copies_total{outcome=\"done\"}");
    assert_eq!(
        value(
            &text,
            "vstack_replication_node_status{node=\"node-1\",status=\"live\"}"
        ),
        1.0
    );
}

#[test]
fn shipped_alert_rules_pass_promtool_and_their_unit_tests() {
    if !common::tool("promtool") {
        return;
    }
    let dir = repo().join("deploy/prometheus");
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts_test.yml"],
        vec!["check", "config", "prometheus.yml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Serves `router` on a loopback port; returns `host:port`.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(vstack::http::serve(
        listener,
        router,
        vstack::http::ServeLimits::default(),
        std::future::pending(),
    ));
    addr.to_string()
}

/// Kills the child when the test ends, however it ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_every_server_and_answers_promql() {
    if !common::tool("prometheus") {
        return;
    }
    let hub = hub().await;
    let state =
        AppState::new(common::leptos_options(), ServerStatsConfig::default()).with_hub(hub.clone());
    let dashboard = serve(metrics_router(state)).await;
    let cluster = Cluster::start(cluster_config()).await.unwrap();
    let metadata = cluster
        .metadata_url()
        .trim_start_matches("http://")
        .to_string();
    let node = cluster.nodes()[0]
        .url()
        .trim_start_matches("http://")
        .to_string();

    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
         - job_name: vstack-dashboard\n    static_configs:\n      - targets: [\"{dashboard}\"]\n  \
         - job_name: vstack-metadata\n    static_configs:\n      - targets: [\"{metadata}\"]\n  \
         - job_name: vstack-nodes\n    static_configs:\n      - targets: [\"{node}\"]\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _prometheus = Reaped(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    // About 15 scrapes of each target.
    tokio::time::sleep(Duration::from_secs(15)).await;

    let http = reqwest::Client::new();
    let query = |q: &'static str| {
        let http = http.clone();
        async move {
            let v: serde_json::Value = http
                .get(
                    reqwest::Url::parse_with_params(
                        &format!("http://127.0.0.1:{port}/api/v1/query"),
                        &[("query", q)],
                    )
                    .unwrap(),
                )
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(v["status"], "success", "{q}: {v}");
            v["data"]["result"].as_array().unwrap().clone()
        }
    };
    let up = query("up").await;
    assert_eq!(up.len(), 3, "{up:?}");
    for t in &up {
        assert_eq!(t["value"][1], "1", "every target is up: {t}");
    }
    // Both clients' node scores, each scraped many times.
    let scores = query("count_over_time(vstack_client_node_score{node=\"node-1\"}[1m])").await;
    assert_eq!(scores.len(), 2, "{scores:?}");
    for s in &scores {
        let n: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
        assert!(n >= 8.0, "at least 8 scrapes in ~15 s: {s}");
    }
    let bytes = query("sum(vstack_client_received_bytes_total)").await;
    let b: f64 = bytes[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(b > 0.0, "{bytes:?}");
    let nodes = query("vstack_metadata_node_up == 1").await;
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    let chunks = query("vstack_node_chunks").await;
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    let rate =
        query("rate(vstack_http_request_duration_seconds_count{server=\"metadata\"}[30s])").await;
    assert!(
        !rate.is_empty(),
        "heartbeats reach the metadata service: {rate:?}"
    );
    drop(hub);
}
