//! Random small instances for the reference points' property tests
//! (`bound_props.rs`, `optimum_props.rs`).

use std::{sync::Arc, time::Duration};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vstack_core::{
    abr::AbrKind,
    engine::{Manifest, NodeId, striped_manifest},
    input::{Period, Trace},
    sim::{AbrPlan, NodeLink, SimConfig},
};

/// A random instance from `seed`: 1–4 nodes, 1–8 chunks of 1–8 s and
/// 20 kB–3 MB, each on a random non-empty set of nodes; each node a looping
/// trace of 1–5 periods (0–30 Mbit/s, a third of them idle, 0–150 ms RTT)
/// from a random offset, sometimes a down interval, sometimes loss; a client
/// cap half the time; a buffer target of 2–30 s with a low-water mark below
/// it; start and resume thresholds of 1–12 s within the target. Half the
/// instances (all when `always_ladder`) have a ladder of 2–4 levels (lower levels 20–90 % of the one
/// above, chunk by chunk) and random rules for smart and naive.
pub fn instance(seed: u64, always_ladder: bool) -> (SimConfig, Manifest, AbrPlan) {
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
    // A buffer target of 2–30 s (30 s, the default, a quarter of the time)
    // holds later chunks back in videos of up to 64 s; the low-water mark
    // lies below it and the start and resume thresholds within it.
    let target_ms = if rng.random_bool(0.25) {
        30_000
    } else {
        rng.random_range(2_000..=30_000u64)
    };
    cfg.engine.buffer.target = Duration::from_millis(target_ms);
    cfg.engine.buffer.low_water_mark = Duration::from_millis(rng.random_range(0..=target_ms));
    let threshold_ms = target_ms.min(12_000);
    cfg.engine.buffer.start_threshold =
        Duration::from_millis(rng.random_range(1_000..=threshold_ms));
    cfg.engine.buffer.resume_threshold =
        Duration::from_millis(rng.random_range(1_000..=threshold_ms));
    cfg.seed = rng.random();
    cfg.max_time = Some(Duration::from_secs(900));
    let mut plan = AbrPlan::default();
    if rng.random_bool(0.5) || always_ladder {
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
