//! `vstack bench`'s watchers step: what Watch tab viewers cost the headless
//! twins (issue "Watch it play": viewers never slow the twins).
//!
//! The server is a real `vstack serve` child process (this executable) with
//! its engine and embedded clusters, at `--speed` [`WatchBenchConfig::speed`].
//! The step measures the twins' sessions twice, each time over
//! [`WatchBenchConfig::samples`] sessions started by the `restart` control
//! and read from `GET /api/status` after [`WatchBenchConfig::window_s`]:
//!
//! 1. alone;
//! 2. while [`WatchBenchConfig::watchers`] simulated viewers (an HTTP load
//!    generator, one viewer id each) pull the video's chunks without pause
//!    through the browser route `/watch/smart/{node}/chunks/{id}`, each from
//!    the nodes in turn, at whatever rate their own emulated links give
//!    (the nodes' rates, capped per link). That is more than a real player
//!    asks once its buffer is full: the worst case.
//!
//! `bench` judges: each twin's median startup with viewers within 10 % of
//! its median alone (or 50 ms, the spread of one probe round), no rebuffering
//! event more with viewers than alone, and every viewer served.

use std::{
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use vstack_core::{
    engine::ClientKind,
    stats::{percentile, sorted},
    wire::WatchManifest,
};

/// Sizes of the watchers step; every default in [`WatchBenchConfig::full`]
/// and [`WatchBenchConfig::quick`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WatchBenchConfig {
    /// Simulated viewers (the server's default `--max-watchers`, 20).
    pub watchers: usize,
    /// Twin sessions measured per run (alone, with viewers).
    pub samples: usize,
    /// Wall time each session plays before it is read, s.
    pub window_s: u64,
    /// The twins' time compression (`--speed`).
    pub speed: f64,
}

impl WatchBenchConfig {
    /// 20 viewers, 5 sessions per run, 15 s windows at ×2 (30 s of media).
    pub fn full() -> Self {
        Self {
            watchers: 20,
            samples: 5,
            window_s: 15,
            speed: 2.0,
        }
    }

    /// 20 viewers, 3 sessions per run, 10 s windows at ×2.
    pub fn quick() -> Self {
        Self {
            samples: 3,
            window_s: 10,
            ..Self::full()
        }
    }
}

/// One twin's sessions, alone and beside the viewers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WatchIsolationRow {
    /// The twin.
    pub kind: ClientKind,
    /// Startup latency of each session alone, ms (media time).
    pub startup_alone_ms: Vec<f64>,
    /// The same with the viewers pulling, ms.
    pub startup_watched_ms: Vec<f64>,
    /// Rebuffering events over the sessions alone.
    pub rebuffers_alone: u32,
    /// Rebuffering events over the sessions with viewers.
    pub rebuffers_watched: u32,
    /// Stall time over the sessions alone, ms.
    pub stall_alone_ms: f64,
    /// Stall time over the sessions with viewers, ms.
    pub stall_watched_ms: f64,
}

impl WatchIsolationRow {
    /// Median startup alone, ms.
    pub fn startup_alone_p50_ms(&self) -> f64 {
        percentile(&sorted(&self.startup_alone_ms), 0.5)
    }

    /// Median startup with viewers, ms.
    pub fn startup_watched_p50_ms(&self) -> f64 {
        percentile(&sorted(&self.startup_watched_ms), 0.5)
    }
}

/// The whole step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WatchIsolationReport {
    /// One row per twin.
    pub rows: Vec<WatchIsolationRow>,
    /// Viewers that received at least one whole chunk.
    pub watchers_served: usize,
    /// Viewers asked for.
    pub watchers: usize,
    /// Chunks the viewers received whole.
    pub chunks_pulled: u64,
    /// What the viewers pulled together, Mbit/s over the watched run.
    pub watchers_mbps: f64,
    /// Requests the server refused or failed (any status but 200/206, or a
    /// broken body).
    pub failed_requests: u64,
}

struct Server {
    child: tokio::process::Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Server {
    async fn start(cfg: &WatchBenchConfig) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let data = tempfile::tempdir()?;
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--speed", &cfg.speed.to_string()])
            .args(["--max-watchers", &cfg.watchers.to_string()])
            .args(["--metrics-addr", "127.0.0.1:0", "--synthetic-video"])
            .arg("--data-dir")
            .arg(data.path())
            // Its start-up race (the engine asking before the cluster
            // listens) logs warnings that say nothing about the step.
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting vstack serve")?;
        let base = format!("http://127.0.0.1:{port}");
        super::wait_healthy(&base).await?;
        Ok(Self {
            child,
            base,
            _data: data,
        })
    }
}

/// What one twin session measured.
#[derive(Clone, Copy, Debug)]
struct Sample {
    startup_ms: Option<f64>,
    rebuffers: u32,
    stall_ms: f64,
}

/// Restarts the twins, waits the window, reads both.
async fn sample(
    http: &reqwest::Client,
    base: &str,
    window: Duration,
) -> anyhow::Result<[Sample; 2]> {
    let r = http
        .post(format!("{base}/api/fn/control"))
        .json(&serde_json::json!({ "control": { "action": "restart" } }))
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "restart: {}", r.status());
    tokio::time::sleep(window).await;
    let status: serde_json::Value = http
        .get(format!("{base}/api/status"))
        .send()
        .await?
        .json()
        .await?;
    let one = |kind: &str| Sample {
        startup_ms: status[kind]["startup_latency_ms"].as_f64(),
        rebuffers: status[kind]["rebuffer_count"]
            .as_u64()
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        stall_ms: status[kind]["rebuffer_time_ms"].as_f64().unwrap_or(0.0),
    };
    Ok([one("smart"), one("naive")])
}

async fn run(
    http: &reqwest::Client,
    base: &str,
    cfg: &WatchBenchConfig,
) -> anyhow::Result<Vec<[Sample; 2]>> {
    let mut out = Vec::with_capacity(cfg.samples);
    for _ in 0..cfg.samples {
        out.push(sample(http, base, Duration::from_secs(cfg.window_s)).await?);
    }
    Ok(out)
}

/// Counters the viewers share.
#[derive(Default)]
struct Pulled {
    bytes: AtomicU64,
    chunks: AtomicU64,
    failed: AtomicU64,
}

/// One simulated viewer: pulls every chunk in turn, each from the next of
/// its replicas, until `stop`; returns the chunks it received whole.
async fn viewer(
    http: reqwest::Client,
    base: String,
    m: Arc<WatchManifest>,
    index: usize,
    pulled: Arc<Pulled>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> u64 {
    let id = format!("bench-viewer-{index:04}-of-the-watchers-step");
    let mut whole = 0;
    let mut turn = index;
    while !*stop.borrow() {
        for c in &m.chunks {
            if *stop.borrow() {
                break;
            }
            turn += 1;
            let node = c.replicas[turn % c.replicas.len().max(1)];
            let url = format!(
                "{base}/watch/smart/{node}/chunks/{}?viewer={id}",
                c.chunk_id
            );
            let ok = match http.get(url).send().await {
                Ok(r) if r.status().is_success() => {
                    let mut body = r.bytes_stream();
                    let mut n = 0u64;
                    let mut broken = false;
                    while let Some(piece) = body.next().await {
                        match piece {
                            Ok(b) => {
                                n += b.len() as u64;
                                pulled.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                            }
                            Err(_) => {
                                broken = true;
                                break;
                            }
                        }
                        if *stop.borrow() {
                            break;
                        }
                    }
                    !broken && n == c.size_bytes
                }
                _ => false,
            };
            if ok {
                whole += 1;
                pulled.chunks.fetch_add(1, Ordering::Relaxed);
            } else if !*stop.borrow() {
                pulled.failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    whole
}

/// Runs the step.
///
/// # Errors
/// When the server does not start or its routes fail outright.
pub async fn isolation(
    cfg: &WatchBenchConfig,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<WatchIsolationReport> {
    let server = Server::start(cfg).await?;
    let base = server.base.clone();
    // No idle connections kept: the step sleeps a window between requests,
    // longer than the server keeps an idle connection, and a request sent
    // on one it was closing failed ("connection closed before message
    // completed").
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let m: Arc<WatchManifest> = Arc::new(
        http.get(format!("{base}/watch/api/manifest"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
            .context("the Watch manifest")?,
    );
    // A first session warms the clusters (connections, caches) for both runs.
    sample(&http, &base, Duration::from_secs(cfg.window_s)).await?;
    let alone = run(&http, &base, cfg).await?;
    progress.inc(1);

    let pulled = Arc::new(Pulled::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Each viewer its own connection pool, as separate browsers have.
    let viewers: Vec<_> = (0..cfg.watchers)
        .map(|i| {
            tokio::spawn(viewer(
                reqwest::Client::new(),
                base.clone(),
                m.clone(),
                i,
                pulled.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let bytes_before = pulled.bytes.load(Ordering::Relaxed);
    let watched = run(&http, &base, cfg).await;
    let secs = started.elapsed().as_secs_f64();
    let bytes = pulled.bytes.load(Ordering::Relaxed) - bytes_before;
    let _ = stop_tx.send(true);
    let mut served = 0;
    for v in viewers {
        if v.await.unwrap_or(0) > 0 {
            served += 1;
        }
    }
    let watched = watched?;
    progress.inc(1);
    drop(server.child);

    let rows = [ClientKind::Smart, ClientKind::Naive]
        .into_iter()
        .enumerate()
        .map(|(k, kind)| {
            let startups = |v: &[[Sample; 2]]| v.iter().filter_map(|s| s[k].startup_ms).collect();
            WatchIsolationRow {
                kind,
                startup_alone_ms: startups(&alone),
                startup_watched_ms: startups(&watched),
                rebuffers_alone: alone.iter().map(|s| s[k].rebuffers).sum(),
                rebuffers_watched: watched.iter().map(|s| s[k].rebuffers).sum(),
                stall_alone_ms: alone.iter().map(|s| s[k].stall_ms).sum(),
                stall_watched_ms: watched.iter().map(|s| s[k].stall_ms).sum(),
            }
        })
        .collect();
    Ok(WatchIsolationReport {
        rows,
        watchers_served: served,
        watchers: cfg.watchers,
        chunks_pulled: pulled.chunks.load(Ordering::Relaxed),
        watchers_mbps: bytes as f64 * 8.0 / 1e6 / secs.max(1e-9),
        failed_requests: pulled.failed.load(Ordering::Relaxed),
    })
}
