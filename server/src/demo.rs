//! `vstack demo`: the seed's demonstration (001, "Demonstration Scenarios") on
//! the real engine: normal operation → network degradation (latency, then
//! bandwidth, then loss) → node failure → recovery → chaos, with the smart client
//! on the embedded cluster and the naive client on its twin, both playing one
//! long session. Each phase is narrated as it starts; at its end the phase's own
//! figures (differences of the clients' counters across the phase) are printed,
//! and a summary of key findings closes the run. Every number is measured in
//! that run.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::{
    client::{self, ClientKind, ClientStatus, LiveConfig, fetch_view},
    cluster::{
        embedded::{Cluster, ClusterConfig, SyntheticVideo},
        emulator::{Conditions, Scenario},
    },
};

/// Options of `vstack demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Time compression factor (10 plays the ~4-minute demo in ~25 s).
    #[arg(long, default_value_t = 10.0, value_parser = crate::config::parse_speed)]
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
}

/// A phase of the demo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// One scenario on every node.
    Scenario(Scenario),
    /// Seeded random failures.
    Chaos,
}

/// The demo's phases and what to watch in each.
pub const PHASES: [(Phase, &str); 7] = [
    (
        Phase::Scenario(Scenario::Normal),
        "Normal operation: all nodes healthy. The smart client's scores rank node-1 (100 Mbit/s, 5 ms) first and it takes most chunks there; the naive client spreads chunks evenly.",
    ),
    (
        Phase::Scenario(Scenario::HighLatency),
        "Degradation 1, latency: +200 ms ± 50 ms on every node. Scores fall for all nodes alike; both clients keep playing from their buffers.",
    ),
    (
        Phase::Scenario(Scenario::LowBandwidth),
        "Degradation 2, bandwidth: every node capped at 3 Mbit/s. Buffers drain; watch which client stalls first.",
    ),
    (
        Phase::Scenario(Scenario::PacketLoss),
        "Degradation 3, loss: 10 % of transfers are cut. Failovers rise; reliability enters the smart client's scores.",
    ),
    (
        Phase::Scenario(Scenario::NodeFailure),
        "Node failure: node-1 is down. Both clients fail over; the smart client stops asking node-1 once its health turns down.",
    ),
    (
        Phase::Scenario(Scenario::Recovery),
        "Recovery: every node back on its profile. The smart client's probes notice node-1 again and its scores climb back.",
    ),
    (
        Phase::Chaos,
        "Chaos: every 5 s a random failure (a node killed and revived, a latency spike, loss) on the same seed for both clusters.",
    ),
];

pub use app::wire::PhaseFigures;

/// One phase's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PhaseResult {
    /// Name.
    pub phase: String,
    /// Smart client.
    pub smart: PhaseFigures,
    /// Naive client.
    pub naive: PhaseFigures,
}

/// The phase's name (`normal`, …, `chaos`).
pub fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Scenario(s) => s.name(),
        Phase::Chaos => "chaos",
    }
}

/// A client's figures over a phase of `phase_media_s` media seconds: the
/// differences of its counters between `before` and `after`.
pub fn figures(before: &ClientStatus, after: &ClientStatus, phase_media_s: f64) -> PhaseFigures {
    let (a, b) = (&before.qoe, &after.qoe);
    PhaseFigures {
        chunks: b.downloads.saturating_sub(a.downloads),
        rebuffers: b.rebuffer_count.saturating_sub(a.rebuffer_count),
        stall_ms: (b.rebuffer_time_ms - a.rebuffer_time_ms).max(0.0),
        failovers: b.failovers.saturating_sub(a.failovers),
        goodput_mbps: b.bytes_total.saturating_sub(a.bytes_total) as f64 * 8.0
            / phase_media_s
            / 1e6,
        buffer_end_s: after.buffer_level_s,
        per_node: b
            .per_node
            .iter()
            .zip(&a.per_node)
            .map(|(y, x)| y.chunks.saturating_sub(x.chunks))
            .collect(),
    }
}

/// One step of the chaos phase, applied to every cluster alike (the twins get
/// the same failure): first the nodes killed by the previous step are revived
/// and every node goes back to its base profile, then one random node is
/// killed, gets a +400 ms latency spike or loses 30 % of its transfers.
/// Returns what it did.
pub async fn chaos_step(
    clusters: &mut [Cluster],
    rng: &mut ChaCha8Rng,
    killed: &mut Vec<usize>,
) -> String {
    let n = clusters[0].nodes().len();
    for i in killed.drain(..) {
        for c in clusters.iter_mut() {
            let _ = c.restart_node(i).await;
        }
    }
    for c in clusters.iter() {
        c.apply_scenario(Scenario::Normal);
    }
    let node = rng.random_range(0..n);
    match rng.random_range(0..3) {
        0 => {
            for c in clusters.iter_mut() {
                c.kill_node(node);
            }
            killed.push(node);
            format!("node-{} killed", node + 1)
        }
        1 => {
            let base = clusters[0].nodes()[node].emulator().base();
            let spike = Conditions {
                latency_ms: base.latency_ms + 400.0,
                ..base
            };
            for c in clusters.iter() {
                let _ = c.set_conditions(node, spike.clone());
            }
            format!("node-{} latency spike (+400 ms)", node + 1)
        }
        _ => {
            let base = clusters[0].nodes()[node].emulator().base();
            let lossy = Conditions { loss: 0.3, ..base };
            for c in clusters.iter() {
                let _ = c.set_conditions(node, lossy.clone());
            }
            format!("node-{} loses 30 % of transfers", node + 1)
        }
    }
}

/// Key findings over the phases, one sentence each, from the measured figures.
pub fn findings(results: &[PhaseResult]) -> Vec<String> {
    let mut out = Vec::new();
    if results.is_empty() {
        return out;
    }
    let sum = |f: fn(&PhaseFigures) -> f64, smart: bool| -> f64 {
        results
            .iter()
            .map(|r| f(if smart { &r.smart } else { &r.naive }))
            .sum()
    };
    let (sr, nr) = (
        sum(|f| f64::from(f.rebuffers), true),
        sum(|f| f64::from(f.rebuffers), false),
    );
    let (ss, ns) = (sum(|f| f.stall_ms, true), sum(|f| f.stall_ms, false));
    let (sf, nf) = (
        sum(|f| f.failovers as f64, true),
        sum(|f| f.failovers as f64, false),
    );
    let (sg, ng) = (
        sum(|f| f.goodput_mbps, true),
        sum(|f| f.goodput_mbps, false),
    );
    out.push(format!(
        "rebuffering: smart {sr:.0} events / {:.1} s stalled, naive {nr:.0} events / {:.1} s stalled",
        ss / 1e3,
        ns / 1e3
    ));
    out.push(format!("failovers: smart {sf:.0}, naive {nf:.0}"));
    out.push(format!(
        "mean goodput over the phases: smart {:.1} Mbit/s, naive {:.1} Mbit/s",
        sg / results.len() as f64,
        ng / results.len() as f64
    ));
    if let Some(worst) = results.iter().max_by(|x, y| {
        (x.naive.stall_ms - x.smart.stall_ms).total_cmp(&(y.naive.stall_ms - y.smart.stall_ms))
    }) && worst.naive.stall_ms > worst.smart.stall_ms
    {
        out.push(format!(
            "the largest gap was in {}: naive stalled {:.1} s, smart {:.1} s",
            worst.phase,
            worst.naive.stall_ms / 1e3,
            worst.smart.stall_ms / 1e3
        ));
    }
    out
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
    let a = Cluster::start(ClusterConfig {
        speed: args.speed,
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(total_s),
            ..SyntheticVideo::default()
        }),
        ..ClusterConfig::default()
    })
    .await
    .context("embedded cluster")?;
    let b = a.start_twin().await.context("twin cluster")?;
    let http = reqwest::Client::new();
    let mut watchers = Vec::new();
    let mut tasks = Vec::new();
    let (_stop_tx, stop_rx) = watch::channel(false);
    for (kind, c) in [(ClientKind::Smart, &a), (ClientKind::Naive, &b)] {
        let view = fetch_view(&http, &c.metadata_url(), "test-video-001").await?;
        let (tx, rx) = watch::channel(None);
        let (ntx, _) = broadcast::channel(64);
        let cfg = LiveConfig {
            kind,
            speed: args.speed,
            ..LiveConfig::default()
        };
        tasks.push(tokio::spawn(client::play(
            http.clone(),
            view,
            cfg,
            tx,
            ntx,
            stop_rx.clone(),
        )));
        watchers.push(rx);
    }
    let mut clusters = [a, b];
    let snapshot = |w: &watch::Receiver<Option<ClientStatus>>| w.borrow().clone();
    let phase_wall = Duration::from_secs(args.phase_s).div_f64(args.speed);
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut results = Vec::new();
    // Wait for both clients to publish a first status.
    while watchers.iter().any(|w| w.borrow().is_none()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (phase, narration) in PHASES {
        println!("\n▶ {}: {narration}", phase_name(phase));
        let before: Vec<ClientStatus> = watchers.iter().filter_map(snapshot).collect();
        let mut killed = Vec::new();
        match phase {
            Phase::Scenario(s) => {
                for c in &clusters {
                    c.apply_scenario(s);
                }
                tokio::time::sleep(phase_wall).await;
            }
            Phase::Chaos => {
                let step = Duration::from_secs(5).div_f64(args.speed);
                let steps = (args.phase_s / 5).max(1);
                for _ in 0..steps {
                    let what = chaos_step(&mut clusters, &mut rng, &mut killed).await;
                    println!("    chaos: {what}");
                    tokio::time::sleep(step).await;
                }
                for i in killed.drain(..) {
                    for c in clusters.iter_mut() {
                        let _ = c.restart_node(i).await;
                    }
                }
                for c in &clusters {
                    c.apply_scenario(Scenario::Normal);
                }
            }
        }
        let after: Vec<ClientStatus> = watchers.iter().filter_map(snapshot).collect();
        let r = PhaseResult {
            phase: phase_name(phase).into(),
            smart: figures(&before[0], &after[0], args.phase_s as f64),
            naive: figures(&before[1], &after[1], args.phase_s as f64),
        };
        for (name, f) in [("smart", &r.smart), ("naive", &r.naive)] {
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
        results.push(r);
    }
    for t in &tasks {
        t.abort();
    }
    println!("\nKey findings (measured in this run):");
    for f in findings(&results) {
        println!("  {f}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(())
}
