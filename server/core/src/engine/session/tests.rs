//! The scheduler's unit tests: scripted events in, actions out.

use super::*;
use crate::engine::{NodeId, RoundRobinSelector, SmartSelector, striped_manifest};

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

fn manifest(chunks: usize, nodes: usize, replication: usize) -> Manifest {
    striped_manifest(
        "t",
        &vec![(secs(10.0), 1_000_000); chunks],
        nodes,
        replication,
    )
}

/// Engine defaults without the startup probe gate and the start-up focus,
/// so downloads start at t=0 and the hysteresis alone decides how many fly.
fn ungated() -> EngineConfig {
    let mut c = EngineConfig::default();
    c.scheduler.startup_probe_wait = Duration::ZERO;
    c.scheduler.focus_on_start = false;
    c
}

fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

/// Download `id` completes at `now`; every assembly it triggers is
/// verified. Returns the other actions that followed.
fn deliver(s: &mut Session, now: Duration, id: DownloadId, bytes: u64) -> Vec<Action> {
    s.handle(now, Event::DownloadDone { id, bytes });
    let mut out = Vec::new();
    loop {
        let actions = drain(s);
        if actions.is_empty() {
            return out;
        }
        for a in actions {
            match a {
                Action::Assemble { chunk, .. } => {
                    s.handle(now, Event::ChunkAssembled { chunk, ok: true })
                }
                a => out.push(a),
            }
        }
    }
}

/// The distinct chunks of the download actions, in order.
fn chunks_of(actions: &[Action]) -> Vec<u32> {
    let mut v: Vec<u32> = downloads(actions).iter().map(|d| d.1).collect();
    v.dedup();
    v
}

fn downloads(actions: &[Action]) -> Vec<(DownloadId, u32, NodeId)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Download {
                id, chunk, node, ..
            } => Some((*id, *chunk, *node)),
            _ => None,
        })
        .collect()
}

#[test]
fn start_probes_every_node_and_caps_in_flight_at_four() {
    // The hysteresis and the cap, on round robin (one part per chunk).
    let mut cfg = ungated();
    let mut s = Session::new(
        cfg.clone(),
        manifest(20, 3, 2),
        Box::new(RoundRobinSelector::default()),
        Duration::ZERO,
    );
    // Target 30 s = 3 chunks of 10 s: the buffer wants 3 even though 4 may fly.
    assert_eq!(chunks_of(&drain(&mut s)), vec![0, 1, 2]);
    cfg.buffer.target = secs(100.0);
    let mut s = Session::new(
        cfg,
        manifest(20, 3, 2),
        Box::new(RoundRobinSelector::default()),
        Duration::ZERO,
    );
    assert_eq!(
        chunks_of(&drain(&mut s)).len(),
        4,
        "capped at max_in_flight chunks"
    );
    // The smart client splits the chunk it needs to start across both
    // replicas and starts the next chunk only on a free replica (node 2;
    // chunk 2's replicas 2 and 0 are then busy). Every node got work, so
    // none is probed: the transfers measure them.
    let mut s = Session::new(
        ungated(),
        manifest(20, 3, 2),
        Box::new(SmartSelector),
        Duration::ZERO,
    );
    let actions = drain(&mut s);
    let probes = actions
        .iter()
        .filter(|a| matches!(a, Action::Probe { .. }))
        .count();
    assert_eq!(probes, 0);
    let d = downloads(&actions);
    let nodes_of = |c: u32| {
        d.iter()
            .filter(|x| x.1 == c)
            .map(|x| x.2.0)
            .collect::<Vec<_>>()
    };
    assert_eq!(nodes_of(0), vec![0, 1]);
    assert_eq!(nodes_of(1), vec![2]);
    assert!(nodes_of(2).is_empty());
}

#[test]
fn smart_waits_for_the_first_probes_before_downloading() {
    let mut gated = EngineConfig::default();
    gated.scheduler.startup_probe_wait = secs(0.5);
    let mut s = Session::new(
        gated.clone(),
        manifest(6, 3, 2),
        Box::new(SmartSelector),
        Duration::ZERO,
    );
    assert!(downloads(&drain(&mut s)).is_empty(), "gate closed at t=0");
    assert_eq!(s.poll_timeout(), Some(secs(0.5)), "wakes at the gate's end");
    s.handle(
        secs(0.05),
        Event::ProbeOk {
            node: NodeId(0),
            rtt: secs(0.01),
            payload: None,
        },
    );
    assert!(
        downloads(&drain(&mut s)).is_empty(),
        "node 1 (the other replica of chunk 0) not probed yet"
    );
    // Node 2 holds no replica of chunk 0: the gate does not wait for it.
    s.handle(secs(0.06), Event::ProbeFailed { node: NodeId(1) });
    let d = downloads(&drain(&mut s));
    let chunk0: Vec<NodeId> = d.iter().filter(|x| x.1 == 0).map(|x| x.2).collect();
    assert_eq!(
        chunk0,
        vec![NodeId(0)],
        "chunk 0 all on the healthier of its replicas (0, 1)"
    );
    assert!(
        d.iter().all(|x| x.1 == 0 || x.2 == NodeId(2)),
        "a later chunk only on the free node 2: {d:?}"
    );
    // Without answers the gate opens after 500 ms.
    let mut s = Session::new(
        gated.clone(),
        manifest(6, 3, 2),
        Box::new(SmartSelector),
        Duration::ZERO,
    );
    drain(&mut s);
    s.handle_timeout(secs(0.5));
    assert!(!downloads(&drain(&mut s)).is_empty());
}

/// A smart session with a 2 s startup gate whose chunk 0 is an 800-byte
/// initialization segment (replicas 0, 1) and chunk 1 the first media
/// segment (replicas 1, 2), its first actions drained.
fn gated_behind_an_init_segment() -> Session {
    let mut gated = EngineConfig::default();
    gated.scheduler.startup_probe_wait = secs(2.0);
    let mut m = manifest(6, 3, 2);
    m.chunks[0].duration = Duration::ZERO;
    m.chunks[0].size_bytes = 800;
    let mut s = Session::new(gated, m, Box::new(SmartSelector), Duration::ZERO);
    drain(&mut s);
    s
}

#[test]
fn behind_an_initialization_segment_the_gate_waits_for_the_first_media_chunks_replicas() {
    // Chunk 0 is an fMP4 initialization segment (replicas 0, 1): it comes
    // back within a round trip, and chunk 1 (replicas 1, 2) is then the
    // first chunk missing. The gate also waits for node 2, so chunk 1 is
    // never asked before its replicas are measured.
    let mut s = gated_behind_an_init_segment();
    for node in [0, 1] {
        s.handle(
            secs(0.05),
            Event::ProbeOk {
                node: NodeId(node),
                rtt: secs(0.01),
                payload: Some((65_536, secs(0.005))),
            },
        );
    }
    assert!(
        downloads(&drain(&mut s)).is_empty(),
        "node 2 (a replica of chunk 1) not probed yet"
    );
    s.handle(secs(0.08), Event::ProbeFailed { node: NodeId(2) });
    let d = downloads(&drain(&mut s));
    assert!(d.iter().any(|x| x.1 == 0), "the gate opened: {d:?}");
}

#[test]
fn the_gate_stops_waiting_for_a_replica_far_slower_to_answer_and_it_sits_the_first_segment_out() {
    // Chunk 0 an initialization segment (replicas 0, 1), chunk 1 the first
    // media segment (replicas 1, 2). Nodes 0 and 1 answer within 0.15 s;
    // node 2 (`degraded`'s slow node) has not answered at 0.30 s.
    let mut s = gated_behind_an_init_segment();
    assert_eq!(s.poll_timeout(), Some(secs(2.0)), "the gate's longest wait");
    let answer = |s: &mut Session, at: f64, node: u16| {
        s.handle(
            secs(at),
            Event::ProbeOk {
                node: NodeId(node),
                rtt: secs(at * 0.8),
                payload: Some((65_536, secs(at * 0.2))),
            },
        );
    };
    answer(&mut s, 0.10, 0);
    assert!(
        downloads(&drain(&mut s)).is_empty(),
        "chunk 1 has no replica that answered"
    );
    assert_eq!(s.poll_timeout(), Some(secs(2.0)));
    answer(&mut s, 0.15, 1);
    assert!(
        downloads(&drain(&mut s)).is_empty(),
        "node 2 gets twice the slowest answer"
    );
    assert_eq!(
        s.poll_timeout(),
        Some(secs(0.30)),
        "2 × 0.15 s from the start"
    );
    s.handle_timeout(secs(0.30));
    let d = downloads(&drain(&mut s));
    assert!(d.iter().any(|x| x.1 == 0), "the gate opened: {d:?}");
    assert!(
        d.iter().any(|x| x.1 == 1),
        "the first media segment went out: {d:?}"
    );
    assert!(
        d.iter().all(|x| x.2 != NodeId(2)),
        "node 2, never measured, sits out while node 1 was: {d:?}"
    );
    // Its probe answers: it is a replica like the others again.
    answer(&mut s, 0.57, 2);
    assert!(!s.held_back(1, NodeId(2)));
}

#[test]
fn the_gate_waits_at_least_its_minimum_for_replicas_a_few_milliseconds_apart() {
    let mut gated = EngineConfig::default();
    gated.scheduler.startup_probe_wait = secs(2.0);
    let mut s = Session::new(
        gated,
        manifest(6, 3, 2),
        Box::new(SmartSelector),
        Duration::ZERO,
    );
    drain(&mut s);
    // Chunk 0's replicas are nodes 0 and 1; node 0 answers at 10 ms.
    s.handle(
        secs(0.01),
        Event::ProbeOk {
            node: NodeId(0),
            rtt: secs(0.005),
            payload: Some((65_536, secs(0.005))),
        },
    );
    assert_eq!(s.poll_timeout(), Some(GATE_MIN_WAIT), "not 2 × 10 ms");
    // Node 1 answers at 60 ms, inside it: every replica answered, it opens.
    s.handle(
        secs(0.06),
        Event::ProbeOk {
            node: NodeId(1),
            rtt: secs(0.05),
            payload: Some((65_536, secs(0.01))),
        },
    );
    let d = downloads(&drain(&mut s));
    assert!(
        d.iter().any(|x| x.1 == 0),
        "every replica of chunk 0 answered: {d:?}"
    );
}

#[test]
fn start_up_focus_fetches_only_what_starting_needs() {
    let mut cfg = EngineConfig::default();
    cfg.scheduler.startup_probe_wait = Duration::ZERO;
    let mut s = Session::new(
        cfg,
        manifest(20, 3, 2),
        Box::new(RoundRobinSelector::default()),
        Duration::ZERO,
    );
    let d = downloads(&drain(&mut s));
    assert_eq!(d.len(), 1, "10 s to start = chunk 0 alone: {d:?}");
    assert_eq!(d[0].1, 0);
    let after = deliver(&mut s, secs(1.0), d[0].0, 1_000_000);
    assert_eq!(s.buffer().state(), PlaybackState::Playing);
    let d = downloads(&after);
    assert_eq!(
        d.iter().map(|x| x.1).collect::<Vec<_>>(),
        vec![1, 2],
        "playing: refill up to the 30 s horizon"
    );
}

#[test]
fn an_initialization_segment_is_no_bandwidth_sample_of_its_node() {
    // Chunk 0 lasts no media time (an fMP4 initialization segment): its
    // transfer, mostly latency, counts as the node's success but feeds no
    // bandwidth estimate; a media chunk's does.
    let mut m = manifest(3, 1, 1);
    m.chunks[0].duration = Duration::ZERO;
    m.chunks[0].size_bytes = 800;
    let mut s = Session::new(
        ungated(),
        m,
        Box::new(RoundRobinSelector::default()),
        Duration::ZERO,
    );
    let first = downloads(&drain(&mut s));
    let (init, _, node) = first.iter().copied().find(|d| d.1 == 0).unwrap();
    deliver(&mut s, secs(0.05), init, 800);
    let stats = s.monitor().stats(node);
    assert_eq!(stats.bandwidth_mbps, None);
    assert_eq!(stats.reliability(), 1.0);
    assert!(stats.samples_total >= 1);
    let media = first.iter().copied().find(|d| d.1 == 1).unwrap();
    deliver(&mut s, secs(1.0), media.0, 1_000_000);
    assert!(s.monitor().stats(node).bandwidth_mbps.is_some());
}

#[test]
fn naive_sends_no_probes_and_round_robins() {
    let mut cfg = ungated();
    cfg.buffer.target = secs(100.0);
    let mut s = Session::new(
        cfg,
        manifest(20, 3, 3),
        Box::new(RoundRobinSelector::default()),
        Duration::ZERO,
    );
    let actions = drain(&mut s);
    assert!(!actions.iter().any(|a| matches!(a, Action::Probe { .. })));
    let nodes: Vec<u16> = downloads(&actions).iter().map(|d| d.2.0).collect();
    assert_eq!(nodes, vec![0, 1, 2, 0]);
}

/// A round-robin session of 6 chunks on 3 nodes (replication 2), its first
/// actions and notices drained, and each chunk's replica list.
fn round_robin_with_replica_lists() -> (Session, Vec<Vec<NodeId>>) {
    let mut s = Session::new(
        ungated(),
        manifest(6, 3, 2),
        Box::new(RoundRobinSelector::default()),
        Duration::ZERO,
    );
    let _ = drain(&mut s);
    while s.poll_notice().is_some() {}
    let lists = s
        .manifest()
        .chunks
        .iter()
        .map(|c| c.replicas.clone())
        .collect();
    (s, lists)
}

#[test]
fn a_reread_manifest_moves_later_attempts_to_the_new_replicas() {
    let (mut s, mut lists) = round_robin_with_replica_lists();
    assert_eq!(s.update_replicas(&lists), 0, "nothing changed");
    lists[4] = vec![NodeId(2), NodeId(0), NodeId(1)];
    lists[5] = vec![NodeId(9)]; // unknown node: ignored
    assert_eq!(s.update_replicas(&lists[..3]), 0, "another layout");
    assert_eq!(s.update_replicas(&lists), 1);
    assert_eq!(s.manifest().chunks[4].replicas.len(), 3);
    assert!(!s.manifest().chunks[5].replicas.is_empty());
    assert_eq!(s.poll_notice(), Some(Notice::ReplicasUpdated { chunks: 1 }));
}

#[test]
fn notices_nobody_drains_stay_bounded_and_the_dropped_are_counted() {
    let (mut s, mut lists) = round_robin_with_replica_lists();
    let (a, b) = (lists[0].clone(), vec![NodeId(2)]);
    let extra = 76;
    for i in 0..MAX_PENDING_NOTICES + extra {
        lists[0] = if i % 2 == 0 { b.clone() } else { a.clone() };
        assert_eq!(s.update_replicas(&lists), 1);
    }
    assert_eq!(s.notices_dropped(), extra as u64);
    let held = std::iter::from_fn(|| s.poll_notice()).count();
    assert_eq!(held, MAX_PENDING_NOTICES);
}

#[test]
fn failover_moves_the_chunk_to_the_next_replica() {
    let mut s = Session::new(
        ungated(),
        manifest(6, 3, 2),
        Box::new(RoundRobinSelector::default()),
        Duration::ZERO,
    );
    let d = downloads(&drain(&mut s));
    let (id0, chunk0, node0) = d[0];
    assert_eq!(chunk0, 0);
    s.handle(secs(0.5), Event::DownloadFailed { id: id0, bytes: 0 });
    let retry = downloads(&drain(&mut s));
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].1, 0, "the same chunk again");
    assert_ne!(retry[0].2, node0, "on another replica");
    assert_eq!(s.report().failovers, 1);
    assert!(matches!(
        s.poll_notice(),
        Some(Notice::Failover { chunk: 0, .. })
    ));
}

/// Download actions with their ranges and deadlines.
fn ranges(actions: &[Action]) -> Vec<Range> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Download {
                id,
                chunk,
                node,
                offset,
                len,
                deadline,
                ..
            } => Some((*id, *chunk, *node, *offset, *len, *deadline)),
            _ => None,
        })
        .collect()
}

type Range = (DownloadId, u32, NodeId, u64, u64, Duration);

/// A smart session on 20 chunks, 3 nodes, replication 2, and the two
/// parts of chunk 0 it starts with (nodes 0 and 1).
fn smart_start() -> (Session, Range, Range) {
    let mut s = Session::new(
        ungated(),
        manifest(20, 3, 2),
        Box::new(SmartSelector),
        Duration::ZERO,
    );
    let r = ranges(&drain(&mut s));
    (s, r[0], r[1])
}

fn cancels(actions: &[Action], id: DownloadId) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Cancel { id: x } if *x == id))
}

#[test]
fn a_late_part_that_still_delivers_runs_on_and_shares_its_tail() {
    let (mut s, a, b) = smart_start();
    assert_eq!((a.1, b.1, a.2, b.2), (0, 0, NodeId(0), NodeId(1)));
    // Both parts of chunk 0 creep along (1 kB per progress check) past
    // their deadlines: they are charged, not cancelled.
    let (mut t, mut got) = (0.5, 0);
    let mut seen = Vec::new();
    while secs(t) <= a.5.max(b.5) + secs(1.0) {
        got += 1000;
        for id in [a.0, b.0] {
            s.handle(secs(t), Event::DownloadProgress { id, bytes: got });
        }
        s.handle_timeout(secs(t));
        seen.extend(drain(&mut s));
        t += 0.5;
    }
    assert!(!cancels(&seen, a.0) && !cancels(&seen, b.0), "{seen:?}");
    assert!(s.report().failovers >= 2, "both late parts charged");
    // Node 0's part ends: node 0 takes the tail of node 1's range, past
    // what node 1 holds, and node 1's part runs on, trimmed.
    let next = ranges(&deliver(&mut s, secs(t), a.0, a.4));
    let help = next
        .iter()
        .find(|x| x.1 == 0 && x.2 == NodeId(0))
        .expect("node 0 helps");
    assert!(
        help.3 > b.3 + got,
        "{help:?} starts past node 1's {got} bytes"
    );
    assert_eq!(
        help.3 + help.4,
        b.3 + b.4,
        "up to the end of node 1's range"
    );
    // Node 1 reaching the meeting point ends its part: its transfer is
    // cancelled, and node 1 is not charged for it.
    while s.poll_notice().is_some() {}
    t += 0.5;
    s.handle(
        secs(t),
        Event::DownloadProgress {
            id: b.0,
            bytes: help.3 - b.3,
        },
    );
    s.handle_timeout(secs(t));
    assert!(cancels(&drain(&mut s), b.0));
    let notices: Vec<Notice> = std::iter::from_fn(|| s.poll_notice()).collect();
    assert!(
        !notices.iter().any(|n| matches!(
            n,
            Notice::Failover {
                node: NodeId(1),
                ..
            }
        )),
        "{notices:?}"
    );
}

#[test]
fn an_idle_replica_asks_for_progress_before_it_helps() {
    let (mut s, a, b) = smart_start();
    // Node 0's half of chunk 0 is in; node 1's is unknown since t=0: the
    // core asks for a report at once and gives node 0 nothing else yet.
    let t = secs(0.25);
    let next = deliver(&mut s, t, a.0, a.4);
    assert!(ranges(&next).is_empty(), "{next:?}");
    assert_eq!(s.poll_timeout(), Some(t));
    assert!(s.wants_progress(t));
    // Node 1 is 40 % through: node 0 takes the tail beyond that.
    let got = b.4 * 2 / 5;
    s.handle(
        t,
        Event::DownloadProgress {
            id: b.0,
            bytes: got,
        },
    );
    s.handle_timeout(t);
    let help = ranges(&drain(&mut s));
    let h = help.first().expect("node 0 helps");
    assert_eq!((h.1, h.2), (0, NodeId(0)), "{help:?}");
    assert!(h.3 > b.3 + got && h.3 + h.4 == b.3 + b.4, "{h:?}");
}

#[test]
fn timeout_cancels_and_fails_over() {
    let mut s = Session::new(
        ungated(),
        manifest(6, 3, 2),
        Box::new(SmartSelector),
        Duration::ZERO,
    );
    let actions = drain(&mut s);
    let deadline = actions
        .iter()
        .find_map(|a| match a {
            Action::Download {
                chunk: 0, deadline, ..
            } => Some(*deadline),
            _ => None,
        })
        .unwrap();
    assert_eq!(deadline, SchedulerConfig::default().initial_timeout);
    assert!(s.poll_timeout().unwrap() <= deadline);
    s.handle_timeout(deadline);
    let after = drain(&mut s);
    assert!(after.iter().any(|a| matches!(a, Action::Cancel { .. })));
    let again = downloads(&after);
    assert!(again.iter().any(|d| d.1 == 0), "chunk 0 re-requested");
}

#[test]
fn a_late_event_for_a_cancelled_download_is_ignored() {
    let mut s = Session::new(
        ungated(),
        manifest(3, 3, 1),
        Box::new(SmartSelector),
        Duration::ZERO,
    );
    let d = downloads(&drain(&mut s));
    s.handle_timeout(secs(100.0));
    s.handle(
        secs(100.5),
        Event::DownloadDone {
            id: d[0].0,
            bytes: 1_000_000,
        },
    );
    assert_eq!(s.report().downloads, 0);
}

/// Plays `s` to the end on an instant network: every download completes
/// 0.1 s after it starts, every probe answers in 5 ms, every chunk verifies.
fn play_on_instant_network(s: &mut Session) {
    let mut now = Duration::ZERO;
    let mut pending: Vec<(Duration, DownloadId, u64)> = Vec::new();
    for _ in 0..10_000 {
        // Everything the session asks for now, including what answering it
        // asks for next, before the clock moves on.
        loop {
            let actions = drain(s);
            if actions.is_empty() {
                break;
            }
            for a in actions {
                match a {
                    Action::Download { id, len, .. } => pending.push((now + secs(0.1), id, len)),
                    Action::Assemble { chunk, .. } => {
                        s.handle(now, Event::ChunkAssembled { chunk, ok: true })
                    }
                    Action::Probe { node, .. } => s.handle(
                        now,
                        Event::ProbeOk {
                            node,
                            rtt: secs(0.005),
                            payload: None,
                        },
                    ),
                    Action::Cancel { .. } => {}
                }
            }
        }
        if s.is_finished() {
            break;
        }
        pending.sort();
        let next_dl = pending.first().map(|p| p.0);
        let next = [next_dl, s.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        now = next;
        if next_dl == Some(next) {
            let (_, id, len) = pending.remove(0);
            s.handle(now, Event::DownloadDone { id, bytes: len });
        } else {
            s.handle_timeout(now);
        }
    }
}

#[test]
fn full_session_reports_qoe() {
    let mut s = Session::new(
        ungated(),
        manifest(6, 3, 2),
        Box::new(SmartSelector),
        Duration::ZERO,
    );
    play_on_instant_network(&mut s);
    let r = s.report();
    assert!(r.ended);
    assert_eq!(r.playback.rebuffer_count, 0);
    assert_eq!(r.downloads, 6);
    assert_eq!(r.chunks_played, 6);
    assert!((r.playback.startup_latency_ms.unwrap() - 100.0).abs() < 1e-6);
    assert!(r.playback.avg_buffer_s > 10.0);
    assert_eq!(r.per_node.iter().map(|n| n.chunks).sum::<u64>(), 6);
    assert_eq!(s.records().len(), 6);
}

#[test]
fn an_init_segment_of_no_duration_is_fetched_first_and_played_through() {
    // An fMP4 video: chunk 0 is the initialization segment (no media, 0 s),
    // then five 10 s media segments.
    let mut chunks = vec![(Duration::ZERO, 900)];
    chunks.extend(vec![(secs(10.0), 1_000_000); 5]);
    for selector in [
        Box::new(SmartSelector) as Box<dyn NodeSelector>,
        Box::new(RoundRobinSelector::default()),
    ] {
        // Without the startup probe gate, so the first batch holds the first
        // download (the gate's own tests cover its order).
        let mut config = EngineConfig::default();
        config.scheduler.startup_probe_wait = Duration::ZERO;
        let mut s = Session::new(
            config,
            striped_manifest("fmp4", &chunks, 3, 2),
            selector,
            Duration::ZERO,
        );
        let first = drain(&mut s);
        assert_eq!(chunks_of(&first).first(), Some(&0), "{first:?}");
        for a in first {
            s.actions.push_back(a);
        }
        play_on_instant_network(&mut s);
        let r = s.report();
        assert!(r.ended, "{r:?}");
        assert_eq!(r.chunk_count, 6);
        assert_eq!(r.downloads, 6);
        assert_eq!(r.chunks_played, 6);
        assert_eq!(r.playback.rebuffer_count, 0);
        assert!(
            (r.session_ms - 50_000.0).abs() < 1_000.0,
            "{}",
            r.session_ms
        );
        assert!(r.playback.startup_latency_ms.unwrap() < 1_000.0);
    }
}

/// Delivers every download the session asks for at `now` (and those that
/// follow), answering probes at once.
fn fill(s: &mut Session, now: Duration) {
    let mut pending = drain(s);
    while let Some(a) = pending.pop() {
        match a {
            Action::Download { id, len, .. } => pending.extend(deliver(s, now, id, len)),
            Action::Probe { node, .. } => s.handle(
                now,
                Event::ProbeOk {
                    node,
                    rtt: secs(0.005),
                    payload: None,
                },
            ),
            _ => {}
        }
        pending.extend(drain(s));
    }
}

#[test]
fn a_real_player_drives_the_playhead_the_startup_and_the_stalls() {
    let mut cfg = ungated();
    cfg.buffer.external_playhead = true;
    let mut chunks = vec![(Duration::ZERO, 900)];
    chunks.extend(vec![(secs(10.0), 1_000_000); 6]);
    let mut s = Session::new(
        cfg,
        striped_manifest("p", &chunks, 3, 2),
        Box::new(SmartSelector),
        Duration::ZERO,
    );
    fill(&mut s, secs(0.1));
    assert_eq!(s.buffer().level(), secs(30.0), "filled to the target");
    assert_eq!(
        s.buffer().state(),
        PlaybackState::Startup,
        "until the player plays"
    );
    s.observe_player(
        secs(0.6),
        Duration::ZERO,
        crate::engine::PlayerEvent::Playing,
    );
    assert_eq!(s.buffer().state(), PlaybackState::Playing);
    assert!(std::iter::from_fn(|| s.poll_notice()).any(|n| n
        == Notice::PlaybackState {
            state: PlaybackState::Playing
        }));
    // The player's position, not the clock, empties the buffer: at 20 s
    // played the level is under the low-water mark and the refill starts.
    s.handle_timeout(secs(25.0));
    assert!(
        chunks_of(&drain(&mut s)).is_empty(),
        "the clock alone drains nothing"
    );
    s.observe_player(secs(25.0), secs(14.0), crate::engine::PlayerEvent::Position);
    assert!(
        chunks_of(&drain(&mut s)).is_empty(),
        "16 s ahead: above the low-water mark"
    );
    s.observe_player(secs(25.5), secs(20.0), crate::engine::PlayerEvent::Position);
    let refill = drain(&mut s);
    assert_eq!(
        chunks_of(&refill),
        vec![4, 5],
        "10 s ahead: refill to the target {refill:?}"
    );
    s.observe_player(secs(26.0), secs(20.4), crate::engine::PlayerEvent::Waiting);
    s.observe_player(secs(28.5), secs(20.4), crate::engine::PlayerEvent::Playing);
    let r = s.report();
    assert_eq!(r.playback.rebuffer_count, 1);
    assert!((r.playback.rebuffer_time_ms - 2500.0).abs() < 1e-6, "{r:?}");
    assert!((r.playback.startup_latency_ms.unwrap() - 600.0).abs() < 1e-6);
}

#[test]
fn attempts_that_failed_empty_are_not_kept() {
    // One chunk on one node that fails every request at once: the fetch
    // keeps retrying, but only the running attempt stays in its parts.
    for selector in [
        Box::new(SmartSelector) as Box<dyn NodeSelector>,
        Box::new(RoundRobinSelector::default()),
    ] {
        let mut s = Session::new(ungated(), manifest(1, 1, 1), selector, Duration::ZERO);
        let mut now = Duration::ZERO;
        for _ in 0..500 {
            now += Duration::from_millis(10);
            for d in downloads(&drain(&mut s)) {
                s.handle(now, Event::DownloadFailed { id: d.0, bytes: 0 });
            }
            s.handle_timeout(now);
        }
        let parts: usize = s.fetches.iter().map(|f| f.parts.len()).sum();
        assert!(s.failovers > 50, "{}", s.failovers);
        assert!(
            parts <= 2,
            "{parts} parts kept after {} failures",
            s.failovers
        );
    }
}
