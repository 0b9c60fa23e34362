//! The bound is what its name claims: over 1,000 random small instances
//! (traces with idle periods, replica placements, client caps, nodes going
//! down, request loss, engine settings, ladders with every ABR rule) no
//! strategy starts earlier than the
//! bound's startup latency, and none spends less time in startup + stall
//! than the bound's (`sim::bound`'s proof, checked).

use std::{sync::Arc, time::Duration};

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vstack_core::{
    abr::AbrKind,
    engine::{Manifest, NodeId, striped_manifest},
    input::{Period, Trace},
    sim::{AbrPlan, NodeLink, SimConfig, Strategy, bound, run_strategy},
};

/// A random instance from `seed`: 1–4 nodes, 1–8 chunks of 1–8 s and
/// 20 kB–3 MB, each on a random non-empty set of nodes; each node a looping
/// trace of 1–5 periods (0–30 Mbit/s, a third of them idle, 0–150 ms RTT)
/// from a random offset, sometimes a down interval, sometimes loss; a client
/// cap half the time; start and resume thresholds of 1–12 s. Half the
/// instances have a ladder of 2–4 levels (lower levels 20–90 % of the one
/// above, chunk by chunk) and random rules for smart and naive.
fn instance(seed: u64) -> (SimConfig, Manifest, AbrPlan) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nodes = rng.random_range(1..=4usize);
    let chunks = rng.random_range(1..=8usize);
    let sizes: Vec<(Duration, u64)> = (0..chunks)
        .map(|_| {
            (
                Duration::from_millis(rng.random_range(1_000..=8_000)),
                rng.random_range(20_000..=3_000_000),
            )
        })
        .collect();
    let mut m = striped_manifest("prop", &sizes, nodes, 1);
    for c in &mut m.chunks {
        let mask = rng.random_range(1..(1u32 << nodes));
        c.replicas = (0..nodes)
            .filter(|j| mask & (1 << j) != 0)
            .map(|j| NodeId(j as u16))
            .collect();
    }
    let links = (0..nodes)
        .map(|j| {
            let periods: Vec<Period> = (0..rng.random_range(1..=5))
                .map(|_| Period {
                    duration: Duration::from_millis(rng.random_range(200..=5_000)),
                    bandwidth_mbps: if rng.random_bool(0.33) {
                        0.0
                    } else {
                        rng.random_range(0.2..30.0)
                    },
                    rtt_ms: rng.random_range(0.0..150.0),
                })
                .collect();
            let trace = Trace::new(format!("n{j}"), periods).expect("positive periods");
            let offset_s = rng.random_range(0.0..trace.length_s());
            let down = if rng.random_bool(0.25) {
                let from = rng.random_range(0.0..20.0);
                vec![(from, from + rng.random_range(0.5..15.0))]
            } else {
                Vec::new()
            };
            NodeLink {
                trace: Arc::new(trace),
                offset_s,
                loss: if rng.random_bool(0.2) { 0.1 } else { 0.0 },
                down,
            }
        })
        .collect();
    let mut cfg = SimConfig::new(links);
    cfg.client_cap_mbps = rng.random_bool(0.5).then(|| rng.random_range(0.5..40.0));
    cfg.engine.buffer.start_threshold = Duration::from_millis(rng.random_range(1_000..=12_000));
    cfg.engine.buffer.resume_threshold = Duration::from_millis(rng.random_range(1_000..=12_000));
    cfg.seed = rng.random();
    cfg.max_time = Some(Duration::from_secs(900));
    let mut plan = AbrPlan::default();
    if rng.random_bool(0.5) {
        let levels = rng.random_range(2..=4usize);
        let mut rates = vec![1_000.0f64];
        for _ in 1..levels {
            let next = rates[rates.len() - 1] * rng.random_range(1.2..4.0);
            rates.push(next);
        }
        for c in &mut m.chunks {
            let mut sizes = vec![c.size_bytes];
            for _ in 1..levels {
                let lower = (sizes[0] as f64 * rng.random_range(0.2..0.9)).max(1.0) as u64;
                sizes.insert(0, lower);
            }
            c.level_sizes = sizes;
        }
        m.bitrates_kbps = rates;
        plan = AbrPlan {
            smart: AbrKind::ALL[rng.random_range(0..AbrKind::ALL.len())],
            baseline: AbrKind::ALL[rng.random_range(0..AbrKind::ALL.len())],
            fixed_level: rng.random_range(0..levels),
        };
    }
    (cfg, m, plan)
}

/// Media-clock rounding (nanosecond durations) and event ordering: 1 ms.
const TOLERANCE_MS: f64 = 1.0;

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn no_strategy_beats_the_bound(seed in any::<u64>()) {
        let (cfg, m, plan) = instance(seed);
        // The bound as `vstack sim` reports it (its strategy row; with a
        // ladder, at the lowest level when a rule adapts).
        let b = run_strategy(Strategy::Bound, &cfg, &m, &plan).qoe.playback;
        let startup_bound_ms = b.startup_latency_ms.unwrap_or(f64::INFINITY);
        let wait_bound_ms = startup_bound_ms + b.rebuffer_time_ms;
        for strategy in [Strategy::Smart, Strategy::Naive, Strategy::Oracle] {
            let o = run_strategy(strategy, &cfg, &m, &plan);
            let p = &o.qoe.playback;
            if let Some(startup) = p.startup_latency_ms {
                prop_assert!(
                    startup >= startup_bound_ms - TOLERANCE_MS,
                    "{}: startup {startup} ms < bound {startup_bound_ms} ms ({b:?})",
                    strategy.name()
                );
                if o.qoe.ended {
                    let wait = startup + p.rebuffer_time_ms;
                    prop_assert!(
                        wait >= wait_bound_ms - TOLERANCE_MS,
                        "{}: startup + stall {wait} ms < bound {wait_bound_ms} ms ({b:?})",
                        strategy.name()
                    );
                }
            }
        }
    }
}

#[test]
fn the_bound_is_tight_for_one_node_and_no_latency() {
    // One node, no RTT, chunks in order at the full rate: the naive client
    // fetches exactly as the bound assumes, so the two meet.
    let trace = Arc::new(Trace::constant(8.0, 0.0));
    let mut cfg = SimConfig::new(vec![NodeLink::new(trace)]);
    cfg.engine.scheduler.max_in_flight = 1;
    let m = striped_manifest("tight", &[(Duration::from_secs(10), 2_000_000); 6], 1, 1);
    let b = bound::figures(&cfg, &m);
    let naive = Strategy::Naive.run(&cfg, &m).qoe;
    let startup = naive.playback.startup_latency_ms.unwrap();
    assert!(
        (startup - b.startup_s * 1e3).abs() < 5.0,
        "{startup} vs {b:?}"
    );
}
