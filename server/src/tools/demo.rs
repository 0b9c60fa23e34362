//! The seed's demo on live clusters, one phase loop for every host: `vstack
//! demo` (its own twin clusters) and the dashboard (the hub's) both call
//! [`run_phases`] and watch it through a progress callback.
//!
//! Each phase applies its scenario to every cluster alike (the chaos phase
//! injects one random fault every 5 s of media time, the same on every
//! cluster), and its figures are the differences of the clients' counters
//! across the phase ([`vstack_core::demo::phase_figures`]).

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::Mutex;
use vstack_core::{
    conditions::{Fault, Scenario},
    demo::{PHASES, Phase, PhaseResult, phase_figures, phase_name},
    engine::{ClientSnapshot, PerClient},
};

use crate::cluster::embedded::{Cluster, restart_node_on_twins};

/// Media seconds between two faults of the chaos phase.
pub const CHAOS_STEP_S: u64 = 5;

/// What the loop reports as it goes.
#[derive(Debug)]
pub enum DemoEvent<'a> {
    /// Phase `index` (of [`PHASES`]) starts.
    PhaseStarted {
        /// Its index.
        index: usize,
        /// The phase.
        phase: Phase,
        /// What to watch.
        narration: &'static str,
    },
    /// A step of the chaos phase (or an event of the redundancy phase)
    /// happened at `at_s` media seconds into the phase; `killed` lists the
    /// nodes killed now (0-based).
    Chaos {
        /// Media seconds into the phase.
        at_s: u64,
        /// What it did (`node-2 killed`).
        what: String,
        /// Nodes killed now.
        killed: &'a [usize],
    },
    /// Phase `index` ended with these figures; every node is alive again.
    PhaseEnded {
        /// Its index.
        index: usize,
        /// The phase.
        phase: Phase,
        /// Both clients' figures.
        result: &'a PhaseResult,
    },
}

/// One step of the chaos phase on every cluster alike: the nodes killed by
/// the previous step are revived and every node goes back to its base
/// profile, then one random node gets one of [`Fault::DEMO`] (killed, a
/// latency spike or loss). Returns what it did, the revivals first
/// (`node-1 back up; node-1 killed`), so the list never shows a node
/// killed twice without its return between.
pub async fn chaos_step(
    clusters: &mut [Cluster],
    rng: &mut ChaCha8Rng,
    killed: &mut Vec<usize>,
) -> String {
    let revived: Vec<String> = killed
        .iter()
        .map(|i| format!("node-{} back up", i + 1))
        .collect();
    revive(clusters, killed).await;
    for c in clusters.iter() {
        c.apply_scenario(Scenario::Normal);
    }
    let n = clusters[0].nodes().len();
    let node = rng.random_range(0..n);
    let fault = Fault::DEMO[rng.random_range(0..Fault::DEMO.len())];
    let node_id = format!("node-{}", node + 1);
    match fault.conditions(&clusters[0].nodes()[node].emulator().base()) {
        Some(c) => {
            for cl in clusters.iter() {
                let _ = cl.set_conditions(node, c.clone());
            }
        }
        None => {
            for cl in clusters.iter_mut() {
                cl.kill_node(node);
            }
            killed.push(node);
        }
    }
    let mut what = revived;
    what.push(fault.describe(&node_id));
    what.join("; ")
}

/// Restarts every node in `killed` on every cluster (and empties it).
async fn revive(clusters: &mut [Cluster], killed: &mut Vec<usize>) {
    for i in killed.drain(..) {
        let _ = restart_node_on_twins(clusters, i).await;
    }
}

/// Runs [`PHASES`] in order on `clusters` (the smart client's and the naive
/// client's), `phase_s` media seconds each at time compression `speed`, the
/// chaos phase's faults drawn from `seed`. `clients` reads both clients'
/// latest snapshots; `progress` hears every [`DemoEvent`]. Returns each
/// phase's figures. Dropping the future stops the demo where it is (the
/// caller restores the clusters).
pub async fn run_phases(
    clusters: &Mutex<Vec<Cluster>>,
    phase_s: u64,
    speed: f64,
    seed: u64,
    clients: impl Fn() -> PerClient<Option<ClientSnapshot>>,
    mut progress: impl FnMut(DemoEvent<'_>),
) -> Vec<PhaseResult> {
    let phase_wall = Duration::from_secs(phase_s).div_f64(speed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut results = Vec::new();
    for (index, (phase, narration)) in PHASES.into_iter().enumerate() {
        progress(DemoEvent::PhaseStarted {
            index,
            phase,
            narration,
        });
        let before = clients();
        match phase {
            Phase::Scenario(s) => {
                for c in clusters.lock().await.iter() {
                    c.apply_scenario(s);
                }
                tokio::time::sleep(phase_wall).await;
            }
            Phase::Chaos => chaos_phase(clusters, phase_s, speed, &mut rng, &mut progress).await,
            Phase::Redundancy => redundancy_phase(clusters, phase_s, speed, &mut progress).await,
        }
        let after = clients();
        let result = PhaseResult {
            phase: phase_name(phase).into(),
            smart: phase_figures(before.smart.as_ref(), after.smart.as_ref(), phase_s as f64),
            naive: phase_figures(before.naive.as_ref(), after.naive.as_ref(), phase_s as f64),
        };
        progress(DemoEvent::PhaseEnded {
            index,
            phase,
            result: &result,
        });
        results.push(result);
    }
    results
}

/// The redundancy phase: the last node dies for good on every cluster; the
/// smart client's cluster's replication manager (if one runs) reports its
/// events as they happen (the twin mirrors its changes); at the phase's end
/// the node returns.
async fn redundancy_phase(
    clusters: &Mutex<Vec<Cluster>>,
    phase_s: u64,
    speed: f64,
    progress: &mut impl FnMut(DemoEvent<'_>),
) {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let t0 = tokio::time::Instant::now();
    let (node, svc) = {
        let mut c = clusters.lock().await;
        let Some(n) = c.first().map(|c| c.nodes().len()) else {
            return;
        };
        let node = n - 1;
        for cl in c.iter_mut() {
            cl.kill_node(node);
        }
        (node, c[0].metadata().clone())
    };
    let killed = [node];
    progress(DemoEvent::Chaos {
        at_s: 0,
        what: format!("node-{} failed for good", node + 1),
        killed: &killed,
    });
    let end = t0 + Duration::from_secs(phase_s).div_f64(speed);
    let mut seen = 0;
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(250).min(end - tokio::time::Instant::now())).await;
        let events: Vec<_> = svc
            .replication_report()
            .events
            .into_iter()
            .filter(|e| e.unix_ms >= started)
            .collect();
        for e in events.iter().skip(seen) {
            let at_s = (t0.elapsed().as_secs_f64() * speed) as u64;
            progress(DemoEvent::Chaos {
                at_s,
                what: e.message.clone(),
                killed: &killed,
            });
        }
        seen = events.len().max(seen);
    }
    let mut c = clusters.lock().await;
    let _ = restart_node_on_twins(&mut c[..], node).await;
}

/// The chaos phase: a [`chaos_step`] every [`CHAOS_STEP_S`] media seconds,
/// then every node revived and back on its base profile.
async fn chaos_phase(
    clusters: &Mutex<Vec<Cluster>>,
    phase_s: u64,
    speed: f64,
    rng: &mut ChaCha8Rng,
    progress: &mut impl FnMut(DemoEvent<'_>),
) {
    let step = Duration::from_secs(CHAOS_STEP_S).div_f64(speed);
    let mut killed = Vec::new();
    for k in 0..(phase_s / CHAOS_STEP_S).max(1) {
        let what = chaos_step(&mut clusters.lock().await[..], rng, &mut killed).await;
        progress(DemoEvent::Chaos {
            at_s: k * CHAOS_STEP_S,
            what,
            killed: &killed,
        });
        tokio::time::sleep(step).await;
    }
    let mut clusters = clusters.lock().await;
    revive(&mut clusters[..], &mut killed).await;
    for c in clusters.iter() {
        c.apply_scenario(Scenario::Normal);
    }
}
