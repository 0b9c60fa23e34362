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
    pub smart_mean: f64,
    /// Smart client: standard deviation.
    pub smart_sd: f64,
    /// Naive client: mean.
    pub naive_mean: f64,
    /// Naive client: standard deviation.
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
    /// 10th and 90th percentile of the per-session-pair improvements, %.
    pub improvement_p10_p90: Option<(f64, f64)>,
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
}

/// A `vstack compare` run: its `--json` output and the `compare_results.json`
/// file the dashboard's Smart vs Naive tab shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    /// `live` (twin clusters) or `sim` (simulator).
    pub mode: CompareMode,
    /// Video: duration s, bitrate kbit/s.
    pub video: (u64, f64),
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
    type Get = fn(&QoeReport) -> f64;
    let metrics: [(&str, &str, bool, Get); 7] = [
        ("startup latency", "ms", true, |q| {
            q.startup_latency_ms.unwrap_or(q.session_ms)
        }),
        ("rebuffering events", "events", true, |q| {
            f64::from(q.rebuffer_count)
        }),
        ("stall time", "ms", true, |q| q.rebuffer_time_ms),
        ("average buffer", "s", false, |q| q.avg_buffer_s),
        (
            "session goodput (bytes ÷ session time)",
            "Mbit/s",
            false,
            |q| q.goodput_mbps,
        ),
        (
            "busy-time rate (bytes ÷ time downloading)",
            "Mbit/s",
            false,
            |q| q.avg_throughput_mbps,
        ),
        ("failovers", "", true, |q| q.failovers as f64),
    ];
    let rows = metrics
        .iter()
        .map(|(name, unit, lower, get)| {
            let s: Vec<f64> = smart.iter().map(get).collect();
            let n: Vec<f64> = naive.iter().map(get).collect();
            let ((sm, ssd), (nm, nsd)) = (mean_sd(&s), mean_sd(&n));
            let pairs: Vec<f64> = sorted(
                &s.iter()
                    .zip(&n)
                    .filter_map(|(a, b)| improvement_pct(*a, *b, *lower))
                    .collect::<Vec<_>>(),
            );
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_pairs_sessions() {
        let q = |startup_ms: f64, stall_ms: f64| QoeReport {
            startup_latency_ms: Some(startup_ms),
            rebuffer_time_ms: stall_ms,
            ..QoeReport::default()
        };
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
        assert_eq!(serde_json::to_string(&CompareMode::Sim).unwrap(), "\"sim\"");
    }
}
