//! `vstack compare`: the smart and the naive client on identical conditions,
//! over N sessions per condition, with the improvement in % and its spread.
//!
//! - `--mode live` (default): per scenario, the embedded cluster and its twin
//!   (same profiles, seeds and traces) run side by side; the smart client plays
//!   on one, the naive client on the other, N sessions each, over real HTTP.
//! - `--mode sim`: per trace folder, the deterministic simulator runs both
//!   clients on the same traces.
//!
//! For every metric the table shows each client's mean ± standard deviation over
//! its sessions and the improvement of the means in % (positive = smart better);
//! the spread of the improvement is the range of the per-session-pair
//! improvements (session *k* of smart against session *k* of naive, which ran
//! under the same conditions), shown as p10..p90.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use vstack_core::{
    compare::{CompareMode, CompareReport},
    conditions::Scenario,
};

use super::{BadInput, check_output_dir, parse_speed};
use crate::{
    files,
    tools::compare::{CompareConfig, compare_live, compare_sim},
};

/// Options of `vstack compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Live twin clusters or the simulator.
    #[arg(long, value_enum, default_value_t = CompareMode::Live)]
    pub mode: CompareMode,
    /// Live mode: scenarios, comma-separated (normal, high_latency,
    /// low_bandwidth, packet_loss, node_failure, degraded, recovery).
    #[arg(long, value_delimiter = ',', default_value = "normal,degraded", value_parser = Scenario::parse)]
    pub scenarios: Vec<Scenario>,
    /// Trace files or folders: in sim mode one condition per path; in live mode
    /// replayed on the nodes' links (all paths together).
    #[arg(long)]
    pub trace: Vec<PathBuf>,
    /// Sessions per client and condition.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub sessions: u64,
    /// Live mode: time compression factor.
    #[arg(long, default_value_t = 10.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Length of the synthetic video, seconds.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub video_duration_s: u64,
    /// Average bitrate of the synthetic video, kbit/s (its top rung with
    /// `--ladder-kbps`).
    #[arg(long, default_value_t = 5000.0)]
    pub bitrate_kbps: f64,
    /// Live mode: give the synthetic video a ladder, these bitrates in
    /// kbit/s, comma-separated, lowest first (e.g. `1000,2500,5000`); the
    /// last is the top rung and replaces `--bitrate-kbps`. The smart client
    /// then plays vstack's multi-source rule, the naive one BOLA-E, and the
    /// table gains played bitrate, switches and linear QoE. Default: one
    /// rendition.
    #[arg(long, value_delimiter = ',')]
    pub ladder_kbps: Vec<f64>,
    /// Live mode: add the best single node in hindsight: a third cluster
    /// (same profiles, traces, seeds and video, the video whole on every
    /// node) where one session per node plays that node alone beside each
    /// pair (the smart client's fetching, BOLA-E on a ladder); per session
    /// the best of them is the column.
    #[arg(long)]
    pub single: bool,
    /// Seed (emulators' jitter and loss, simulator offsets).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Where to save the result (JSON) for the dashboard's Smart vs Naive tab
    /// (`vstack serve --compare-results`); `-` saves nothing.
    #[arg(long, default_value = "compare_results.json")]
    pub output: PathBuf,

    /// Where else the run is kept (history database, a server).
    #[command(flatten)]
    pub keep: super::RunOutputArgs,
}

/// Renders the report as tables.
pub fn format_report(r: &CompareReport) -> String {
    use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
    let mut out = format!(
        "smart vs naive · {} · video {} s at {:.0} kbit/s{}\n",
        if r.mode == CompareMode::Live {
            "live twin clusters"
        } else {
            "simulator"
        },
        r.video.0,
        r.video.1,
        if r.ladder_kbps.is_empty() {
            String::new()
        } else {
            format!(
                " (ladder {} kbit/s; smart plays multi-source, naive BOLA-E)",
                r.ladder_kbps
                    .iter()
                    .map(|k| format!("{k:.0}"))
                    .collect::<Vec<_>>()
                    .join("/")
            )
        } + &if r.mode == CompareMode::Live {
            format!(" · speed ×{}", r.speed)
        } else {
            String::new()
        }
    );
    for c in &r.conditions {
        let single = c.smart_at_or_above_single.is_some();
        let mut t = Table::new();
        let mut header = vec!["metric", "smart mean ± sd", "naive mean ± sd"];
        if single {
            header.push("best single node mean ± sd");
        }
        header.extend(["smart better by (vs naive)", "pairs p10..p90"]);
        t.load_preset(UTF8_FULL_CONDENSED).set_header(header);
        for m in &c.metrics {
            let mut row = vec![
                vstack_core::wire::metric_with_unit(&m.metric, &m.unit),
                format!("{:.1} ± {:.1}", m.smart_mean, m.smart_sd),
                format!("{:.1} ± {:.1}", m.naive_mean, m.naive_sd),
            ];
            if single {
                row.push(format!(
                    "{:.1} ± {:.1}",
                    m.single_mean.unwrap_or(f64::NAN),
                    m.single_sd.unwrap_or(f64::NAN)
                ));
            }
            row.extend([m.improvement.clone(), m.pairs_label()]);
            t.add_row(row);
        }
        out.push_str(&format!(
            "\n{} ({} per client; chunks per node smart {:?}, naive {:?})\n{t}\n",
            c.condition,
            vstack_core::wire::counted(c.sessions, "session", "sessions"),
            c.load_per_node.0,
            c.load_per_node.1
        ));
        if let Some(k) = c.smart_at_or_above_single {
            out.push_str(&format!(
                "smart at or above the best single node in {k} of {} (linear QoE with a ladder, else startup + stall); best node per session {:?}\n",
                vstack_core::wire::counted(c.sessions, "session", "sessions"),
                c.single_best_node
            ));
        }
        for g in &c.vs_bound {
            let x =
                |v: Option<f64>| v.map_or_else(|| "n/a (bound 0)".into(), |v| format!("×{v:.2}"));
            out.push_str(&format!(
                "{} vs the fluid bound: startup {} ({:+.0} ms), startup + stall {} ({:+.0} ms)\n",
                g.strategy.name(),
                x(g.startup_x),
                g.startup_ms,
                x(g.wait_x),
                g.wait_ms
            ));
        }
    }
    out
}

/// Runs `vstack compare`.
///
/// # Errors
/// [`BadInput`] for bad flags; others when a run fails.
pub async fn run(args: CompareArgs) -> anyhow::Result<()> {
    if !(args.bitrate_kbps.is_finite() && args.bitrate_kbps > 0.0) {
        return Err(BadInput("--bitrate-kbps must be positive".into()).into());
    }
    let save = args.output != std::path::Path::new("-");
    if save {
        check_output_dir(&args.output)?;
    }
    let ladder = &args.ladder_kbps;
    if !ladder.is_empty() {
        if args.mode == CompareMode::Sim {
            return Err(BadInput(
                "--ladder-kbps is for --mode live; the simulator compares ladders with vstack sim --video".into(),
            )
            .into());
        }
        if ladder.len() > 16
            || ladder.iter().any(|r| !(r.is_finite() && *r >= 1.0))
            || ladder.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(BadInput(format!(
                "--ladder-kbps {ladder:?}: at most 16 bitrates of at least 1 kbit/s, strictly rising"
            ))
            .into());
        }
    }
    if args.single && args.mode == CompareMode::Sim {
        return Err(BadInput(
            "--single is for --mode live; the simulator has it as vstack sim --strategies single"
                .into(),
        )
        .into());
    }
    let (top, lower) = match ladder.split_last() {
        Some((top, lower)) => (*top, lower.to_vec()),
        None => (args.bitrate_kbps, Vec::new()),
    };
    let cfg = CompareConfig {
        scenarios: args.scenarios.clone(),
        sessions: usize::try_from(args.sessions).unwrap_or(usize::MAX),
        speed: args.speed,
        video_duration_s: args.video_duration_s,
        bitrate_kbps: top,
        seed: args.seed,
        lower_rungs_kbps: lower,
        single: args.single,
    };
    let started = crate::history::unix_ms_now();
    let report = match args.mode {
        CompareMode::Live => {
            let traces = files::trace_paths(&args.trace).map_err(|e| BadInput(e.to_string()))?;
            compare_live(&cfg, &traces, |scenario, k, n| {
                if !args.json {
                    eprintln!(
                        "{}: session {k}/{n} (smart and naive side by side)…",
                        scenario.name()
                    );
                }
            })
            .await?
        }
        CompareMode::Sim => {
            if args.trace.is_empty() {
                return Err(BadInput(
                    "--mode sim needs at least one --trace file or folder".into(),
                )
                .into());
            }
            let mut sets = Vec::new();
            for path in &args.trace {
                let traces = files::trace_paths(std::slice::from_ref(path))
                    .map_err(|e| BadInput(e.to_string()))?;
                sets.push((path.display().to_string(), traces));
            }
            compare_sim(&cfg, sets).map_err(|e| BadInput(e.to_string()))?
        }
    };
    if save {
        crate::runs::saved::save(&report, &args.output)
            .with_context(|| format!("writing {}", args.output.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", format_report(&report));
    }
    let run = crate::runs::compare_record(&report, started, "cli");
    super::keep_run(&args.keep, run).await
}
