//! Smart vs naive on identical conditions, as numbers: [`aggregate`] turns
//! paired sessions (session *k* of each client ran under the same conditions)
//! into a [`ConditionResult`] — each metric's mean ± standard deviation per
//! client, the improvement of the means in % and the p10..p90 spread of the
//! per-pair improvements — and [`CompareReport`] is a whole run, as `vstack
//! compare` saves it and the dashboard's Smart vs Naive tab shows it.

use serde::{Deserialize, Serialize};

use crate::{
    engine::QoeReport,
    stats::{improvement_label, improvement_pct, mean_sd, percentile, sorted},
};

/// Where a comparison ran. On the wire: `"live"`, `"sim"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum CompareMode {
    /// Twin embedded clusters over real HTTP.
    Live,
    /// The trace-driven simulator.
    Sim,
}

/// One metric of one condition of a `vstack compare` run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    /// Metric name (`startup latency`, …).
    pub metric: String,
    /// Unit (`ms`, `s`, `Mbit/s` or empty for counts).
    pub unit: String,
    /// Smart client: mean over its sessions.
    #[serde(with = "crate::stats::f64_or_inf")]
    pub smart_mean: f64,
    /// Smart client: standard deviation.
    #[serde(with = "crate::stats::f64_or_inf")]
    pub smart_sd: f64,
    /// Naive client: mean.
    #[serde(with = "crate::stats::f64_or_inf")]
    pub naive_mean: f64,
    /// Naive client: standard deviation.
    #[serde(with = "crate::stats::f64_or_inf")]
    pub naive_sd: f64,
    /// Improvement of the means, % (positive = smart better); `None` when the
    /// naive mean is 0 and the smart one is not.
    pub improvement_pct: Option<f64>,
    /// The improvement as shown: `+12.5 %`, or when naive's mean is 0 the
    /// difference and its direction (`+0.4 events, worse`)
    /// ([`crate::stats::improvement_label`]). Empty in files written before
    /// it existed.
    #[serde(default)]
    pub improvement: String,
    /// 10th and 90th percentile of the per-session-pair improvements, %,
    /// over the pairs that have a ratio.
    pub improvement_p10_p90: Option<(f64, f64)>,
    /// Pairs without a ratio (naive 0, or a session that never started)
    /// where smart did worse: regressions the percentiles cannot show.
    #[serde(default)]
    pub pairs_worse_without_ratio: usize,
    /// Pairs without a ratio where smart did better.
    #[serde(default)]
    pub pairs_better_without_ratio: usize,
    /// The best single node in hindsight (per session, the node whose
    /// single-origin session scored best, [`single_score`]): mean over the
    /// sessions; `None` (absent in JSON) when the run had no single-node
    /// column.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::stats::opt_f64_or_inf"
    )]
    pub single_mean: Option<f64>,
    /// The best single node: standard deviation (`None` without the
    /// column).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::stats::opt_f64_or_inf"
    )]
    pub single_sd: Option<f64>,
}

/// How a single-node session ranks against the others of its pair, higher
/// is better: linear QoE when it played a ladder, else minus startup +
/// stall, ms (a session that never started ranks last). The simulator's
/// `single` strategy and the live comparison's single-node column pick the
/// best node by it.
pub fn single_score(q: &QoeReport) -> f64 {
    match &q.quality {
        Some(x) => x.linear_qoe,
        None => -q
            .playback
            .startup_latency_ms
            .map_or(f64::INFINITY, |s| s + q.playback.rebuffer_time_ms),
    }
}

/// The best of one pair's single-node sessions ([`single_score`]): its
/// index and the session; `None` for none.
pub fn best_single(sessions: &[QoeReport]) -> Option<(usize, &QoeReport)> {
    sessions
        .iter()
        .enumerate()
        .max_by(|a, b| single_score(a.1).total_cmp(&single_score(b.1)))
}

impl MetricRow {
    /// The per-pair cell every view shows: the p10..p90 spread of the pairs
    /// with a ratio, and the pairs without one counted by direction, so a
    /// regression from zero (`2 pairs worse from 0`) is never dropped.
    pub fn pairs_label(&self) -> String {
        let mut parts = Vec::new();
        if let Some((a, b)) = self.improvement_p10_p90 {
            parts.push(format!("{a:+.0} .. {b:+.0} %"));
        }
        for (n, dir) in [
            (self.pairs_worse_without_ratio, "worse"),
            (self.pairs_better_without_ratio, "better"),
        ] {
            if n > 0 {
                let pairs = if n == 1 { "pair" } else { "pairs" };
                parts.push(format!("{n} {pairs} {dir} from 0 or never started"));
            }
        }
        if parts.is_empty() {
            "no difference (0 in every pair)".into()
        } else {
            parts.join("; ")
        }
    }
}

/// One condition (scenario or trace folder) of a `vstack compare` run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionResult {
    /// Scenario name or trace path.
    pub condition: String,
    /// Sessions per client.
    pub sessions: usize,
    /// The metrics.
    pub metrics: Vec<MetricRow>,
    /// Chunks per node summed over the sessions: smart, naive.
    pub load_per_node: (Vec<u64>, Vec<u64>),
    /// Simulator mode: each client's gap to the fluid bound on the same
    /// conditions (empty in live mode).
    #[serde(default)]
    pub vs_bound: Vec<crate::sim::BoundGap>,
    /// With a single-node column: how often each node was the best single
    /// node (index = node), summed over the sessions; empty without it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub single_best_node: Vec<u64>,
    /// With a single-node column: the sessions in which smart ranked at
    /// least as high as the best single node ([`single_score`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart_at_or_above_single: Option<usize>,
}

/// A `vstack compare` run: its `--json` output and the `compare_results.json`
/// file the dashboard's Smart vs Naive tab shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    /// `live` (twin clusters) or `sim` (simulator).
    pub mode: CompareMode,
    /// Video: duration s, bitrate kbit/s (the top rung's with a ladder).
    pub video: (u64, f64),
    /// The video's ladder, kbit/s, lowest first; empty for one rendition
    /// (then every session plays `video`'s bitrate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ladder_kbps: Vec<f64>,
    /// Live mode: time compression factor (1 in sim mode).
    pub speed: f64,
    /// When the run finished, seconds since the Unix epoch (absent in older
    /// files).
    #[serde(default)]
    pub finished_unix_s: Option<u64>,
    /// One entry per condition.
    pub conditions: Vec<ConditionResult>,
}

/// Aggregates paired sessions of one condition.
pub fn aggregate(condition: &str, smart: &[QoeReport], naive: &[QoeReport]) -> ConditionResult {
    aggregate_with_single(condition, smart, naive, &[])
}

/// [`aggregate`] with a single-node column: `single[k]` holds session
/// `k`'s single-origin sessions, one per node (node order); the best of
/// each ([`best_single`]) fills the column. Empty `single`: no column.
pub fn aggregate_with_single(
    condition: &str,
    smart: &[QoeReport],
    naive: &[QoeReport],
    single: &[Vec<QoeReport>],
) -> ConditionResult {
    let best: Vec<(usize, &QoeReport)> = single.iter().filter_map(|s| best_single(s)).collect();
    let single_runs: Vec<QoeReport> = best.iter().map(|(_, q)| (*q).clone()).collect();
    type Get = fn(&QoeReport) -> f64;
    let metrics: [(&str, &str, bool, Get); 7] = [
        // A session that never started is a failure: infinite startup.
        ("startup latency", "ms", true, |q| {
            q.playback.startup_latency_ms.unwrap_or(f64::INFINITY)
        }),
        ("rebuffering events", "events", true, |q| {
            f64::from(q.playback.rebuffer_count)
        }),
        ("stall time", "ms", true, |q| q.playback.rebuffer_time_ms),
        ("average buffer", "s", false, |q| q.playback.avg_buffer_s),
        (
            "session goodput (bytes ÷ session time)",
            "Mbit/s",
            false,
            |q| q.playback.goodput_mbps,
        ),
        (
            "busy-time rate (bytes ÷ time downloading)",
            "Mbit/s",
            false,
            |q| q.playback.avg_throughput_mbps,
        ),
        ("failovers", "", true, |q| q.failovers as f64),
    ];
    // A video with a ladder: what was played, scored (every session of
    // both clients carries it, or the rows are left out).
    let quality: [(&str, &str, bool, Get); 4] = [
        ("played bitrate", "kbit/s", false, |q| {
            q.quality.as_ref().map_or(0.0, |x| x.played_bitrate_kbps)
        }),
        ("quality switches", "", true, |q| {
            q.quality.as_ref().map_or(0.0, |x| f64::from(x.switches))
        }),
        ("switch size (Σ |Δ bitrate|)", "kbit/s", true, |q| {
            q.quality.as_ref().map_or(0.0, |x| x.switch_kbps)
        }),
        (
            "linear QoE (Σ Mbit/s − 4.3 × wait s − Σ |Δ| Mbit/s)",
            "",
            false,
            |q| q.quality.as_ref().map_or(0.0, |x| x.linear_qoe),
        ),
    ];
    let scored = !smart.is_empty()
        && !naive.is_empty()
        && smart
            .iter()
            .chain(naive)
            .chain(&single_runs)
            .all(|q| q.quality.is_some());
    let rows = metrics
        .iter()
        .chain(quality.iter().filter(|_| scored))
        .map(|(name, unit, lower, get)| {
            let s: Vec<f64> = smart.iter().map(get).collect();
            let n: Vec<f64> = naive.iter().map(get).collect();
            let ((sm, ssd), (nm, nsd)) = (mean_sd(&s), mean_sd(&n));
            let (one_m, one_sd) = if single_runs.is_empty() {
                (None, None)
            } else {
                let (m, sd) = mean_sd(&single_runs.iter().map(get).collect::<Vec<_>>());
                (Some(m), Some(sd))
            };
            let pairs: Vec<f64> = sorted(
                &s.iter()
                    .zip(&n)
                    .filter_map(|(a, b)| improvement_pct(*a, *b, *lower))
                    .collect::<Vec<_>>(),
            );
            let (mut worse, mut better) = (0, 0);
            for (a, b) in s.iter().zip(&n) {
                if improvement_pct(*a, *b, *lower).is_none() && a != b {
                    if (a > b) == *lower {
                        worse += 1;
                    } else {
                        better += 1;
                    }
                }
            }
            MetricRow {
                metric: name.to_string(),
                unit: unit.to_string(),
                smart_mean: sm,
                smart_sd: ssd,
                naive_mean: nm,
                naive_sd: nsd,
                improvement_pct: improvement_pct(sm, nm, *lower),
                improvement: improvement_label(sm, nm, *lower, unit, 1),
                improvement_p10_p90: (!pairs.is_empty())
                    .then(|| (percentile(&pairs, 0.1), percentile(&pairs, 0.9))),
                pairs_worse_without_ratio: worse,
                pairs_better_without_ratio: better,
                single_mean: one_m,
                single_sd: one_sd,
            }
        })
        .collect();
    let load = |v: &[QoeReport]| {
        let n = v.first().map(|q| q.per_node.len()).unwrap_or(0);
        (0..n)
            .map(|i| v.iter().map(|q| q.per_node[i].chunks).sum())
            .collect::<Vec<u64>>()
    };
    ConditionResult {
        condition: condition.to_string(),
        sessions: smart.len().min(naive.len()),
        metrics: rows,
        load_per_node: (load(smart), load(naive)),
        vs_bound: Vec::new(),
        single_best_node: best_node_counts(&best, single),
        smart_at_or_above_single: (!best.is_empty()).then(|| {
            smart
                .iter()
                .zip(&best)
                .filter(|(s, (_, b))| single_score(s) >= single_score(b))
                .count()
        }),
    }
}

/// How often each node was the best single node (`best`: per session, the
/// node's index and its session); empty without sessions.
fn best_node_counts(best: &[(usize, &QoeReport)], single: &[Vec<QoeReport>]) -> Vec<u64> {
    let nodes = single.iter().map(Vec::len).max().unwrap_or(0);
    if best.is_empty() {
        return Vec::new();
    }
    (0..nodes)
        .map(|j| best.iter().filter(|(i, _)| *i == j).count() as u64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::PlaybackQoe;

    /// A session that started after `startup_ms` and stalled `stall_ms`.
    fn q(startup_ms: f64, stall_ms: f64) -> QoeReport {
        QoeReport {
            playback: PlaybackQoe {
                startup_latency_ms: Some(startup_ms),
                rebuffer_time_ms: stall_ms,
                ..PlaybackQoe::default()
            },
            ..QoeReport::default()
        }
    }

    #[test]
    fn aggregate_pairs_sessions() {
        let r = aggregate(
            "normal",
            &[q(1000.0, 0.0), q(3000.0, 0.0)],
            &[q(2000.0, 0.0), q(4000.0, 0.0)],
        );
        let startup = &r.metrics[0];
        assert_eq!((startup.smart_mean, startup.naive_mean), (2000.0, 3000.0));
        assert_eq!(startup.smart_sd, 1000.0);
        assert!((startup.improvement_pct.unwrap() - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(startup.improvement_p10_p90, Some((25.0, 50.0)));
        assert_eq!(r.metrics[2].improvement_pct, Some(0.0), "0 vs 0 stall");
    }

    #[test]
    fn the_single_node_column_takes_each_sessions_best_node() {
        // Session 0: node 1 best (600 ms waited); session 1: node 0 (900).
        let r = aggregate_with_single(
            "normal",
            &[q(500.0, 0.0), q(500.0, 1_000.0)],
            &[q(2000.0, 0.0), q(4000.0, 0.0)],
            &[
                vec![q(700.0, 500.0), q(600.0, 0.0), q(800.0, 0.0)],
                vec![q(900.0, 0.0), q(950.0, 0.0), q(300.0, 5_000.0)],
            ],
        );
        let startup = &r.metrics[0];
        assert_eq!(
            (startup.single_mean, startup.single_sd),
            (Some(750.0), Some(150.0))
        );
        assert_eq!(r.single_best_node, vec![1, 1, 0]);
        // Smart waited 500 vs 600, then 1,500 vs 900.
        assert_eq!(r.smart_at_or_above_single, Some(1));
        // Without the column: absent from the file, and read back equal.
        let plain = aggregate("normal", &[q(1.0, 0.0)], &[q(2.0, 0.0)]);
        assert_eq!(plain.metrics[0].single_mean, None);
        assert!(plain.single_best_node.is_empty() && plain.smart_at_or_above_single.is_none());
        let json = serde_json::to_string(&plain).unwrap();
        assert!(!json.contains("single"), "{json}");
        assert_eq!(
            serde_json::from_str::<ConditionResult>(&json).unwrap(),
            plain
        );
        let back: ConditionResult =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        // A single node that never started: an infinite mean survives too.
        let never = QoeReport::default();
        let r = aggregate_with_single("x", &[q(1.0, 0.0)], &[q(2.0, 0.0)], &[vec![never]]);
        assert_eq!(r.metrics[0].single_mean, Some(f64::INFINITY));
        let back: ConditionResult =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back.metrics[0].single_mean, Some(f64::INFINITY));
    }

    #[test]
    fn regressions_from_zero_and_never_started_sessions_are_counted() {
        let q = |startup_ms: Option<f64>, rebuffers: u32| QoeReport {
            playback: PlaybackQoe {
                startup_latency_ms: startup_ms,
                rebuffer_count: rebuffers,
                ..PlaybackQoe::default()
            },
            ..QoeReport::default()
        };
        // Pair 1: naive 0 stalls, smart 2 (a regression from zero); pair 2:
        // smart never started.
        let r = aggregate(
            "normal",
            &[q(Some(1000.0), 2), q(None, 0)],
            &[q(Some(2000.0), 0), q(Some(1500.0), 1)],
        );
        let startup = &r.metrics[0];
        assert!(
            startup.smart_mean.is_infinite(),
            "never started is infinite"
        );
        assert_eq!(startup.pairs_worse_without_ratio, 1);
        assert_eq!(startup.improvement_p10_p90, Some((50.0, 50.0)));
        let rebuffers = &r.metrics[1];
        assert_eq!(rebuffers.pairs_worse_without_ratio, 1, "2 vs 0 is worse");
        assert!(
            rebuffers.pairs_label().contains("1 pair worse"),
            "{}",
            rebuffers.pairs_label()
        );
        // And it survives the file round trip.
        let json = serde_json::to_string(&r).unwrap();
        let back: ConditionResult = serde_json::from_str(&json).unwrap();
        assert!(back.metrics[0].smart_mean.is_infinite());
        assert_eq!(serde_json::to_string(&CompareMode::Sim).unwrap(), "\"sim\"");
    }
}
