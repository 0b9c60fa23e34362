//! Property tests of the sans-IO engine: a random network answers every action
//! (random delays, progress, failures part-way, silence, corrupt assemblies)
//! and the invariants are checked after every step: the buffer and the
//! playhead stay in range, chunks are played only once downloaded, at most
//! `max_in_flight` chunks are fetched at once, every assembly covers its
//! chunk exactly once from bytes the parts really received (so a hedge never
//! delivers a byte twice), no chunk is delivered twice, and every session
//! ends with every chunk played.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // a test may time itself and read files; the rule is for the core's code

use std::{collections::HashMap, time::Duration};

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vstack_core::engine::{
    Action, DownloadId, EngineConfig, Event, Manifest, NodeSelector, PlaybackState,
    RoundRobinSelector, Session, SmartSelector, striped_manifest,
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

/// A random network answering the engine: delays, progress half-way,
/// failures part-way, silence, and now and then a corrupt assembly. It
/// checks every action it answers.
struct Net<'a> {
    case: &'a Case,
    manifest: &'a Manifest,
    rng: ChaCha8Rng,
    /// (time, event) answers still to deliver.
    pending: Vec<(Duration, Event)>,
    /// Every part requested: (chunk, offset, len, bytes delivered so far).
    parts: HashMap<DownloadId, (u32, u64, u64, u64)>,
    assembled_ok: Vec<u32>,
}

impl Net<'_> {
    fn answer(&mut self, a: Action, now: Duration) {
        match a {
            Action::Probe { node, .. } => {
                let at = now + Duration::from_millis(self.rng.random_range(1..200));
                let ev = if self.rng.random::<f64>() < self.case.fail_prob {
                    Event::ProbeFailed { node }
                } else {
                    let rtt = Duration::from_millis(self.rng.random_range(1..200));
                    Event::ProbeOk { node, rtt, payload: None }
                };
                self.pending.push((at, ev));
            }
            Action::Download { id, chunk, node, offset, len, size_bytes, .. } => {
                let meta = &self.manifest.chunks[chunk as usize];
                assert!(meta.replicas.contains(&node), "chunk {chunk} requested from {node}, which lacks it");
                assert_eq!(size_bytes, meta.size_bytes);
                assert!(len > 0 && offset + len <= size_bytes, "part {offset}+{len} outside the chunk");
                self.parts.insert(id, (chunk, offset, len, 0));
                let r: f64 = self.rng.random();
                if r < self.case.silent_prob {
                    return; // never answered: the engine must time it out
                }
                let at = now + Duration::from_millis(self.rng.random_range(10..30_000));
                // Some progress half-way.
                self.pending.push((now + (at - now) / 2, Event::DownloadProgress { id, bytes: len / 2 }));
                let ev = if r < self.case.silent_prob + self.case.fail_prob {
                    Event::DownloadFailed { id, bytes: self.rng.random_range(0..=len) }
                } else {
                    Event::DownloadDone { id, bytes: len }
                };
                self.pending.push((at, ev));
            }
            Action::Cancel { id } => self.pending.retain(|(_, e)| {
                !matches!(e, Event::DownloadDone { id: i, .. } | Event::DownloadFailed { id: i, .. } | Event::DownloadProgress { id: i, .. } if *i == id)
            }),
            Action::Assemble { chunk, parts } => self.check_assembly(chunk, &parts, now),
        }
    }

    /// The parts cover the chunk exactly once, each from bytes it really
    /// received; no chunk is delivered twice.
    fn check_assembly(&mut self, chunk: u32, segments: &[(DownloadId, u64, u64)], now: Duration) {
        let size = self.manifest.chunks[chunk as usize].size_bytes;
        let mut x = 0;
        for (id, from, to) in segments {
            assert_eq!(*from, x, "chunk {chunk}: gap or overlap at {x}");
            assert!(to > from);
            let (c, off, len, got) = self.parts[id];
            assert_eq!(c, chunk);
            assert!(
                *from >= off && *to <= off + len.min(got),
                "chunk {chunk}: {id:?} used beyond what it received"
            );
            x = *to;
        }
        assert_eq!(x, size, "chunk {chunk} not covered");
        // Now and then the bytes turn out corrupt.
        let ok = self.rng.random::<f64>() >= self.case.fail_prob / 4.0;
        if ok {
            assert!(
                !self.assembled_ok.contains(&chunk),
                "chunk {chunk} delivered twice"
            );
            self.assembled_ok.push(chunk);
        }
        self.pending
            .push((now, Event::ChunkAssembled { chunk, ok }));
    }

    /// The next answer due at `now`, if any, with the bytes it reports noted.
    fn deliver(&mut self) -> Event {
        let (_, ev) = self.pending.remove(0);
        match &ev {
            Event::DownloadProgress { id, bytes }
            | Event::DownloadDone { id, bytes }
            | Event::DownloadFailed { id, bytes } => {
                if let Some(p) = self.parts.get_mut(id) {
                    p.3 = p.3.max(*bytes);
                }
            }
            _ => {}
        }
        ev
    }
}

/// The buffer's invariants after a step; returns the chunks played.
fn check_buffer(s: &Session, last_played: usize) -> usize {
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
    played
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
    let mut net = Net {
        case,
        manifest: &manifest,
        rng: ChaCha8Rng::seed_from_u64(case.seed),
        pending: Vec::new(),
        parts: HashMap::new(),
        assembled_ok: Vec::new(),
    };
    let mut now = Duration::ZERO;
    let mut last_played = 0usize;
    for _ in 0..200_000 {
        while let Some(a) = s.poll_action() {
            net.answer(a, now);
            let active = s.fetches().len();
            assert!(
                active <= case.max_in_flight,
                "chunks in flight {active} > cap"
            );
        }
        last_played = check_buffer(&s, last_played);
        if s.is_finished() {
            break;
        }
        net.pending.sort_by_key(|p| p.0);
        let next_answer = net.pending.first().map(|p| p.0);
        let Some(next) = [next_answer, s.poll_timeout()].into_iter().flatten().min() else {
            break;
        };
        now = next.max(now);
        if next_answer == Some(next) {
            let ev = net.deliver();
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
