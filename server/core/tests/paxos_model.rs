//! Model checking of ChunkPaxos with stateright: the real [`Acceptor`] and
//! [`Proposer`] state machines of `vstack_core::consensus::paxos` as actors — 3
//! acceptors, 2 proposers with different values — on a network that loses,
//! duplicates and reorders messages, with an acceptor crash and restart.
//! Checked in every state: **at most one value is chosen** (some quorum voted
//! for it at one ballot) and every proposer that learned a value learned that
//! one. Three searches, since the full space is too large to exhaust:
//! every state within a depth bound breadth-first (lossy, reordering network,
//! one crash and restart; `VSTACK_MODEL_DEPTH`, default 7, +1 for the
//! classic-first run), the same with a
//! duplicating network (`VSTACK_MODEL_DUP_DEPTH`, default 6), and deep random
//! walks with every fault at once (depth 80, `VSTACK_MODEL_SIM_STATES`
//! states, default 200 000). A deliberately broken acceptor that forgets its
//! promise and vote on restart must be caught, proving the check can fail.
//! The number of states explored is printed (`--nocapture`).

#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // a test may time itself and read files; the rule is for the core's code

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Duration;

use stateright::actor::{Actor, ActorModel, Id, LossyNetwork, Network, Out};
use stateright::{Checker, Expectation, Model};
use vstack_core::consensus::paxos::{
    Acceptor, Ballot, Message, Proposer, classic_quorum, fast_quorum,
};

const ACCEPTORS: usize = 3;

/// Bound of the explored space: a proposer retries on timeout up to this many
/// attempts, and states where a round above it was reached are not explored.
const MAX_ATTEMPTS: u32 = 2;

#[derive(Clone, Debug)]
enum Node {
    /// `durable`: the state is saved before every reply and restored on
    /// restart; `false` is the broken variant.
    Acceptor {
        durable: bool,
    },
    Proposer {
        id: u32,
        value: u8,
        fast: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum State {
    Acceptor(Acceptor<u8>),
    Proposer(Proposer<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Storage {
    Acceptor(Acceptor<u8>),
    /// A proposer's highest round, so a restarted proposer never reuses a
    /// ballot.
    Proposer(u32),
}

fn send_all(o: &mut Out<Node>, out: Vec<vstack_core::consensus::paxos::Outgoing<u8>>) {
    for m in out {
        o.send(Id::from(m.to), m.msg);
    }
}

impl Actor for Node {
    type Msg = Message<u8>;
    type State = State;
    type Timer = ();
    type Storage = Storage;
    type Random = ();

    fn on_start(&self, _id: Id, storage: &Option<Storage>, o: &mut Out<Self>) -> State {
        match self {
            Node::Acceptor { durable } => match (durable, storage) {
                (true, Some(Storage::Acceptor(a))) => State::Acceptor(a.clone()),
                _ => State::Acceptor(Acceptor::default()),
            },
            Node::Proposer { id, value, fast } => {
                let mut p = Proposer::new(*id, ACCEPTORS, *value);
                let restarted = matches!(storage, Some(Storage::Proposer(_)));
                if let Some(Storage::Proposer(r)) = storage {
                    p.max_round = *r;
                }
                let out = p.start(*fast && !restarted);
                o.save(Storage::Proposer(p.max_round));
                send_all(o, out);
                o.set_timer((), Duration::from_secs(1)..Duration::from_secs(2));
                State::Proposer(p)
            }
        }
    }

    fn on_msg(
        &self,
        _id: Id,
        state: &mut Cow<State>,
        src: Id,
        msg: Message<u8>,
        o: &mut Out<Self>,
    ) {
        match (self, state.to_mut()) {
            (Node::Acceptor { durable }, State::Acceptor(a)) => {
                let before = a.clone();
                if let Some(reply) = a.handle(&msg) {
                    if *durable && *a != before {
                        o.save(Storage::Acceptor(a.clone()));
                    }
                    o.send(src, reply);
                }
            }
            (Node::Proposer { .. }, State::Proposer(p)) => {
                let from = usize::from(src);
                if from < ACCEPTORS {
                    let out = p.handle(from, &msg);
                    o.save(Storage::Proposer(p.max_round));
                    send_all(o, out);
                }
            }
            _ => {}
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<State>, _timer: &(), o: &mut Out<Self>) {
        if let State::Proposer(p) = state.to_mut()
            && p.chosen().is_none()
            && p.attempts < MAX_ATTEMPTS
        {
            let out = p.retry();
            o.save(Storage::Proposer(p.max_round));
            send_all(o, out);
            o.set_timer((), Duration::from_secs(1)..Duration::from_secs(2));
        }
    }
}

/// Every vote ever sent: (acceptor, ballot, value).
type Votes = BTreeSet<(usize, Ballot, u8)>;

/// Values chosen by some quorum of votes at one ballot.
fn chosen(votes: &Votes) -> BTreeSet<u8> {
    let (q, f) = (classic_quorum(ACCEPTORS), fast_quorum(ACCEPTORS));
    let mut out = BTreeSet::new();
    for (_, b, v) in votes {
        let n = votes
            .iter()
            .filter(|(_, b2, v2)| b2 == b && v2 == v)
            .count();
        if n >= if b.is_fast() { f } else { q } {
            out.insert(*v);
        }
    }
    out
}

fn model(
    durable: bool,
    fast: bool,
    crashes: usize,
    network: Network<Message<u8>>,
) -> ActorModel<Node, (), Votes> {
    ActorModel::new((), Votes::new())
        .actors((0..ACCEPTORS).map(|_| Node::Acceptor { durable }))
        .actor(Node::Proposer {
            id: 1,
            value: 1,
            fast,
        })
        .actor(Node::Proposer {
            id: 2,
            value: 2,
            fast,
        })
        .init_network(network)
        .lossy_network(LossyNetwork::Yes)
        .max_crashes(crashes)
        .record_msg_out(|_, votes, env| match env.msg {
            Message::Accepted { ballot, value } => {
                let mut v = votes.clone();
                v.insert((usize::from(env.src), *ballot, *value));
                Some(v)
            }
            _ => None,
        })
        .property(Expectation::Always, "at most one value chosen", |_, s| {
            chosen(&s.history).len() <= 1
        })
        .property(
            Expectation::Always,
            "proposers learn the chosen value",
            |_, s| {
                let c = chosen(&s.history);
                s.actor_states.iter().all(|st| match &**st {
                    State::Proposer(p) => p.chosen().is_none_or(|v| c.contains(v)),
                    _ => true,
                })
            },
        )
        .property(Expectation::Sometimes, "a value is chosen", |_, s| {
            !chosen(&s.history).is_empty()
        })
        .within_boundary(|_, s| {
            s.actor_states.iter().all(|st| match &**st {
                State::Proposer(p) => p.max_round <= MAX_ATTEMPTS,
                _ => true,
            })
        })
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(default)
}

/// Exhaustive breadth-first search of every state within `depth` steps
/// (deliveries, losses, timeouts, crashes, restarts) from the start.
#[test]
fn exhaustive_bounded_check_with_loss_reordering_and_a_crash() {
    let depth = env_usize("VSTACK_MODEL_DEPTH", 7);
    for fast in [true, false] {
        // A classic commit takes two more deliveries than a fast one.
        let depth = if fast { depth } else { depth + 1 };
        let t = std::time::Instant::now();
        let checker = model(true, fast, 1, Network::new_unordered_nonduplicating([]))
            .checker()
            .threads(threads())
            .target_max_depth(depth)
            .spawn_bfs()
            .join();
        eprintln!(
            "exhaustive, {} first, durable acceptors, depth ≤ {depth}: {} states explored ({} unique) in {:.1} s",
            if fast { "fast round" } else { "classic ballot" },
            checker.state_count(),
            checker.unique_state_count(),
            t.elapsed().as_secs_f64()
        );
        checker.assert_no_discovery("at most one value chosen");
        checker.assert_no_discovery("proposers learn the chosen value");
        checker.assert_any_discovery("a value is chosen");
    }
}

/// Exhaustive search with duplicated (re-deliverable) messages, no crash.
#[test]
fn exhaustive_bounded_check_with_duplication() {
    let depth = env_usize("VSTACK_MODEL_DUP_DEPTH", 6);
    let t = std::time::Instant::now();
    let checker = model(true, true, 0, Network::new_unordered_duplicating([]))
        .checker()
        .threads(threads())
        .target_max_depth(depth)
        .spawn_bfs()
        .join();
    eprintln!(
        "exhaustive, duplicating network, depth ≤ {depth}: {} states explored ({} unique) in {:.1} s",
        checker.state_count(),
        checker.unique_state_count(),
        t.elapsed().as_secs_f64()
    );
    checker.assert_no_discovery("at most one value chosen");
    checker.assert_no_discovery("proposers learn the chosen value");
    checker.assert_any_discovery("a value is chosen");
}

/// Deep random walks with everything on: loss, duplication, reordering, a
/// crash and restart, both proposers, to depth 80.
#[test]
fn random_deep_walks_with_every_fault() {
    let states = env_usize("VSTACK_MODEL_SIM_STATES", 200_000);
    for fast in [true, false] {
        let t = std::time::Instant::now();
        let checker = model(true, fast, 1, Network::new_unordered_duplicating([]))
            .checker()
            .target_max_depth(80)
            .target_state_count(states)
            .timeout(Duration::from_secs(60))
            .spawn_simulation(7, stateright::UniformChooser)
            .join();
        eprintln!(
            "random walks, {} first, every fault: {} states visited in {:.1} s",
            if fast { "fast round" } else { "classic ballot" },
            checker.state_count(),
            t.elapsed().as_secs_f64()
        );
        // `discovery` rebuilds only the named path (a violation's), if any.
        assert!(checker.discovery("at most one value chosen").is_none());
        assert!(
            checker
                .discovery("proposers learn the chosen value")
                .is_none()
        );
        assert!(checker.discovery("a value is chosen").is_some());
    }
}

/// The broken variant: acceptors keep their promise and vote in memory only,
/// so a restart forgets them. The checker must find two chosen values.
#[test]
fn an_acceptor_that_forgets_its_promise_on_restart_is_caught() {
    let t = std::time::Instant::now();
    let checker = model(false, true, 1, Network::new_unordered_nonduplicating([]))
        .checker()
        .target_max_depth(40)
        .timeout(Duration::from_secs(120))
        .finish_when(stateright::HasDiscoveries::AnyFailures)
        .spawn_simulation(1, stateright::UniformChooser)
        .join();
    let path = checker.assert_any_discovery("at most one value chosen");
    eprintln!(
        "forgetful acceptors: two values chosen after {} states ({:.1} s); counterexample of {} steps",
        checker.state_count(),
        t.elapsed().as_secs_f64(),
        path.into_actions().len()
    );
}
