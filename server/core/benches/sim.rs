//! Simulator speed: one 10-minute, 3-node session (5 Mbit/s VBR video, 10 s
//! chunks, replication 2) on constant links and on real 4G traces when
//! `shared/traces` is present. Report: simulated seconds per wall second =
//! 600 s / the measured time per iteration. Bar (issue 13): ≥ 1,000,000× real time for the smart session.
//!
//! With ABR: one session of `shared/videos/bbb.json` (199 segments of 3 s,
//! 597 s, 10 levels) in Sabre's model on an FCC trace, per rule; and one
//! 3-node session of it in the multi-source simulator (12 s chunks,
//! replication 2, three FCC traces): smart with the `multi-source` rule,
//! naive with BOLA-E. Bar (issue 25): ≥ 1,000,000× real time, i.e. under
//! 597 µs per session. The offline optimum of that session is timed too
//! (no bar: it is a reference computed once per session).

#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // a test may time itself and read files; the rule is for the core's code

#[path = "../tests/support/mod.rs"]
mod support;

use std::{sync::Arc, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use vstack_core::{
    abr::AbrKind,
    engine::striped_manifest,
    input::{Ladder, Trace, VideoSource, load_chunks},
    sim::{
        AbrPlan, NodeLink, SimConfig, Strategy, ladder_manifest, run_strategy,
        sabre::{self, SabreConfig},
    },
};

/// Sabre-model sessions with each ABR rule on an FCC trace and bbb.json.
fn bench_abr(c: &mut Criterion) {
    let Some(dir) = support::shared_traces("fcc") else {
        return;
    };
    let video = dir.join("../../videos/bbb.json");
    let ladder = Ladder::parse_sabre("bbb.json", &std::fs::read_to_string(video).unwrap()).unwrap();
    let trace = support::load_traces("fcc").unwrap()[0].clone();
    let config = SabreConfig::default();
    for rule in AbrKind::SABRE {
        let r = sabre::run(&trace, &ladder, rule, &config).unwrap();
        assert_eq!(r.levels.len(), ladder.segments());
        c.bench_function(&format!("sabre_bbb_597s_fcc_{}", rule.name()), |b| {
            b.iter(|| sabre::run(&trace, &ladder, rule, &config).unwrap())
        });
    }
    let traces = support::load_traces("fcc").unwrap();
    let links: Vec<NodeLink> = traces.into_iter().take(3).map(NodeLink::new).collect();
    let cfg = SimConfig::new(links);
    let manifest = ladder_manifest(&ladder, Duration::from_secs(12), 3, 2, &[], 0);
    let plan = AbrPlan {
        smart: AbrKind::MultiSource,
        baseline: AbrKind::Bolae,
        fixed_level: 0,
    };
    for strategy in [Strategy::Smart, Strategy::Naive, Strategy::Optimum] {
        let out = run_strategy(strategy, &cfg, &manifest, &plan);
        assert!(out.qoe.ended, "{}: session did not end", strategy.name());
        assert!(
            out.qoe.quality.is_some(),
            "{}: no quality figures",
            strategy.name()
        );
        c.bench_function(
            &format!("sim_bbb_597s_3node_fcc_{}", strategy.name()),
            |b| b.iter(|| run_strategy(strategy, &cfg, &manifest, &plan)),
        );
    }
}

fn bench(c: &mut Criterion) {
    let chunks = load_chunks(
        &VideoSource::Synthetic {
            bitrate_kbps: 5000.0,
            duration: Duration::from_secs(600),
            vbr: 0.2,
            seed: 1,
        },
        Duration::from_secs(10),
    )
    .unwrap();
    let manifest = striped_manifest("bench", &chunks, 3, 2);
    let mut setups = vec![(
        "constant",
        [40.0, 15.0, 6.0]
            .map(|m| Arc::new(Trace::constant(m, 20.0)))
            .to_vec(),
    )];
    if let Some(t) = support::load_traces("lte-4g") {
        setups.push(("lte-4g", t.into_iter().take(3).collect()));
    } else {
        eprintln!("benchmarking constant links only");
    }
    for (name, traces) in setups {
        let links: Vec<NodeLink> = traces.into_iter().map(NodeLink::new).collect();
        let cfg = SimConfig::new(links);
        for strategy in [Strategy::Smart, Strategy::Naive] {
            let out = strategy.run(&cfg, &manifest);
            assert!(
                out.qoe.ended,
                "{name}/{}: session did not end",
                strategy.name()
            );
            c.bench_function(
                &format!("sim_10min_3node_{name}_{}", strategy.name()),
                |b| b.iter(|| strategy.run(&cfg, &manifest)),
            );
        }
    }
}

criterion_group!(benches, bench, bench_abr);
criterion_main!(benches);
