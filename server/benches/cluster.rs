//! Cluster figures on this machine (`cargo bench -p server --bench cluster`),
//! printed, not asserted:
//! 1. emulator accuracy: a 2-second-worth body at 1–200 Mbit/s, achieved rate
//!    and error;
//! 2. unshaped node throughput on loopback (one 50 MB chunk, best of 3);
//! 3. concurrent live `play` sessions one process sustains on the embedded
//!    cluster with unshaped nodes (so any stall is the host's doing): a 60 s
//!    synthetic 5 Mbit/s video at real time, N sessions at once, counting
//!    sessions that rebuffered. `VSTACK_BENCH_SESSIONS` (default `50,100,200`)
//!    sets the N values; `VSTACK_BENCH_SKIP_SESSIONS=1` skips part 3.

use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use vstack::{
    client::{self, ClientConfig, fetch_view},
    cluster::{
        embedded::{Cluster, ClusterConfig, SyntheticVideo},
        emulator::Conditions,
        storage::HASH_HEADER,
    },
    http::sha256_hex,
};
use vstack_core::engine::ClientKind;

async fn put(c: &Cluster, url: &str, id: &str, bytes: Vec<u8>) {
    let r = c
        .http()
        .put(format!("{url}/chunks/{id}"))
        .header(HASH_HEADER, sha256_hex(&bytes))
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

async fn get_secs(http: &reqwest::Client, url: &str) -> (f64, usize) {
    let t = Instant::now();
    let b = http.get(url).send().await.unwrap().bytes().await.unwrap();
    (t.elapsed().as_secs_f64(), b.len())
}

async fn accuracy() {
    println!("emulator accuracy (one transfer of 2 s worth of bytes):");
    println!("  set Mbit/s | bytes      | took s | achieved Mbit/s | error %");
    let http = reqwest::Client::new();
    for rate in [1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0] {
        let c = Cluster::start(ClusterConfig {
            nodes: 1,
            profiles: vec![Conditions::profile(0.0, rate)],
            video: None,
            ..ClusterConfig::default()
        })
        .await
        .unwrap();
        let url = c.nodes()[0].url();
        let bytes = (rate * 1e6 / 8.0 * 2.0) as usize;
        put(&c, &url, "x", vec![3u8; bytes]).await;
        let (secs, n) = get_secs(&http, &format!("{url}/chunks/x")).await;
        assert_eq!(n, bytes);
        let achieved = n as f64 * 8.0 / secs / 1e6;
        println!(
            "  {rate:>10.0} | {bytes:>10} | {secs:>6.3} | {achieved:>15.2} | {:>+7.2}",
            (achieved / rate - 1.0) * 100.0
        );
    }
}

async fn loopback() {
    let c = Cluster::start(ClusterConfig {
        nodes: 1,
        profiles: vec![Conditions::default()],
        video: None,
        ..ClusterConfig::default()
    })
    .await
    .unwrap();
    let url = c.nodes()[0].url();
    let size = 50_000_000;
    put(&c, &url, "big", vec![9u8; size]).await;
    let http = reqwest::Client::new();
    let mut best = f64::MAX;
    for _ in 0..3 {
        best = best.min(get_secs(&http, &format!("{url}/chunks/big")).await.0);
    }
    println!(
        "unshaped node on loopback: 50 MB in {:.1} ms = {:.0} MB/s = {:.2} Gbit/s",
        best * 1e3,
        size as f64 / best / 1e6,
        size as f64 * 8.0 / best / 1e9
    );
}

async fn sessions(counts: &[usize]) {
    let c = Cluster::start(ClusterConfig {
        profiles: vec![Conditions::default()],
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(60),
            ..SyntheticVideo::default()
        }),
        ..ClusterConfig::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let view = fetch_view(&http, &c.metadata_url(), "test-video-001")
        .await
        .unwrap();
    println!("concurrent live sessions (60 s video, 5 Mbit/s, unshaped nodes, real time):");
    println!(
        "  sessions | ended | rebuffered | rebuffers | startup p50 ms | startup max ms | wall s | MB moved"
    );
    for &n in counts {
        let t = Instant::now();
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, _rx) = watch::channel(None);
            let (ntx, _) = broadcast::channel(16);
            let (_stop, stop_rx) = watch::channel(false);
            let cfg = ClientConfig {
                kind: if i % 2 == 0 {
                    ClientKind::Smart
                } else {
                    ClientKind::Naive
                },
                ..ClientConfig::default()
            };
            let (http, view) = (http.clone(), view.clone());
            tasks.push(tokio::spawn(async move {
                let _keep = (_stop, _rx);
                client::play(http, view, cfg, tx, ntx, stop_rx).await
            }));
        }
        let mut reports = Vec::with_capacity(n);
        for t in tasks {
            reports.push(t.await.unwrap().unwrap());
        }
        let ended = reports.iter().filter(|q| q.ended).count();
        let rebuffered = reports
            .iter()
            .filter(|q| q.playback.rebuffer_count > 0)
            .count();
        let rebuffers: u32 = reports.iter().map(|q| q.playback.rebuffer_count).sum();
        let mut startup: Vec<f64> = reports
            .iter()
            .filter_map(|q| q.playback.startup_latency_ms)
            .collect();
        startup.sort_by(f64::total_cmp);
        let bytes: u64 = reports.iter().map(|q| q.bytes_total).sum();
        println!(
            "  {n:>8} | {ended:>5} | {rebuffered:>10} | {rebuffers:>9} | {:>14.0} | {:>14.0} | {:>6.1} | {:>8.0}",
            startup[startup.len() / 2],
            startup.last().copied().unwrap_or(0.0),
            t.elapsed().as_secs_f64(),
            bytes as f64 / 1e6
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        accuracy().await;
        loopback().await;
        if std::env::var_os("VSTACK_BENCH_SKIP_SESSIONS").is_none() {
            let counts: Vec<usize> = std::env::var("VSTACK_BENCH_SESSIONS")
                .unwrap_or_else(|_| "50,100,200".into())
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect();
            sessions(&counts).await;
        }
    });
}
