//! `vstack sim`: run the simulator from the command line and print a table (or
//! JSON) per strategy, with smart-vs-naive and smart-vs-oracle deltas; with
//! `--model sabre`, one session per trace in Sabre's single-source model
//! under Sabre's own figure names.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use vstack_core::{
    abr::AbrKind,
    engine::layout_manifest,
    input::{Ladder, VideoSource, load_chunks},
    sim::{
        AbrPlan, Experiment, NodeLink, SessionRun, SimConfig, Strategy, Summary, ladder_manifest,
        run_experiment,
        sabre::{self, SabreConfig, SabreReport},
    },
};

use super::BadInput;
use crate::files;

/// Which simulator `vstack sim` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SimModel {
    /// vstack's multi-source simulator: nodes, replicas, the engine itself.
    Vstack,
    /// Sabre's single-source model (one link, one ABR rule), for side-by-side
    /// runs with `sabre.py`.
    Sabre,
}

/// Options of `vstack sim`.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// `vstack` (nodes, replicas, strategies) or `sabre` (Sabre's
    /// single-source model: one session per trace, Sabre's figure names).
    #[arg(long, value_enum, default_value = "vstack")]
    pub model: SimModel,
    /// ABR rule: fixed (plays --level), bola, bolae, throughput, dynamic or
    /// multi-source. The vstack model's smart client and oracle play it
    /// (default multi-source for a video with a ladder, a Sabre JSON such as
    /// bbb.json; fixed otherwise); the Sabre model's default is bolae.
    #[arg(long)]
    pub abr: Option<AbrKind>,
    /// The naive client's ABR rule in the vstack model. Default bolae, or
    /// fixed when --abr is fixed.
    #[arg(long)]
    pub baseline_abr: Option<AbrKind>,
    /// Trace files or folders (Sabre JSON, Pensieve two-column or Mahimahi);
    /// repeat the flag for more. Session k gives node j trace (k·nodes + j) mod count.
    #[arg(long = "trace", required = true, value_name = "PATH")]
    pub traces: Vec<PathBuf>,
    /// `synthetic`, a Sabre JSON video (e.g. shared/videos/bbb.json), a
    /// folder of chunk-size files, one per level (a ladder, e.g.
    /// shared/videos/envivio), or one chunk-size file (e.g.
    /// shared/videos/envivio/video_size_3).
    #[arg(long, default_value = "synthetic")]
    pub video: String,
    /// Bitrate level of a Sabre video (0 = lowest).
    #[arg(long, default_value_t = 0)]
    pub level: usize,
    /// Segment duration of a chunk-size file, seconds (Envivio: 4).
    #[arg(long, default_value_t = 4.0)]
    pub segment_s: f64,
    /// Nominal bitrate of each level of a chunk-size folder, kbit/s, lowest
    /// first (Envivio: 300,750,1200,1850,2850,4300). Default: each level's
    /// mean chunk size over the segment duration.
    #[arg(long, value_delimiter = ',')]
    pub ladder_kbps: Vec<f64>,
    /// Synthetic video bitrate, kbit/s.
    #[arg(long, default_value_t = 5000.0)]
    pub bitrate_kbps: f64,
    /// Synthetic video duration, seconds.
    #[arg(long, default_value_t = 600)]
    pub duration_s: u64,
    /// Synthetic size variation (±fraction per chunk, 0 = constant bitrate).
    #[arg(long, default_value_t = 0.2)]
    pub vbr: f64,
    /// Chunk duration, seconds (segments are regrouped to it).
    #[arg(long, default_value_t = 10.0)]
    pub chunk_s: f64,
    /// Storage nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub nodes: u16,
    /// Replicas per chunk (striped layout).
    #[arg(long, default_value_t = 2)]
    pub replication: usize,
    /// Replica count per chunk for the first chunks, comma-separated (e.g.
    /// `3,3` puts the two startup chunks on three nodes, as adaptive
    /// redundancy does for hot chunks); later chunks use `--replication`.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..=64))]
    pub replica_layout: Vec<u16>,
    /// Strategies to run, comma-separated: `smart`, `naive`, `oracle`,
    /// `single`, `bound`, `optimum` (a video with a ladder only).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "smart,naive,oracle,bound"
    )]
    pub strategies: Vec<Strategy>,
    /// Sessions per strategy.
    #[arg(long, default_value_t = 10)]
    pub sessions: usize,
    /// Seed for trace offsets and loss.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Request loss probability on every node, in [0, 1].
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Client access-link cap, Mbit/s (default: none).
    #[arg(long)]
    pub client_cap_mbps: Option<f64>,
    /// Start every trace at its beginning instead of a seeded random offset.
    #[arg(long)]
    pub no_random_offsets: bool,
    /// The buffer level every simulated client fills up to, seconds
    /// (the engine's buffer target: smart, naive, single and oracle alike;
    /// the optimum holds chunks back by it as no client can beat, the bound
    /// sets no buffer limit). Range 20–600, default 30.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(20..=600))]
    pub buffer_target_s: u64,
    /// How long a client that probes (smart, single) holds its first
    /// request for its probes' answers, seconds, so that its first chunk
    /// goes to measured replicas and a ladder's first level is scored on
    /// them (the engine's startup probe gate, as the browser player does).
    /// 0 turns it off (the first chunk at the bottom level, blind). Range
    /// 0–10, default 3 (past the 2 s probe timeout).
    #[arg(long, default_value_t = vstack_core::engine::STARTUP_PROBE_WAIT.as_secs_f64(), value_parser = parse_probe_wait_s)]
    pub startup_probe_wait_s: f64,
    /// Print a row per session too.
    #[arg(long)]
    pub per_session: bool,
    /// Print JSON (sessions and summary) instead of tables.
    #[arg(long)]
    pub json: bool,
}

impl SimArgs {
    /// Builds the experiment; file and range errors are [`BadInput`].
    pub fn experiment(&self) -> anyhow::Result<Experiment> {
        let bad = |m: String| anyhow::Error::new(BadInput(m));
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(bad(format!("--loss must be in [0, 1], got {}", self.loss)));
        }
        if !(self.chunk_s > 0.0 && self.chunk_s.is_finite()) {
            return Err(bad(format!(
                "--chunk-s must be positive, got {}",
                self.chunk_s
            )));
        }
        if !(self.segment_s > 0.0 && self.segment_s <= 600.0) {
            return Err(bad(format!(
                "--segment-s must be in (0, 600], got {}",
                self.segment_s
            )));
        }
        if self.sessions == 0 || self.strategies.is_empty() {
            return Err(bad("need at least one session and one strategy".into()));
        }
        let traces = files::trace_paths(&self.traces).map_err(|e| bad(e.to_string()))?;
        if traces.is_empty() {
            return Err(bad("no trace files found".into()));
        }
        let layout: Vec<usize> = self
            .replica_layout
            .iter()
            .map(|&r| usize::from(r))
            .collect();
        let chunk = Duration::from_secs_f64(self.chunk_s);
        let (manifest, ladder) = if Path::new(&self.video).is_dir() {
            let files =
                files::ladder_dir(Path::new(&self.video)).map_err(|e| bad(e.to_string()))?;
            let rates = (!self.ladder_kbps.is_empty()).then_some(self.ladder_kbps.as_slice());
            let ladder = Ladder::parse_size_files(
                &self.video,
                &files,
                Duration::from_secs_f64(self.segment_s),
                rates,
            )
            .map_err(|e| bad(e.to_string()))?;
            self.ladder_manifest(&ladder, chunk, &layout)
        } else {
            let source = self.video_source()?;
            let ladder = match &source {
                VideoSource::Sabre { origin, text, .. } => {
                    Some(Ladder::parse_sabre(origin, text).map_err(|e| bad(e.to_string()))?)
                }
                _ => None,
            };
            match ladder {
                Some(l) => self.ladder_manifest(&l, chunk, &layout),
                None => {
                    let chunks = load_chunks(&source, chunk).map_err(|e| bad(e.to_string()))?;
                    let name = match &source {
                        VideoSource::Synthetic { .. } => "synthetic".to_string(),
                        _ => self.video.clone(),
                    };
                    let m = layout_manifest(
                        &name,
                        &chunks,
                        self.nodes as usize,
                        self.replication,
                        &layout,
                    );
                    (m, false)
                }
            }
        };
        let abr = self.abr_plan(ladder)?;
        if !ladder && self.strategies.contains(&Strategy::Optimum) {
            return Err(bad(
                "--strategies optimum needs a video with a ladder (a Sabre manifest such as ../shared/videos/bbb.json, or a folder of chunk-size files)".into(),
            ));
        }
        let mut base = SimConfig::new(
            (0..self.nodes)
                .map(|_| NodeLink {
                    loss: self.loss,
                    ..NodeLink::new(traces[0].clone())
                })
                .collect(),
        );
        base.client_cap_mbps = self.client_cap_mbps;
        base.engine.buffer.target = std::time::Duration::from_secs(self.buffer_target_s);
        base.engine.scheduler.startup_probe_wait =
            std::time::Duration::from_secs_f64(self.startup_probe_wait_s);
        base.seed = self.seed;
        Ok(Experiment {
            base,
            traces,
            manifest,
            strategies: self.strategies.clone(),
            sessions: self.sessions,
            seed: self.seed,
            random_offsets: !self.no_random_offsets,
            abr,
        })
    }
}

#[derive(Serialize)]
struct JsonOut<'a> {
    video: &'a str,
    chunks: usize,
    video_duration_s: f64,
    video_mbps: f64,
    nodes: usize,
    sessions: &'a [SessionRun],
    summary: &'a Summary,
}

/// A row per session (`--per-session`).
fn print_sessions(results: &[SessionRun]) {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "session",
        "strategy",
        "traces",
        "startup ms",
        "rebuffers",
        "stall ms",
        "avg buffer s",
        "Mbit/s",
        "failovers",
        "engine steps",
    ]);
    for r in results {
        t.add_row(vec![
            r.session.to_string(),
            r.strategy.name().to_string(),
            r.traces.join(", "),
            r.qoe
                .playback
                .startup_latency_ms
                .map(|v| format!("{v:.0}"))
                .unwrap_or_else(|| "never".into()),
            r.qoe.playback.rebuffer_count.to_string(),
            format!("{:.0}", r.qoe.playback.rebuffer_time_ms),
            format!("{:.1}", r.qoe.playback.avg_buffer_s),
            format!("{:.2}", r.qoe.playback.avg_throughput_mbps),
            r.qoe.failovers.to_string(),
            r.steps.to_string(),
        ]);
    }
    println!("{t}");
}

/// What each strategy played, for a video with a ladder: linear QoE,
/// played bitrate and level switches (mean / p50 / p95).
fn print_quality(summary: &Summary) {
    let rows: Vec<_> = summary
        .strategies
        .iter()
        .filter_map(|s| {
            Some((
                s.strategy,
                s.linear_qoe?,
                s.played_bitrate_kbps?,
                s.switches?,
            ))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "strategy",
        "linear QoE mean / p50 / p95",
        "played kbit/s mean / p50",
        "switches mean / p95",
    ]);
    for (k, q, b, sw) in rows {
        t.add_row(vec![
            k.name().to_string(),
            format!("{:.1} / {:.1} / {:.1}", q.mean, q.p50, q.p95),
            format!("{:.0} / {:.0}", b.mean, b.p50),
            format!("{:.1} / {:.0}", sw.mean, sw.p95),
        ]);
    }
    println!("{t}");
    println!(
        "linear QoE (Pensieve): Σ bitrate in Mbit/s over played chunks − 4.3 × (startup + stall) s − Σ |Δ bitrate| in Mbit/s"
    );
    for g in &summary.vs_optimum {
        println!(
            "{} vs optimum: linear QoE {} · median share {}",
            g.strategy.name(),
            g.qoe_gap_mean.map_or_else(
                || "n/a (no session scored by both)".into(),
                |x| format!(
                    "{x:.1} below it on average over {} sessions",
                    g.gap_sessions
                )
            ),
            g.qoe_share_p50.map_or_else(
                || "n/a (optimum ≤ 0 in every session)".into(),
                |x| format!("{:.0} % over {} sessions", x * 100.0, g.share_sessions)
            )
        );
    }
    if summary
        .strategies
        .iter()
        .any(|s| s.strategy == Strategy::Optimum)
    {
        println!(
            "optimum: an upper bound on linear QoE (pooled capacity of every node, any node serving any chunk, no latency, the clients' buffer target); its startup, stall and bitrate are those of the plan that reaches it"
        );
    }
}

/// A row per strategy and the smart-vs-naive and smart-vs-oracle deltas.
fn print_summary(summary: &Summary) {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "strategy",
        "startup ms mean / p50 / p95",
        "rebuffers mean / p95",
        "stall ms mean / p95",
        "avg buffer s",
        "Mbit/s mean",
        "failovers",
    ]);
    for s in &summary.strategies {
        // The bound is not a player: it bounds startup and startup + stall
        // only, so its other columns are not figures.
        let player = |v: String| {
            if matches!(s.strategy, Strategy::Bound | Strategy::Optimum) {
                "—".to_string()
            } else {
                v
            }
        };
        t.add_row(vec![
            s.strategy.name().to_string(),
            format!(
                "{:.0} / {:.0} / {:.0}",
                s.startup_latency_ms.mean, s.startup_latency_ms.p50, s.startup_latency_ms.p95
            ),
            player(format!(
                "{:.2} / {:.0}",
                s.rebuffer_count.mean, s.rebuffer_count.p95
            )),
            format!(
                "{:.0} / {:.0}",
                s.rebuffer_time_ms.mean, s.rebuffer_time_ms.p95
            ),
            player(format!("{:.1}", s.avg_buffer_s.mean)),
            player(format!("{:.2}", s.avg_throughput_mbps.mean)),
            player(format!("{:.1}", s.failovers.mean)),
        ]);
    }
    println!("{t}");
    print_quality(summary);
    if summary
        .strategies
        .iter()
        .any(|s| s.strategy == Strategy::Bound)
    {
        println!(
            "bound: no strategy starts earlier, nor spends less time in startup + stall; its stall is what a client starting at its startup could not avoid"
        );
    }
    // Each difference as the dashboard shows it: a % when there is a ratio,
    // otherwise the plain difference and its direction (a regression from
    // zero reads "+0.4 events, worse", never "n/a").
    let find = |k: Strategy| summary.strategies.iter().find(|s| s.strategy == k);
    for (label, other) in [
        ("smart vs naive", Strategy::Naive),
        ("smart vs oracle", Strategy::Oracle),
    ] {
        let (Some(a), Some(b)) = (find(Strategy::Smart), find(other)) else {
            continue;
        };
        let d = |x: &vstack_core::sim::Dist,
                 y: &vstack_core::sim::Dist,
                 lower: bool,
                 unit: &str,
                 dec: usize| {
            vstack_core::stats::improvement_label(x.mean, y.mean, lower, unit, dec)
        };
        println!(
            "{label}: startup {} · rebuffers {} · stall time {} · buffer {} · throughput {}  (positive = smart better)",
            d(&a.startup_latency_ms, &b.startup_latency_ms, true, "ms", 0),
            d(&a.rebuffer_count, &b.rebuffer_count, true, "events", 2),
            d(&a.rebuffer_time_ms, &b.rebuffer_time_ms, true, "ms", 0),
            d(&a.avg_buffer_s, &b.avg_buffer_s, false, "s", 1),
            d(
                &a.avg_throughput_mbps,
                &b.avg_throughput_mbps,
                false,
                "Mbit/s",
                2
            )
        );
        if a.never_started + b.never_started > 0 {
            println!(
                "  never started (counted as infinite startup): smart {} · {} {}",
                a.never_started,
                other.name(),
                b.never_started
            );
        }
    }
    let times = |x: Option<f64>| x.map_or_else(|| "n/a (bound 0)".into(), |x| format!("×{x:.2}"));
    for g in &summary.vs_bound {
        println!(
            "{} vs bound: startup {} ({:+.0} ms) · startup + stall {} ({:+.0} ms)",
            g.strategy.name(),
            times(g.startup_x),
            g.startup_ms,
            times(g.wait_x),
            g.wait_ms
        );
    }
}

impl SimArgs {
    /// The video named by `--video` when it is not a ladder folder.
    fn video_source(&self) -> anyhow::Result<VideoSource> {
        let bad = |m: String| anyhow::Error::new(BadInput(m));
        Ok(match self.video.as_str() {
            "synthetic" => VideoSource::Synthetic {
                bitrate_kbps: self.bitrate_kbps,
                duration: Duration::from_secs(self.duration_s),
                vbr: self.vbr,
                seed: self.seed,
            },
            path if path.ends_with(".json") => VideoSource::Sabre {
                origin: path.into(),
                text: files::read_text(path.as_ref()).map_err(|e| bad(e.to_string()))?,
                level: self.level,
            },
            path => VideoSource::SizeFile {
                origin: path.into(),
                text: files::read_text(path.as_ref()).map_err(|e| bad(e.to_string()))?,
                segment: Duration::from_secs_f64(self.segment_s),
            },
        })
    }

    /// `ladder`'s manifest at `--level`, and `true` (the video has a ladder).
    fn ladder_manifest(
        &self,
        ladder: &Ladder,
        chunk: Duration,
        layout: &[usize],
    ) -> (vstack_core::engine::Manifest, bool) {
        let m = ladder_manifest(
            ladder,
            chunk,
            self.nodes as usize,
            self.replication,
            layout,
            self.level,
        );
        (m, true)
    }

    /// The rules each strategy plays: an adaptive rule needs a ladder.
    fn abr_plan(&self, ladder: bool) -> anyhow::Result<AbrPlan> {
        let default = if ladder {
            AbrKind::MultiSource
        } else {
            AbrKind::Fixed
        };
        let smart = self.abr.unwrap_or(default);
        let baseline = self.baseline_abr.unwrap_or(if smart == AbrKind::Fixed {
            AbrKind::Fixed
        } else {
            AbrKind::Bolae
        });
        if !ladder && (smart != AbrKind::Fixed || baseline != AbrKind::Fixed) {
            return Err(anyhow::Error::new(BadInput(
                "--abr and --baseline-abr other than fixed need a video with a ladder (a Sabre JSON manifest such as ../shared/videos/bbb.json)".into(),
            )));
        }
        Ok(AbrPlan {
            smart,
            baseline,
            fixed_level: self.level,
        })
    }
}

/// Runs `--model sabre`: one session per trace file, printed as Sabre's
/// figures (JSON: the report for one trace, `{"sessions": [...]}` for more).
fn run_sabre(args: &SimArgs) -> anyhow::Result<()> {
    let bad = |m: String| anyhow::Error::new(BadInput(m));
    if !args.video.ends_with(".json") {
        return Err(bad(format!(
            "--model sabre needs a Sabre video manifest with a ladder (e.g. shared/videos/bbb.json), got {:?}",
            args.video
        )));
    }
    let text = files::read_text(args.video.as_ref()).map_err(|e| bad(e.to_string()))?;
    let ladder = Ladder::parse_sabre(&args.video, &text).map_err(|e| bad(e.to_string()))?;
    if args.level >= ladder.levels() {
        return Err(bad(format!(
            "--level {} is out of range: {} has levels 0 to {}",
            args.level,
            args.video,
            ladder.top()
        )));
    }
    let traces = files::trace_paths(&args.traces).map_err(|e| bad(e.to_string()))?;
    let rule = args.abr.unwrap_or(AbrKind::Bolae);
    let config = SabreConfig {
        fixed_level: args.level,
        ..SabreConfig::default()
    };
    let reports = traces
        .iter()
        .map(|t| sabre::run(t, &ladder, rule, &config).map_err(|e| bad(e.to_string())))
        .collect::<anyhow::Result<Vec<SabreReport>>>()?;
    if args.json {
        let out = match reports.as_slice() {
            [one] => serde_json::to_string_pretty(one)?,
            many => serde_json::to_string_pretty(&serde_json::json!({ "sessions": many }))?,
        };
        println!("{out}");
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "trace",
        "abr",
        "time average played bitrate kbit/s",
        "total rebuffer s",
        "rebuffer events",
        "time average score",
        "linear QoE",
        "startup s",
    ]);
    for r in &reports {
        t.add_row(vec![
            r.trace.clone(),
            r.abr.clone(),
            format!("{:.1}", r.time_average_played_bitrate),
            format!("{:.3}", r.total_rebuffer),
            format!("{:.0}", r.total_rebuffer_events),
            format!("{:.4}", r.time_average_score),
            format!("{:.1}", r.linear_qoe),
            format!("{:.3}", r.startup_time),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// Runs `vstack sim`.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    if args.model == SimModel::Sabre {
        return run_sabre(&args);
    }
    let exp = args.experiment()?;
    let started = std::time::Instant::now();
    let results = run_experiment(&exp);
    let wall = started.elapsed();
    let summary = Summary::of(&results);
    let m = &exp.manifest;
    let video_mbps = m.size_bytes() as f64 * 8.0 / m.duration().as_secs_f64().max(1e-9) / 1e6;
    if args.json {
        let out = JsonOut {
            video: &m.video_id,
            chunks: m.chunks.len(),
            video_duration_s: m.duration().as_secs_f64(),
            video_mbps,
            nodes: m.node_count,
            sessions: &results,
            summary: &summary,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "video {} · {} chunks · {:.0} s · {:.2} Mbit/s · {} nodes, replication {}{} · {} traces · {} sessions per strategy",
        m.video_id,
        m.chunks.len(),
        m.duration().as_secs_f64(),
        video_mbps,
        m.node_count,
        args.replication,
        if args.replica_layout.is_empty() {
            String::new()
        } else {
            let l: Vec<String> = args.replica_layout.iter().map(u16::to_string).collect();
            format!(" (first chunks: {})", l.join(","))
        },
        exp.traces.len(),
        exp.sessions
    );
    if !m.bitrates_kbps.is_empty() {
        println!(
            "ladder of {} levels ({:.0}–{:.0} kbit/s): smart and oracle play {}, naive plays {}{}",
            m.bitrates_kbps.len(),
            m.bitrates_kbps[0],
            m.bitrates_kbps[m.bitrates_kbps.len() - 1],
            exp.abr.smart.name(),
            exp.abr.baseline.name(),
            if exp.abr.adapts() {
                "; the bound is at the lowest level"
            } else {
                ""
            }
        );
    }
    if args.per_session {
        print_sessions(&results);
    }
    print_summary(&summary);
    let simulated: f64 = results.iter().map(|r| r.sim_time_s).sum();
    println!(
        "simulated {:.0} s in {:.3} s wall ({:.0}× real time)",
        simulated,
        wall.as_secs_f64(),
        simulated / wall.as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// Value parser of `--startup-probe-wait-s`: seconds in [0, 10] (a bad
/// value is a usage error, exit code 2).
fn parse_probe_wait_s(s: &str) -> Result<f64, String> {
    super::parse_f64_in(s, 0.0..=10.0, "--startup-probe-wait-s", " s")
}
