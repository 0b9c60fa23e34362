//! `vstack demo`: the seed's demonstration (001, "Demonstration Scenarios") on
//! the real engine: normal operation → network degradation (latency, then
//! bandwidth, then loss) → node failure → recovery → chaos → adaptive
//! redundancy (a node lost for good), 8 phases, with the smart client
//! on the embedded cluster and the naive client on its twin, both playing one
//! long session. Each phase is narrated as it starts; at its end the phase's own
//! figures (differences of the clients' counters across the phase) are printed,
//! and a summary of key findings closes the run. Every number is measured in
//! that run.

use clap::Args;
use vstack_core::demo::{PHASES, PhaseFigures, narrate, phase_name};

use super::parse_speed;
use crate::demo::{DemoConfig, DemoEvent, run_standalone};

/// Options of `vstack demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Time compression factor (10 plays the ~4-minute demo in ~25 s).
    #[arg(long, default_value_t = 10.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Media seconds per phase.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(10..=3600))]
    pub phase_s: u64,
    /// Seed of the chaos phase's random failures.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Print the per-phase figures as JSON at the end.
    #[arg(long)]
    pub json: bool,

    /// Where else the run is kept (history database, a server).
    #[command(flatten)]
    pub keep: super::RunOutputArgs,
}

fn print_figures(name: &str, f: &PhaseFigures) {
    println!(
        "    {name:<5}: {:>2} chunks {:?} per node · {} rebuffers ({:.1} s stalled) · {} failovers · {:.1} Mbit/s · buffer {:.1} s at the end",
        f.chunks,
        f.per_node,
        f.rebuffers,
        f.stall_ms / 1e3,
        f.failovers,
        f.goodput_mbps,
        f.buffer_end_s
    );
}

fn print_event(ev: DemoEvent<'_>) {
    match ev {
        DemoEvent::PhaseStarted {
            phase, narration, ..
        } => println!("\n▶ {}: {narration}", phase_name(phase)),
        DemoEvent::Chaos { at_s, what, .. } => println!("    {at_s:>3} s: {what}"),
        DemoEvent::PhaseEnded { result, .. } => {
            print_figures("smart", &result.smart);
            print_figures("naive", &result.naive);
            println!("    measured: {}", narrate(result));
        }
    }
}

/// Runs `vstack demo`.
///
/// # Errors
/// When the clusters cannot start (a bad `--speed` is refused by clap).
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    println!(
        "vstack demo: smart client on the embedded cluster, naive client on its twin; {} phases of {} s (media time) at ×{}",
        PHASES.len(),
        args.phase_s,
        args.speed
    );
    let config = DemoConfig {
        speed: args.speed,
        phase_s: args.phase_s,
        seed: args.seed,
    };
    let (run, times) = run_standalone(&config, print_event).await?;
    println!("\nKey findings (measured in this run):");
    for f in &run.findings {
        println!("  {f}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&run.phases)?);
    }
    super::keep_run(&args.keep, crate::runs::demo_record(&run, times, "cli")).await
}
