//! The seed's performance targets (001, "Performance Targets"), measured on one
//! live client. Shared by `GET /api/performance` and the Analytics tab so both
//! judge the same numbers the same way.

use serde::{Deserialize, Serialize};

pub use vstack_core::stats::{improvement_label, improvement_pct};

use crate::wire::ClientSnapshot;

/// One target of the seed's benchmark table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Metric name (`startup_latency`, …).
    pub name: String,
    /// The requirement, as text (`< 2000 ms`).
    pub target: String,
    /// Measured value (`None`: no data yet).
    pub measured: Option<f64>,
    /// Unit of `measured`.
    pub unit: String,
    /// Whether the measured value meets the target.
    pub met: bool,
}

/// The targets a live client can be held to: startup latency < 2 s,
/// rebuffering events ≤ 1, average buffer > 20 s, storage node latency < 10 ms
/// (the best node's latency EWMA), average throughput > 40 Mbit/s.
pub fn targets(c: Option<&ClientSnapshot>) -> Vec<Target> {
    let best_latency = c.and_then(|c| {
        c.nodes
            .iter()
            .filter_map(|n| n.latency_ms)
            .min_by(f64::total_cmp)
    });
    let t =
        |name: &str, target: &str, unit: &str, measured: Option<f64>, ok: fn(f64) -> bool| Target {
            name: name.into(),
            target: target.into(),
            measured,
            unit: unit.into(),
            met: measured.is_some_and(ok),
        };
    vec![
        t(
            "startup_latency",
            "< 2000 ms",
            "ms",
            c.and_then(|c| c.startup_latency_ms),
            |v| v < 2000.0,
        ),
        t(
            "rebuffering_events",
            "<= 1",
            "events",
            c.map(|c| f64::from(c.rebuffer_count)),
            |v| v <= 1.0,
        ),
        t(
            "average_buffer",
            "> 20 s",
            "s",
            c.filter(|c| c.elapsed_ms > 0.0).map(|c| c.avg_buffer_s),
            |v| v > 20.0,
        ),
        t(
            "storage_node_latency",
            "< 10 ms (best node, EWMA)",
            "ms",
            best_latency,
            |v| v < 10.0,
        ),
        t(
            "average_throughput",
            "> 40 Mbit/s",
            "Mbit/s",
            c.filter(|c| c.downloads > 0).map(|c| c.avg_throughput_mbps),
            |v| v > 40.0,
        ),
    ]
}

/// Targets met / targets, in %.
pub fn score_pct(targets: &[Target]) -> f64 {
    if targets.is_empty() {
        return 0.0;
    }
    targets.iter().filter(|t| t.met).count() as f64 * 100.0 / targets.len() as f64
}
