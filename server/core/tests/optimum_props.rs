//! The offline optimum is what its name claims: over 4,000 random small
//! instances with a ladder (traces with idle periods, replica placements,
//! client caps, nodes going down, request loss, engine settings with
//! buffer targets of 2–30 s, every ABR rule) no strategy that played the
//! whole video scores a higher linear QoE than the optimum's upper bound
//! (`sim::optimum`), and the plan the optimum found scores no higher than
//! that bound either.

mod instances;

use instances::instance;
use proptest::prelude::*;
use vstack_core::sim::{Strategy, optimum, run_strategy};

/// Media-clock rounding (nanosecond durations) and event ordering: 1 ms of
/// wait, at 4.3 per second.
const TOLERANCE: f64 = 0.005;

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, ..ProptestConfig::default() })]

    #[test]
    fn no_strategy_beats_the_optimum(seed in any::<u64>()) {
        let (cfg, m, plan) = instance(seed, true);
        let Ok(best) = optimum::figures(&cfg, &m) else {
            // Undeliverable within the time limit: then no strategy ends.
            for strategy in [Strategy::Smart, Strategy::Naive, Strategy::Oracle] {
                let o = run_strategy(strategy, &cfg, &m, &plan);
                prop_assert!(!o.qoe.ended, "{} ended where the optimum found no plan", strategy.name());
            }
            return Ok(());
        };
        prop_assert!(best.plan.linear_qoe <= best.linear_qoe + 1e-9, "{best:?}");
        for strategy in [Strategy::Smart, Strategy::Naive, Strategy::Oracle, Strategy::Single] {
            let o = run_strategy(strategy, &cfg, &m, &plan);
            if !o.qoe.ended {
                continue;
            }
            let q = o.qoe.quality.as_ref().map(|q| q.linear_qoe);
            prop_assert!(q.is_some(), "{}: a ladder session with no quality figures", strategy.name());
            let q = q.unwrap_or_default();
            prop_assert!(
                q <= best.linear_qoe + TOLERANCE,
                "{}: linear QoE {q} > optimum {} (plan {:?}; played {:?})",
                strategy.name(),
                best.linear_qoe,
                best.plan,
                o.qoe.quality
            );
        }
    }
}
