//! The cluster as separate processes, the way it runs on several machines:
//! `vstack metadata`, `vstack node`, `vstack ingest` of an ffmpeg-made HLS video
//! and `vstack play` against them; plus the exit code 2 of bad input.

mod common;

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Output},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_vstack");

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The cluster token every process of a test cluster shares.
const CLUSTER_TOKEN: &str = "cli-test-cluster-token-0123";

fn spawn(args: &[&str]) -> Proc {
    Proc(
        Command::new(BIN)
            .args(args)
            .env("RUST_LOG", "warn")
            .env("VSTACK_CLUSTER_TOKEN", CLUSTER_TOKEN)
            .env_remove("VSTACK_DATA_DIR")
            .env_remove("VSTACK_ADMIN_TOKEN")
            .spawn()
            .expect("vstack runs"),
    )
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .env("VSTACK_CLUSTER_TOKEN", CLUSTER_TOKEN)
        .env_remove("METADATA_SERVICE_URL")
        .env_remove("VSTACK_DATA_DIR")
        .env_remove("VSTACK_ADMIN_TOKEN")
        .output()
        .expect("vstack runs")
}

async fn wait_for(url: &str, pred: impl Fn(&str) -> bool) {
    let t = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(url).await
            && let Ok(body) = r.text().await
            && pred(&body)
        {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{url} never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The catalog is durable: a restarted metadata service still serves the
/// video (the node re-registers by its heartbeat). Re-ingesting the same
/// content keeps the version; changed content under the same id commits
/// version 2 with new records. Returns the restarted service.
async fn durable_catalog_and_versions(
    meta: &str,
    video: &Path,
    scratch: &Path,
    m: Proc,
    restart: impl Fn() -> Proc,
) -> Proc {
    let before = reqwest::get(format!("{meta}/videos/clip"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    drop(m);
    let m = restart();
    wait_for(&format!("{meta}/health"), |b| b.contains("ok")).await;
    let after = reqwest::get(format!("{meta}/videos/clip"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(before, after, "the manifest survived the restart");
    wait_for(&format!("{meta}/nodes"), |b| b.contains("\"healthy\"")).await;
    let ingest = |dir: &Path| {
        run(&[
            "ingest",
            dir.to_str().unwrap(),
            "--metadata-url",
            meta,
            "--replication",
            "1",
        ])
    };
    let out = ingest(video);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(version 1)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let changed = scratch.join("changed").join("clip");
    std::fs::create_dir_all(&changed).unwrap();
    common::ffmpeg_hls_of(&changed, 12, "testsrc2").unwrap();
    let out = ingest(&changed);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ingested clip (version 2)"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v2: serde_json::Value = reqwest::get(format!("{meta}/videos/clip"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v2["version"], 2);
    let v1: serde_json::Value = serde_json::from_str(&before).unwrap();
    // Chunk 0 is the fMP4 initialization segment (the same for both
    // encodings); the media differs.
    assert_ne!(
        v1["chunks"][1]["sha256"], v2["chunks"][1]["sha256"],
        "the new content is served"
    );
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_metadata_node_ingest_and_play() {
    let d = tempfile::tempdir().unwrap();
    let video = d.path().join("clip");
    std::fs::create_dir(&video).unwrap();
    if common::ffmpeg_hls(&video, 12).is_none() {
        return;
    }
    let (mp, np) = (free_port(), free_port());
    let meta = format!("http://127.0.0.1:{mp}");
    let catalog = d.path().join("catalog");
    let metadata = || {
        spawn(&[
            "metadata",
            "--addr",
            &format!("127.0.0.1:{mp}"),
            "--data-dir",
            catalog.to_str().unwrap(),
        ])
    };
    let mut m = metadata();
    wait_for(&format!("{meta}/health"), |b| b.contains("ok")).await;
    let data = d.path().join("n1");
    let _n = spawn(&[
        "node",
        "--metadata-url",
        &meta,
        "--addr",
        &format!("127.0.0.1:{np}"),
        "--node-id",
        "n1",
        "--data-dir",
        data.to_str().unwrap(),
        "--heartbeat-s",
        "1",
    ]);
    wait_for(&format!("{meta}/nodes"), |b| b.contains("\"healthy\"")).await;

    // Without the cluster's token nothing is uploaded.
    let out = Command::new(BIN)
        .args(["ingest", video.to_str().unwrap(), "--metadata-url", &meta])
        .args(["--cluster-token", "not-this-clusters-token-0123456789"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "ingest",
        video.to_str().unwrap(),
        "--metadata-url",
        &meta,
        "--replication",
        "1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ingested clip (version 1): 4 chunks"),
        "{stdout}"
    );

    m = durable_catalog_and_versions(&meta, &video, d.path(), m, metadata).await;
    let _m = m;

    let out = run(&[
        "play",
        "clip",
        "--metadata-url",
        &meta,
        "--speed",
        "10",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let q: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(q["ended"], true, "{q}");
    assert_eq!(q["chunks_played"], 4, "{q}");
    assert_eq!(q["failovers"], 0, "{q}");

    // The played media, in order, to a file: every frame decodes (12 s of
    // the second encoding at 25 frames/s).
    let played = d.path().join("played.mp4");
    let out = run(&[
        "play",
        "clip",
        "--metadata-url",
        &meta,
        "--speed",
        "10",
        "--output",
        played.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrote 4 chunks"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::probe_frames(&played), ("h264".to_string(), 300));
    let out = run(&[
        "play",
        "clip",
        "--metadata-url",
        &meta,
        "--output",
        "/no/such/dir/x.mp4",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/dir/x.mp4"));

    // Bad input: exit code 2 and a message naming the problem.
    let out = run(&["play", "nope", "--metadata-url", &meta]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

#[test]
fn bad_flags_and_paths_exit_with_2() {
    for args in [
        &["ingest", "/no/such/playlist.m3u8"][..],
        &["play", "--speed", "0"],
        &["node", "--loss", "3"],
        &["cluster", "--nodes", "0"],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}

/// A `vstack compare` run kept two ways: in a data directory's history
/// (`--data-dir`) and published to a running server (`--publish`), whose
/// permalink page then shows it, server-rendered, and still does after the
/// server restarts on the same data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compare_run_is_stored_published_and_survives_a_restart() {
    let served = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let base = format!("http://127.0.0.1:{port}");
    let serve = |dir: &std::path::Path| {
        spawn(&[
            "serve",
            "--no-engine",
            "--no-metrics",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            dir.to_str().unwrap(),
        ])
    };
    let server = serve(served.path());
    wait_for(&format!("{base}/healthz"), |b| b.contains("ok")).await;
    let out = run(&[
        "compare",
        "--output",
        "-",
        "--sessions",
        "1",
        "--video-duration-s",
        "10",
        "--speed",
        "20",
        "--scenarios",
        "normal",
        "--json",
        "--data-dir",
        local.path().to_str().unwrap(),
        "--publish",
        &base,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let link = stderr
        .lines()
        .find_map(|l| l.strip_prefix("published: "))
        .unwrap_or_else(|| panic!("no permalink in {stderr}"))
        .to_string();
    assert!(stderr.contains("stored in"), "{stderr}");
    let id = link.rsplit('/').next().unwrap().to_string();
    let local_runs = vstack::history::History::open(local.path(), Default::default())
        .await
        .unwrap()
        .list_runs(None)
        .await
        .unwrap();
    assert_eq!(local_runs.len(), 1);
    assert_eq!(local_runs[0].id, id);
    let check = |restarted: bool| {
        let (link, id, base) = (link.clone(), id.clone(), base.clone());
        async move {
            let run: serde_json::Value = reqwest::get(format!("{base}/api/runs/{id}"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(run["summary"]["kind"], "compare", "{run}");
            assert_eq!(run["summary"]["source"], "published");
            // Counts read in the right number (was "1 condition(s) · 1 session pairs").
            assert_eq!(
                run["summary"]["title"], "compare (live) · 1 condition · 1 session pair each",
                "{run}"
            );
            assert_eq!(run["report"]["conditions"][0]["condition"], "normal");
            let page = reqwest::get(&link).await.unwrap();
            assert_eq!(page.status(), 200);
            let html = page.text().await.unwrap();
            // Server-rendered: the title and the per-metric table are in the
            // HTML itself, before any WebAssembly runs.
            assert!(
                html.contains("data-testid=\"run-title\""),
                "restarted {restarted}: {html}"
            );
            assert!(html.contains("startup latency"), "{html}");
            assert!(html.contains("± "), "{html}");
        }
    };
    check(false).await;
    drop(server);
    let _server = serve(served.path());
    wait_for(&format!("{base}/healthz"), |b| b.contains("ok")).await;
    check(true).await;
    let missing = reqwest::get(format!("{base}/runs/0123456789abcdef"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[test]
fn compare_live_and_sim_print_json_with_improvements() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("compare_results.json");
    let out = run(&[
        "compare",
        "--output",
        saved.to_str().unwrap(),
        "--sessions",
        "1",
        "--video-duration-s",
        "30",
        "--speed",
        "20",
        "--scenarios",
        "normal",
        "--single",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["mode"], "live");
    let c = &r["conditions"][0];
    assert_eq!(c["condition"], "normal");
    assert_eq!(c["metrics"].as_array().unwrap().len(), 7);
    for m in 4..6 {
        assert!(c["metrics"][m]["smart_mean"].as_f64().unwrap() > 0.0, "{c}");
        // The best single node played too (its own cluster, the video
        // whole on each node, one session per node).
        assert!(
            c["metrics"][m]["single_mean"].as_f64().unwrap() > 0.0,
            "{c}"
        );
    }
    let best: Vec<u64> = serde_json::from_value(c["single_best_node"].clone()).unwrap();
    assert_eq!((best.len(), best.iter().sum::<u64>()), (3, 1), "{c}");
    assert!(c["smart_at_or_above_single"].as_u64().unwrap() <= 1, "{c}");
    assert!(
        c["metrics"][4]["metric"]
            .as_str()
            .unwrap()
            .starts_with("session goodput")
    );
    assert!(
        c["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| !m["improvement"].as_str().unwrap().is_empty()),
        "{c}"
    );
    // The same result is saved for the dashboard, which serves it.
    let file = vstack::runs::saved::read_saved(&saved).unwrap().unwrap();
    assert_eq!(serde_json::to_value(&file).unwrap(), r);
    assert!(file.finished_unix_s.is_some());

    let traces = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces/hsdpa-3g");
    if common::shared_input(&traces) {
        let out = run(&[
            "compare",
            "--mode",
            "sim",
            "--trace",
            traces.to_str().unwrap(),
            "--sessions",
            "5",
            "--output",
            "-",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rebuffers = &r["conditions"][0]["metrics"][1];
        assert_eq!(rebuffers["metric"], "rebuffering events");
        assert!(rebuffers["improvement_p10_p90"].is_array());
    } else {
        eprintln!("skipping the sim half: {} not found", traces.display());
    }

    for args in [
        &["compare", "--scenarios", "meteor"][..],
        &["compare", "--mode", "sim"],
        &["compare", "--speed", "0"],
        &["compare", "--output", "/no/such/dir/x.json"],
        &["compare", "--ladder-kbps", "5000,1000", "--output", "-"],
        &["compare", "--ladder-kbps", "0,1000", "--output", "-"],
        &["compare", "--ladder-kbps", "NaN", "--output", "-"],
        &[
            "compare",
            "--mode",
            "sim",
            "--ladder-kbps",
            "1000,5000",
            "--output",
            "-",
        ],
        &["play", "--abr", "fastest"],
        &["compare", "--mode", "sim", "--single", "--output", "-"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn demo_runs_every_phase_and_reports_measured_findings() {
    let out = run(&["demo", "--speed", "20", "--phase-s", "10", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for phase in [
        "normal",
        "high_latency",
        "low_bandwidth",
        "packet_loss",
        "node_failure",
        "recovery",
        "chaos",
        "adaptive_redundancy",
    ] {
        assert!(
            stdout.contains(&format!("▶ {phase}:")),
            "{phase} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("Key findings (measured in this run)"));
    assert_eq!(
        stdout.matches("    measured: smart fetched ").count(),
        8,
        "each phase ends with its measured narration:\n{stdout}"
    );
    assert!(
        stdout.contains("the largest stall gap was in ")
            || stdout.contains("no phase separated the clients on stall time"),
        "{stdout}"
    );
    // The JSON document ends stdout: nothing (a late log line) follows it.
    let json = &stdout[stdout.find("\n[").unwrap() + 1..];
    let phases: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| {
        panic!("{e}: stdout after the findings is not one JSON document:\n{json}")
    });
    assert_eq!(phases.as_array().unwrap().len(), 8);
    assert!(stdout.contains(" s: node-3 failed for good"), "{stdout}");
    let chunks: u64 = phases
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["smart"]["chunks"].as_u64().unwrap())
        .sum();
    assert!(chunks > 0, "the smart client downloaded during the demo");
    assert_eq!(run(&["demo", "--speed", "0"]).status.code(), Some(2));
}

#[test]
fn chaos_short_seeded_run_passes_its_invariants() {
    let out = run(&[
        "chaos",
        "--duration-s",
        "60",
        "--speed",
        "10",
        "--seed",
        "42",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["seed"], 42);
    assert!(r["violations"].as_array().unwrap().is_empty(), "{r}");
    let failures = r["failures"].as_array().unwrap();
    assert!(failures.len() >= 4, "{r}");
    // 40 s video in 4 s chunks, at least 2 replicas each (hot chunks got a
    // third while three clients played them): every replica read back.
    let verified = r["replicas_verified"].as_u64().unwrap();
    assert!(verified >= 20, "{r}");
    // Durability: a node lost for good at the end, every chunk repaired.
    let d = &r["durability"];
    assert!(d["restored_ms"].as_f64().unwrap() > 0.0, "{d}");
    assert!(d["under_replicated_at_loss"].as_u64().unwrap() > 0, "{d}");
    assert!(d["copies"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(d["rebuffers_during_repair"], 0, "{d}");
    for c in r["clients"].as_array().unwrap() {
        assert!(c["sessions"].as_u64().unwrap() >= 1);
        assert_eq!(c["ended"], c["sessions"], "{c}");
        assert_eq!(c["chunks"][0], c["chunks"][1], "{c}");
    }
}

#[test]
fn chaos_fails_and_names_the_seed_when_an_invariant_breaks() {
    let out = run(&[
        "chaos",
        "--duration-s",
        "10",
        "--speed",
        "20",
        "--seed",
        "5",
        "--clients",
        "2",
        "--corrupt-replica",
        "--no-permanent-loss",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("✗ node-1: replica of"), "{stdout}");
    assert!(
        stderr.contains("replay with `vstack chaos --seed 5"),
        "{stderr}"
    );
    // The clients verified the hash, failed over and still played everything.
    assert!(stdout.contains("✓ every chunk played once"), "{stdout}");
    for args in [
        &["chaos", "--kinds", "meteor"][..],
        &["chaos", "--duration-s", "0"],
        &["chaos", "--clients", "0"],
        &["chaos", "--restore-bound-s", "0"],
        &["metadata", "--repair-cap-mbps", "1e-300"],
        &["metadata", "--max-concurrent-repairs", "0"],
        &["cluster", "--base-rf", "0"],
        &["serve", "--grace-s", "-1"],
        &["sim", "--trace", "x", "--replica-layout", "0"],
    ] {
        assert_eq!(run(args).status.code(), Some(2), "{args:?}");
    }
}

/// The redundancy step of a bench report: a loss repaired within its
/// target, both policies measured.
fn assert_redundancy_step(r: &serde_json::Value) {
    let restore = &r["restore"];
    assert!(restore["copies"].as_u64().unwrap() > 0, "{restore}");
    assert!(restore["restore_ms"].as_f64().unwrap() > 0.0, "{restore}");
    let restored = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "time to restore target RF (1 of 3 nodes lost)")
        .unwrap();
    assert_eq!(restored["passed"], true, "{restored}");
    let hot = r["hot_startup"].as_array().unwrap();
    assert_eq!(hot.len(), 2);
    assert_eq!(hot[0]["policy"], "adaptive");
    assert!(
        hot[0]["mean_replicas"].as_f64().unwrap() > hot[1]["mean_replicas"].as_f64().unwrap(),
        "{hot:?}"
    );
}

/// The watchers step: every simulated viewer served through the browser
/// route, both twins measured alone and watched.
/// The sabre step: every cell agrees with sabre.py (a correctness bar, not
/// a speed one: the speed ratio is only checked to be measured).
fn assert_sabre_step(r: &serde_json::Value, inputs: bool) {
    let find = |name: &str| {
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap()
            .clone()
    };
    let agreeing = find("sabre cells agreeing");
    assert_eq!(agreeing["passed"], inputs, "{agreeing}");
    if inputs {
        assert_eq!(r["sabre"]["cells"].as_array().unwrap().len(), 24);
        let speed = find("sabre table speed, sabre.py time / vstack time");
        assert!(speed["measured"].as_f64().unwrap() > 1.0, "{speed}");
    }
}

/// The dashboards step: every subscriber opened, none left counted; the
/// slowloris figure measured.
fn assert_dashboards_step(r: &serde_json::Value) {
    let d = &r["dashboards"][0];
    assert_eq!(d["subscribers"], 200);
    assert_eq!(d["opened"], 200, "{d}");
    assert_eq!(d["connected_after"], 0, "{d}");
    assert!(d["heartbeats"].as_u64().unwrap() > 0, "{d}");
    assert!(r["slowloris"]["first_frame_loaded_ms"].is_number());
}

/// The ABR step: one target per condition, both clients' quality in its
/// detail.
fn assert_abr_step(results: &[serde_json::Value], conditions: usize) {
    let named = |name: &str| -> Vec<&serde_json::Value> {
        results.iter().filter(|x| x["name"] == name).collect()
    };
    let abr = named("linear QoE gain over naive (quality choice)");
    let single = named("linear QoE gain over the best single node (quality choice)");
    assert_eq!(abr.len(), conditions);
    for x in abr {
        let detail = x["detail"].as_str().unwrap();
        assert!(
            detail.contains("smart (multi-source): linear QoE"),
            "{detail}"
        );
        assert!(detail.contains("naive (BOLA-E): linear QoE"), "{detail}");
    }
    // The best single node in hindsight, measured beside each pair.
    assert_eq!(single.len(), conditions);
    for x in single {
        let detail = x["detail"].as_str().unwrap();
        assert!(detail.contains("best single node in hindsight"), "{detail}");
        assert!(x["measured"].as_f64().is_some_and(f64::is_finite), "{x}");
    }
}

fn assert_watchers_step(r: &serde_json::Value) {
    let w = &r["watch_isolation"];
    assert_eq!(w["watchers_served"], 20, "{w}");
    assert!(w["chunks_pulled"].as_u64().unwrap() > 20, "{w}");
    let rows = w["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{w}");
    for row in rows {
        for key in ["startup_alone_ms", "startup_watched_ms"] {
            assert_eq!(row[key].as_array().unwrap().len(), 3, "{row}");
        }
    }
}

#[test]
fn bench_quick_measures_every_target_and_writes_the_results_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("benchmark_results.json");
    let traces = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces/fcc");
    let mut args = vec!["bench", "--quick", "--output", path.to_str().unwrap()];
    if common::shared_input(&traces) {
        args.extend(["--trace", traces.to_str().unwrap()]);
    } else {
        eprintln!(
            "skipping the trace condition: {} not found",
            traces.display()
        );
    }
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    let sabre_inputs =
        common::shared_input(&shared.join("peers/sabre/sabre.py")) && common::tool("python3");
    args.extend(["--shared", shared.to_str().unwrap()]);
    let out = run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("score: "), "{stdout}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let results = r["results"].as_array().unwrap();
    let find = |name: &str, client: Option<&str>| -> Vec<&serde_json::Value> {
        results
            .iter()
            .filter(|x| x["name"] == name && client.is_none_or(|c| x["client"] == c))
            .collect()
    };
    // The QoE targets for both clients under each condition.
    let conditions = if traces.exists() { 3 } else { 2 };
    for name in [
        "startup latency",
        "rebuffering events",
        "average buffer",
        "average throughput",
    ] {
        for client in ["smart", "naive"] {
            let v = find(name, Some(client));
            assert_eq!(v.len(), conditions, "{name} {client}");
            assert!(v[1]["conditions"].as_str().unwrap().contains("degraded"));
        }
    }
    if traces.exists() {
        assert!(
            find("startup latency", Some("smart"))[2]["conditions"]
                .as_str()
                .unwrap()
                .contains("trace set fcc")
        );
    } else {
        assert!(!r["skipped"].as_array().unwrap().is_empty());
    }
    for x in results {
        assert!(x["measured"].is_number(), "{x}");
        assert!(x["passed"].is_boolean() && x["target"].is_number(), "{x}");
        assert!(!x["conditions"].as_str().unwrap().is_empty(), "{x}");
    }
    let passed = results.iter().filter(|x| x["passed"] == true).count();
    assert_eq!(r["passed"].as_u64().unwrap() as usize, passed);
    assert_eq!(r["total"].as_u64().unwrap() as usize, results.len());
    // Eight QoE targets and two ABR targets per condition.
    assert_eq!(results.len(), conditions * 10 + 34);
    assert_abr_step(results, conditions);
    assert_redundancy_step(&r);
    assert_watchers_step(&r);
    assert_sabre_step(&r, sabre_inputs);
    assert_dashboards_step(&r);
    assert!(r["quick"].as_bool().unwrap());
    assert!(r["machine"]["cpus"].as_u64().unwrap() >= 1);
    assert!(r["config"]["uploaders"].as_u64().unwrap() >= 10);
    // Functional figures that do not depend on the machine's speed.
    assert_eq!(
        find("concurrent uploads", None)[0]["measured"],
        10.0,
        "every uploader succeeded"
    );
    let scale = r["scale"].as_array().unwrap();
    assert_eq!(scale.len(), 1);
    assert_eq!(scale[0]["sessions"], 100);
    assert!(scale[0]["peak_rss_mib"].as_f64().unwrap() > 1.0);
    // Load is judged against capacity: round robin on unequal nodes cannot
    // pass by construction.
    let naive_load = find("load distribution", Some("naive"))[0];
    assert!(
        naive_load["measured"].as_f64().unwrap() > 2.0,
        "{naive_load}"
    );
    for name in [
        "failover time (killed node)",
        "failover time (silent partition)",
    ] {
        let f = find(name, Some("smart"))[0];
        assert!(
            f["measured"].as_f64().unwrap() < 30.0,
            "failover happened: {f}"
        );
    }
    assert_eq!(
        run(&["bench", "--quick", "--output", "/no/such/dir/x.json"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["bench", "--quick", "--trace", "/no/such/traces"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["bench", "--quick", "--scale-sessions", "0"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(run(&["bench", "--bogus"]).status.code(), Some(2));
}

/// Issue 22: weak secrets and impossible caps refuse to start (exit 2), and
/// secrets may come from files.
#[test]
fn weak_secrets_and_impossible_caps_refuse_to_start() {
    for args in [
        &[
            "serve",
            "--no-engine",
            "--public",
            "--admin-token",
            "aaaaaaaaaaaaaaaa",
        ][..],
        &[
            "serve",
            "--no-engine",
            "--public",
            "--admin-token",
            "0123456789abcdef0123",
        ],
        &["serve", "--no-engine", "--max-dashboards", "9000"],
        &[
            "node",
            "--cluster-token",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ],
        &[
            "metadata",
            "--cluster-token-file",
            "/nonexistent/vstack-token",
        ],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run(&[
        "serve",
        "--no-engine",
        "--public",
        "--admin-token",
        "aaaaaaaaaaaaaaaa",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("128 bits"), "{stderr}");
    assert!(
        !stderr.contains("aaaaaaaaaaaaaaaa"),
        "the token is not echoed: {stderr}"
    );
    // A weak token in a file is refused the same way.
    let d = tempfile::tempdir().unwrap();
    let weak = d.path().join("weak");
    std::fs::write(&weak, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n").unwrap();
    let out = run(&["node", "--cluster-token-file", weak.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&[
        "serve",
        "--no-engine",
        "--public",
        "--admin-token-file",
        weak.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// `vstack play` without a cluster seeds the test pattern (real H.264 in
/// fMP4, encoded once and cached) and `--output -` streams what it played to
/// standard output, its status to standard error: what `| mpv -` reads.
#[test]
fn play_seeds_the_test_pattern_and_writes_the_played_media_to_stdout() {
    if !common::tool("ffmpeg") {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let play = || {
        Command::new(BIN)
            .args([
                "play",
                "--video-duration-s",
                "10",
                "--speed",
                "10",
                "--output",
                "-",
            ])
            .env("VSTACK_CACHE_DIR", cache.path())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = play();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("QoE (smart)"),
        "the summary goes to stderr: {stderr}"
    );
    assert!(
        stderr.contains("wrote 2 chunks"),
        "init + one 10 s segment: {stderr}"
    );
    assert_eq!(&out.stdout[4..8], b"ftyp", "an MP4 file on stdout");
    let file = cache.path().join("played.mp4");
    std::fs::write(&file, &out.stdout).unwrap();
    assert_eq!(
        common::probe_frames(&file),
        ("h264".to_string(), 250),
        "10 s at 25 frames/s"
    );
    // Encoded once: the second run reads the cache.
    let cached: Vec<_> = walk(cache.path(), "master.m3u8");
    assert_eq!(cached.len(), 1, "{cached:?}");
    let before = std::fs::metadata(&cached[0]).unwrap().modified().unwrap();
    let again = play();
    assert!(again.status.success());
    assert_eq!(again.stdout, out.stdout, "the same media, byte for byte");
    assert_eq!(
        std::fs::metadata(&cached[0]).unwrap().modified().unwrap(),
        before
    );
}

/// Files named `name` under `dir`, recursively.
fn walk(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            found.extend(walk(&p, name));
        } else if p.file_name().is_some_and(|n| n == name) {
            found.push(p);
        }
    }
    found
}
