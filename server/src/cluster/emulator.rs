//! The network emulator in front of each storage node.
//!
//! Every data response of a node (chunk `GET`, `ping`) goes through its
//! [`Emulator`]:
//! - **latency**: the response's first byte waits `latency_ms` (± a uniform
//!   `jitter_ms`), i.e. the added round trip before data flows;
//! - **bandwidth**: the body is paced by one reservation clock per node, shared
//!   by all concurrent responses of that node (a token bucket without burst: each
//!   slice of the body reserves `slice / rate` seconds after the previous
//!   reservation and is sent when its reservation ends), so N concurrent
//!   downloads share the node's rate and the total never exceeds it;
//! - **loss**: a transfer is lost with probability `loss`: it sends a uniformly
//!   random prefix of its body and the connection is then reset (the client sees
//!   a truncated body / reset, a failure it must fail over from). Requests are
//!   not retried by the emulator;
//! - **down**: data endpoints answer 503 `{"error": ...}` at once;
//! - **slow disk**: every chunk read waits `disk_delay_ms` before it starts.
//!
//! Conditions change at run time ([`Emulator::set_conditions`], a named
//! [`Scenario`] relative to the node's base profile, or a recorded
//! [`Trace`] replayed as time-varying bandwidth and latency, the trace's RTT
//! being the added latency). Scenarios and sliders compose with a trace: what
//! they change from the base profile applies on top of the trace's link
//! ([`compose_with_trace`]). A speed factor `k` (default 1) compresses time
//! consistently: latency ÷ k, bandwidth × k, trace time × k, disk delay ÷ k.

use crate::sync::LockExt;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use vstack_core::input::Trace;

pub use vstack_core::conditions::{Conditions, DEMO_TIMELINE, Scenario};

/// Plays a scenario timeline on `nodes` (node *i* gets index *i*): each entry
/// `(start in media seconds, scenario)` is applied at `start / speed` wall
/// seconds from now; `on_change` is told each scenario as it starts. Returns
/// when the last entry has been applied; abort the task to stop early.
pub async fn run_timeline(
    nodes: Vec<Emulator>,
    timeline: &[(u64, Scenario)],
    speed: f64,
    mut on_change: impl FnMut(Scenario),
) {
    let speed = if speed.is_finite() && speed >= 1.0 {
        speed
    } else {
        1.0
    };
    let t0 = Instant::now();
    for &(at_s, scenario) in timeline {
        tokio::time::sleep_until(t0 + Duration::from_secs(at_s).div_f64(speed)).await;
        for (i, e) in nodes.iter().enumerate() {
            e.apply_scenario(scenario, i);
        }
        on_change(scenario);
    }
}

/// The conditions of a node replaying a trace whose point now is
/// `trace_bandwidth_mbps` / `trace_rtt_ms`, under `current` (a scenario or
/// the sliders) relative to its `base` profile: the trace gives the link, and
/// what `current` changes from `base` applies on top of it.
///
/// - latency: the trace's RTT plus the latency `current` adds over `base`
///   (`high_latency`: +200 ms);
/// - bandwidth: the trace's, capped at `current`'s limit when `current`
///   lowers it below `base`'s (`low_bandwidth`: at most 3 Mbit/s), never
///   below 0.001 Mbit/s;
/// - jitter, loss, down, partition and disk delay: `current`'s.
pub fn compose_with_trace(
    base: &Conditions,
    current: &Conditions,
    trace_bandwidth_mbps: f64,
    trace_rtt_ms: f64,
) -> Conditions {
    let mut c = current.clone();
    c.latency_ms = trace_rtt_ms + (current.latency_ms - base.latency_ms).max(0.0);
    let lowered = match (current.bandwidth_mbps, base.bandwidth_mbps) {
        (Some(cap), Some(b)) if cap < b => Some(cap),
        (Some(cap), None) => Some(cap),
        _ => None,
    };
    let bw = trace_bandwidth_mbps.max(0.001);
    c.bandwidth_mbps = Some(lowered.map_or(bw, |cap| bw.min(cap)).max(0.001));
    c
}

/// How late a reservation may start behind the previous one's end and still
/// continue it (absorbs timer granularity): 5 ms, i.e. a burst of at most 5 ms
/// of data after a late wake-up.
pub const PACING_SLACK: Duration = Duration::from_millis(5);

/// The longest one pacing reservation may be: an hour. Reached only by a
/// degenerate rate; it keeps the arithmetic finite.
const MAX_SLOT: Duration = Duration::from_secs(3600);

/// What the emulator decided for one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The node is down: answer 503.
    Refuse,
    /// Serve after `first_byte_delay`; if `cut_after` is set, send that many
    /// body bytes and then reset the connection (a lost transfer).
    Serve {
        /// Wall-clock wait before the response starts (latency, jitter, disk).
        first_byte_delay: Duration,
        /// Body bytes sent before the loss cuts the transfer.
        cut_after: Option<u64>,
    },
}

struct Inner {
    base: Conditions,
    current: Conditions,
    trace: Option<(Arc<Trace>, Instant)>,
    rng: ChaCha8Rng,
    /// When the link is free for the next bytes. Cleared whenever the
    /// conditions change, so a slot reserved at a tiny rate never holds the
    /// link after the rate is raised.
    next_free: Option<Instant>,
}

/// One node's emulator; cheap to clone (shared state).
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Mutex<Inner>>,
    epoch: Arc<std::sync::atomic::AtomicU64>,
    speed: f64,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("conditions", &self.conditions())
            .field("speed", &self.speed)
            .finish()
    }
}

impl Emulator {
    /// An emulator on `base` conditions; `speed` ≥ 1 compresses time (values
    /// below 1 or not finite are treated as 1); `seed` drives jitter and loss.
    pub fn new(base: Conditions, speed: f64, seed: u64) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                current: base.clone(),
                base,
                trace: None,
                rng: ChaCha8Rng::seed_from_u64(seed),
                next_free: None,
            })),
            epoch: Arc::default(),
            speed: if speed.is_finite() && speed >= 1.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// A link of its own to this node for one viewer: the node's conditions
    /// in force now (re-read with [`Emulator::follow`]), its own bandwidth
    /// reservations, jitter and loss draws (from `seed`), so a viewer's
    /// transfers never queue behind the node's own clients or another
    /// viewer's. It shares the node's transfer generation: killing the node
    /// ([`Emulator::abort_in_flight`]) resets the viewer's transfers too.
    /// It runs in real time whatever the node's `--speed`: a browser plays
    /// at 1×, so it meets the conditions in their real units, as the
    /// node's clients meet them in media time.
    pub fn viewer_link(&self, seed: u64) -> Emulator {
        let link = Emulator::new(self.conditions(), 1.0, seed);
        Emulator {
            epoch: self.epoch.clone(),
            ..link
        }
    }

    /// Takes `node`'s conditions in force now, its bandwidth capped at
    /// `cap_mbps` when given, when they differ from this link's (a viewer
    /// link following its node: [`Emulator::viewer_link`]). Unchanged
    /// conditions keep the link's bandwidth reservations.
    pub fn follow(&self, node: &Emulator, cap_mbps: Option<f64>) {
        let mut now = node.conditions();
        if let Some(cap) = cap_mbps.filter(|c| c.is_finite() && *c > 0.0) {
            now.bandwidth_mbps = Some(now.bandwidth_mbps.map_or(cap, |b| b.min(cap)));
        }
        let mut g = self.lock();
        if g.current != now {
            g.current = now;
            g.next_free = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.locked()
    }

    /// Generation of the node's transfers; bumped by [`Emulator::abort_in_flight`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Resets every transfer in progress (a killed node): paced bodies started
    /// before this call end with a connection reset at their next slice.
    pub fn abort_in_flight(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The time compression factor.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// The base profile (what `normal` and `recovery` restore).
    pub fn base(&self) -> Conditions {
        self.lock().base.clone()
    }

    /// The conditions in force now, in real (uncompressed) units. With a
    /// trace, the scenario or slider settings compose with it
    /// ([`compose_with_trace`]).
    pub fn conditions(&self) -> Conditions {
        let g = self.lock();
        self.effective(&g, Instant::now())
    }

    fn effective(&self, g: &Inner, now: Instant) -> Conditions {
        match &g.trace {
            None => g.current.clone(),
            Some((trace, started)) => {
                let t = now.saturating_duration_since(*started).as_secs_f64() * self.speed;
                let (p, _) = trace.at(t);
                compose_with_trace(&g.base, &g.current, p.bandwidth_mbps, p.rtt_ms)
            }
        }
    }

    /// Partitions the link (`true`) or heals it, keeping the rest of the
    /// current conditions.
    pub fn set_partitioned(&self, partitioned: bool) {
        self.lock().current.partitioned = partitioned;
    }

    /// Sets the current conditions (the base profile is kept).
    pub fn set_conditions(&self, c: Conditions) {
        let mut g = self.lock();
        g.current = c;
        g.next_free = None;
    }

    /// Applies a named scenario to this node (`node_index` in registration
    /// order), relative to its base profile.
    pub fn apply_scenario(&self, scenario: Scenario, node_index: usize) {
        let mut g = self.lock();
        g.current = scenario.apply(node_index, &g.base);
        g.next_free = None;
    }

    /// Replays `trace` from now on (looping), or stops replaying with `None`.
    pub fn set_trace(&self, trace: Option<Arc<Trace>>) {
        let mut g = self.lock();
        g.trace = trace.map(|t| (t, Instant::now()));
        g.next_free = None;
    }

    /// Whether a partition cuts the node off now.
    pub fn is_partitioned(&self) -> bool {
        self.lock().current.partitioned
    }

    /// Waits while the node is partitioned (polling every 20 ms of wall time);
    /// returns at once when it is reachable.
    pub async fn wait_reachable(&self) {
        while self.is_partitioned() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Decides how to serve one response of `body_bytes` (`disk_read`: whether
    /// it reads a chunk from disk).
    pub fn plan(&self, body_bytes: u64, disk_read: bool) -> Plan {
        let mut g = self.lock();
        let c = self.effective(&g, Instant::now());
        if c.down {
            return Plan::Refuse;
        }
        let jitter = if c.jitter_ms > 0.0 {
            g.rng.random_range(-c.jitter_ms..=c.jitter_ms)
        } else {
            0.0
        };
        let mut delay_ms = (c.latency_ms + jitter).max(0.0);
        if disk_read {
            delay_ms += c.disk_delay_ms;
        }
        let cut_after = (c.loss > 0.0 && g.rng.random_bool(c.loss.min(1.0)))
            .then(|| g.rng.random_range(0..=body_bytes.saturating_sub(1)));
        Plan::Serve {
            first_byte_delay: Duration::from_secs_f64(delay_ms / 1e3 / self.speed),
            cut_after,
        }
    }

    /// The body slice size that keeps pacing smooth at the current rate: about
    /// 2 ms of data, between 16 KiB and 256 KiB.
    pub fn slice_bytes(&self) -> usize {
        let g = self.lock();
        match self.rate_bytes_per_s(&g, Instant::now()) {
            Some(rate) => ((rate * 0.002) as usize).clamp(16 << 10, 256 << 10),
            None => 256 << 10,
        }
    }

    fn rate_bytes_per_s(&self, g: &Inner, now: Instant) -> Option<f64> {
        self.effective(g, now)
            .bandwidth_mbps
            .map(|m| m * 1e6 / 8.0 * self.speed)
    }

    /// Waits until `bytes` more may be sent on this node's link: reserves
    /// `bytes / rate` after the link's previous reservation and sleeps until it
    /// ends. Returns at once when the node is unshaped.
    pub async fn pace(&self, bytes: usize) {
        let until = {
            let mut g = self.lock();
            let now = Instant::now();
            let Some(rate) = self.rate_bytes_per_s(&g, now) else {
                return;
            };
            // A link busy until `t` continues from `t` even if this call comes
            // a little late (timer granularity), so lateness never accumulates;
            // after a real idle gap it starts afresh from now.
            let start = match g.next_free {
                Some(t) if t + PACING_SLACK >= now => t,
                _ => now,
            };
            // Conditions are validated (bandwidth ≥ 0.01 Mbit/s), but a
            // slot that cannot be represented must never panic a worker:
            // cap one reservation at an hour.
            let slot = Duration::try_from_secs_f64(bytes as f64 / rate)
                .unwrap_or(MAX_SLOT)
                .min(MAX_SLOT);
            let end = start + slot;
            g.next_free = Some(end);
            end
        };
        tokio::time::sleep_until(until).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn new_conditions_free_a_link_reserved_at_a_crawl() {
        // A slider puts the node at 0.01 Mbit/s: 16 KiB reserves the link for
        // ~13 s. `scenario normal` (back to the 100 Mbit/s base) must not
        // leave later bytes queued behind that slot.
        let e = Emulator::new(Conditions::profile(0.0, 100.0), 1.0, 1);
        e.set_conditions(Conditions::profile(0.0, 0.01));
        let slow = e.clone();
        let crawl = tokio::spawn(async move { slow.pace(16 << 10).await });
        tokio::task::yield_now().await;
        e.apply_scenario(Scenario::Normal, 0);
        let t0 = Instant::now();
        e.pace(16 << 10).await;
        assert!(
            t0.elapsed() < Duration::from_millis(10),
            "{:?}",
            t0.elapsed()
        );
        crawl.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_viewer_link_follows_its_node_but_never_queues_behind_it() {
        // The node's link is booked for 8 s (10 MB at 10 Mbit/s); a viewer's
        // link to it sends 1.25 MB in its own 1 s.
        let node = Emulator::new(Conditions::profile(0.0, 10.0), 1.0, 1);
        node.pace(10_000_000).await;
        let booked = node.clone();
        let busy = tokio::spawn(async move { booked.pace(10_000_000).await });
        tokio::task::yield_now().await;
        let viewer = node.viewer_link(7);
        let t0 = Instant::now();
        viewer.pace(1_250_000).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        // A node at ×4 (its clients in media time): the viewer plays at 1×
        // and meets the same 10 Mbit/s in real time.
        let fast = Emulator::new(Conditions::profile(0.0, 10.0), 4.0, 1);
        assert_eq!(fast.viewer_link(8).speed(), 1.0);
        let t0 = Instant::now();
        fast.viewer_link(9).pace(1_250_000).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        // A slider on the node: the viewer's next request takes it.
        node.set_conditions(Conditions::profile(0.0, 5.0));
        assert_eq!(viewer.conditions().bandwidth_mbps, Some(10.0));
        viewer.follow(&node, None);
        assert_eq!(viewer.conditions(), node.conditions());
        viewer.follow(&node, Some(2.0));
        assert_eq!(viewer.conditions().bandwidth_mbps, Some(2.0), "capped");
        // Killing the node resets the viewer's transfers as well.
        let epoch = viewer.epoch();
        node.abort_in_flight();
        assert_ne!(viewer.epoch(), epoch);
        busy.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_is_exact_under_a_paused_clock() {
        // 5 MB at 10 Mbit/s = 4 s, whatever the slice size.
        let e = Emulator::new(Conditions::profile(0.0, 10.0), 1.0, 1);
        let t0 = Instant::now();
        let mut sent = 0;
        while sent < 5_000_000 {
            let n = e.slice_bytes().min(5_000_000 - sent);
            e.pace(n).await;
            sent += n;
        }
        assert_eq!(t0.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_responses_share_the_rate() {
        // Two 1 MB bodies on 8 Mbit/s: together 2 s, both finish near the end.
        let e = Emulator::new(Conditions::profile(0.0, 8.0), 1.0, 1);
        let t0 = Instant::now();
        let send = |e: Emulator| async move {
            for _ in 0..(1_000_000 / 10_000) {
                e.pace(10_000).await;
            }
            t0.elapsed()
        };
        let (a, b) = tokio::join!(send(e.clone()), send(e.clone()));
        assert!(a.max(b) <= Duration::from_millis(2001), "{a:?} {b:?}");
        assert!(a.min(b) >= Duration::from_millis(1980), "{a:?} {b:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn speed_compresses_time() {
        let e = Emulator::new(Conditions::profile(100.0, 10.0), 10.0, 1);
        let t0 = Instant::now();
        e.pace(1_250_000).await; // 1 s at 10 Mbit/s, 0.1 s at ×10
        assert_eq!(t0.elapsed(), Duration::from_millis(100));
        match e.plan(10, false) {
            Plan::Serve {
                first_byte_delay, ..
            } => assert_eq!(first_byte_delay, Duration::from_millis(10)),
            Plan::Refuse => panic!("up"),
        }
    }

    #[test]
    fn down_refuses_and_loss_cuts() {
        let e = Emulator::new(Conditions::default(), 1.0, 7);
        e.set_conditions(Conditions {
            down: true,
            ..Conditions::default()
        });
        assert_eq!(e.plan(100, true), Plan::Refuse);
        e.set_conditions(Conditions {
            loss: 1.0,
            ..Conditions::default()
        });
        match e.plan(100, true) {
            Plan::Serve {
                cut_after: Some(n), ..
            } => assert!(n < 100),
            p => panic!("{p:?}"),
        }
        e.set_conditions(Conditions {
            loss: 0.25,
            ..Conditions::default()
        });
        let lost = (0..4000)
            .filter(|_| {
                matches!(
                    e.plan(100, false),
                    Plan::Serve {
                        cut_after: Some(_),
                        ..
                    }
                )
            })
            .count();
        assert!((900..1100).contains(&lost), "{lost} of 4000 at p = 0.25");
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let e = Emulator::new(
            Conditions {
                latency_ms: 50.0,
                jitter_ms: 10.0,
                disk_delay_ms: 5.0,
                ..Conditions::default()
            },
            1.0,
            3,
        );
        for _ in 0..1000 {
            let Plan::Serve {
                first_byte_delay, ..
            } = e.plan(1, true)
            else {
                panic!()
            };
            let ms = first_byte_delay.as_secs_f64() * 1e3;
            assert!((45.0..=65.0).contains(&ms), "{ms}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn scenarios_compose_with_a_trace() {
        use vstack_core::input::Period;
        let flat = |bandwidth_mbps| {
            Trace::new(
                "flat",
                vec![Period {
                    duration: Duration::from_secs(60),
                    bandwidth_mbps,
                    rtt_ms: 40.0,
                }],
            )
            .unwrap()
        };
        let e = Emulator::new(Conditions::profile(5.0, 100.0), 1.0, 1);
        e.set_trace(Some(Arc::new(flat(8.0))));
        let c = e.conditions();
        assert_eq!(
            (c.bandwidth_mbps, c.latency_ms),
            (Some(8.0), 40.0),
            "normal: the trace"
        );
        e.apply_scenario(Scenario::HighLatency, 0);
        let c = e.conditions();
        assert_eq!(
            (c.bandwidth_mbps, c.latency_ms),
            (Some(8.0), 240.0),
            "+200 ms on the trace"
        );
        assert_eq!(c.jitter_ms, 50.0);
        e.apply_scenario(Scenario::LowBandwidth, 0);
        assert_eq!(
            e.conditions().bandwidth_mbps,
            Some(3.0),
            "capped at 3 Mbit/s"
        );
        e.set_trace(Some(Arc::new(flat(1.5))));
        assert_eq!(
            e.conditions().bandwidth_mbps,
            Some(1.5),
            "a cap above the trace"
        );
        e.apply_scenario(Scenario::PacketLoss, 0);
        assert_eq!(e.conditions().loss, 0.10);
        e.apply_scenario(Scenario::NodeFailure, 0);
        assert!(e.conditions().down);
        assert_eq!(e.plan(1000, true), Plan::Refuse);
        e.apply_scenario(Scenario::Recovery, 0);
        let c = e.conditions();
        assert_eq!(
            (c.bandwidth_mbps, c.latency_ms, c.down),
            (Some(1.5), 40.0, false)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn trace_replay_changes_bandwidth_over_time() {
        use vstack_core::input::Period;
        let trace = Trace::new(
            "t",
            vec![
                Period {
                    duration: Duration::from_secs(10),
                    bandwidth_mbps: 8.0,
                    rtt_ms: 40.0,
                },
                Period {
                    duration: Duration::from_secs(10),
                    bandwidth_mbps: 2.0,
                    rtt_ms: 100.0,
                },
            ],
        )
        .unwrap();
        let e = Emulator::new(Conditions::default(), 2.0, 1);
        e.set_trace(Some(Arc::new(trace)));
        assert_eq!(e.conditions().bandwidth_mbps, Some(8.0));
        assert_eq!(e.conditions().latency_ms, 40.0);
        tokio::time::advance(Duration::from_secs(6)).await; // 12 s of trace at ×2
        assert_eq!(e.conditions().bandwidth_mbps, Some(2.0));
        assert_eq!(e.conditions().latency_ms, 100.0);
    }

    #[tokio::test(start_paused = true)]
    async fn demo_timeline_applies_each_scenario_on_time() {
        let nodes: Vec<Emulator> = (0..3)
            .map(|i| Emulator::new(Conditions::profile(5.0, 100.0), 10.0, i))
            .collect();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (n2, s2) = (nodes.clone(), seen.clone());
        let t0 = Instant::now();
        let task = tokio::spawn(async move {
            run_timeline(n2, &DEMO_TIMELINE, 10.0, |s| {
                s2.lock().unwrap().push((s, t0.elapsed()))
            })
            .await
        });
        tokio::time::sleep(Duration::from_secs(10)).await; // media 100 s at ×10
        assert!(nodes[0].conditions().down, "node failure from 90 s");
        assert!(!nodes[1].conditions().down);
        task.await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), DEMO_TIMELINE.len());
        for ((s, at), (start, want)) in seen.iter().zip(DEMO_TIMELINE) {
            assert_eq!(*s, want);
            assert_eq!(*at, Duration::from_secs(start) / 10);
        }
        assert_eq!(nodes[0].conditions(), Conditions::profile(5.0, 100.0));
    }
}
