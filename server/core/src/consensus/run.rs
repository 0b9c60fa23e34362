//! An in-process ChunkPaxos run on a virtual clock, recorded message by
//! message.
//!
//! [`simulate`] drives the real [`Acceptor`] / [`Proposer`] code: every
//! message is delivered after a seeded random latency, may be lost, is lost
//! when its acceptor is down (an outage keeps the acceptor's durable state),
//! and a proposer that has not learned a value retries with a higher ballot
//! after a seeded random timeout. Each delivery becomes a [`ConsensusStep`] with the
//! message, a line of narration and every node's state after it, which is
//! what the Consensus tab replays. [`scenario`] builds the seed's three
//! scenarios: normal operation, concurrent uploaders in conflict, node failure.

use std::{cmp::Reverse, collections::BinaryHeap};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{
    ChunkRecord,
    paxos::{Acceptor, Ballot, Message, Outgoing, Phase, Proposer, classic_quorum, fast_quorum},
};

/// One proposer of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposerSpec {
    /// Name shown (`uploader-a`).
    pub name: String,
    /// Proposer id (≥ 1, distinct).
    pub id: u32,
    /// What it proposes.
    pub value: ChunkRecord,
    /// When it starts, ms.
    pub start_ms: f64,
    /// Try the fast round first.
    pub fast: bool,
}

/// Settings of a run; every default stated in [`RunConfig::new`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Acceptor (storage node) names.
    pub acceptors: Vec<String>,
    /// Proposers.
    pub proposers: Vec<ProposerSpec>,
    /// One-way message latency range, ms. Default 5–15.
    pub latency_ms: (f64, f64),
    /// Probability that a message is lost. Default 0.
    pub loss: f64,
    /// Acceptor outages: (acceptor index, from ms, until ms).
    pub outages: Vec<(usize, f64, f64)>,
    /// Proposer retry timeout range, ms. Default 80–160.
    pub retry_ms: (f64, f64),
    /// Stop after this much virtual time, ms. Default 5000.
    pub max_ms: f64,
    /// Seed of latencies, losses and timeouts. Default 1.
    pub seed: u64,
}

impl RunConfig {
    /// Three acceptors `node-1..3`, the given proposers, defaults otherwise.
    pub fn new(proposers: Vec<ProposerSpec>) -> Self {
        Self {
            acceptors: (1..=3).map(|i| format!("node-{i}")).collect(),
            proposers,
            latency_ms: (5.0, 15.0),
            loss: 0.0,
            outages: Vec::new(),
            retry_ms: (80.0, 160.0),
            max_ms: 5000.0,
            seed: 1,
        }
    }
}

pub use super::record::{
    AcceptorView, ConsensusRecording, ConsensusScenario, ConsensusStep, ProposerPhase,
    ProposerView, StepKind,
};

#[derive(Debug)]
enum Event {
    Start(usize),
    /// (proposer, attempt number when armed)
    Timeout(usize, u32),
    /// (proposer, acceptor, message, lost on the way)
    ToAcceptor(usize, usize, Message<ChunkRecord>, bool),
    /// (proposer, acceptor, message, lost on the way)
    ToProposer(usize, usize, Message<ChunkRecord>, bool),
}

fn ballot_str(b: Ballot) -> String {
    b.to_string()
}

fn carried(m: &Message<ChunkRecord>) -> Option<String> {
    match m {
        Message::Accept { value, .. } | Message::Accepted { value, .. } => Some(value.label()),
        Message::Promise {
            accepted: Some((_, v)),
            ..
        } => Some(v.label()),
        _ => None,
    }
}

fn proposer_view(name: &str, p: &Proposer<ChunkRecord>) -> ProposerView {
    let (phase, ballot) = match &p.phase {
        Phase::Idle => (ProposerPhase::Idle, None),
        Phase::Fast { .. } => (ProposerPhase::Fast, Some(Ballot::FAST)),
        Phase::Preparing { ballot, .. } => (ProposerPhase::Preparing, Some(*ballot)),
        Phase::Accepting { ballot, .. } => (ProposerPhase::Accepting, Some(*ballot)),
        Phase::Chosen { ballot, .. } => (ProposerPhase::Chosen, Some(*ballot)),
    };
    ProposerView {
        name: name.to_string(),
        phase,
        ballot: ballot.map(ballot_str),
        chosen: p.chosen().map(ChunkRecord::label),
    }
}

fn narrate(
    from: &str,
    to: &str,
    m: &Message<ChunkRecord>,
    lost: bool,
    learned: Option<&ChunkRecord>,
) -> String {
    if lost {
        return format!("{} from {from} to {to} is lost.", m.kind());
    }
    let mut s = match m {
        Message::Prepare { ballot } => format!(
            "{to} receives prepare({ballot}) from {from}: phase 1, asking it to ignore lower ballots."
        ),
        Message::Promise { ballot, accepted } => match accepted {
            Some((b, v)) => format!(
                "{from} promises {ballot} to {to} and reports its vote for {} at {b}.",
                v.label()
            ),
            None => format!("{from} promises {ballot} to {to}; it has voted for nothing yet."),
        },
        Message::Accept { ballot, value } if ballot.is_fast() => format!(
            "{to} receives a fast-round accept of {} from {from} (no phase 1: nothing is lower than the fast round).",
            value.label()
        ),
        Message::Accept { ballot, value } => format!(
            "{to} receives accept({ballot}, {}) from {from}: phase 2.",
            value.label()
        ),
        Message::Accepted { ballot, value } => {
            format!(
                "{from} voted for {} at {ballot}; {to} counts the vote.",
                value.label()
            )
        }
        Message::Nack { ballot, .. } if ballot.is_fast() => format!(
            "{from} refuses the fast-round accept from {to}: it has already voted in the fast round (or promised a classic ballot)."
        ),
        Message::Nack { ballot, promised } => {
            format!("{from} refuses {ballot} from {to}: it has promised {promised}.")
        }
    };
    if let Some(v) = learned {
        s.push_str(&format!(" {to} learns that {} is chosen.", v.label()));
    }
    s
}

/// What a recorded step says about its message (the nodes' states are added
/// when it is recorded).
struct StepHead {
    from: String,
    to: String,
    kind: StepKind,
    ballot: String,
    value: Option<String>,
    lost: bool,
    narration: String,
}

impl StepHead {
    /// The step of delivering (or losing) message `m` from `from` to `to`.
    fn message(
        from: String,
        to: String,
        m: &Message<ChunkRecord>,
        lost: bool,
        narration: String,
    ) -> Self {
        Self {
            from,
            to,
            kind: m.kind(),
            ballot: ballot_str(m.ballot()),
            value: carried(m),
            lost,
            narration,
        }
    }
}

/// A run in progress: the nodes, the event queue (virtual time in µs, then
/// insertion order) and what has been recorded so far.
struct Run<'a> {
    config: &'a RunConfig,
    rng: ChaCha8Rng,
    acceptors: Vec<Acceptor<ChunkRecord>>,
    proposers: Vec<Proposer<ChunkRecord>>,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: Vec<Option<Event>>,
    seq: u64,
    steps: Vec<ConsensusStep>,
    /// Every vote cast: (acceptor, ballot, value).
    votes: std::collections::BTreeSet<(usize, Ballot, ChunkRecord)>,
    messages: usize,
    decided_ms: Option<f64>,
}

impl<'a> Run<'a> {
    fn new(config: &'a RunConfig) -> Self {
        let n = config.acceptors.len();
        let mut run = Self {
            config,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            acceptors: vec![Acceptor::default(); n],
            proposers: config
                .proposers
                .iter()
                .map(|p| Proposer::new(p.id, n, p.value.clone()))
                .collect(),
            queue: BinaryHeap::new(),
            events: Vec::new(),
            seq: 0,
            steps: Vec::new(),
            votes: Default::default(),
            messages: 0,
            decided_ms: None,
        };
        for (i, p) in config.proposers.iter().enumerate() {
            run.push(p.start_ms, Event::Start(i));
        }
        run
    }

    fn push(&mut self, t_ms: f64, e: Event) {
        self.events.push(Some(e));
        self.seq += 1;
        let at_us = (t_ms * 1000.0) as u64;
        self.queue
            .push(Reverse((at_us, self.seq, self.events.len() - 1)));
    }

    /// Whether acceptor `a` is up at `t` ms.
    fn up(&self, a: usize, t: f64) -> bool {
        !self
            .config
            .outages
            .iter()
            .any(|(i, from, until)| *i == a && t >= *from && t < *until)
    }

    /// Arms proposer `p`'s retry timer for its current attempt.
    fn arm_retry(&mut self, p: usize, t: f64) {
        let arm = self.proposers[p].attempts;
        let d = self
            .rng
            .random_range(self.config.retry_ms.0..=self.config.retry_ms.1);
        self.push(t + d, Event::Timeout(p, arm));
    }

    /// Sends a message after a random latency; it may be lost on the way.
    fn send(&mut self, t: f64, event: impl FnOnce(bool) -> Event) {
        let at = t + self
            .rng
            .random_range(self.config.latency_ms.0..=self.config.latency_ms.1);
        self.messages += 1;
        let lost = self.rng.random_bool(self.config.loss.clamp(0.0, 1.0));
        self.push(at, event(lost));
    }

    fn ballot_of(&self, p: usize) -> String {
        format!("{}.{}", self.proposers[p].max_round, self.proposers[p].id)
    }

    fn on_start(
        &mut self,
        p: usize,
        t: f64,
        out: &mut Vec<(usize, Outgoing<ChunkRecord>)>,
    ) -> StepHead {
        let spec = &self.config.proposers[p];
        let o = self.proposers[p].start(spec.fast);
        out.extend(o.into_iter().map(|o| (p, o)));
        self.arm_retry(p, t);
        StepHead {
            from: spec.name.clone(),
            to: "all".into(),
            kind: StepKind::Start,
            ballot: if spec.fast {
                "fast".into()
            } else {
                self.ballot_of(p)
            },
            value: Some(spec.value.label()),
            lost: false,
            narration: format!(
                "{} wants {} committed and {}.",
                spec.name,
                spec.value.label(),
                if spec.fast {
                    "tries the fast round: accept to every node"
                } else {
                    "starts phase 1 with a classic ballot"
                }
            ),
        }
    }

    fn on_timeout(
        &mut self,
        p: usize,
        armed: u32,
        t: f64,
        out: &mut Vec<(usize, Outgoing<ChunkRecord>)>,
    ) -> Option<StepHead> {
        if self.proposers[p].chosen().is_some() || self.proposers[p].attempts != armed {
            return None;
        }
        let o = self.proposers[p].retry();
        out.extend(o.into_iter().map(|o| (p, o)));
        self.arm_retry(p, t);
        let b = self.ballot_of(p);
        let name = self.config.proposers[p].name.clone();
        Some(StepHead {
            narration: format!(
                "{name} has no answer in time and retries with ballot {b} (phase 1)."
            ),
            from: name,
            to: "all".into(),
            kind: StepKind::Timeout,
            ballot: b,
            value: None,
            lost: false,
        })
    }

    fn on_to_acceptor(
        &mut self,
        p: usize,
        a: usize,
        m: Message<ChunkRecord>,
        lost_on_way: bool,
        t: f64,
    ) -> StepHead {
        let down = !self.up(a, t);
        let lost = lost_on_way || down;
        let from = self.config.proposers[p].name.clone();
        let to = self.config.acceptors[a].clone();
        if !lost && let Some(reply) = self.acceptors[a].handle(&m) {
            // Durable: the state is written before the reply leaves.
            if let Message::Accepted { ballot, value } = &reply {
                self.votes.insert((a, *ballot, value.clone()));
            }
            self.send(t, |l| Event::ToProposer(p, a, reply, l));
        }
        let narration = if down {
            format!("{} from {from} to {to} is lost: {to} is down.", m.kind())
        } else {
            narrate(&from, &to, &m, lost, None)
        };
        StepHead::message(from, to, &m, lost, narration)
    }

    fn on_to_proposer(
        &mut self,
        p: usize,
        a: usize,
        m: Message<ChunkRecord>,
        lost: bool,
        t: f64,
        out: &mut Vec<(usize, Outgoing<ChunkRecord>)>,
    ) -> StepHead {
        let from = self.config.acceptors[a].clone();
        let to = self.config.proposers[p].name.clone();
        let before = self.proposers[p].chosen().is_some();
        if !lost {
            let o = self.proposers[p].handle(a, &m);
            if !o.is_empty() {
                self.arm_retry(p, t);
            }
            out.extend(o.into_iter().map(|o| (p, o)));
        }
        let learned = (!before).then(|| self.proposers[p].chosen()).flatten();
        let narration = narrate(&from, &to, &m, lost, learned);
        StepHead::message(from, to, &m, lost, narration)
    }

    /// Records a step with every node's state after it.
    fn record(&mut self, h: StepHead, t: f64) {
        let acceptors = self
            .acceptors
            .iter()
            .enumerate()
            .map(|(i, a)| AcceptorView {
                name: self.config.acceptors[i].clone(),
                up: self.up(i, t),
                promised: a.promised.map(ballot_str),
                accepted_ballot: a.accepted.as_ref().map(|(b, _)| ballot_str(*b)),
                accepted_value: a.accepted.as_ref().map(|(_, v)| v.label()),
            })
            .collect();
        let proposers = self
            .proposers
            .iter()
            .enumerate()
            .map(|(i, p)| proposer_view(&self.config.proposers[i].name, p))
            .collect();
        self.steps.push(ConsensusStep {
            t_ms: t,
            from: h.from,
            to: h.to,
            kind: h.kind,
            ballot: h.ballot,
            value: h.value,
            lost: h.lost,
            narration: h.narration,
            acceptors,
            proposers,
        });
    }

    /// Handles the next event; `false` when the run is over.
    fn step(&mut self) -> bool {
        let Some(Reverse((t_us, _, idx))) = self.queue.pop() else {
            return false;
        };
        let t = t_us as f64 / 1000.0;
        if t > self.config.max_ms {
            return false;
        }
        let Some(event) = self.events[idx].take() else {
            return true;
        };
        let mut out = Vec::new();
        let head = match event {
            Event::Start(p) => Some(self.on_start(p, t, &mut out)),
            Event::Timeout(p, armed) => self.on_timeout(p, armed, t, &mut out),
            Event::ToAcceptor(p, a, m, lost) => Some(self.on_to_acceptor(p, a, m, lost, t)),
            Event::ToProposer(p, a, m, lost) => {
                Some(self.on_to_proposer(p, a, m, lost, t, &mut out))
            }
        };
        for (p, o) in out {
            self.send(t, |l| Event::ToAcceptor(p, o.to, o.msg, l));
        }
        if let Some(h) = head {
            self.record(h, t);
        }
        if self.decided_ms.is_none() && self.proposers.iter().all(|p| p.chosen().is_some()) {
            self.decided_ms = Some(t);
        }
        true
    }

    /// Every value some quorum voted for at one ballot (safety: at most one).
    fn chosen_by_quorum(&self) -> Vec<String> {
        let n = self.acceptors.len();
        let (q, f) = (classic_quorum(n), fast_quorum(n));
        let mut out: Vec<String> = Vec::new();
        for (_, b, v) in &self.votes {
            let count = self
                .votes
                .iter()
                .filter(|(_, b2, v2)| b2 == b && v2 == v)
                .count();
            if count >= if b.is_fast() { f } else { q } && !out.contains(&v.label()) {
                out.push(v.label());
            }
        }
        out
    }
}

/// Runs `config` and records every step.
pub fn simulate(
    config: &RunConfig,
    scenario: ConsensusScenario,
    description: &str,
) -> ConsensusRecording {
    let mut run = Run::new(config);
    while run.step() {}
    let n = config.acceptors.len();
    let chosen_by_quorum = run.chosen_by_quorum();
    let chosen_record = run.proposers.iter().find_map(|p| p.chosen().cloned());
    ConsensusRecording {
        acceptor_names: config.acceptors.clone(),
        proposer_names: config.proposers.iter().map(|p| p.name.clone()).collect(),
        scenario,
        description: description.into(),
        chosen: chosen_record.as_ref().map(ChunkRecord::label),
        chosen_by_quorum,
        steps: run.steps,
        messages: run.messages,
        fast_path_messages: 2 * n,
        classic_messages: 4 * n,
        decided_ms: run.decided_ms,
    }
}

fn record(uploader: &str, seed: u8) -> ChunkRecord {
    let sha: String = (0..32)
        .map(|i| format!("{:02x}", seed.wrapping_mul(37).wrapping_add(i)))
        .collect();
    ChunkRecord {
        chunk_id: "film-00003".into(),
        sha256: sha,
        size_bytes: 1_250_000 + u64::from(seed) * 1000,
        duration_ms: 4000,
        replicas: vec!["node-1".into(), "node-2".into()],
        version: 1,
        uploader: uploader.into(),
        revision: 1,
    }
}

/// Builds and runs one of the seed's three consensus demo scenarios with
/// `seed`.
pub fn scenario(name: ConsensusScenario, seed: u64) -> ConsensusRecording {
    let a = ProposerSpec {
        name: "uploader-a".into(),
        id: 1,
        value: record("uploader-a", 1),
        start_ms: 0.0,
        fast: true,
    };
    let (config, description) = match name {
        ConsensusScenario::Normal => (
            RunConfig::new(vec![a]),
            "One uploader commits chunk film-00003. Every node answers, so the fast round decides in one round trip: accept to each node, accepted back.",
        ),
        ConsensusScenario::Conflict => {
            let b = ProposerSpec {
                name: "uploader-b".into(),
                id: 2,
                value: record("uploader-b", 2),
                start_ms: 2.0,
                fast: true,
            };
            (
                RunConfig::new(vec![a, b]),
                "Two uploaders commit different bytes for the same chunk at the same time. Their fast-round votes split, so no value reaches the fast quorum; they fall back to classic ballots, and exactly one record wins. Both learn it.",
            )
        }
        ConsensusScenario::NodeFailure => (
            RunConfig {
                outages: vec![(2, 0.0, 10_000.0)],
                ..RunConfig::new(vec![a])
            },
            "node-3 is down. The fast round needs all three nodes, so the uploader times out and runs a classic ballot, which needs only a majority: two of three nodes commit the chunk.",
        ),
    };
    simulate(&RunConfig { seed, ..config }, name, description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_scenarios_decide_with_the_expected_message_counts() {
        let normal = scenario(ConsensusScenario::Normal, 1);
        assert_eq!(normal.messages, 6, "fast path: 3 accepts + 3 accepted");
        assert_eq!(
            normal.chosen.as_deref().map(|s| &s[..10]),
            Some("uploader-a")
        );
        assert!(normal.steps.iter().all(|s| !s.lost));

        let conflict = scenario(ConsensusScenario::Conflict, 1);
        assert!(conflict.chosen.is_some());
        assert!(conflict.messages > 12, "{}", conflict.messages);
        let last = conflict.steps.last().unwrap();
        let learned: Vec<_> = last.proposers.iter().map(|p| p.chosen.clone()).collect();
        assert_eq!(
            learned[0], learned[1],
            "both uploaders learn the same record"
        );
        assert!(learned[0].is_some());

        let failure = scenario(ConsensusScenario::NodeFailure, 1);
        assert_eq!(
            failure.chosen.as_deref().map(|s| &s[..10]),
            Some("uploader-a")
        );
        assert!(failure.steps.iter().any(|s| s.lost && s.to == "node-3"));
        assert!(failure.steps.iter().any(|s| s.kind == StepKind::Timeout));
        assert_eq!(ConsensusScenario::parse("meteor"), None);
    }

    #[test]
    fn randomized_runs_never_choose_two_values() {
        for seed in 0..400u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let k = rng.random_range(2..=3);
            let proposers = (0..k)
                .map(|i| ProposerSpec {
                    name: format!("u{i}"),
                    id: i as u32 + 1,
                    value: record(&format!("u{i}"), i as u8),
                    start_ms: rng.random_range(0.0..20.0),
                    fast: rng.random_bool(0.7),
                })
                .collect();
            let outage = rng.random_range(0..3usize);
            let from = rng.random_range(0.0..100.0);
            let config = RunConfig {
                loss: rng.random_range(0.0..0.3),
                latency_ms: (1.0, rng.random_range(2.0..60.0)),
                outages: vec![(outage, from, from + rng.random_range(0.0..300.0))],
                seed,
                max_ms: 20_000.0,
                ..RunConfig::new(proposers)
            };
            // The label only: random configurations are not one of the three.
            let r = simulate(&config, ConsensusScenario::Conflict, "");
            let learned: std::collections::BTreeSet<_> = r
                .steps
                .last()
                .map(|s| {
                    s.proposers
                        .iter()
                        .filter_map(|p| p.chosen.clone())
                        .collect()
                })
                .unwrap_or_default();
            assert!(learned.len() <= 1, "seed {seed}: {learned:?}");
            assert!(
                r.chosen_by_quorum.len() <= 1,
                "seed {seed}: {:?}",
                r.chosen_by_quorum
            );
            if let Some(l) = learned.iter().next() {
                assert_eq!(&r.chosen_by_quorum, &vec![l.clone()], "seed {seed}");
            }
        }
    }
}
