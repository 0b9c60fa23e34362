//! `vstack bench`: the seed's benchmark targets measured in one run (see the
//! library's `tools::bench` for what each target measures), a PASS/FAIL table,
//! the overall score and `benchmark_results.json`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::MultiProgress;

use super::check_output_dir;
use crate::tools::bench::{BenchReport, execute};

/// Options of `vstack bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// A short CI-sized run (about a minute): fewer sessions, requests,
    /// uploaders and repetitions, shorter videos.
    #[arg(long)]
    pub quick: bool,
    /// Where to write the results.
    #[arg(long, default_value = "benchmark_results.json")]
    pub output: PathBuf,
    /// Also print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn print_report(r: &BenchReport) {
    use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["target", "req.", "measured", "target", "result"]);
    for x in &r.results {
        t.add_row([
            x.name.clone(),
            x.requirement.clone().unwrap_or_else(|| "—".into()),
            format!("{:.2} {}", x.measured, x.unit),
            format!("{} {} {}", x.comparison.symbol(), x.target, x.unit),
            if x.passed { "PASS" } else { "FAIL" }.into(),
        ]);
    }
    println!("{t}");
    for x in &r.results {
        println!("  {}: {}", x.name, x.detail);
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

/// Runs `vstack bench`.
///
/// # Errors
/// [`super::BadInput`] when the output's directory does not exist; an error
/// when a step cannot run or the results file cannot be written.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    check_output_dir(&args.output)?;
    let mp = MultiProgress::new();
    let report = execute(args.quick, &mp).await?;
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&args.output, &json)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if args.json {
        println!("{json}");
    } else {
        print_report(&report);
        println!("results written to {}", args.output.display());
    }
    Ok(())
}
