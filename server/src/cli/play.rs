//! `vstack play`: headless playback with the live client, printing a status
//! block like the seed's `print_status()` (buffer, playback statistics, storage
//! node performance, download statistics) every few seconds and a QoE summary
//! at the end. Without `--metadata-url` it starts the embedded cluster first,
//! seeded with the test pattern (real H.264 in fMP4). `--output FILE` (or `-`
//! for standard output, the status then on standard error) writes the
//! verified media in playback order: `vstack play --output - | mpv -`.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use clap::Args;
use tokio::sync::{broadcast, mpsc, watch};

use vstack_core::{
    abr::AbrKind,
    conditions::Scenario,
    engine::{ClientKind, ClientSnapshot, QoeReport},
};

use super::{BadInput, parse_speed};
use crate::{
    client::{self, ClientConfig, ClientError, fetch_view, output},
    cluster::{
        embedded::{Cluster, ClusterConfig, SyntheticVideo},
        test_pattern::{self, TestPattern},
    },
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

    /// Embedded cluster only: length of the seeded video, seconds (at most
    /// 3600 for the test pattern).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub video_duration_s: u64,

    /// Embedded cluster only: seed random bytes instead of the test pattern
    /// (see `vstack serve --help`); nothing can decode them.
    #[arg(long)]
    pub synthetic_video: bool,

    /// Write the played media (every chunk verified, in playback order) to
    /// this file, or to standard output for `-` (the status then goes to
    /// standard error).
    #[arg(long)]
    pub output: Option<PathBuf>,

    /// Quality choice on a video with a ladder (the test pattern has one:
    /// 1000, 2500 and 5000 kbit/s). Default: the smart client's
    /// `multi-source` rule, the naive client's `bolae`; with `--output`,
    /// `fixed` at the top level, because the written file has one
    /// initialization segment and a switch would need another.
    #[arg(long, value_enum)]
    pub abr: Option<AbrKind>,
}

/// Starts the embedded cluster for `vstack play`, seeded with the test
/// pattern (or random bytes with `--synthetic-video`).
async fn embedded_cluster(args: &PlayArgs) -> anyhow::Result<Cluster> {
    let traces = files::trace_paths(&args.trace).map_err(|e| BadInput(e.to_string()))?;
    eprintln!(
        "starting the embedded cluster (3 nodes, seeding {})…",
        args.video_id
    );
    let duration = Duration::from_secs(args.video_duration_s);
    if !args.synthetic_video && duration > Duration::from_secs(3600) {
        return Err(BadInput(format!(
            "--video-duration-s {}: the test pattern is at most 3600 s long (pass --synthetic-video for longer)",
            args.video_duration_s
        ))
        .into());
    }
    let c = Cluster::start(ClusterConfig {
        speed: args.speed,
        traces,
        video: args.synthetic_video.then(|| SyntheticVideo {
            video_id: args.video_id.clone(),
            duration,
            ..SyntheticVideo::default()
        }),
        ..ClusterConfig::default()
    })
    .await
    .context("embedded cluster")?;
    if !args.synthetic_video {
        let pattern = TestPattern {
            video_id: args.video_id.clone(),
            duration,
            ..TestPattern::default()
        };
        c.seed_test_pattern(&pattern, test_pattern::cache_root())
            .await
            .context("seeding the test pattern (--synthetic-video plays without ffmpeg)")?;
    }
    if let Some(s) = args.scenario {
        c.apply_scenario(s);
    }
    Ok(c)
}

/// The played media's sink and the task writing it to `output` (standard
/// output when `to_stdout`) in playback order; none without `--output`.
async fn media_output(
    output: Option<&std::path::Path>,
    to_stdout: bool,
) -> anyhow::Result<(
    Option<mpsc::Sender<(u32, bytes::Bytes)>>,
    Option<tokio::task::JoinHandle<std::io::Result<output::Written>>>,
)> {
    let Some(path) = output else {
        return Ok((None, None));
    };
    let out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = if to_stdout {
        Box::new(tokio::io::stdout())
    } else {
        Box::new(
            tokio::fs::File::create(path)
                .await
                .map_err(|e| BadInput(format!("--output {}: {e}", path.display())))?,
        )
    };
    // Four chunks may wait for the writer; then the client waits too.
    let (tx, rx) = mpsc::channel(4);
    Ok((
        Some(tx),
        Some(tokio::spawn(output::write_in_order(rx, out))),
    ))
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
            let c = embedded_cluster(&args).await?;
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
    if args.output.is_some() && view.manifest.init_segment().is_none() {
        eprintln!(
            "note: {} has no fMP4 initialization segment; the output is its chunks' bytes as stored",
            args.video_id
        );
    }
    let to_stdout = args.output.as_deref().is_some_and(|p| p.as_os_str() == "-");
    // With the media on standard output, everything else goes to standard error.
    let say = move |text: &str| {
        if to_stdout {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    };
    let (media_sink, mut writer) = media_output(args.output.as_deref(), to_stdout).await?;
    let (status_tx, mut status_rx) = watch::channel(None);
    let (notice_tx, _) = broadcast::channel(256);
    let (stop_tx, stop_rx) = watch::channel(false);
    let abr = args.abr.or(args.output.is_some().then_some(AbrKind::Fixed));
    let config = ClientConfig {
        kind,
        speed: args.speed,
        media_sink,
        abr,
        ..ClientConfig::default()
    };
    let mut playing = tokio::spawn(client::play(
        http, view, config, status_tx, notice_tx, stop_rx,
    ));
    let period = Duration::from_secs_f64(args.status_interval_s / args.speed);
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    let mut written = None;
    let report = loop {
        tokio::select! {
            r = &mut playing => break r.context("client task")?,
            w = async { writer.as_mut().expect("guarded").await }, if writer.is_some() && written.is_none() => {
                let w = w.context("output task")?;
                if w.is_err() {
                    // The reader left (a closed pipe): stop playing.
                    let _ = stop_tx.send(true);
                }
                written = Some(w);
            }
            _ = tick.tick() => {
                if !args.json && let Some(s) = status_rx.borrow_and_update().clone() {
                    say(&format_status(&s));
                }
            }
        }
    };
    if let Some(w) = writer.take().filter(|_| written.is_none()) {
        written = Some(w.await.context("output task")?);
    }
    if let (Some(path), Some(w)) = (&args.output, written) {
        let w = w.with_context(|| format!("writing the media to {}", path.display()))?;
        eprintln!(
            "wrote {} chunks, {} bytes, in playback order to {}",
            w.chunks,
            w.bytes,
            if to_stdout {
                "standard output".into()
            } else {
                path.display().to_string()
            }
        );
    }
    let report = report?;
    if args.json {
        say(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    } else {
        if let Some(s) = status_rx.borrow().clone() {
            say(&format_status(&s));
        }
        say(&format_summary(&report));
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
    if let (Some(level), Some(kbps)) = (s.level, s.bitrate_kbps) {
        let _ = write!(
            o,
            "Quality:   level {}/{} ({kbps:.0} kbit/s)",
            level + 1,
            s.bitrates_kbps.len()
        );
        if let Some(q) = &s.quality {
            let _ = write!(
                o,
                ", played {:.0} kbit/s, {}, linear QoE {:.1}",
                q.played_bitrate_kbps,
                vstack_core::wire::counted(q.switches as usize, "switch", "switches"),
                q.linear_qoe
            );
        }
        o.push('\n');
    }
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
    ) + &q
        .quality
        .as_ref()
        .map(|x| {
            format!(
                "Quality: played bitrate {:.0} kbit/s · {} ({:.0} kbit/s in all) · linear QoE {:.1} (Pensieve: Σ Mbit/s − 4.3 × wait s − Σ |Δ| Mbit/s)\n",
                x.played_bitrate_kbps,
                vstack_core::wire::counted(x.switches as usize, "switch", "switches"),
                x.switch_kbps,
                x.linear_qoe
            )
        })
        .unwrap_or_default()
}
