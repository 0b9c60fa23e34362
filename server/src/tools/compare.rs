//! Smart vs naive on identical conditions, run for real: [`compare_live`]
//! plays both clients side by side on twin embedded clusters (same profiles,
//! seeds and traces) over HTTP, one condition per scenario; [`compare_sim`]
//! runs both in the simulator, one condition per trace set, with each
//! client's gap to the fluid bound on the same traces. The figures are
//! aggregated by [`vstack_core::compare::aggregate`]; `crate::runs::saved`
//! keeps the latest run for the dashboard.

use std::{sync::Arc, time::Duration};

use vstack_core::{
    compare::{CompareMode, CompareReport, aggregate, aggregate_with_single},
    conditions::Scenario,
    engine::{ClientKind, QoeReport, striped_manifest},
    input::{Trace, VideoSource, load_chunks},
    sim::{Experiment, SimConfig, Strategy, Summary, run_experiment},
};

use super::testbed::{Testbed, TestbedError};
use crate::{
    client::ClientError,
    cluster::embedded::{ClusterConfig, SyntheticVideo},
};

/// Settings of a comparison; every default stated.
#[derive(Clone, Debug)]
pub struct CompareConfig {
    /// Live mode: the scenarios, one condition each. Default normal, degraded.
    pub scenarios: Vec<Scenario>,
    /// Sessions per client and condition. Default 3.
    pub sessions: usize,
    /// Live mode: time compression. Default 10.
    pub speed: f64,
    /// Length of the synthetic video, s. Default 120.
    pub video_duration_s: u64,
    /// Average bitrate of the synthetic video, kbit/s. Default 5000.
    pub bitrate_kbps: f64,
    /// Seed (emulators' jitter and loss, simulator offsets). Default 1.
    pub seed: u64,
    /// Live mode: the video's lower rungs, kbit/s, lowest first, each below
    /// `bitrate_kbps` (the top rung); the smart client then plays vstack's
    /// multi-source rule and the naive one BOLA-E. Default empty (one
    /// rendition, no quality choice).
    pub lower_rungs_kbps: Vec<f64>,
    /// Live mode: also play the best single node in hindsight: a third
    /// cluster with the same profiles, traces, seeds and video, held whole
    /// on every node, where one session per node plays that node alone
    /// (the smart client's fetching, BOLA-E on a ladder) beside each pair;
    /// the best of them per session is the column. Default false.
    pub single: bool,
}

impl Default for CompareConfig {
    fn default() -> Self {
        Self {
            scenarios: vec![Scenario::Normal, Scenario::Degraded],
            sessions: 3,
            speed: 10.0,
            video_duration_s: 120,
            bitrate_kbps: 5000.0,
            seed: 1,
            lower_rungs_kbps: Vec::new(),
            single: false,
        }
    }
}

/// A comparison could not run.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A cluster did not start.
    #[error(transparent)]
    Testbed(#[from] TestbedError),
    /// A session failed.
    #[error("session: {0}")]
    Session(#[from] ClientError),
    /// The synthetic video's settings are out of range.
    #[error("{0}")]
    Video(String),
}

fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Live mode: one condition per scenario, twin clusters side by side, every
/// session of the smart client paired with the naive one's that ran at the
/// same time. `traces` are replayed on the nodes' links. `progress` is told
/// (scenario, session k of n) as each pair starts.
///
/// # Errors
/// [`CompareError`] when a cluster cannot start or a session fails.
pub async fn compare_live(
    cfg: &CompareConfig,
    traces: &[Arc<Trace>],
    mut progress: impl FnMut(Scenario, usize, usize),
) -> Result<CompareReport, CompareError> {
    let mut conditions = Vec::new();
    for &scenario in &cfg.scenarios {
        let config = ClusterConfig {
            speed: cfg.speed,
            seed: cfg.seed,
            traces: traces.to_vec(),
            video: Some(SyntheticVideo {
                duration: Duration::from_secs(cfg.video_duration_s),
                bitrate_kbps: cfg.bitrate_kbps,
                lower_rungs_kbps: cfg.lower_rungs_kbps.clone(),
                ..SyntheticVideo::default()
            }),
            ..ClusterConfig::default()
        };
        let single_bed = Testbed::whole_on_every_node(&config, cfg.single).await?;
        let smart_bed = Testbed::start(config).await?;
        let naive_bed = smart_bed.twin().await?;
        for bed in [Some(&smart_bed), Some(&naive_bed), single_bed.as_ref()]
            .into_iter()
            .flatten()
        {
            bed.cluster.apply_scenario(scenario);
        }
        let (mut smart, mut naive, mut single) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..cfg.sessions {
            progress(scenario, k + 1, cfg.sessions);
            let (s, n, one) = tokio::join!(
                smart_bed.play_session(ClientKind::Smart, cfg.speed),
                naive_bed.play_session(ClientKind::Naive, cfg.speed),
                super::testbed::play_single_nodes_on(single_bed.as_ref(), cfg.speed)
            );
            smart.push(s?);
            naive.push(n?);
            single.extend(one?);
        }
        conditions.push(aggregate_with_single(
            scenario.name(),
            &smart,
            &naive,
            &single,
        ));
    }
    Ok(CompareReport {
        mode: CompareMode::Live,
        finished_unix_s: Some(unix_now_s()),
        video: (cfg.video_duration_s, cfg.bitrate_kbps),
        ladder_kbps: ladder_of(cfg),
        speed: cfg.speed,
        conditions,
    })
}

/// The whole ladder of `cfg`'s video, kbit/s (empty for one rendition).
fn ladder_of(cfg: &CompareConfig) -> Vec<f64> {
    if cfg.lower_rungs_kbps.is_empty() {
        return Vec::new();
    }
    let mut v = cfg.lower_rungs_kbps.clone();
    v.push(cfg.bitrate_kbps);
    v
}

/// Sim mode: one condition per named trace set, both clients in the
/// simulator on the same traces, offsets and seeds.
///
/// # Errors
/// [`CompareError::Video`] for a bad bitrate.
pub fn compare_sim(
    cfg: &CompareConfig,
    trace_sets: Vec<(String, Vec<Arc<Trace>>)>,
) -> Result<CompareReport, CompareError> {
    let chunks = load_chunks(
        &VideoSource::Synthetic {
            bitrate_kbps: cfg.bitrate_kbps,
            duration: Duration::from_secs(cfg.video_duration_s),
            vbr: 0.2,
            seed: cfg.seed,
        },
        Duration::from_secs(10),
    )
    .map_err(|e| CompareError::Video(e.to_string()))?;
    let manifest = striped_manifest("test-video-001", &chunks, 3, 2);
    let mut conditions = Vec::new();
    for (name, traces) in trace_sets {
        let results = run_experiment(&Experiment {
            base: SimConfig::new(Vec::new()),
            traces,
            manifest: manifest.clone(),
            strategies: vec![Strategy::Smart, Strategy::Naive, Strategy::Bound],
            sessions: cfg.sessions,
            seed: cfg.seed,
            random_offsets: true,
            abr: Default::default(),
        });
        let vs_bound = Summary::of(&results).vs_bound;
        let pick = |s: Strategy| -> Vec<QoeReport> {
            results
                .iter()
                .filter(|r| r.strategy == s)
                .map(|r| r.qoe.clone())
                .collect()
        };
        let mut c = aggregate(&name, &pick(Strategy::Smart), &pick(Strategy::Naive));
        c.vs_bound = vs_bound;
        conditions.push(c);
    }
    Ok(CompareReport {
        mode: CompareMode::Sim,
        finished_unix_s: Some(unix_now_s()),
        video: (cfg.video_duration_s, cfg.bitrate_kbps),
        ladder_kbps: Vec::new(),
        speed: 1.0,
        conditions,
    })
}
