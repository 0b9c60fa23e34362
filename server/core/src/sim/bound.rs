//! The `bound` strategy: a fluid, pooled-capacity upper bound on what any
//! scheduler can do on the same links under the same buffer rules.
//!
//! Model: every node gives all of its instantaneous capacity (its trace's
//! bandwidth, zero while down, no latency, no loss) to the earliest chunk it
//! holds among the chunks the buffer wants; a chunk's rate is the sum over
//! its replicas that picked it, bytes flow as a fluid (any node's bytes fill
//! any part of the chunk), and the client access cap, if any, scales all
//! rates down alike. The buffer is the engine's own [`BufferManager`] with the
//! session's settings: start threshold, target, low-water mark, resume
//! threshold, and the refill hysteresis deciding which chunks are wanted.
//!
//! Why it bounds every scheduler: at every instant, for every prefix of the
//! video (chunks `0..=k`), the rate at which bytes of that prefix arrive is the
//! sum of the capacities of the nodes holding some incomplete chunk of it —
//! the most any schedule can get from those nodes — and no request waits for a
//! latency. So every chunk completes no later than under any schedule that
//! wants the same chunks, and startup and stalls can only be shorter. It
//! measures scheduling, not buffer policy: the in-flight cap and the probes of
//! a real client are the scheduler's business and are not modelled.

use std::time::Duration;

use super::net::{NodeLink, SimConfig, SimOutcome};
use crate::engine::{BufferManager, Manifest, PlaybackQoe, PlaybackState, QoeReport, TimeStats};

const EPS_BITS: f64 = 1e-3;

/// Runs the bound for one session of `manifest` on `config`'s links.
pub fn run_bound(config: &SimConfig, manifest: &Manifest) -> SimOutcome {
    assert_eq!(config.links.len(), manifest.node_count, "one link per node");
    let max_time = config
        .max_time
        .unwrap_or(manifest.duration() * 10 + Duration::from_secs(600))
        .as_secs_f64();
    let durations: Vec<Duration> = manifest.chunks.iter().map(|c| c.duration).collect();
    let mut buffer = BufferManager::new(config.engine.buffer.clone(), &durations, Duration::ZERO);
    let n = manifest.chunks.len();
    let mut left: Vec<f64> = manifest
        .chunks
        .iter()
        .map(|c| c.size_bytes as f64 * 8.0)
        .collect();
    let mut started = vec![false; n];
    let mut done_at: Vec<f64> = Vec::with_capacity(n);
    let (mut now, mut steps, mut busy, mut abandoned) = (0.0f64, 0u64, 0.0f64, false);
    while buffer.state() != PlaybackState::Ended {
        buffer.advance(Duration::from_secs_f64(now));
        let wanted = wanted_chunks(&mut buffer, &left, &mut started);
        let rates = chunk_rates(config, manifest, &wanted, now);
        let mut next = buffer
            .next_deadline()
            .map_or(f64::INFINITY, |d| d.as_secs_f64());
        for (c, r) in &rates {
            if *r > 0.0 {
                next = next.min(now + left[*c] / r);
            }
        }
        for link in &config.links {
            next = next.min(link_change(link, now));
        }
        if !next.is_finite() || now > max_time || steps > 10_000_000 {
            abandoned = true;
            break;
        }
        let next = next.max(now + 1e-9);
        let dt = next - now;
        if rates.iter().any(|(_, r)| *r > 0.0) {
            busy += dt;
        }
        now = next;
        steps += 1;
        let at = Duration::from_secs_f64(now);
        for (c, r) in rates {
            left[c] -= r * dt;
            if left[c] <= EPS_BITS {
                left[c] = 0.0;
                if buffer.add_chunk(at, c) {
                    done_at.push(now);
                }
            }
        }
    }
    buffer.advance(Duration::from_secs_f64(now));
    SimOutcome {
        qoe: report(&buffer, manifest, &done_at, now, busy),
        sim_time_s: now,
        steps,
        abandoned,
    }
}

/// The chunks the buffer wants now, in order: every chunk already started
/// and not complete, then new chunks while the refill hysteresis wants them.
fn wanted_chunks(buffer: &mut BufferManager, left: &[f64], started: &mut [bool]) -> Vec<usize> {
    let mut wanted = Vec::new();
    for c in 0..left.len() {
        if left[c] <= 0.0 {
            continue;
        }
        if !started[c] {
            if !buffer.wants_more(buffer.chunk_start(c)) {
                break;
            }
            started[c] = true;
        }
        wanted.push(c);
    }
    wanted
}

/// Each wanted chunk's rate (bit/s): every node's capacity on the earliest
/// wanted chunk it holds, scaled to the client cap.
fn chunk_rates(
    config: &SimConfig,
    manifest: &Manifest,
    wanted: &[usize],
    now: f64,
) -> Vec<(usize, f64)> {
    let mut rates: Vec<(usize, f64)> = wanted.iter().map(|c| (*c, 0.0)).collect();
    for (i, link) in config.links.iter().enumerate() {
        if link.is_down(now) {
            continue;
        }
        let pick = rates
            .iter_mut()
            .find(|(c, _)| manifest.chunks[*c].replicas.iter().any(|r| r.index() == i));
        if let Some((_, r)) = pick {
            *r += link.at(now).0 * 1e6;
        }
    }
    let total: f64 = rates.iter().map(|(_, r)| r).sum();
    if let Some(cap) = config.client_cap_mbps
        && total > cap * 1e6
    {
        let k = cap * 1e6 / total;
        rates.iter_mut().for_each(|(_, r)| *r *= k);
    }
    rates
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

fn report(
    buffer: &BufferManager,
    manifest: &Manifest,
    done_at: &[f64],
    now: f64,
    busy_s: f64,
) -> QoeReport {
    let bytes: u64 = manifest.size_bytes();
    let end = buffer.ended_at().map_or(now, |d| d.as_secs_f64());
    let rate = |s: f64| {
        if s > 0.0 {
            bytes as f64 * 8.0 / s / 1e6
        } else {
            0.0
        }
    };
    QoeReport {
        strategy: crate::engine::Strategy::Bound,
        playback: PlaybackQoe {
            startup_latency_ms: buffer.startup_latency().map(|d| d.as_secs_f64() * 1e3),
            rebuffer_count: buffer.rebuffer_count(),
            rebuffer_time_ms: buffer.rebuffer_time().as_secs_f64() * 1e3,
            avg_buffer_s: buffer.average_level_secs().unwrap_or(0.0),
            avg_throughput_mbps: rate(busy_s),
            goodput_mbps: rate(end),
        },
        download_time: TimeStats::default(),
        downloads: done_at.len() as u64,
        failovers: 0,
        success_rate: 1.0,
        bytes_total: bytes,
        per_node: Vec::new(),
        chunks_played: buffer.chunks_played(),
        chunk_count: buffer.chunk_count(),
        ended: buffer.state() == PlaybackState::Ended,
        session_ms: end * 1e3,
    }
}
