//! `vstack play`: headless playback with the live client, printing a status
//! block like the seed's `print_status()` (buffer, playback statistics, storage
//! node performance, download statistics) every few seconds and a QoE summary
//! at the end. Without `--metadata-url` it starts the embedded cluster first.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use clap::Args;
use tokio::sync::{broadcast, watch};

use vstack_core::{
    conditions::Scenario,
    engine::{ClientKind, ClientSnapshot, QoeReport},
};

use super::{BadInput, parse_speed};
use crate::{
    client::{self, ClientConfig, ClientError, fetch_view},
    cluster::embedded::{Cluster, ClusterConfig, SyntheticVideo},
    files,
};

/// Options of `vstack play`.
#[derive(Debug, Clone, Args)]
pub struct PlayArgs {
    /// Video to play.
    #[arg(default_value = "test-video-001")]
    pub video_id: String,

    /// Metadata service of a running cluster; without it an embedded cluster
    /// (3 nodes, `test-video-001`) is started in this process.
    #[arg(long, env = "METADATA_SERVICE_URL")]
    pub metadata_url: Option<String>,

    /// Run the naive round-robin client instead of the smart one.
    #[arg(long)]
    pub naive: bool,

    /// Time compression factor k ≥ 1: playback runs k× faster and the embedded
    /// cluster's emulators divide latency by k and multiply bandwidth by k.
    /// With `--metadata-url` the nodes must run with the same `--speed`.
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,

    /// Seconds of media time between two status blocks.
    #[arg(long, default_value_t = 10.0, value_parser = parse_positive)]
    pub status_interval_s: f64,

    /// Print the final QoE report as JSON instead of the summary.
    #[arg(long)]
    pub json: bool,

    /// Embedded cluster only: scenario applied before playback.
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,

    /// Embedded cluster only: trace files or folders replayed on the nodes'
    /// links (trace i on node i mod count), formats as in `vstack sim`.
    #[arg(long)]
    pub trace: Vec<PathBuf>,

    /// Embedded cluster only: length of the seeded synthetic video, seconds.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub video_duration_s: u64,
}

fn parse_positive(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("not a number: {s}"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err("must be a positive number".into())
    }
}

/// Runs `vstack play`.
///
/// # Errors
/// [`BadInput`] for an unknown video or bad traces; other errors for an
/// unreachable cluster.
pub async fn run(args: PlayArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let mut _cluster = None;
    let metadata_url = match &args.metadata_url {
        Some(u) => u.clone(),
        None => {
            let traces = files::trace_paths(&args.trace).map_err(|e| BadInput(e.to_string()))?;
            eprintln!(
                "starting the embedded cluster (3 nodes, seeding {})…",
                args.video_id
            );
            let c = Cluster::start(ClusterConfig {
                speed: args.speed,
                traces,
                video: Some(SyntheticVideo {
                    video_id: args.video_id.clone(),
                    duration: Duration::from_secs(args.video_duration_s),
                    ..SyntheticVideo::default()
                }),
                ..ClusterConfig::default()
            })
            .await
            .context("embedded cluster")?;
            if let Some(s) = args.scenario {
                c.apply_scenario(s);
            }
            let url = c.metadata_url();
            _cluster = Some(c);
            url
        }
    };
    let view = match fetch_view(&http, &metadata_url, &args.video_id).await {
        Ok(v) => v,
        Err(e @ ClientError::Metadata { status: 404, .. }) => {
            return Err(BadInput(e.to_string()).into());
        }
        Err(e) => return Err(e.into()),
    };
    let kind = if args.naive {
        ClientKind::Naive
    } else {
        ClientKind::Smart
    };
    let (status_tx, mut status_rx) = watch::channel(None);
    let (notice_tx, _) = broadcast::channel(256);
    let (_stop_tx, stop_rx) = watch::channel(false);
    let config = ClientConfig {
        kind,
        speed: args.speed,
        ..ClientConfig::default()
    };
    let mut playing = tokio::spawn(client::play(
        http, view, config, status_tx, notice_tx, stop_rx,
    ));
    let period = Duration::from_secs_f64(args.status_interval_s / args.speed);
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    let report = loop {
        tokio::select! {
            r = &mut playing => break r.context("client task")??,
            _ = tick.tick() => {
                if !args.json && let Some(s) = status_rx.borrow_and_update().clone() {
                    print!("{}", format_status(&s));
                }
            }
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        if let Some(s) = status_rx.borrow().clone() {
            print!("{}", format_status(&s));
        }
        print!("{}", format_summary(&report));
    }
    Ok(())
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

/// The status block (seed 002's `print_status()` sections).
pub fn format_status(s: &ClientSnapshot) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let pct = if s.buffer_target_s > 0.0 {
        (s.buffer_level_s / s.buffer_target_s * 100.0).min(100.0)
    } else {
        0.0
    };
    let _ = writeln!(
        o,
        "── {} client · {} · t={:.1} s ──",
        s.kind.name(),
        s.video_id,
        s.elapsed_ms / 1e3
    );
    let _ = writeln!(
        o,
        "Buffer:    {:>5.1} s / {:.0} s target ({pct:.0} %), low-water {:.0} s, state {:?}",
        s.buffer_level_s, s.buffer_target_s, s.low_water_mark_s, s.state
    );
    let _ = writeln!(
        o,
        "Playback:  startup {} ms, rebuffering {} events / {:.0} ms, chunks played {}/{}",
        opt(s.startup_latency_ms, 0),
        s.rebuffer_count,
        s.rebuffer_time_ms,
        s.chunks_played,
        s.chunk_count
    );
    for n in &s.nodes {
        let _ = writeln!(
            o,
            "  {:<8} score {:>7.2}  latency {:>6} ms  bandwidth {:>7} Mbit/s  success {:>5.1} %  {:?}  in flight {}  chunks {}",
            n.node_id,
            n.score,
            opt(n.latency_ms, 1),
            opt(n.bandwidth_mbps, 1),
            n.success_rate * 100.0,
            n.health,
            n.in_flight,
            n.chunks
        );
    }
    let _ = writeln!(
        o,
        "Downloads: {} ok, success {:.1} %, failovers {}, {:.1} MB, {:.1} Mbit/s avg",
        s.downloads,
        s.success_rate * 100.0,
        s.failovers,
        s.bytes_total as f64 / 1e6,
        s.avg_throughput_mbps
    );
    o
}

/// The final QoE summary.
pub fn format_summary(q: &QoeReport) -> String {
    format!(
        "\nQoE ({}): startup latency {} ms · rebuffering {} events, {:.0} ms · average buffer {:.1} s · \
         throughput {:.1} Mbit/s · downloads {} (success {:.1} %, failovers {}) · download time p50 {:.0} ms p95 {:.0} ms · \
         {}/{} chunks played{}\n",
        q.strategy,
        opt(q.playback.startup_latency_ms, 0),
        q.playback.rebuffer_count,
        q.playback.rebuffer_time_ms,
        q.playback.avg_buffer_s,
        q.playback.avg_throughput_mbps,
        q.downloads,
        q.success_rate * 100.0,
        q.failovers,
        q.download_time.p50_ms,
        q.download_time.p95_ms,
        q.chunks_played,
        q.chunk_count,
        if q.ended { "" } else { " (not ended)" }
    )
}
