//! Network monitor: per-node latency, bandwidth and reliability, and the seed's
//! node score (seed `002_*`, "Network Monitoring").
//!
//! Every storage node gets a [`NodeStats`]. Probes (every 3 s by default, see
//! [`MonitorConfig::probe_interval`]) feed latency and, when the probe carried a
//! payload, bandwidth; every finished chunk download feeds bandwidth through
//! [`NetworkMonitor::update_bandwidth`] (the seed's method of the same name).
//! Latency and bandwidth are exponentially weighted moving averages
//! (`ewma = α·sample + (1−α)·ewma`, α = [`MonitorConfig::ewma_alpha`], 0.3 by
//! default; the seed names EWMA but not α). Reliability is the success ratio of the
//! last [`MonitorConfig::history_size`] samples (10, as in the seed).
//!
//! Score (seed 002, verbatim): `score = (bandwidth_mbps × reliability) /
//! (1 + latency_ms × 0.1)`.
//!
//! Health ([`NodeHealth`]), thresholds in [`MonitorConfig`]:
//! - **down**: the last [`MonitorConfig::down_after_failures`] (3) samples all failed;
//! - **degraded**: reliability below [`MonitorConfig::degraded_reliability`] (0.8) or
//!   latency EWMA above [`MonitorConfig::degraded_latency_ms`] (200 ms);
//! - **healthy**: otherwise, including a node not measured yet.

use std::{collections::VecDeque, time::Duration};

use serde::{Deserialize, Serialize};

use super::NodeId;

/// Settings of the [`NetworkMonitor`]; every default is stated on its field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// Time between two probes of a node. Default 3 s (seed 002).
    pub probe_interval: Duration,
    /// Samples kept per node for reliability. Default 10 (seed 002).
    pub history_size: usize,
    /// EWMA weight of a new sample, in (0, 1]. Default 0.3.
    pub ewma_alpha: f64,
    /// Consecutive failures that make a node down. Default 3.
    pub down_after_failures: usize,
    /// Reliability under which a node is degraded. Default 0.8.
    pub degraded_reliability: f64,
    /// Latency EWMA (ms) over which a node is degraded. Default 200 ms.
    pub degraded_latency_ms: f64,
    /// How long a probe's payload should take on the node's estimated
    /// bandwidth: the payload is `bandwidth × probe_airtime`, within
    /// [`MonitorConfig::probe_bytes_min`, `MonitorConfig::probe_bytes_max`],
    /// so that a probe costs a slow link little and still takes long enough
    /// on a fast one to be timed. Default 40 ms.
    pub probe_airtime: Duration,
    /// Smallest probe payload, bytes. Default 4 KiB.
    pub probe_bytes_min: u64,
    /// Largest probe payload, bytes. Default 64 KiB.
    pub probe_bytes_max: u64,
    /// Probe payload while a node's bandwidth is unknown, bytes. Default
    /// 16 KiB.
    pub probe_bytes_initial: u64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            probe_interval: Duration::from_secs(3),
            history_size: 10,
            ewma_alpha: 0.3,
            down_after_failures: 3,
            degraded_reliability: 0.8,
            degraded_latency_ms: 200.0,
            probe_airtime: Duration::from_millis(40),
            probe_bytes_min: 4 << 10,
            probe_bytes_max: 64 << 10,
            probe_bytes_initial: 16 << 10,
        }
    }
}

/// Node health as shown on the dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeHealth {
    /// Answering normally.
    Healthy,
    /// Answering, but slowly or unreliably.
    Degraded,
    /// The last few requests all failed.
    Down,
}

impl NodeHealth {
    /// snake_case name, as on the wire (`degraded`).
    pub fn name(self) -> &'static str {
        match self {
            NodeHealth::Healthy => "healthy",
            NodeHealth::Degraded => "degraded",
            NodeHealth::Down => "down",
        }
    }
}

/// Measurements of one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    /// Latency EWMA in milliseconds; `None` before the first successful probe.
    pub latency_ms: Option<f64>,
    /// Bandwidth EWMA in Mbit/s; `None` before the first measurement.
    pub bandwidth_mbps: Option<f64>,
    /// Outcomes of the most recent samples, oldest first (`true` = success).
    pub recent: VecDeque<bool>,
    /// Samples ever recorded (successes and failures).
    pub samples_total: u64,
    /// Successes among `recent` (kept with it).
    #[serde(skip)]
    ok_count: usize,
}

impl NodeStats {
    fn new(history: usize) -> Self {
        Self {
            latency_ms: None,
            bandwidth_mbps: None,
            recent: VecDeque::with_capacity(history),
            samples_total: 0,
            ok_count: 0,
        }
    }

    /// Success ratio of the recent samples in [0, 1]; 1.0 with no samples.
    pub fn reliability(&self) -> f64 {
        if self.recent.is_empty() {
            1.0
        } else {
            self.ok_count as f64 / self.recent.len() as f64
        }
    }
}

/// Bandwidth assumed for a node never measured, in Mbit/s, so that an unmeasured
/// node scores like an average one instead of zero. Default 10 Mbit/s.
pub const PRIOR_BANDWIDTH_MBPS: f64 = 10.0;
/// Latency assumed for a node never measured, in ms. Default 20 ms.
pub const PRIOR_LATENCY_MS: f64 = 20.0;

/// Per-node statistics for all nodes of a session. Sans-IO: it is told outcomes.
#[derive(Clone, Debug)]
pub struct NetworkMonitor {
    config: MonitorConfig,
    nodes: Vec<NodeStats>,
    /// Each node's health, recomputed whenever its samples change.
    health: Vec<NodeHealth>,
    /// Nodes whose estimates are the truth ([`NetworkMonitor::set_truth`]):
    /// measurements no longer move their latency, bandwidth or health.
    pinned: Vec<bool>,
}

/// A link as it really is at a moment, for the simulator's oracle
/// ([`NetworkMonitor::set_truth`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkTruth {
    /// Bandwidth the node will give, Mbit/s.
    pub bandwidth_mbps: f64,
    /// Time to first byte, ms.
    pub latency_ms: f64,
    /// Whether the node answers at all.
    pub up: bool,
}

impl NetworkMonitor {
    /// A monitor for `node_count` nodes (ids `0..node_count`).
    pub fn new(config: MonitorConfig, node_count: usize) -> Self {
        let nodes = (0..node_count)
            .map(|_| NodeStats::new(config.history_size))
            .collect();
        Self {
            config,
            nodes,
            health: vec![NodeHealth::Healthy; node_count],
            pinned: vec![false; node_count],
        }
    }

    /// Replaces `node`'s estimates with the truth (the simulator's oracle
    /// knows the links): latency and bandwidth as given, health `Down` when
    /// the node is not up and `Healthy` otherwise. From then on measurements
    /// still count toward reliability but no longer move these values.
    pub fn set_truth(&mut self, node: NodeId, truth: LinkTruth) {
        let i = node.index();
        if i >= self.nodes.len() {
            return;
        }
        self.pinned[i] = true;
        let s = &mut self.nodes[i];
        s.latency_ms = Some(truth.latency_ms.max(0.0));
        s.bandwidth_mbps = Some(truth.bandwidth_mbps.max(0.0));
        self.health[i] = if truth.up {
            NodeHealth::Healthy
        } else {
            NodeHealth::Down
        };
    }

    /// The settings in force.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// Number of nodes monitored.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Statistics of `node`. Panics if `node` is out of range (a caller bug).
    pub fn stats(&self, node: NodeId) -> &NodeStats {
        &self.nodes[node.index()]
    }

    /// The payload of the next probe of `node`, bytes: its bandwidth
    /// estimate × [`MonitorConfig::probe_airtime`], clamped to
    /// [`MonitorConfig::probe_bytes_min`, `MonitorConfig::probe_bytes_max`];
    /// [`MonitorConfig::probe_bytes_initial`] while the bandwidth is unknown.
    pub fn probe_bytes(&self, node: NodeId) -> u64 {
        let c = &self.config;
        match self.stats(node).bandwidth_mbps {
            Some(mbps) if mbps.is_finite() && mbps >= 0.0 => {
                let bytes = mbps * 1e6 / 8.0 * c.probe_airtime.as_secs_f64();
                (bytes as u64).clamp(c.probe_bytes_min, c.probe_bytes_max.max(c.probe_bytes_min))
            }
            _ => c.probe_bytes_initial,
        }
    }

    fn ewma(&self, old: Option<f64>, sample: f64) -> f64 {
        match old {
            None => sample,
            Some(old) => self.config.ewma_alpha * sample + (1.0 - self.config.ewma_alpha) * old,
        }
    }

    fn push_outcome(&mut self, node: NodeId, ok: bool) {
        let cap = self.config.history_size.max(1);
        let s = &mut self.nodes[node.index()];
        if s.recent.len() == cap && s.recent.pop_front() == Some(true) {
            s.ok_count -= 1;
        }
        s.recent.push_back(ok);
        s.ok_count += usize::from(ok);
        s.samples_total += 1;
        if !self.pinned[node.index()] {
            self.health[node.index()] = self.compute_health(node);
        }
    }

    /// A probe answered after `rtt`; `payload` is `Some((bytes, transfer_time))`
    /// when the probe also carried data to measure bandwidth.
    pub fn record_probe_success(
        &mut self,
        node: NodeId,
        rtt: Duration,
        payload: Option<(u64, Duration)>,
    ) {
        let latency = rtt.as_secs_f64() * 1e3;
        if !self.pinned[node.index()] {
            let new_latency = self.ewma(self.nodes[node.index()].latency_ms, latency);
            self.nodes[node.index()].latency_ms = Some(new_latency);
            self.health[node.index()] = self.compute_health(node);
        }
        if let Some((bytes, took)) = payload {
            self.update_bandwidth_sample(node, bytes, took);
        }
        self.push_outcome(node, true);
    }

    /// A probe or download to `node` failed (error, reset, timeout).
    pub fn record_failure(&mut self, node: NodeId) {
        self.push_outcome(node, false);
    }

    /// A chunk download of `bytes` from `node` finished in `took`: feeds the
    /// bandwidth EWMA and counts as a success.
    pub fn record_download(&mut self, node: NodeId, bytes: u64, took: Duration) {
        self.update_bandwidth_sample(node, bytes, took);
        self.push_outcome(node, true);
    }

    /// A transfer from `node` too small to measure bandwidth (an
    /// initialization segment: its time is mostly latency) finished: counts
    /// as a success, feeds no bandwidth sample.
    pub fn record_small_transfer(&mut self, node: NodeId) {
        self.push_outcome(node, true);
    }

    fn update_bandwidth_sample(&mut self, node: NodeId, bytes: u64, took: Duration) {
        let secs = took.as_secs_f64();
        if secs > 0.0 && bytes > 0 {
            self.update_bandwidth(node, bytes as f64 * 8.0 / secs / 1e6);
        }
    }

    /// Feeds one bandwidth measurement in Mbit/s into the node's EWMA (seed 002:
    /// `update_bandwidth(node_url, bandwidth_mbps)`). Non-finite or negative
    /// values are ignored.
    pub fn update_bandwidth(&mut self, node: NodeId, bandwidth_mbps: f64) {
        if bandwidth_mbps.is_finite() && bandwidth_mbps >= 0.0 && !self.pinned[node.index()] {
            let new = self.ewma(self.nodes[node.index()].bandwidth_mbps, bandwidth_mbps);
            self.nodes[node.index()].bandwidth_mbps = Some(new);
        }
    }

    /// The seed's score: `(bandwidth_mbps × reliability) / (1 + latency_ms × 0.1)`,
    /// with [`PRIOR_BANDWIDTH_MBPS`] / [`PRIOR_LATENCY_MS`] for unmeasured values.
    /// A down node scores 0.
    pub fn score(&self, node: NodeId) -> f64 {
        if self.health(node) == NodeHealth::Down {
            return 0.0;
        }
        let s = self.stats(node);
        score(
            s.bandwidth_mbps.unwrap_or(PRIOR_BANDWIDTH_MBPS),
            s.reliability(),
            s.latency_ms.unwrap_or(PRIOR_LATENCY_MS),
        )
    }

    /// Health of `node` by the rules in the module docs.
    pub fn health(&self, node: NodeId) -> NodeHealth {
        self.health[node.index()]
    }

    fn compute_health(&self, node: NodeId) -> NodeHealth {
        let s = self.stats(node);
        let k = self.config.down_after_failures.max(1);
        if s.recent.len() >= k && s.recent.iter().rev().take(k).all(|ok| !ok) {
            return NodeHealth::Down;
        }
        if s.reliability() < self.config.degraded_reliability
            || s.latency_ms
                .is_some_and(|l| l > self.config.degraded_latency_ms)
        {
            NodeHealth::Degraded
        } else {
            NodeHealth::Healthy
        }
    }
}

/// The seed 002 node score: `(bandwidth_mbps × reliability) / (1 + latency_ms × 0.1)`.
pub fn score(bandwidth_mbps: f64, reliability: f64, latency_ms: f64) -> f64 {
    (bandwidth_mbps * reliability) / (1.0 + latency_ms * 0.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn probe_payload_follows_the_bandwidth_estimate() {
        let mut m = NetworkMonitor::new(MonitorConfig::default(), 2);
        assert_eq!(m.probe_bytes(NodeId(0)), 16 << 10, "unknown: initial");
        m.update_bandwidth(NodeId(0), 0.1);
        assert_eq!(m.probe_bytes(NodeId(0)), 4 << 10, "3G: the floor");
        m.update_bandwidth(NodeId(1), 4.0);
        assert_eq!(m.probe_bytes(NodeId(1)), 20_000, "4 Mbit/s x 40 ms");
        m.update_bandwidth(NodeId(1), 1000.0);
        m.update_bandwidth(NodeId(1), 1000.0);
        assert_eq!(m.probe_bytes(NodeId(1)), 64 << 10, "the cap");
    }

    #[test]
    fn score_is_the_seed_formula() {
        assert_eq!(score(100.0, 1.0, 0.0), 100.0);
        assert_eq!(score(100.0, 0.5, 10.0), 25.0);
        assert!((score(40.0, 0.9, 5.0) - 24.0).abs() < 1e-12);
    }

    #[test]
    fn latency_is_an_ewma() {
        let mut m = NetworkMonitor::new(MonitorConfig::default(), 1);
        let n = NodeId(0);
        m.record_probe_success(n, ms(100), None);
        assert_eq!(m.stats(n).latency_ms, Some(100.0));
        m.record_probe_success(n, ms(0), None);
        assert!((m.stats(n).latency_ms.unwrap() - 70.0).abs() < 1e-9);
        m.record_probe_success(n, ms(0), None);
        assert!((m.stats(n).latency_ms.unwrap() - 49.0).abs() < 1e-9);
    }

    #[test]
    fn bandwidth_from_downloads_and_update_bandwidth() {
        let mut m = NetworkMonitor::new(MonitorConfig::default(), 1);
        let n = NodeId(0);
        // 1.25 MB in 1 s = 10 Mbit/s.
        m.record_download(n, 1_250_000, Duration::from_secs(1));
        assert!((m.stats(n).bandwidth_mbps.unwrap() - 10.0).abs() < 1e-9);
        m.update_bandwidth(n, 20.0);
        assert!((m.stats(n).bandwidth_mbps.unwrap() - 13.0).abs() < 1e-9);
        m.update_bandwidth(n, f64::NAN);
        assert!((m.stats(n).bandwidth_mbps.unwrap() - 13.0).abs() < 1e-9);
    }

    #[test]
    fn reliability_covers_the_last_ten_samples() {
        let mut m = NetworkMonitor::new(MonitorConfig::default(), 1);
        let n = NodeId(0);
        for _ in 0..10 {
            m.record_failure(n);
        }
        for _ in 0..10 {
            m.record_probe_success(n, ms(5), None);
        }
        assert_eq!(m.stats(n).reliability(), 1.0);
        m.record_failure(n);
        assert!((m.stats(n).reliability() - 0.9).abs() < 1e-12);
        assert_eq!(m.stats(n).recent.len(), 10);
        assert_eq!(m.stats(n).samples_total, 21);
    }

    #[test]
    fn health_thresholds() {
        let mut m = NetworkMonitor::new(MonitorConfig::default(), 3);
        let (a, b, c) = (NodeId(0), NodeId(1), NodeId(2));
        assert_eq!(m.health(a), NodeHealth::Healthy, "unmeasured is healthy");
        m.record_probe_success(a, ms(5), None);
        assert_eq!(m.health(a), NodeHealth::Healthy);
        // Slow node: degraded by latency.
        m.record_probe_success(b, ms(250), None);
        assert_eq!(m.health(b), NodeHealth::Degraded);
        // Two failures: degraded (reliability 1/3), not yet down.
        m.record_probe_success(c, ms(5), None);
        m.record_failure(c);
        m.record_failure(c);
        assert_eq!(m.health(c), NodeHealth::Degraded);
        m.record_failure(c);
        assert_eq!(m.health(c), NodeHealth::Down);
        assert_eq!(m.score(c), 0.0);
        // One success lifts it out of down.
        m.record_probe_success(c, ms(5), None);
        assert_ne!(m.health(c), NodeHealth::Down);
    }

    #[test]
    fn unmeasured_node_scores_with_priors() {
        let m = NetworkMonitor::new(MonitorConfig::default(), 1);
        assert!(
            (m.score(NodeId(0)) - score(PRIOR_BANDWIDTH_MBPS, 1.0, PRIOR_LATENCY_MS)).abs() < 1e-12
        );
    }
}
