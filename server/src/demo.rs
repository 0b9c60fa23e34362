//! The seed's demo on live clusters, one phase loop for every host: `vstack
//! demo` ([`run_standalone`]: its own twin testbeds and clients) and the
//! dashboard (the hub's clusters) both call [`run_phases`] and watch it
//! through a progress callback.
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
    engine::{ClientKind, ClientSnapshot, PerClient},
};

use tokio::sync::{broadcast, watch};

use crate::{
    client::{self, ClientConfig},
    cluster::embedded::{Cluster, ClusterConfig, SyntheticVideo, restart_node_on_twins},
    runs::DemoRun,
    tools::testbed::{Testbed, TestbedError},
};

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
    clusters: &mut PerClient<Cluster>,
    rng: &mut ChaCha8Rng,
    killed: &mut Vec<usize>,
) -> String {
    let revived: Vec<String> = killed
        .iter()
        .map(|i| format!("node-{} back up", i + 1))
        .collect();
    revive(clusters, killed).await;
    for (_, c) in clusters.iter() {
        c.apply_scenario(Scenario::Normal);
    }
    let n = clusters.smart.nodes().len();
    let node = rng.random_range(0..n);
    let fault = Fault::DEMO[rng.random_range(0..Fault::DEMO.len())];
    let node_id = format!("node-{}", node + 1);
    match fault.conditions(&clusters.smart.nodes()[node].emulator().base()) {
        Some(c) => {
            for (_, cl) in clusters.iter() {
                let _ = cl.set_conditions(node, c.clone());
            }
        }
        None => {
            for (_, cl) in clusters.iter_mut() {
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
async fn revive(clusters: &mut PerClient<Cluster>, killed: &mut Vec<usize>) {
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
    clusters: &Mutex<PerClient<Cluster>>,
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
                for (_, c) in clusters.lock().await.iter() {
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
    clusters: &Mutex<PerClient<Cluster>>,
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
        let Some(node) = c.smart.nodes().len().checked_sub(1) else {
            return;
        };
        for (_, cl) in c.iter_mut() {
            cl.kill_node(node);
        }
        (node, c.smart.metadata().clone())
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
    let _ = restart_node_on_twins(&mut c, node).await;
}

/// The chaos phase: a [`chaos_step`] every [`CHAOS_STEP_S`] media seconds,
/// then every node revived and back on its base profile.
async fn chaos_phase(
    clusters: &Mutex<PerClient<Cluster>>,
    phase_s: u64,
    speed: f64,
    rng: &mut ChaCha8Rng,
    progress: &mut impl FnMut(DemoEvent<'_>),
) {
    let step = Duration::from_secs(CHAOS_STEP_S).div_f64(speed);
    let mut killed = Vec::new();
    for k in 0..(phase_s / CHAOS_STEP_S).max(1) {
        let what = chaos_step(&mut *clusters.lock().await, rng, &mut killed).await;
        progress(DemoEvent::Chaos {
            at_s: k * CHAOS_STEP_S,
            what,
            killed: &killed,
        });
        tokio::time::sleep(step).await;
    }
    let mut clusters = clusters.lock().await;
    revive(&mut clusters, &mut killed).await;
    for (_, c) in clusters.iter() {
        c.apply_scenario(Scenario::Normal);
    }
}

/// Settings of a standalone demo (`vstack demo`); every default stated.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Time compression factor. Default 10 (the ~4-minute demo in ~25 s).
    pub speed: f64,
    /// Media seconds per phase. Default 30.
    pub phase_s: u64,
    /// Seed of the chaos phase's random faults. Default 7.
    pub seed: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            speed: 10.0,
            phase_s: 30,
            seed: 7,
        }
    }
}

/// Why a standalone demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A twin cluster did not start.
    #[error("the {0} client's cluster: {1}")]
    Testbed(ClientKind, #[source] TestbedError),
    /// A client stopped before it published its first snapshot.
    #[error("the {0} client stopped before it started playing")]
    ClientStopped(ClientKind),
}

/// The seed's demo on its own twin testbeds: the smart client on an embedded
/// cluster, the naive client on its twin, one long session each (the video
/// lasts every phase plus a minute), [`run_phases`] over both. The
/// redundancy phase repairs within itself: a grace of a fifth of the phase
/// (wall time, at least 0.5 s), heartbeats every 200 ms, and the default
/// 40 Mbit/s repair cap in media time (× speed, as the emulated links).
/// Returns the run and its start and end, Unix ms.
///
/// # Errors
/// [`DemoError`] when a cluster does not start or a client stops before
/// playing.
pub async fn run_standalone(
    config: &DemoConfig,
    progress: impl FnMut(DemoEvent<'_>),
) -> Result<(DemoRun, (u64, u64)), DemoError> {
    let total_s = config.phase_s * PHASES.len() as u64 + 60;
    let phase_wall_ms = (config.phase_s as f64 * 1e3 / config.speed) as u64;
    let smart_bed = Testbed::start(ClusterConfig {
        speed: config.speed,
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(total_s),
            ..SyntheticVideo::default()
        }),
        heartbeat_interval: Duration::from_millis(200),
        heartbeat_timeout: Duration::from_millis(500),
        redundancy: Some(vstack_core::redundancy::RedundancyConfig {
            grace_ms: (phase_wall_ms / 5).max(500),
            tick_ms: 100,
            repair_cap_mbps: (40.0 * config.speed).min(100_000.0),
            max_concurrent_repairs: 4,
            ..vstack_core::redundancy::RedundancyConfig::default()
        }),
        ..ClusterConfig::default()
    })
    .await
    .map_err(|e| DemoError::Testbed(ClientKind::Smart, e))?;
    let naive_bed = smart_bed
        .twin()
        .await
        .map_err(|e| DemoError::Testbed(ClientKind::Naive, e))?;
    let (_stop_tx, stop_rx) = watch::channel(false);
    let beds = PerClient {
        smart: smart_bed,
        naive: naive_bed,
    };
    let watchers = beds.as_ref().map(|kind, bed| {
        let (tx, rx) = watch::channel(None);
        let (ntx, _) = broadcast::channel(64);
        let client = ClientConfig {
            kind,
            speed: config.speed,
            ..ClientConfig::default()
        };
        let task = tokio::spawn(client::play(
            bed.http.clone(),
            bed.view.clone(),
            client,
            tx,
            ntx,
            stop_rx.clone(),
        ));
        (rx, task)
    });
    // Both clients publish a first snapshot before the first phase.
    for (kind, (rx, _)) in watchers.iter() {
        if rx.clone().wait_for(Option::is_some).await.is_err() {
            return Err(DemoError::ClientStopped(kind));
        }
    }
    let snapshots = || watchers.as_ref().map(|_, (rx, _)| rx.borrow().clone());
    let clusters = Mutex::new(beds.map(|_, bed| bed.cluster));
    let started = crate::history::unix_ms_now();
    let phases = run_phases(
        &clusters,
        config.phase_s,
        config.speed,
        config.seed,
        snapshots,
        progress,
    )
    .await;
    for (_, (_, task)) in watchers.iter() {
        task.abort();
    }
    let run = DemoRun {
        phase_s: config.phase_s,
        speed: config.speed,
        seed: config.seed,
        findings: vstack_core::demo::findings(&phases),
        phases,
    };
    Ok((run, (started, crate::history::unix_ms_now())))
}
