//! The bound is what its name claims: over 1,000 random small instances
//! (traces with idle periods, replica placements, client caps, nodes going
//! down, request loss, engine settings, ladders with every ABR rule) no
//! strategy starts earlier than the
//! bound's startup latency, and none spends less time in startup + stall
//! than the bound's (`sim::bound`'s proof, checked).

mod instances;

use std::{sync::Arc, time::Duration};

use instances::instance;
use proptest::prelude::*;
use vstack_core::{
    engine::striped_manifest,
    input::Trace,
    sim::{NodeLink, SimConfig, Strategy, bound, run_strategy},
};

/// Media-clock rounding (nanosecond durations) and event ordering: 1 ms.
const TOLERANCE_MS: f64 = 1.0;

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn no_strategy_beats_the_bound(seed in any::<u64>()) {
        let (cfg, m, plan) = instance(seed, false);
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
