//! `vstack bench`'s adaptive-redundancy step, measured on embedded clusters
//! over real HTTP:
//!
//! - **restore**: a 3-node cluster loses one node for good; from the moment
//!   the replication manager declares it lost to every chunk back at its
//!   target replication factor: the time, the bytes moved, and the repair
//!   read rate as a share of the cap;
//! - **hot startup**: N concurrent smart clients start a hot video on a
//!   4-node cluster with one slow node, under adaptive redundancy and under a fixed
//!   replication factor of 2: startup latency p50 / p95 of a measured wave
//!   that follows a warm-up wave (the warm-up makes the video hot; the fixed
//!   policy gets the same warm-up).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use vstack_core::{
    conditions::Conditions,
    engine::ClientKind,
    redundancy::{RedundancyConfig, RedundancyEventKind},
    stats::{percentile, sorted},
};

use super::testbed::Testbed;
use crate::cluster::embedded::{ClusterConfig, SyntheticVideo};

/// Sizes of the redundancy step; every default stated in
/// [`RedundancyBenchConfig::full`] and [`RedundancyBenchConfig::quick`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RedundancyBenchConfig {
    /// Restore: video length, s (5 Mbit/s, 4 s chunks).
    pub restore_video_s: u64,
    /// Restore: the repair cap, Mbit/s.
    pub repair_cap_mbps: f64,
    /// Hot startup: concurrent clients per wave.
    pub hot_clients: usize,
    /// Hot startup: video length, s (2 s chunks).
    pub hot_video_s: u64,
    /// Hot startup: video bitrate, kbit/s.
    pub hot_bitrate_kbps: f64,
    /// Hot startup: the slow node's bandwidth, Mbit/s (node-1 of 4; the
    /// others 100).
    pub slow_node_mbps: f64,
    /// Hot startup: time compression.
    pub speed: f64,
}

impl RedundancyBenchConfig {
    /// The full run: a 120 s video to restore at 40 Mbit/s (the default
    /// cap); 50 clients on a 20 s, 2 Mbit/s video, one node of 4 at 4
    /// Mbit/s, ×2.
    pub fn full() -> Self {
        Self {
            restore_video_s: 120,
            repair_cap_mbps: 40.0,
            hot_clients: 50,
            hot_video_s: 20,
            hot_bitrate_kbps: 2000.0,
            slow_node_mbps: 4.0,
            speed: 2.0,
        }
    }

    /// The CI-sized run: a 40 s video at 80 Mbit/s; 20 clients on 12 s.
    pub fn quick() -> Self {
        Self {
            restore_video_s: 40,
            repair_cap_mbps: 80.0,
            hot_clients: 20,
            hot_video_s: 12,
            ..Self::full()
        }
    }
}

/// The restore run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RestoreRow {
    /// The node lost.
    pub node_lost: String,
    /// Chunks in the video.
    pub chunks: usize,
    /// Chunks under-replicated when the loss was declared.
    pub under_replicated_at_loss: usize,
    /// From the loss being declared to every chunk at its target, ms (wall).
    pub restore_ms: f64,
    /// Bytes the repair copied.
    pub bytes_moved: u64,
    /// Copies made, each hash-verified and committed.
    pub copies: u64,
    /// `bytes_moved` over `restore_ms`, Mbit/s.
    pub repair_mbps: f64,
    /// The cap, Mbit/s.
    pub cap_mbps: f64,
    /// `repair_mbps` ÷ `cap_mbps`, %.
    pub share_of_cap_pct: f64,
}

/// One policy's hot-startup run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HotStartupRow {
    /// `adaptive` or `fixed RF 2`.
    pub policy: String,
    /// Clients in the measured wave.
    pub clients: usize,
    /// Sessions of the measured wave that reported a startup.
    pub started: usize,
    /// Startup latency, median, ms (media time), over every session of the
    /// wave: one that failed or never started counts as infinite.
    pub startup_p50_ms: f64,
    /// Startup latency, 95th percentile, ms (media time), as the median.
    pub startup_p95_ms: f64,
    /// Mean replicas per chunk when the measured wave started.
    pub mean_replicas: f64,
    /// Rebuffering events in the measured wave.
    pub rebuffers: u32,
}

/// Errors of the step.
#[derive(Debug, thiserror::Error)]
pub enum RedundancyBenchError {
    /// The cluster did not start.
    #[error(transparent)]
    Testbed(#[from] super::testbed::TestbedError),
    /// The manager did not act within its bound.
    #[error("{0}")]
    Timeout(String),
}

fn policy(grace_ms: u64, cap_mbps: f64) -> RedundancyConfig {
    RedundancyConfig {
        grace_ms,
        tick_ms: 100,
        repair_cap_mbps: cap_mbps,
        ..RedundancyConfig::default()
    }
}

/// Restore after losing 1 of 3 nodes (node-3).
///
/// # Errors
/// [`RedundancyBenchError`] when the cluster does not start or the loss is
/// not repaired within 10 minutes.
pub async fn restore(cfg: &RedundancyBenchConfig) -> Result<RestoreRow, RedundancyBenchError> {
    let mut bed = Testbed::start(ClusterConfig {
        video: Some(super::testbed::video(cfg.restore_video_s, 4)),
        heartbeat_interval: Duration::from_millis(200),
        heartbeat_timeout: Duration::from_millis(1_000),
        // The startup chunk stays at the base factor: the step measures repair.
        redundancy: Some(RedundancyConfig {
            startup_chunks: 0,
            ..policy(1_000, cfg.repair_cap_mbps)
        }),
        ..ClusterConfig::default()
    })
    .await?;
    let svc = bed.cluster.metadata().clone();
    let node_lost = bed.cluster.nodes()[2].node_id.clone();
    bed.cluster.kill_node(2);
    let deadline = Instant::now() + Duration::from_secs(600);
    let (declared, under) = loop {
        let r = svc.replication_report();
        if r.events
            .iter()
            .any(|e| e.kind == RedundancyEventKind::NodeLost)
        {
            break (Instant::now(), r.totals.under_replicated);
        }
        if Instant::now() > deadline {
            return Err(RedundancyBenchError::Timeout(format!(
                "{node_lost} was never declared lost"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    loop {
        let r = svc.replication_report();
        let t = &r.totals;
        if t.under_replicated == 0 && t.repairs_in_flight == 0 {
            let restore_ms = declared.elapsed().as_secs_f64() * 1e3;
            let repair_mbps = t.bytes_repaired as f64 * 8.0 / (restore_ms / 1e3) / 1e6;
            return Ok(RestoreRow {
                node_lost,
                chunks: t.chunks,
                under_replicated_at_loss: under,
                restore_ms,
                bytes_moved: t.bytes_repaired,
                copies: t.copies_done,
                repair_mbps,
                cap_mbps: cfg.repair_cap_mbps,
                share_of_cap_pct: repair_mbps / cfg.repair_cap_mbps * 100.0,
            });
        }
        if Instant::now() > deadline {
            return Err(RedundancyBenchError::Timeout(format!(
                "{} chunks still under-replicated after 10 min",
                t.under_replicated
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One wave of `n` concurrent smart sessions; their startups (ms) and
/// rebuffers.
async fn wave(bed: &Testbed, n: usize, speed: f64) -> (Vec<f64>, u32) {
    let sessions: Vec<_> = (0..n)
        .map(|_| {
            let (http, view) = (bed.http.clone(), bed.view.clone());
            tokio::spawn(async move {
                // Each reads the manifest now, as a new viewer would.
                let view = match crate::client::fetch_view(
                    &http,
                    view.metadata_url.as_deref().unwrap_or_default(),
                    &view.manifest.video_id,
                )
                .await
                {
                    Ok(v) => v,
                    Err(_) => view,
                };
                crate::client::play_session(http, view, ClientKind::Smart, speed).await
            })
        })
        .collect();
    // Every session is judged: one that failed or never started counts
    // with an infinite startup (it is in the percentiles, not left out).
    let mut startups = Vec::new();
    let mut rebuffers = 0;
    for s in sessions {
        match s.await {
            Ok(Ok(q)) => {
                startups.push(q.playback.startup_latency_ms.unwrap_or(f64::INFINITY));
                rebuffers += q.playback.rebuffer_count;
            }
            _ => startups.push(f64::INFINITY),
        }
    }
    (startups, rebuffers)
}

/// Hot startup under `adaptive` redundancy or a fixed factor of 2.
///
/// # Errors
/// [`RedundancyBenchError`] when the cluster does not start.
pub async fn hot_startup(
    cfg: &RedundancyBenchConfig,
    adaptive: bool,
) -> Result<HotStartupRow, RedundancyBenchError> {
    let fast = Conditions::profile(5.0, 100.0);
    let bed = Testbed::start(ClusterConfig {
        // Four nodes, node-1 slow: under striped RF 2 (chunk i on nodes i,
        // i+1) the startup chunks 0 and 4 have one fast replica each (node-2)
        // and chunk 3 one (node-4), so the fast nodes cannot share the
        // startup load evenly; with every replica everywhere they can.
        nodes: 4,
        profiles: vec![
            Conditions::profile(50.0, cfg.slow_node_mbps),
            fast.clone(),
            fast.clone(),
            fast,
        ],
        speed: cfg.speed,
        video: Some(SyntheticVideo {
            bitrate_kbps: cfg.hot_bitrate_kbps,
            duration: Duration::from_secs(cfg.hot_video_s),
            chunk_duration: Duration::from_secs(2),
            ..SyntheticVideo::default()
        }),
        heartbeat_interval: Duration::from_millis(200),
        redundancy: adaptive.then(|| policy(30_000, 400.0)),
        ..ClusterConfig::default()
    })
    .await?;
    // Warm-up: the first wave makes the video hot.
    let _ = wave(&bed, cfg.hot_clients, cfg.speed).await;
    if adaptive {
        // Heartbeats carry the counts; then the manager copies.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let svc = bed.cluster.metadata().clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let t = svc.replication_report().totals;
            if t.under_replicated == 0 && t.repairs_in_flight == 0 {
                break;
            }
            if Instant::now() > deadline {
                return Err(RedundancyBenchError::Timeout(
                    "the hot video did not reach its target replicas within 60 s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let m = bed
        .cluster
        .metadata()
        .video(&bed.view.manifest.video_id)
        .map_err(|e| RedundancyBenchError::Timeout(e.message))?;
    let mean_replicas =
        m.chunks.iter().map(|c| c.replicas.len()).sum::<usize>() as f64 / m.chunks.len() as f64;
    let (startups, rebuffers) = wave(&bed, cfg.hot_clients, cfg.speed).await;
    let s = sorted(&startups);
    Ok(HotStartupRow {
        policy: if adaptive { "adaptive" } else { "fixed RF 2" }.into(),
        clients: cfg.hot_clients,
        started: s.iter().filter(|x| x.is_finite()).count(),
        startup_p50_ms: percentile(&s, 0.5),
        startup_p95_ms: percentile(&s, 0.95),
        mean_replicas,
        rebuffers,
    })
}
