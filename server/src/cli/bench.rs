//! `vstack bench`: the seed's benchmark targets measured in one run (see the
//! library's `tools::bench` for what each target measures), a PASS/FAIL table,
//! the overall score and `benchmark_results.json`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::MultiProgress;

use super::check_output_dir;
use crate::tools::bench::{BenchPlan, BenchReport, Step, execute};

/// `--only`'s parser: the steps' names, listed in `--help` and in the error
/// for an unknown one.
fn step_parser() -> impl clap::builder::TypedValueParser<Value = Step> {
    use clap::builder::{PossibleValue, TypedValueParser};
    let about = |s: Step| match s {
        Step::Qoe => "QoE targets per client and condition",
        Step::Latency => "Storage node latency",
        Step::Uploads => "Concurrent uploads",
        Step::Scale => "Concurrent sessions per process, node response time under load",
        Step::Load => "Load distribution against node capacity",
        Step::Failover => "Failover after a kill and a partition",
        Step::Dashboards => "Many live dashboards on one server, and slowloris connections",
        Step::Redundancy => "Adaptive redundancy: restore after a loss, startup on a hot video",
        Step::Watchers => {
            "Watch tab viewers beside the twins: their startup and stalls alone and watched"
        }
        Step::Sabre => "vstack's Sabre model beside sabre.py: every cell, and the speed of both",
        Step::Abr => {
            "Quality choice on a ladder: smart's multi-source rule against naive's BOLA-E, linear QoE"
        }
        Step::Players => {
            "Opt-in, about 90 min: vstack's browser players beside hls.js in Chromium (scripts/players-table.sh, from a checkout)"
        }
    };
    clap::builder::PossibleValuesParser::new(
        Step::ALL
            .into_iter()
            .chain(Step::OPT_IN)
            .map(|s| PossibleValue::new(s.name()).help(about(s))),
    )
    .map(|name| Step::from_name(&name).expect("a listed step"))
}

/// Options of `vstack bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// A short CI-sized run (about three minutes): fewer sessions, requests,
    /// uploaders and repetitions, shorter videos.
    #[arg(long)]
    pub quick: bool,
    /// Where to write the results.
    #[arg(long, default_value = "benchmark_results.json")]
    pub output: PathBuf,
    /// Also print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Where else the run is kept (history database, a server).
    #[command(flatten)]
    pub keep: super::RunOutputArgs,
    /// Run only these steps (comma-separated). Default: all but the opt-in
    /// `players`.
    #[arg(long, value_delimiter = ',', value_parser = step_parser())]
    pub only: Vec<Step>,
    /// The trace set (a folder or file of recorded traces) of the QoE step's
    /// trace condition. Default `../shared/traces/fcc` when it exists; without
    /// one that condition is left out and the report says so.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Session counts of the scale step (comma-separated, 1–5000 each),
    /// instead of 100,250,500,1000 (`--quick`: 100).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..=5000))]
    pub scale_sessions: Vec<u16>,
    /// Runs per player and scenario of the opt-in players step (1–10),
    /// instead of 3 (`--quick`: 1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub players_runs: Option<u32>,
    /// The shared data folder the sabre step reads (`traces/fcc`,
    /// `traces/hsdpa-3g`, `videos/bbb.json`, `peers/sabre/sabre.py`).
    #[arg(long, default_value = "../shared")]
    pub shared: PathBuf,
}

/// Default trace set of the QoE step, relative to the working directory.
pub const DEFAULT_TRACE_SET: &str = "../shared/traces/fcc";

fn print_report(r: &BenchReport) {
    use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["target", "req.", "client", "measured", "target", "result"]);
    for x in &r.results {
        t.add_row([
            x.name.clone(),
            x.requirement.clone().unwrap_or_default(),
            x.client.map(|c| c.name().to_string()).unwrap_or_default(),
            format!("{:.2} {}", x.measured, x.unit),
            format!("{} {} {}", x.comparison.symbol(), x.target, x.unit),
            if x.passed { "PASS" } else { "FAIL" }.into(),
        ]);
    }
    println!("{t}");
    for x in &r.results {
        let who = x
            .client
            .map(|c| format!(" ({})", c.name()))
            .unwrap_or_default();
        println!(
            "  {}{who}: {} [conditions: {}]",
            x.name, x.detail, x.conditions
        );
    }
    for s in &r.skipped {
        println!("  skipped: {s}");
    }
    if let Some(s) = &r.sabre {
        print_sabre_cells(s);
    }
    println!(
        "\nscore: {} of {} targets met ({:.0} %) in {:.1} s on {} × {} ({} build){}",
        r.passed,
        r.total,
        r.score_pct,
        r.wall_s,
        r.machine.cpus,
        r.machine.cpu_model.as_deref().unwrap_or(&r.machine.arch),
        r.machine.build,
        if r.quick { ", --quick" } else { "" }
    );
}

/// The sabre step's cells: vstack beside `sabre.py`, trace by trace.
fn print_sabre_cells(s: &crate::tools::sabre_bench::SabreBenchReport) {
    use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "trace",
        "rule",
        "played bitrate kbit/s vstack / sabre.py",
        "Δ %",
        "rebuffer s vstack / sabre.py",
        "Δ s",
        "agrees",
    ]);
    for c in &s.cells {
        t.add_row([
            format!("{}/{}", c.trace_set, c.trace),
            c.rule.clone(),
            format!(
                "{:.3} / {:.3}",
                c.vstack.time_average_played_bitrate, c.sabre.time_average_played_bitrate
            ),
            format!("{:.1e}", c.bitrate_diff_pct),
            format!(
                "{:.3} / {:.3}",
                c.vstack.total_rebuffer, c.sabre.total_rebuffer
            ),
            format!("{:.1e}", c.rebuffer_diff_s),
            if c.agrees { "yes" } else { "NO" }.into(),
        ]);
    }
    println!("\nvstack's Sabre model beside sabre.py\n{t}");
    println!(
        "whole table: sabre.py {:.2} s, vstack {:.4} s: {:.0}× faster",
        s.sabre_wall_s, s.vstack_wall_s, s.speedup_x
    );
}

/// Runs `vstack bench`.
///
/// # Errors
/// [`super::BadInput`] when the output's directory does not exist; an error
/// when a step cannot run or the results file cannot be written.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    check_output_dir(&args.output)?;
    let (traces, traces_missing) = load_traces(args.trace.clone()).await?;
    let plan = BenchPlan {
        quick: args.quick,
        steps: if args.only.is_empty() {
            Step::ALL.to_vec()
        } else {
            Step::ALL
                .into_iter()
                .chain(Step::OPT_IN)
                .filter(|s| args.only.contains(s))
                .collect()
        },
        traces,
        traces_missing,
        scale_sessions: (!args.scale_sessions.is_empty()).then(|| {
            args.scale_sessions
                .iter()
                .map(|&n| usize::from(n))
                .collect()
        }),
        shared: args.shared.clone(),
        players_runs: args.players_runs,
    };
    let mp = MultiProgress::new();
    let report = execute(plan, &mp).await?;
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&args.output, &json)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if args.json {
        println!("{json}");
    } else {
        print_report(&report);
        println!("results written to {}", args.output.display());
    }
    super::keep_run(&args.keep, crate::runs::bench_record(&report, "cli")).await
}

/// The QoE step's trace set: `--trace` (an error when it cannot be read) or
/// [`DEFAULT_TRACE_SET`] when it exists (else left out, with the reason).
async fn load_traces(
    given: Option<PathBuf>,
) -> anyhow::Result<(
    Option<(String, Vec<std::sync::Arc<vstack_core::input::Trace>>)>,
    Option<String>,
)> {
    let explicit = given.is_some();
    let path = given.unwrap_or_else(|| PathBuf::from(DEFAULT_TRACE_SET));
    let p = path.clone();
    let read = tokio::task::spawn_blocking(move || {
        p.exists()
            .then(|| crate::files::trace_paths(std::slice::from_ref(&p)))
    })
    .await?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    match read {
        Some(Ok(t)) if !t.is_empty() => Ok((Some((name, t)), None)),
        Some(Ok(_)) if explicit => {
            Err(super::BadInput(format!("--trace {}: no trace in it", path.display())).into())
        }
        Some(Err(e)) if explicit => Err(super::BadInput(format!("--trace: {e}")).into()),
        None if explicit => Err(super::BadInput(format!(
            "--trace {}: no such file or folder",
            path.display()
        ))
        .into()),
        Some(Ok(_)) => Ok((None, Some(format!("{} holds no trace", path.display())))),
        Some(Err(e)) => Ok((None, Some(e.to_string()))),
        None => Ok((
            None,
            Some(format!(
                "{} not found (pass --trace to name a trace set)",
                path.display()
            )),
        )),
    }
}
