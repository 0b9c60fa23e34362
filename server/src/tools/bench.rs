//! The benchmark behind `vstack bench`: every target of the seed's benchmark table (001, "Performance
//! Targets") measured in one run against embedded clusters over real HTTP, plus
//! load distribution and failover time; results to `benchmark_results.json`.
//!
//! | target | how it is measured |
//! |---|---|
//! | startup latency < 2 s (req. 6.3) | smart client sessions one after another on the default 3-node cluster (100 / 40 / 15 Mbit/s, 5 / 20 / 50 ms); mean |
//! | rebuffering ≤ 1 per session (8.5) | same sessions; the worst session |
//! | average buffer > 20 s (9.5) | same sessions; mean of the time-weighted buffer level |
//! | average throughput > 40 Mbit/s (9.3) | same sessions; mean of bytes × 8 / time with a download in flight |
//! | storage node latency < 10 ms (2.4) | sequential `GET` of a 256 KiB chunk from one unshaped node; p95 to the last byte, wall clock |
//! | concurrent uploads ≥ 10 (9.2) | uploaders at once, each `PUT`ting its chunks (hash-checked) to 2 replicas and registering its manifest; uploaders whose video then reads back intact |
//! | concurrent playback ≥ 100 clients (9.1) | clients (half smart, half naive) playing at once from 3 unshaped nodes; clients that played to the end with ≤ 1 rebuffer |
//! | node response time < 50 ms (9.1) | `GET /ping` to every node every 50 ms during that load; p95, wall clock |
//! | load distribution | chunks per node over the concurrent clients (identical nodes): busiest node's share ÷ fair share ≤ 1.5 |
//! | failover time < 5 s (001, key findings) | a node serving a smart client's download is killed; from the kill to that chunk's delivery from another replica; worst of the repetitions |
//!
//! Emulated links run with time compression (`speed`); times of the playback
//! sessions and the failover are media time (what a viewer sees), the node
//! latency and response time are wall-clock. `--quick` shrinks every step to
//! a CI-sized run (the figures are still measured, on smaller samples). The
//! JSON records the machine, the build profile and every step's configuration.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use vstack_core::{
    conditions::Conditions,
    engine::{ClientKind, ClientSnapshot},
    stats::{mean, percentile, sorted},
};

use super::{failover_time_ms, testbed::Testbed};
use crate::{
    client::{self, ClientConfig, ClientNotice, fetch_view},
    cluster::{
        embedded::{Cluster, ClusterConfig, SyntheticVideo},
        storage::HASH_HEADER,
        wire::{ChunkEntry, VideoManifest},
    },
    http::sha256_hex,
    sync::LockExt,
};

/// How a measured value is compared with its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// measured < target
    Below,
    /// measured ≤ target
    AtMost,
    /// measured > target
    Above,
    /// measured ≥ target
    AtLeast,
}

impl Comparison {
    /// Whether `measured` meets `target`.
    pub fn check(self, measured: f64, target: f64) -> bool {
        match self {
            Comparison::Below => measured < target,
            Comparison::AtMost => measured <= target,
            Comparison::Above => measured > target,
            Comparison::AtLeast => measured >= target,
        }
    }

    /// The comparison as a symbol (`<`, `≤`, `>`, `≥`).
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Below => "<",
            Comparison::AtMost => "≤",
            Comparison::Above => ">",
            Comparison::AtLeast => "≥",
        }
    }
}

/// One target's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetResult {
    /// Metric name.
    pub name: String,
    /// The seed's requirement number, if any.
    pub requirement: Option<String>,
    /// Unit of `measured` and `target`.
    pub unit: String,
    /// Measured in this run.
    pub measured: f64,
    /// Target.
    pub target: f64,
    /// How they compare.
    pub comparison: Comparison,
    /// Whether the target is met.
    pub passed: bool,
    /// How it was measured, sample size and spread.
    pub detail: String,
}

impl TargetResult {
    fn new(
        name: &str,
        requirement: Option<&str>,
        unit: &str,
        measured: f64,
        comparison: Comparison,
        target: f64,
        detail: String,
    ) -> Self {
        Self {
            name: name.into(),
            requirement: requirement.map(Into::into),
            unit: unit.into(),
            measured,
            target,
            comparison,
            passed: measured.is_finite() && comparison.check(measured, target),
            detail,
        }
    }
}

/// The machine the run was measured on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    /// `linux`, …
    pub os: String,
    /// `x86_64`, …
    pub arch: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// CPU model (`/proc/cpuinfo`), when known.
    pub cpu_model: Option<String>,
    /// Total memory, MiB (`/proc/meminfo`), when known.
    pub memory_total_mib: Option<u64>,
    /// Host name, when known.
    pub hostname: Option<String>,
    /// `debug` or `release` build of vstack.
    pub build: String,
    /// vstack version.
    pub vstack_version: String,
}

impl Machine {
    /// Reads the current machine's facts.
    pub fn current() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpuinfo
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string()),
            memory_total_mib: meminfo
                .lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .map(|kb| kb / 1024),
            hostname: std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .into(),
            vstack_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Sizes of every step; [`BenchConfig::full`] and [`BenchConfig::quick`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Playback step: smart sessions, one after another.
    pub playback_sessions: usize,
    /// Playback step: video length, s (5 Mbit/s, 10 s chunks).
    pub playback_video_s: u64,
    /// Playback and failover steps: time compression.
    pub speed: f64,
    /// Node latency step: sequential requests.
    pub latency_requests: usize,
    /// Node latency step: chunk size, bytes.
    pub latency_chunk_bytes: usize,
    /// Upload step: concurrent uploaders.
    pub uploaders: usize,
    /// Upload step: chunks per uploader.
    pub upload_chunks: usize,
    /// Upload step: chunk size, bytes.
    pub upload_chunk_bytes: usize,
    /// Concurrent playback step: clients at once.
    pub concurrent_clients: usize,
    /// Concurrent playback step: video length, s (5 Mbit/s, 4 s chunks).
    pub concurrent_video_s: u64,
    /// Concurrent playback step: time compression.
    pub concurrent_speed: f64,
    /// Failover step: repetitions.
    pub failover_reps: usize,
}

impl BenchConfig {
    /// The full run (a few minutes).
    pub fn full() -> Self {
        Self {
            playback_sessions: 3,
            playback_video_s: 600,
            speed: 20.0,
            latency_requests: 2000,
            latency_chunk_bytes: 256 << 10,
            uploaders: 20,
            upload_chunks: 10,
            upload_chunk_bytes: 1 << 20,
            concurrent_clients: 120,
            concurrent_video_s: 60,
            concurrent_speed: 1.0,
            failover_reps: 5,
        }
    }

    /// The CI-sized run (about a minute).
    pub fn quick() -> Self {
        Self {
            playback_sessions: 2,
            playback_video_s: 120,
            speed: 20.0,
            latency_requests: 300,
            latency_chunk_bytes: 256 << 10,
            uploaders: 10,
            upload_chunks: 4,
            upload_chunk_bytes: 1 << 20,
            concurrent_clients: 100,
            concurrent_video_s: 20,
            concurrent_speed: 2.0,
            failover_reps: 2,
        }
    }
}

/// `benchmark_results.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// Start of the run, seconds since the Unix epoch.
    pub started_unix_s: u64,
    /// Wall time of the run, s.
    pub wall_s: f64,
    /// `--quick` run.
    pub quick: bool,
    /// The machine.
    pub machine: Machine,
    /// Step sizes.
    pub config: BenchConfig,
    /// One entry per target.
    pub results: Vec<TargetResult>,
    /// Targets met.
    pub passed: usize,
    /// Targets.
    pub total: usize,
    /// passed / total × 100.
    pub score_pct: f64,
}

fn bar(mp: &MultiProgress, name: &str, len: usize) -> ProgressBar {
    let pb = mp.add(ProgressBar::new(len as u64));
    pb.set_style(
        ProgressStyle::with_template("{prefix:>20} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(name.to_string());
    pb
}

async fn playback(cfg: &BenchConfig, pb: &ProgressBar) -> anyhow::Result<Vec<TargetResult>> {
    let bed = Testbed::start(ClusterConfig {
        speed: cfg.speed,
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(cfg.playback_video_s),
            ..SyntheticVideo::default()
        }),
        ..ClusterConfig::default()
    })
    .await?;
    let mut reports = Vec::new();
    for _ in 0..cfg.playback_sessions {
        reports.push(bed.play_session(ClientKind::Smart, cfg.speed).await?);
        pb.inc(1);
    }
    let n = reports.len();
    let startup: Vec<f64> = reports
        .iter()
        .map(|q| q.startup_latency_ms.unwrap_or(q.session_ms) / 1e3)
        .collect();
    let rebuffers: Vec<f64> = reports
        .iter()
        .map(|q| f64::from(q.rebuffer_count))
        .collect();
    let buffer: Vec<f64> = reports.iter().map(|q| q.avg_buffer_s).collect();
    let tput: Vec<f64> = reports.iter().map(|q| q.avg_throughput_mbps).collect();
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.2}..{hi:.2}")
    };
    let how = format!(
        "{n} smart sessions of a {} s 5 Mbit/s video on the default 3-node cluster at ×{}",
        cfg.playback_video_s, cfg.speed
    );
    Ok(vec![
        TargetResult::new(
            "startup latency",
            Some("6.3"),
            "s",
            mean(&startup),
            Comparison::Below,
            2.0,
            format!("mean of {how}; range {}", range(&startup)),
        ),
        TargetResult::new(
            "rebuffering events",
            Some("8.5"),
            "per session",
            rebuffers.iter().copied().fold(0.0, f64::max),
            Comparison::AtMost,
            1.0,
            format!("worst of {how}; total {}", rebuffers.iter().sum::<f64>()),
        ),
        TargetResult::new(
            "average buffer",
            Some("9.5"),
            "s",
            mean(&buffer),
            Comparison::Above,
            20.0,
            format!("mean of {how}; range {}", range(&buffer)),
        ),
        TargetResult::new(
            "average throughput",
            Some("9.3"),
            "Mbit/s",
            mean(&tput),
            Comparison::Above,
            40.0,
            format!("mean of {how}; range {}", range(&tput)),
        ),
    ])
}

fn unshaped(nodes: usize, video: Option<SyntheticVideo>) -> ClusterConfig {
    ClusterConfig {
        nodes,
        profiles: vec![Conditions::default()],
        video,
        ..ClusterConfig::default()
    }
}

async fn node_latency(cfg: &BenchConfig, pb: &ProgressBar) -> anyhow::Result<TargetResult> {
    let cluster = Cluster::start(unshaped(1, None)).await?;
    let url = cluster.nodes()[0].url();
    let http = reqwest::Client::new();
    let payload = crate::cluster::embedded::synthetic_payload(9, 0, cfg.latency_chunk_bytes as u64);
    let r = http
        .put(format!("{url}/chunks/bench-latency"))
        .header(HASH_HEADER, sha256_hex(&payload))
        .body(payload)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "upload: {}", r.status());
    let mut ms = Vec::with_capacity(cfg.latency_requests);
    for i in 0..cfg.latency_requests {
        let t = Instant::now();
        let b = http
            .get(format!("{url}/chunks/bench-latency"))
            .send()
            .await?
            .bytes()
            .await?;
        anyhow::ensure!(b.len() == cfg.latency_chunk_bytes, "short read");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        if i % 50 == 0 {
            pb.set_position(i as u64);
        }
    }
    pb.set_position(cfg.latency_requests as u64);
    ms.sort_by(f64::total_cmp);
    Ok(TargetResult::new(
        "storage node latency",
        Some("2.4"),
        "ms",
        percentile(&ms, 0.95),
        Comparison::Below,
        10.0,
        format!(
            "p95 of {} sequential GETs of a {} KiB chunk from one unshaped node (wall clock); p50 {:.2} ms, p99 {:.2} ms",
            ms.len(),
            cfg.latency_chunk_bytes >> 10,
            percentile(&ms, 0.5),
            percentile(&ms, 0.99)
        ),
    ))
}

/// One uploader: its chunks to 2 replicas each, then its manifest; then reads
/// everything back and checks the hashes. Returns the PUT times, ms.
async fn upload_one(
    http: reqwest::Client,
    metadata_url: String,
    nodes: Vec<(String, String)>,
    uploader: usize,
    chunks: usize,
    chunk_bytes: usize,
) -> anyhow::Result<Vec<f64>> {
    let video_id = format!("bench-upload-{uploader:03}");
    let mut entries = Vec::new();
    let mut put_ms = Vec::new();
    for i in 0..chunks {
        let bytes = crate::cluster::embedded::synthetic_payload(
            1000 + uploader as u64,
            i as u32,
            chunk_bytes as u64,
        );
        let sha = sha256_hex(&bytes);
        let chunk_id = format!("{video_id}-{i:05}");
        let replicas = [
            (uploader + i) % nodes.len(),
            (uploader + i + 1) % nodes.len(),
        ];
        let puts = replicas.iter().map(|&r| {
            let (http, url, id, sha, bytes) = (
                http.clone(),
                nodes[r].1.clone(),
                chunk_id.clone(),
                sha.clone(),
                bytes.clone(),
            );
            async move {
                let t = Instant::now();
                let resp = http
                    .put(format!("{url}/chunks/{id}"))
                    .header(HASH_HEADER, sha)
                    .body(bytes)
                    .send()
                    .await?;
                anyhow::ensure!(resp.status().is_success(), "PUT {id}: {}", resp.status());
                Ok(t.elapsed().as_secs_f64() * 1e3)
            }
        });
        for r in futures::future::join_all(puts).await {
            put_ms.push(r?);
        }
        entries.push(ChunkEntry {
            index: i as u32,
            chunk_id,
            duration_ms: 4000,
            size_bytes: chunk_bytes as u64,
            sha256: sha,
            replicas: replicas.iter().map(|&r| nodes[r].0.clone()).collect(),
        });
    }
    let manifest = VideoManifest {
        video_id: video_id.clone(),
        chunks: entries,
    };
    let resp = http
        .post(format!("{metadata_url}/videos"))
        .json(&manifest)
        .send()
        .await?;
    anyhow::ensure!(resp.status().is_success(), "manifest: {}", resp.status());
    // Read back: the manifest from the catalog, every replica from its node.
    let view = fetch_view(&http, &metadata_url, &video_id).await?;
    anyhow::ensure!(view.manifest == manifest, "manifest changed");
    for c in &manifest.chunks {
        for r in &c.replicas {
            let url = &nodes.iter().find(|(id, _)| id == r).context("node")?.1;
            let b = http
                .get(format!("{url}/chunks/{}", c.chunk_id))
                .send()
                .await?
                .bytes()
                .await?;
            anyhow::ensure!(
                sha256_hex(&b) == c.sha256,
                "{} on {r} corrupted",
                c.chunk_id
            );
        }
    }
    Ok(put_ms)
}

async fn uploads(cfg: &BenchConfig, pb: &ProgressBar) -> anyhow::Result<TargetResult> {
    let cluster = Cluster::start(unshaped(3, None)).await?;
    let nodes: Vec<(String, String)> = cluster
        .nodes()
        .iter()
        .map(|n| (n.node_id.clone(), n.url()))
        .collect();
    let http = reqwest::Client::new();
    let t = Instant::now();
    let tasks: Vec<_> = (0..cfg.uploaders)
        .map(|u| {
            let pb = pb.clone();
            let f = upload_one(
                http.clone(),
                cluster.metadata_url(),
                nodes.clone(),
                u,
                cfg.upload_chunks,
                cfg.upload_chunk_bytes,
            );
            tokio::spawn(async move {
                let r = f.await;
                pb.inc(1);
                r
            })
        })
        .collect();
    let mut ok = 0usize;
    let mut put_ms = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        match t.await? {
            Ok(ms) => {
                ok += 1;
                put_ms.extend(ms);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let wall = t.elapsed().as_secs_f64();
    put_ms.sort_by(f64::total_cmp);
    let mb = (ok * cfg.upload_chunks * cfg.upload_chunk_bytes * 2) as f64 / 1e6;
    Ok(TargetResult::new(
        "concurrent uploads",
        Some("9.2"),
        "uploaders",
        ok as f64,
        Comparison::AtLeast,
        10.0,
        format!(
            "{ok} of {} uploaders at once succeeded and read back intact ({} × {} KiB chunks each, 2 replicas, 3 unshaped nodes); {mb:.0} MB in {wall:.2} s ({:.0} MB/s); PUT p50 {:.1} ms, p95 {:.1} ms{}",
            cfg.uploaders,
            cfg.upload_chunks,
            cfg.upload_chunk_bytes >> 10,
            mb / wall,
            percentile(&put_ms, 0.5),
            percentile(&put_ms, 0.95),
            errors
                .first()
                .map(|e| format!("; first error: {e}"))
                .unwrap_or_default()
        ),
    ))
}

/// Pings every node of `cluster` every 50 ms until `stop`, recording each
/// round trip in ms (a failed ping counts as infinitely long).
fn ping_nodes(
    cluster: &Cluster,
    http: &reqwest::Client,
    stop: &watch::Receiver<bool>,
) -> (Arc<Mutex<Vec<f64>>>, Vec<tokio::task::JoinHandle<()>>) {
    let rtts = Arc::new(Mutex::new(Vec::<f64>::new()));
    let probers = cluster
        .nodes()
        .iter()
        .map(|n| {
            let (http, url, rtts, mut stop) = (
                http.clone(),
                format!("{}/ping", n.url()),
                rtts.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(50));
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tick.tick() => {}
                    }
                    let t = Instant::now();
                    let ok = match http.get(&url).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    let ms = if ok {
                        t.elapsed().as_secs_f64() * 1e3
                    } else {
                        f64::INFINITY
                    };
                    rtts.locked().push(ms);
                }
            })
        })
        .collect();
    (rtts, probers)
}

async fn concurrent(cfg: &BenchConfig, pb: &ProgressBar) -> anyhow::Result<Vec<TargetResult>> {
    let bed = Testbed::start(ClusterConfig {
        speed: cfg.concurrent_speed,
        ..unshaped(
            3,
            Some(SyntheticVideo {
                duration: Duration::from_secs(cfg.concurrent_video_s),
                chunk_duration: Duration::from_secs(4),
                ..SyntheticVideo::default()
            }),
        )
    })
    .await?;
    // Node response time under load: /ping every 50 ms on every node.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (rtts, probers) = ping_nodes(&bed.cluster, &bed.http, &stop_rx);
    let t = Instant::now();
    let tasks: Vec<_> = (0..cfg.concurrent_clients)
        .map(|i| {
            let kind = ClientKind::ALL[i % 2];
            let (http, view, pb, speed) = (
                bed.http.clone(),
                bed.view.clone(),
                pb.clone(),
                cfg.concurrent_speed,
            );
            tokio::spawn(async move {
                let r = client::play_session(http, view, kind, speed).await;
                pb.inc(1);
                r
            })
        })
        .collect();
    let mut reports = Vec::new();
    let mut errors = 0;
    for t in tasks {
        match t.await? {
            Ok(q) => reports.push(q),
            Err(_) => errors += 1,
        }
    }
    let wall = t.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    for p in probers {
        let _ = p.await;
    }
    let sustained = reports
        .iter()
        .filter(|q| q.ended && q.rebuffer_count <= 1)
        .count();
    let stalled = reports.iter().filter(|q| q.rebuffer_count > 0).count();
    let startup = sorted(
        &reports
            .iter()
            .filter_map(|q| q.startup_latency_ms)
            .collect::<Vec<_>>(),
    );
    let rtt = sorted(&rtts.locked());
    let nodes = bed.view.nodes.len();
    let per_node: Vec<u64> = (0..nodes)
        .map(|i| reports.iter().map(|q| q.per_node[i].chunks).sum())
        .collect();
    let total: u64 = per_node.iter().sum();
    let busiest = per_node.iter().copied().max().unwrap_or(0) as f64;
    let imbalance = if total == 0 {
        f64::NAN
    } else {
        busiest / (total as f64 / nodes as f64)
    };
    Ok(vec![
        TargetResult::new(
            "concurrent playback",
            Some("9.1"),
            "clients",
            sustained as f64,
            Comparison::AtLeast,
            100.0,
            format!(
                "{sustained} of {} clients at once (half smart, half naive; {} s 5 Mbit/s video at ×{}, 3 unshaped nodes) played to the end with ≤ 1 rebuffer; {stalled} stalled at all, {errors} failed; startup p50 {:.0} ms, max {:.0} ms (media); {wall:.1} s wall",
                cfg.concurrent_clients,
                cfg.concurrent_video_s,
                cfg.concurrent_speed,
                percentile(&startup, 0.5),
                startup.last().copied().unwrap_or(f64::NAN)
            ),
        ),
        TargetResult::new(
            "node response time",
            Some("9.1"),
            "ms",
            percentile(&rtt, 0.95),
            Comparison::Below,
            50.0,
            format!(
                "p95 of {} GET /ping round trips to the 3 nodes during the concurrent playback (wall clock); p50 {:.2} ms, max {:.1} ms",
                rtt.len(),
                percentile(&rtt, 0.5),
                rtt.last().copied().unwrap_or(f64::NAN)
            ),
        ),
        TargetResult::new(
            "load distribution",
            None,
            "× fair share",
            imbalance,
            Comparison::AtMost,
            1.5,
            format!(
                "busiest node's chunks ÷ (all chunks ÷ nodes) over the concurrent clients on identical nodes; chunks per node {per_node:?}"
            ),
        ),
    ])
}

/// One failover measurement: a smart client plays; the first node seen
/// serving one of its downloads is killed; the time (media) from the kill to
/// that chunk's delivery from another replica. `None` when no download was
/// caught in flight or no failover followed within a minute of media time.
async fn failover_once(bed: &mut Testbed, speed: f64) -> anyhow::Result<Option<f64>> {
    let (tx, mut rx) = watch::channel::<Option<ClientSnapshot>>(None);
    let (ntx, mut nrx) = broadcast::channel::<ClientNotice>(1 << 12);
    let (stop_tx, stop_rx) = watch::channel(false);
    let t0 = tokio::time::Instant::now();
    let player = tokio::spawn(client::play(
        bed.http.clone(),
        bed.view.clone(),
        ClientConfig {
            kind: ClientKind::Smart,
            speed,
            ..ClientConfig::default()
        },
        tx,
        ntx,
        stop_rx,
    ));
    let media = move || t0.elapsed().as_secs_f64() * speed;
    // Wait until some node has a download in flight, then kill that node.
    let mut killed = None;
    let limit = tokio::time::Instant::now() + Duration::from_secs(20);
    while killed.is_none() && tokio::time::Instant::now() < limit {
        if tokio::time::timeout_at(limit, rx.changed()).await.is_err() {
            break;
        }
        let busy = rx
            .borrow_and_update()
            .as_ref()
            .and_then(|s| s.nodes.iter().position(|n| n.in_flight > 0));
        if let Some(i) = busy {
            bed.cluster.kill_node(i);
            killed = Some((i, media()));
        }
    }
    let mut measured = None;
    if let Some((i, at)) = killed {
        let node_id = bed.cluster.nodes()[i].node_id.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(60.0 / speed);
        let mut log = Vec::new();
        while measured.is_none() {
            match tokio::time::timeout_at(deadline, nrx.recv()).await {
                Ok(Ok(n)) => {
                    log.push((media(), n));
                    measured = failover_time_ms(&log, &node_id, at, f64::MAX);
                }
                _ => break,
            }
        }
        bed.cluster.restart_node(i).await?;
    }
    let _ = stop_tx.send(true);
    let _ = player.await;
    Ok(measured)
}

async fn failover(cfg: &BenchConfig, pb: &ProgressBar) -> anyhow::Result<TargetResult> {
    let mut bed = Testbed::start(ClusterConfig {
        speed: cfg.speed,
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(120),
            ..SyntheticVideo::default()
        }),
        ..ClusterConfig::default()
    })
    .await?;
    let speed = cfg.speed;
    let mut times = Vec::new();
    let mut misses = 0;
    for _ in 0..cfg.failover_reps {
        match failover_once(&mut bed, speed).await? {
            Some(ms) => times.push(ms),
            None => misses += 1,
        }
        pb.inc(1);
    }
    let worst = times.iter().copied().fold(f64::NAN, f64::max) / 1e3;
    Ok(TargetResult::new(
        "failover time",
        None,
        "s",
        if times.is_empty() { f64::NAN } else { worst },
        Comparison::Below,
        5.0,
        format!(
            "worst of {} kills of a node serving a smart client's download (default cluster, ×{speed}); from the kill to that chunk's delivery from another replica (media time); mean {:.2} s; {misses} kill(s) without a measurable failover",
            times.len(),
            mean(&times) / 1e3
        ),
    ))
}

/// Runs every step and returns the report.
///
/// # Errors
/// When a cluster cannot start or a step's HTTP fails outright.
pub async fn execute(quick: bool, mp: &MultiProgress) -> anyhow::Result<BenchReport> {
    let cfg = if quick {
        BenchConfig::quick()
    } else {
        BenchConfig::full()
    };
    let started_unix_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let t = Instant::now();
    let mut results = Vec::new();
    let pb = bar(mp, "playback sessions", cfg.playback_sessions);
    results.extend(playback(&cfg, &pb).await.context("playback")?);
    pb.finish();
    let pb = bar(mp, "node latency", cfg.latency_requests);
    results.push(node_latency(&cfg, &pb).await.context("node latency")?);
    pb.finish();
    let pb = bar(mp, "concurrent uploads", cfg.uploaders);
    results.push(uploads(&cfg, &pb).await.context("uploads")?);
    pb.finish();
    let pb = bar(mp, "concurrent playback", cfg.concurrent_clients);
    results.extend(concurrent(&cfg, &pb).await.context("concurrent playback")?);
    pb.finish();
    let pb = bar(mp, "failover", cfg.failover_reps);
    results.push(failover(&cfg, &pb).await.context("failover")?);
    pb.finish();
    let passed = results.iter().filter(|r| r.passed).count();
    let total = results.len();
    Ok(BenchReport {
        started_unix_s,
        wall_s: t.elapsed().as_secs_f64(),
        quick,
        machine: Machine::current(),
        config: cfg,
        passed,
        total,
        score_pct: passed as f64 / total as f64 * 100.0,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_and_percentiles() {
        assert!(Comparison::Below.check(1.9, 2.0) && !Comparison::Below.check(2.0, 2.0));
        assert!(Comparison::AtMost.check(1.0, 1.0) && !Comparison::AtMost.check(1.1, 1.0));
        assert!(Comparison::Above.check(20.1, 20.0) && !Comparison::Above.check(20.0, 20.0));
        assert!(Comparison::AtLeast.check(10.0, 10.0) && !Comparison::AtLeast.check(9.0, 10.0));
        let r = TargetResult::new(
            "x",
            None,
            "s",
            f64::NAN,
            Comparison::Below,
            1.0,
            String::new(),
        );
        assert!(!r.passed, "an unmeasured value never passes");
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn machine_facts_are_read() {
        let m = Machine::current();
        assert!(m.cpus >= 1);
        assert!(!m.os.is_empty() && !m.arch.is_empty());
    }
}
