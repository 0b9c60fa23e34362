//! Property tests of the sans-IO engine: a random network answers every action
//! (random delays, failures, silence) and the invariants are checked after
//! every step.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // a test may time itself and read files; the rule is for the core's code

use std::time::Duration;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vstack_core::engine::{
    Action, EngineConfig, Event, NodeSelector, PlaybackState, RoundRobinSelector, Session,
    SmartSelector, striped_manifest,
};

#[derive(Debug, Clone)]
struct Case {
    nodes: usize,
    replication: usize,
    chunk_sizes: Vec<u64>,
    chunk_secs: Vec<u64>,
    fail_prob: f64,
    silent_prob: f64,
    max_in_flight: usize,
    seed: u64,
    smart: bool,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        1usize..5,
        1usize..4,
        1usize..25,
        0.0f64..0.5,
        0.0f64..0.2,
        1usize..6,
        any::<u64>(),
        any::<bool>(),
    )
        .prop_flat_map(
            |(nodes, replication, chunks, fail_prob, silent_prob, max_in_flight, seed, smart)| {
                (
                    prop::collection::vec(10_000u64..5_000_000, chunks),
                    prop::collection::vec(1u64..12, chunks),
                )
                    .prop_map(move |(chunk_sizes, chunk_secs)| Case {
                        nodes,
                        replication,
                        chunk_sizes,
                        chunk_secs,
                        fail_prob,
                        silent_prob,
                        max_in_flight,
                        seed,
                        smart,
                    })
            },
        )
}

/// Runs a session against a random network; returns (report debug, chunks played in order).
fn run(case: &Case) -> (String, Vec<u32>) {
    let chunks: Vec<(Duration, u64)> = case
        .chunk_secs
        .iter()
        .zip(&case.chunk_sizes)
        .map(|(s, b)| (Duration::from_secs(*s), *b))
        .collect();
    let manifest = striped_manifest("p", &chunks, case.nodes, case.replication);
    let mut cfg = EngineConfig::default();
    cfg.scheduler.max_in_flight = case.max_in_flight;
    let selector: Box<dyn NodeSelector> = if case.smart {
        Box::new(SmartSelector)
    } else {
        Box::new(RoundRobinSelector::default())
    };
    let mut s = Session::new(cfg.clone(), manifest.clone(), selector, Duration::ZERO);
    let mut rng = ChaCha8Rng::seed_from_u64(case.seed);
    // (time, event) answers still to deliver.
    let mut pending: Vec<(Duration, Event)> = Vec::new();
    let mut now = Duration::ZERO;
    let mut last_played = 0usize;
    let mut delivered_chunks: Vec<u32> = Vec::new();
    for _ in 0..200_000 {
        while let Some(a) = s.poll_action() {
            match a {
                Action::Probe { node } => {
                    let at = now + Duration::from_millis(rng.random_range(1..200));
                    let ev = if rng.random::<f64>() < case.fail_prob {
                        Event::ProbeFailed { node }
                    } else {
                        Event::ProbeOk { node, rtt: Duration::from_millis(rng.random_range(1..200)), payload: None }
                    };
                    pending.push((at, ev));
                }
                Action::Download { id, chunk, node, size_bytes, .. } => {
                    let meta = &manifest.chunks[chunk as usize];
                    assert!(meta.replicas.contains(&node), "chunk {chunk} requested from {node}, which lacks it");
                    assert_eq!(size_bytes, meta.size_bytes);
                    let r: f64 = rng.random();
                    if r < case.silent_prob {
                        continue; // never answered: the engine must time it out
                    }
                    let at = now + Duration::from_millis(rng.random_range(10..30_000));
                    let ev = if r < case.silent_prob + case.fail_prob {
                        Event::DownloadFailed { id }
                    } else {
                        Event::DownloadDone { id, bytes: size_bytes }
                    };
                    pending.push((at, ev));
                }
                Action::Cancel { id } => pending.retain(|(_, e)| {
                    !matches!(e, Event::DownloadDone { id: i, .. } | Event::DownloadFailed { id: i } if *i == id)
                }),
            }
            assert!(
                s.in_flight() <= case.max_in_flight,
                "in flight {} > cap",
                s.in_flight()
            );
        }
        // Invariants after every step.
        let b = s.buffer();
        assert!(b.level() <= b.video_duration());
        assert!(b.playhead() <= b.video_duration());
        let played = b.chunks_played();
        assert!(played >= last_played, "played count went backwards");
        for i in last_played..played {
            assert!(
                b.is_downloaded(i),
                "chunk {i} played before it was downloaded"
            );
        }
        last_played = played;
        if s.is_finished() {
            break;
        }
        pending.sort_by_key(|p| p.0);
        let next_answer = pending.first().map(|p| p.0);
        let Some(next) = [next_answer, s.poll_timeout()].into_iter().flatten().min() else {
            break;
        };
        now = next.max(now);
        if next_answer == Some(next) {
            let (_, ev) = pending.remove(0);
            if let Event::DownloadDone { .. } = ev {
                delivered_chunks.push(0);
            }
            s.handle(now, ev);
        } else {
            s.handle_timeout(now);
        }
    }
    let r = s.report();
    assert!(r.ended, "session did not end: {r:?}");
    assert_eq!(s.buffer().state(), PlaybackState::Ended);
    assert_eq!(r.chunks_played, manifest.chunks.len());
    // Every chunk downloaded exactly once.
    let mut served: Vec<u32> = s.records().iter().map(|c| c.chunk).collect();
    served.sort();
    assert_eq!(
        served,
        (0..manifest.chunks.len() as u32).collect::<Vec<_>>()
    );
    (format!("{r:?}"), served)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn engine_invariants_hold_on_a_random_network(case in cases()) {
        run(&case);
    }

    #[test]
    fn engine_is_deterministic(case in cases()) {
        prop_assert_eq!(run(&case), run(&case));
    }
}
