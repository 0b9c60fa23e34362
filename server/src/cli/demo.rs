//! `vstack demo`: the seed's demonstration (001, "Demonstration Scenarios") on
//! the real engine: normal operation → network degradation (latency, then
//! bandwidth, then loss) → node failure → recovery → chaos → adaptive
//! redundancy (a node lost for good), 8 phases, with the smart client
//! on the embedded cluster and the naive client on its twin, both playing one
//! long session. Each phase is narrated as it starts; at its end the phase's own
//! figures (differences of the clients' counters across the phase) are printed,
//! and a summary of key findings closes the run. Every number is measured in
//! that run.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::sync::{Mutex, broadcast, watch};
use vstack_core::{
    demo::{PHASES, PhaseFigures, findings, narrate, phase_name},
    engine::{ClientSnapshot, PerClient},
};

use super::parse_speed;
use crate::{
    client::{self, ClientConfig},
    cluster::embedded::{ClusterConfig, SyntheticVideo},
    tools::{
        demo::{DemoEvent, run_phases},
        testbed::Testbed,
    },
};

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
    let total_s = args.phase_s * PHASES.len() as u64 + 60;
    println!(
        "vstack demo: smart client on the embedded cluster, naive client on its twin; {} phases of {} s (media time) at ×{}",
        PHASES.len(),
        args.phase_s,
        args.speed
    );
    // The redundancy phase repairs within itself: a grace of a fifth of the
    // phase (wall time, at least 0.5 s), fast heartbeats, and the default
    // 40 Mbit/s repair cap in media time (× speed, as the emulated links).
    let phase_wall_ms = (args.phase_s as f64 * 1e3 / args.speed) as u64;
    let smart_bed = Testbed::start(ClusterConfig {
        speed: args.speed,
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(total_s),
            ..SyntheticVideo::default()
        }),
        heartbeat_interval: Duration::from_millis(200),
        heartbeat_timeout: Duration::from_millis(500),
        redundancy: Some(vstack_core::redundancy::RedundancyConfig {
            grace_ms: (phase_wall_ms / 5).max(500),
            tick_ms: 100,
            repair_cap_mbps: (40.0 * args.speed).min(100_000.0),
            max_concurrent_repairs: 4,
            ..vstack_core::redundancy::RedundancyConfig::default()
        }),
        ..ClusterConfig::default()
    })
    .await
    .context("smart client's cluster")?;
    let naive_bed = smart_bed.twin().await.context("naive client's cluster")?;
    let (_stop_tx, stop_rx) = watch::channel(false);
    let beds = PerClient {
        smart: &smart_bed,
        naive: &naive_bed,
    };
    let watchers = beds.map(|kind, bed| {
        let (tx, rx) = watch::channel(None);
        let (ntx, _) = broadcast::channel(64);
        let config = ClientConfig {
            kind,
            speed: args.speed,
            ..ClientConfig::default()
        };
        let task = tokio::spawn(client::play(
            bed.http.clone(),
            bed.view.clone(),
            config,
            tx,
            ntx,
            stop_rx.clone(),
        ));
        (rx, task)
    });
    // Wait for both clients to publish a first snapshot.
    while watchers.iter().any(|(_, (rx, _))| rx.borrow().is_none()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let snapshots = || -> PerClient<Option<ClientSnapshot>> {
        PerClient {
            smart: watchers.smart.0.borrow().clone(),
            naive: watchers.naive.0.borrow().clone(),
        }
    };
    let clusters = Mutex::new(vec![smart_bed.cluster, naive_bed.cluster]);
    let started = crate::history::unix_ms_now();
    let results = run_phases(
        &clusters,
        args.phase_s,
        args.speed,
        args.seed,
        snapshots,
        print_event,
    )
    .await;
    for (_, (_, task)) in watchers.iter() {
        task.abort();
    }
    println!("\nKey findings (measured in this run):");
    for f in findings(&results) {
        println!("  {f}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    let run = crate::tools::runs::DemoRun {
        phase_s: args.phase_s,
        speed: args.speed,
        seed: args.seed,
        findings: findings(&results),
        phases: results,
    };
    let times = (started, crate::history::unix_ms_now());
    super::keep_run(
        &args.keep,
        crate::tools::runs::demo_record(&run, times, "cli"),
    )
    .await
}
