//! Deterministic, trace-driven simulator of the streaming client.
//!
//! The simulator drives the engine's sans-IO [`crate::engine::Session`] on a
//! virtual clock over simulated links ([`net`]) whose bandwidth and latency come
//! from recorded traces ([`crate::input::trace`]), with chunk sizes from real
//! or synthetic videos ([`crate::input::video`]). [`run_experiment`] plays N sessions per strategy on
//! identical conditions (same traces, offsets and seeds for every strategy) and
//! [`Summary`] aggregates them (mean, p50, p95) with smart-vs-naive and
//! smart-vs-oracle deltas. `vstack sim` is the command-line front end.

pub mod bound;
pub mod net;
pub mod sabre;

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use net::{NodeLink, OracleSelector, SimConfig, SimOutcome, run_session};

pub use crate::engine::Strategy;

use crate::{
    engine::{
        Manifest, NodeSelector, QoeReport, RoundRobinSelector, SmartSelector, session::TimeStats,
    },
    input::Trace,
    stats::improvement_pct,
};

impl Strategy {
    /// The strategy's selector for a session on `links`; the bound has
    /// none (it is not a client), `None`.
    pub fn selector(self, links: &Arc<Vec<NodeLink>>) -> Option<Box<dyn NodeSelector>> {
        match self {
            Strategy::Smart => Some(Box::new(SmartSelector)),
            Strategy::Naive => Some(Box::new(RoundRobinSelector::default())),
            Strategy::Oracle => Some(Box::new(OracleSelector::new(links.clone()))),
            Strategy::Bound => None,
        }
    }

    /// Runs one session of `manifest` with this strategy on `config`'s links.
    pub fn run(self, config: &SimConfig, manifest: &Manifest) -> SimOutcome {
        let links = Arc::new(config.links.clone());
        match self.selector(&links) {
            Some(selector) => run_session(config, manifest, selector),
            None => bound::run_bound(config, manifest),
        }
    }
}

/// An experiment: sessions × strategies on the same conditions.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// Base settings; `links` is rebuilt per session from `traces`.
    pub base: SimConfig,
    /// Trace pool; session `k` gives node `j` trace `(k·nodes + j) mod len`.
    pub traces: Vec<Arc<Trace>>,
    /// The video.
    pub manifest: Manifest,
    /// Strategies to run.
    pub strategies: Vec<Strategy>,
    /// Sessions per strategy.
    pub sessions: usize,
    /// Seed for trace offsets and loss draws.
    pub seed: u64,
    /// Start each node at a random offset into its trace (default true).
    pub random_offsets: bool,
}

/// One session's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionRun {
    /// Session number (same conditions across strategies).
    pub session: usize,
    /// Strategy.
    pub strategy: Strategy,
    /// Trace name per node.
    pub traces: Vec<String>,
    /// Offset into each node's trace, seconds.
    pub offsets_s: Vec<f64>,
    /// Simulated seconds.
    pub sim_time_s: f64,
    /// Whether the session was abandoned at the time limit.
    pub abandoned: bool,
    /// Events the simulation loop processed.
    pub steps: u64,
    /// QoE measured by the session.
    pub qoe: QoeReport,
}

/// Runs every session of the experiment, strategies interleaved per session.
pub fn run_experiment(exp: &Experiment) -> Vec<SessionRun> {
    let nodes = exp.manifest.node_count;
    let mut out = Vec::with_capacity(exp.sessions * exp.strategies.len());
    for k in 0..exp.sessions {
        let mut rng =
            ChaCha8Rng::seed_from_u64(exp.seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let links: Vec<NodeLink> = (0..nodes)
            .map(|j| {
                let trace = exp.traces[(k * nodes + j) % exp.traces.len()].clone();
                let base = exp.base.links.get(j).cloned();
                let offset_s = if exp.random_offsets {
                    rng.random_range(0.0..trace.length_s())
                } else {
                    0.0
                };
                NodeLink {
                    trace,
                    offset_s,
                    loss: base.as_ref().map(|b| b.loss).unwrap_or(0.0),
                    down: base.map(|b| b.down).unwrap_or_default(),
                }
            })
            .collect();
        let mut cfg = exp.base.clone();
        cfg.links = links;
        cfg.seed = rng.random();
        for &strategy in &exp.strategies {
            let o = strategy.run(&cfg, &exp.manifest);
            out.push(SessionRun {
                session: k,
                strategy,
                traces: cfg.links.iter().map(|l| l.trace.name.clone()).collect(),
                offsets_s: cfg.links.iter().map(|l| l.offset_s).collect(),
                sim_time_s: o.sim_time_s,
                abandoned: o.abandoned,
                steps: o.steps,
                qoe: o.qoe,
            });
        }
    }
    out
}

/// Mean, median and 95th percentile of a metric.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    /// Mean (infinite when a sample is: a session that never started).
    #[serde(with = "crate::stats::f64_or_inf")]
    pub mean: f64,
    /// Median.
    #[serde(with = "crate::stats::f64_or_inf")]
    pub p50: f64,
    /// 95th percentile (nearest rank).
    #[serde(with = "crate::stats::f64_or_inf")]
    pub p95: f64,
}

impl Dist {
    /// Distribution of `v`; zeros when empty.
    pub fn of(v: &[f64]) -> Self {
        let t = TimeStats::of(v);
        Self {
            mean: t.mean_ms,
            p50: t.p50_ms,
            p95: t.p95_ms,
        }
    }
}

/// Aggregate of one strategy over all sessions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StrategySummary {
    /// Strategy.
    pub strategy: Strategy,
    /// Sessions aggregated.
    pub sessions: usize,
    /// Sessions that never started playing.
    pub never_started: usize,
    /// Startup latency, ms, over every session: one that never started
    /// counts as infinite (a failure, never a 0 ms startup).
    pub startup_latency_ms: Dist,
    /// Rebuffering events per session.
    pub rebuffer_count: Dist,
    /// Stall time per session, ms.
    pub rebuffer_time_ms: Dist,
    /// Average buffer level, s.
    pub avg_buffer_s: Dist,
    /// Average throughput, Mbit/s.
    pub avg_throughput_mbps: Dist,
    /// Failovers per session.
    pub failovers: Dist,
}

/// Relative improvement of the smart client over another strategy, in percent
/// (positive = smart is better); `None` where the other's value is 0.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Deltas {
    /// Reduction of the mean startup latency.
    pub startup_latency_pct: Option<f64>,
    /// Reduction of the mean rebuffering count.
    pub rebuffer_count_pct: Option<f64>,
    /// Reduction of the mean stall time.
    pub rebuffer_time_pct: Option<f64>,
    /// Increase of the mean buffer level.
    pub avg_buffer_pct: Option<f64>,
    /// Increase of the mean throughput.
    pub throughput_pct: Option<f64>,
}

/// How far a strategy's means are from the bound's ([`bound`]): the ratio
/// (`None` when the bound's mean is 0) and the difference, for the two
/// figures the bound bounds: startup latency, and startup + stall time
/// ("wait": the time a viewer spends not watching).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BoundGap {
    /// Strategy.
    pub strategy: Strategy,
    /// Mean startup latency ÷ the bound's.
    pub startup_x: Option<f64>,
    /// Mean startup latency − the bound's, ms.
    pub startup_ms: f64,
    /// Mean startup + stall time ÷ the bound's.
    pub wait_x: Option<f64>,
    /// Mean startup + stall time − the bound's, ms.
    pub wait_ms: f64,
}

/// The experiment's summary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// One entry per strategy, in the order run.
    pub strategies: Vec<StrategySummary>,
    /// Each other strategy's gap to the bound, when the bound ran.
    #[serde(default)]
    pub vs_bound: Vec<BoundGap>,
    /// Smart vs naive, when both ran.
    pub smart_vs_naive: Option<Deltas>,
    /// Smart vs oracle, when both ran (negative numbers: how far smart is from the bound).
    pub smart_vs_oracle: Option<Deltas>,
}

impl Summary {
    /// Aggregates `results`.
    pub fn of(results: &[SessionRun]) -> Self {
        let mut order: Vec<Strategy> = Vec::new();
        for r in results {
            if !order.contains(&r.strategy) {
                order.push(r.strategy);
            }
        }
        let strategies: Vec<StrategySummary> = order
            .iter()
            .map(|s| {
                let rs: Vec<&QoeReport> = results
                    .iter()
                    .filter(|r| r.strategy == *s)
                    .map(|r| &r.qoe)
                    .collect();
                let pick = |f: &dyn Fn(&QoeReport) -> f64| {
                    Dist::of(&rs.iter().map(|q| f(q)).collect::<Vec<_>>())
                };
                StrategySummary {
                    strategy: *s,
                    sessions: rs.len(),
                    never_started: rs
                        .iter()
                        .filter(|q| q.playback.startup_latency_ms.is_none())
                        .count(),
                    startup_latency_ms: pick(&|q| {
                        q.playback.startup_latency_ms.unwrap_or(f64::INFINITY)
                    }),
                    rebuffer_count: pick(&|q| q.playback.rebuffer_count as f64),
                    rebuffer_time_ms: pick(&|q| q.playback.rebuffer_time_ms),
                    avg_buffer_s: pick(&|q| q.playback.avg_buffer_s),
                    avg_throughput_mbps: pick(&|q| q.playback.avg_throughput_mbps),
                    failovers: pick(&|q| q.failovers as f64),
                }
            })
            .collect();
        let find = |s: Strategy| strategies.iter().find(|x| x.strategy == s);
        let deltas = |other: Strategy| {
            let (a, b) = (find(Strategy::Smart)?, find(other)?);
            Some(Deltas {
                startup_latency_pct: lower_better(
                    a.startup_latency_ms.mean,
                    b.startup_latency_ms.mean,
                ),
                rebuffer_count_pct: lower_better(a.rebuffer_count.mean, b.rebuffer_count.mean),
                rebuffer_time_pct: lower_better(a.rebuffer_time_ms.mean, b.rebuffer_time_ms.mean),
                avg_buffer_pct: higher_better(a.avg_buffer_s.mean, b.avg_buffer_s.mean),
                throughput_pct: higher_better(
                    a.avg_throughput_mbps.mean,
                    b.avg_throughput_mbps.mean,
                ),
            })
        };
        let vs_bound = find(Strategy::Bound)
            .map(|b| {
                let ratio = |x: f64, y: f64| (y > 0.0).then(|| x / y);
                let wait =
                    |x: &StrategySummary| x.startup_latency_ms.mean + x.rebuffer_time_ms.mean;
                strategies
                    .iter()
                    .filter(|s| s.strategy != Strategy::Bound)
                    .map(|s| BoundGap {
                        strategy: s.strategy,
                        startup_x: ratio(s.startup_latency_ms.mean, b.startup_latency_ms.mean),
                        startup_ms: s.startup_latency_ms.mean - b.startup_latency_ms.mean,
                        wait_x: ratio(wait(s), wait(b)),
                        wait_ms: wait(s) - wait(b),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            smart_vs_naive: deltas(Strategy::Naive),
            smart_vs_oracle: deltas(Strategy::Oracle),
            vs_bound,
            strategies,
        }
    }
}

/// [`improvement_pct`] where the other strategy's value is not 0.
fn lower_better(smart: f64, other: f64) -> Option<f64> {
    (other != 0.0)
        .then(|| improvement_pct(smart, other, true))
        .flatten()
}

/// [`improvement_pct`] (higher is better) where the other's value is not 0.
fn higher_better(smart: f64, other: f64) -> Option<f64> {
    (other != 0.0)
        .then(|| improvement_pct(smart, other, false))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::striped_manifest;
    use std::time::Duration;

    #[test]
    fn dist_and_deltas() {
        let d = Dist::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!((d.mean, d.p50, d.p95), (2.5, 2.0, 4.0));
        assert_eq!(lower_better(1.0, 4.0), Some(75.0));
        assert_eq!(higher_better(6.0, 4.0), Some(50.0));
        assert_eq!(lower_better(1.0, 0.0), None);
    }

    #[test]
    fn experiment_gives_identical_conditions_to_every_strategy() {
        let traces = vec![
            Arc::new(Trace::constant(30.0, 20.0)),
            Arc::new(Trace::constant(6.0, 60.0)),
            Arc::new(Trace::constant(2.0, 100.0)),
        ];
        let exp = Experiment {
            base: SimConfig::new(Vec::new()),
            traces,
            manifest: striped_manifest("t", &[(Duration::from_secs(10), 5_000_000); 20], 3, 2),
            strategies: vec![Strategy::Smart, Strategy::Naive, Strategy::Oracle],
            sessions: 3,
            seed: 42,
            random_offsets: true,
        };
        let results = run_experiment(&exp);
        assert_eq!(results.len(), 9);
        for k in 0..3 {
            let same: Vec<_> = results.iter().filter(|r| r.session == k).collect();
            assert!(
                same.windows(2)
                    .all(|w| w[0].traces == w[1].traces && w[0].offsets_s == w[1].offsets_s)
            );
        }
        let s = Summary::of(&results);
        assert_eq!(s.strategies.len(), 3);
        assert!(s.smart_vs_naive.is_some() && s.smart_vs_oracle.is_some());
        assert_eq!(
            format!("{:?}", results),
            format!("{:?}", run_experiment(&exp)),
            "deterministic"
        );
    }
}
