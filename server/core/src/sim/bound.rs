//! The `bound` strategy: a lower bound on startup latency and on startup +
//! stall time that no strategy can beat on the same links, proved below and
//! checked by a property test over thousands of random instances
//! (`server/core/tests/bound_props.rs`).
//!
//! **Model (a relaxation of every real schedule):** bytes are a fluid; any
//! node's bytes may fill any part of a chunk the node holds (replica
//! placement respected); a node gives its trace's bandwidth (zero while down)
//! with no latency, no loss, no probes and no processor sharing; the client
//! cap, if any, limits the sum of all nodes' rates at every instant; nothing
//! limits how far ahead of the playhead a chunk may be fetched (the buffer
//! target and the in-flight cap are left out: they can only delay a real
//! client).
//!
//! **Prefix times.** For every prefix of the video (chunks `0..=k`), `T_k` is
//! the earliest time at which all of its bytes can have arrived under that
//! model. A set `J` of nodes can deliver at most
//! `cap_J(T) = ∫₀ᵀ min(client cap, Σ_{j∈J} bandwidth_j(t)) dt` bits by `T`, and
//! the prefix's chunks whose replicas all lie in `J` must come from `J`; by
//! the supply–demand theorem for polymatroids (Gale's feasibility condition,
//! the polymatroid form of Hall's theorem) the prefix can be complete by `T`
//! iff every `J` satisfies `demand_k(J) ≤ cap_J(T)`. So `T_k = max_J` of the
//! first time `cap_J` reaches `demand_k(J)`. With more than
//! [`EXACT_NODE_LIMIT`] nodes only `J` = all nodes and each chunk's replica
//! set are checked: fewer constraints, an earlier `T_k`, still a lower bound.
//!
//! **Why no strategy beats it.** In every real session chunk `k` and every
//! chunk before it are complete at some time `C_k ≥ T_k`. The engine starts
//! playback when the first `s` chunks are buffered (the start threshold, or
//! the whole video when it is shorter), so startup `= C_s ≥ T_s`. Playback
//! cannot pass the start of chunk `k` before `C_k` and then plays at most 1×,
//! so it ends at `startup + duration + stall ≥ C_k + duration − start_k` for
//! every `k`: **startup + stall ≥ W = max(T_s, maxₖ (T_k − start_k))**.
//!
//! Stall time alone has no strategy-free bound: a client that starts later
//! stalls less (and the resume threshold makes stalls non-monotone in arrival
//! times). So the bound reports startup latency `T_s` and stall time `W − T_s`
//! (the stall a client starting at `T_s` could not avoid); what it bounds is
//! the startup, and startup + stall. Its rebuffer count, buffer and
//! throughput figures are 0: it is not a player.

use std::time::Duration;

use super::net::{NodeLink, SimConfig, SimOutcome};
use crate::engine::{Manifest, PlaybackQoe, QoeReport, Strategy, TimeStats};

/// Most nodes for which every subset is checked (4,095 subsets).
pub const EXACT_NODE_LIMIT: usize = 12;

/// The bound's figures for one session, seconds of session time.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundFigures {
    /// `T_k` per chunk: the earliest time chunks `0..=k` can all be in
    /// (infinite when they never can within the time limit).
    pub prefix_done_s: Vec<f64>,
    /// Lower bound on startup latency: `T_s`.
    pub startup_s: f64,
    /// Lower bound on startup + stall time: `W`.
    pub wait_s: f64,
    /// Capacity segments walked.
    pub steps: u64,
}

/// Computes the bound for one session of `manifest` on `config`'s links.
///
/// # Panics
/// If `config` has not one link per node of the manifest.
pub fn figures(config: &SimConfig, manifest: &Manifest) -> BoundFigures {
    assert_eq!(config.links.len(), manifest.node_count, "one link per node");
    let max_time = config
        .max_time
        .unwrap_or(manifest.duration() * 10 + Duration::from_secs(600))
        .as_secs_f64();
    let n = manifest.chunks.len();
    let masks: Vec<u64> = manifest
        .chunks
        .iter()
        .map(|c| {
            c.replicas
                .iter()
                .filter(|r| r.index() < 64)
                .fold(0u64, |m, r| m | 1 << r.index())
        })
        .collect();
    let bits: Vec<f64> = manifest
        .chunks
        .iter()
        .map(|c| c.size_bytes as f64 * 8.0)
        .collect();
    let all = if manifest.node_count >= 64 {
        u64::MAX
    } else {
        (1u64 << manifest.node_count) - 1
    };
    let subsets: Vec<u64> = if manifest.node_count <= EXACT_NODE_LIMIT {
        (1..=all).collect()
    } else {
        let mut v: Vec<u64> = masks.clone();
        v.push(all);
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut prefix_done_s = vec![0.0f64; n];
    let mut steps = 0u64;
    for &set in &subsets {
        let mut sweep = Sweep::new(config, set, max_time);
        let mut demand = 0.0;
        for k in 0..n {
            if masks[k] & !set == 0 {
                demand += bits[k];
            }
            if demand > 0.0 {
                let t = sweep.time_to_reach(demand);
                prefix_done_s[k] = prefix_done_s[k].max(t);
            }
        }
        steps += sweep.steps;
    }
    // A prefix is never done before a shorter one.
    for k in 1..n {
        prefix_done_s[k] = prefix_done_s[k].max(prefix_done_s[k - 1]);
    }
    let mut start = 0.0;
    let starts: Vec<f64> = manifest
        .chunks
        .iter()
        .map(|c| {
            let s = start;
            start += c.duration.as_secs_f64();
            s
        })
        .collect();
    // The first prefix that holds the start threshold, summed in whole
    // nanoseconds as the player's buffer counts it: in seconds, 4.341 s +
    // 5.286 s fell a hair short of a 9.627 s threshold, the bound waited
    // for a third chunk (37.4 s) and every client started before it (10.0 s).
    let threshold = config.engine.buffer.start_threshold;
    let s = manifest
        .chunks
        .iter()
        .scan(Duration::ZERO, |end, c| {
            *end = end.saturating_add(c.duration);
            Some(*end)
        })
        .position(|end| end >= threshold)
        .unwrap_or(n.saturating_sub(1));
    let startup_s = prefix_done_s.get(s).copied().unwrap_or(0.0);
    let wait_s = prefix_done_s
        .iter()
        .zip(&starts)
        .map(|(t, st)| t - st)
        .fold(startup_s, f64::max);
    BoundFigures {
        prefix_done_s,
        startup_s,
        wait_s,
        steps,
    }
}

/// Walks `cap_J(t)` forward for one node set `J`.
struct Sweep<'a> {
    links: Vec<&'a NodeLink>,
    cap_bps: Option<f64>,
    max_time: f64,
    /// Time reached, s.
    t: f64,
    /// `cap_J(t)`, bits.
    delivered: f64,
    steps: u64,
}

impl<'a> Sweep<'a> {
    fn new(config: &'a SimConfig, set: u64, max_time: f64) -> Self {
        Self {
            links: config
                .links
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < 64 && set & (1 << i) != 0)
                .map(|(_, l)| l)
                .collect(),
            cap_bps: config.client_cap_mbps.map(|c| c * 1e6),
            max_time,
            t: 0.0,
            delivered: 0.0,
            steps: 0,
        }
    }

    /// When `J`'s pooled rate may next change after `t` (at least 1 ns on).
    fn next_change(&self, t: f64) -> f64 {
        self.links
            .iter()
            .map(|l| link_change(l, t))
            .fold(f64::INFINITY, f64::min)
            .max(t + 1e-9)
    }

    /// The pooled rate of `J` at `t`, bit/s (client cap applied).
    fn rate(&self, t: f64) -> f64 {
        let rate: f64 = self
            .links
            .iter()
            .filter(|l| !l.is_down(t))
            .map(|l| l.at(t).0 * 1e6)
            .sum();
        self.cap_bps.map_or(rate, |cap| rate.min(cap))
    }

    /// The first time `cap_J` reaches `bits` (infinite past the time limit).
    fn time_to_reach(&mut self, bits: f64) -> f64 {
        while self.delivered < bits {
            if self.t > self.max_time || self.steps > 50_000_000 {
                return f64::INFINITY;
            }
            self.steps += 1;
            let t = self.t;
            let rate = self.rate(t);
            let next = self.next_change(t);
            if rate > 0.0 && self.delivered + rate * (next - t) >= bits {
                self.t = t + (bits - self.delivered) / rate;
                self.delivered = bits;
                return self.t;
            }
            self.delivered += rate * (next - t);
            self.t = next;
        }
        self.t
    }
}

/// The pooled capacity of every node as a curve: `∫₀ᵗ min(client cap,
/// Σ bandwidth_j(t)) dt` in bits, piecewise linear between breakpoints
/// (trace periods and down intervals). Read by the offline optimum
/// ([`super::optimum`]), which needs the inverse at many points.
#[derive(Clone, Debug)]
pub struct PooledCurve {
    /// `(t s, bits delivered by t)` at every change of the pooled rate,
    /// from `(0, 0)`; both columns nondecreasing.
    points: Vec<(f64, f64)>,
}

impl PooledCurve {
    /// Walks every link of `config` from time 0 until `bits` have been
    /// delivered or `max_time_s` passes (whichever comes first).
    pub fn walk(config: &SimConfig, bits: f64, max_time_s: f64) -> Self {
        let all = if config.links.len() >= 64 {
            u64::MAX
        } else {
            (1u64 << config.links.len()) - 1
        };
        let mut sweep = Sweep::new(config, all, max_time_s);
        let mut points = vec![(0.0, 0.0)];
        while sweep.delivered < bits && sweep.t <= max_time_s && sweep.steps <= 50_000_000 {
            // One capacity segment at a time.
            let (t0, d0) = (sweep.t, sweep.delivered);
            let end = sweep.next_change(t0);
            let rate = sweep.rate(t0);
            sweep.steps += 1;
            sweep.delivered = d0 + rate * (end - t0);
            sweep.t = end;
            points.push((end, sweep.delivered));
        }
        Self { points }
    }

    /// Bits delivered by `t_s` (the last value walked past the walk's end).
    pub fn bits_by(&self, t_s: f64) -> f64 {
        let i = self.points.partition_point(|p| p.0 <= t_s);
        if i == 0 {
            return 0.0;
        }
        let (t0, d0) = self.points[i - 1];
        match self.points.get(i) {
            Some(&(t1, d1)) if t1 > t0 => d0 + (d1 - d0) * (t_s - t0) / (t1 - t0),
            _ => d0,
        }
    }

    /// The first time the curve reaches `bits`; infinite when it never
    /// does within the walk.
    pub fn time_to_reach(&self, bits: f64) -> f64 {
        if bits <= 0.0 {
            return 0.0;
        }
        // First breakpoint at or past `bits`; the segment before it rises
        // (it starts below `bits`), so the crossing is inside it.
        let i = self.points.partition_point(|p| p.1 < bits);
        let Some(&(t1, d1)) = self.points.get(i) else {
            return f64::INFINITY;
        };
        let (t0, d0) = self.points[i - 1];
        t0 + (t1 - t0) * (bits - d0) / (d1 - d0)
    }
}

/// The next time a link's capacity changes: its trace period's end, or a
/// down interval starting or ending.
fn link_change(link: &NodeLink, now: f64) -> f64 {
    let ends = link
        .down
        .iter()
        .map(|(_, b)| *b)
        .filter(|b| *b > now)
        .fold(f64::INFINITY, f64::min);
    link.at(now).2.min(link.next_down_start(now)).min(ends)
}

/// Runs the bound for one session of `manifest` on `config`'s links, as a
/// [`SimOutcome`]: startup latency `T_s`, stall time `W − T_s`, the session
/// ending at `W + duration`; never started (and abandoned) when the links
/// cannot deliver the start within the time limit.
pub fn run_bound(config: &SimConfig, manifest: &Manifest) -> SimOutcome {
    let f = figures(config, manifest);
    let finite = f.startup_s.is_finite() && f.wait_s.is_finite();
    let duration = manifest.duration().as_secs_f64();
    let end_s = if finite { f.wait_s + duration } else { 0.0 };
    let bytes = manifest.size_bytes();
    let n = manifest.chunks.len();
    SimOutcome {
        qoe: QoeReport {
            strategy: Strategy::Bound,
            playback: PlaybackQoe {
                startup_latency_ms: f.startup_s.is_finite().then_some(f.startup_s * 1e3),
                rebuffer_count: 0,
                rebuffer_time_ms: if finite {
                    (f.wait_s - f.startup_s) * 1e3
                } else {
                    0.0
                },
                avg_buffer_s: 0.0,
                avg_throughput_mbps: 0.0,
                goodput_mbps: 0.0,
            },
            download_time: TimeStats::default(),
            downloads: if finite { n as u64 } else { 0 },
            failovers: 0,
            success_rate: 1.0,
            bytes_total: bytes,
            per_node: Vec::new(),
            chunks_played: if finite { n } else { 0 },
            chunk_count: n,
            ended: finite,
            session_ms: end_s * 1e3,
            quality: None,
        },
        sim_time_s: end_s,
        steps: f.steps,
        abandoned: !finite,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        engine::{NodeId, striped_manifest},
        input::Trace,
    };

    fn links(mbps: &[f64]) -> Vec<NodeLink> {
        mbps.iter()
            .map(|m| NodeLink::new(Arc::new(Trace::constant(*m, 20.0))))
            .collect()
    }

    #[test]
    fn one_node_one_chunk_is_size_over_bandwidth() {
        let cfg = SimConfig::new(links(&[10.0]));
        let m = striped_manifest("t", &[(Duration::from_secs(10), 5_000_000)], 1, 1);
        let f = figures(&cfg, &m);
        assert!((f.startup_s - 4.0).abs() < 1e-9, "{f:?}");
        assert!((f.wait_s - 4.0).abs() < 1e-9, "{f:?}");
    }

    #[test]
    fn placement_counts_a_chunk_only_on_its_replicas() {
        // Chunk 0 lives only on the 1 Mbit/s node: the 100 Mbit/s one
        // cannot help, however fast.
        let cfg = SimConfig::new(links(&[1.0, 100.0]));
        let mut m = striped_manifest("t", &[(Duration::from_secs(10), 1_000_000)], 2, 1);
        m.chunks[0].replicas = vec![NodeId(0)];
        let f = figures(&cfg, &m);
        assert!((f.startup_s - 8.0).abs() < 1e-9, "{f:?}");
    }

    #[test]
    fn the_client_cap_limits_the_pooled_rate() {
        let mut cfg = SimConfig::new(links(&[10.0, 10.0]));
        cfg.client_cap_mbps = Some(5.0);
        let m = striped_manifest("t", &[(Duration::from_secs(10), 5_000_000)], 2, 2);
        assert!((figures(&cfg, &m).startup_s - 8.0).abs() < 1e-9);
    }

    #[test]
    fn a_late_chunk_that_cannot_keep_up_is_waited_for() {
        // 10 s chunks: chunk 0 (1 MB) arrives at 0.8 s; chunk 1 (20 MB) needs
        // 16.8 s in all, due at 10 s of media: startup + stall ≥ 6.8 s.
        let cfg = SimConfig::new(links(&[10.0]));
        let m = striped_manifest(
            "t",
            &[
                (Duration::from_secs(10), 1_000_000),
                (Duration::from_secs(10), 20_000_000),
            ],
            1,
            1,
        );
        let f = figures(&cfg, &m);
        assert!((f.startup_s - 0.8).abs() < 1e-9, "{f:?}");
        assert!((f.wait_s - 6.8).abs() < 1e-9, "{f:?}");
        let o = run_bound(&cfg, &m);
        assert!((o.qoe.playback.rebuffer_time_ms - 6_000.0).abs() < 1e-6);
    }

    #[test]
    fn links_that_never_deliver_give_an_infinite_bound() {
        let mut cfg = SimConfig::new(links(&[10.0]));
        cfg.links[0].down = vec![(0.0, f64::INFINITY)];
        cfg.max_time = Some(Duration::from_secs(100));
        let m = striped_manifest("t", &[(Duration::from_secs(10), 1_000_000)], 1, 1);
        let o = run_bound(&cfg, &m);
        assert!(o.abandoned && o.qoe.playback.startup_latency_ms.is_none());
    }
}
