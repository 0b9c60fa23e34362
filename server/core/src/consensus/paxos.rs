//! The ChunkPaxos state machines, sans-IO: an [`Acceptor`] and a [`Proposer`]
//! for one chunk's instance. They take messages and return messages; the live
//! driver (HTTP between uploaders and storage nodes), the in-process replay
//! behind the Consensus tab and the model checker all drive this same code.
//!
//! # Protocol
//!
//! Single-decree Paxos per chunk with a fast first round:
//!
//! - **Ballots** are `(round, proposer)`, ordered by round then proposer id.
//!   Round 0 is the *fast round*: the one ballot [`Ballot::FAST`] shared by
//!   every proposer. Rounds ≥ 1 are classic: `(round, p)` belongs to
//!   proposer `p` alone (proposer ids start at 1).
//! - **Fast path** (phase 2 only, 2·n messages: *accept* to every acceptor,
//!   *accepted* back): a proposer sends `Accept(FAST, v)` straight away. An
//!   acceptor votes in the fast round at most once, and only if it has
//!   promised nothing yet. `v` is chosen when a *fast quorum* of `f` acceptors
//!   accepted it, `f` the smallest size with `2f + q > 2n` (`q = ⌊n/2⌋ + 1`
//!   the classic quorum): all 3 of 3, 4 of 5.
//! - **Classic path** (when the fast round collides or an acceptor does not
//!   answer): phase 1 `Prepare(b)` → `Promise(b, last accepted)` from a
//!   classic quorum, then phase 2 `Accept(b, v)` → `Accepted(b, v)` from a
//!   classic quorum: 4·n messages when every acceptor answers.
//!
//! # Why skipping phase 1 in the fast round is safe
//!
//! Phase 1 exists so that a proposer learns any value that may already have
//! been chosen at a lower ballot. No ballot is lower than [`Ballot::FAST`], so
//! a fast-round proposal can contradict no earlier choice; what remains is that
//! the fast round's *own* possible choice is never contradicted later:
//!
//! 1. Within the fast round, each acceptor votes once, so two different values
//!    would each need `f` votes out of `n`; `2f > n` makes that impossible.
//! 2. A classic proposer at `b > FAST` holds promises from a classic quorum
//!    `Q`; no member of `Q` will vote in the fast round after promising. If
//!    `v` was (or can still be) chosen in the fast round by a fast quorum `R`,
//!    every member of `Q ∩ R` voted `v` there, and `|Q ∩ R| ≥ q + f − n`. The
//!    proposer therefore adopts a fast-round value reported by at least
//!    `q + f − n` members of `Q` when the highest ballot reported is `FAST`
//!    (Fast Paxos' rule; `2f + q > 2n` makes that value unique). If no value
//!    reaches that count, nothing can have been chosen in the fast round and
//!    the proposer is free.
//! 3. From there on it is classic Paxos: the value of the highest classic
//!    ballot reported is adopted.
//!
//! The same argument does **not** hold for a fast round per proposer (ballots
//! `(0, p)`): proposer 2 at `(0, 2)` would skip the phase 1 that tells it
//! about a value chosen at `(0, 1)`. Hence one shared fast ballot.
//!
//! Acceptor state must be durable: an acceptor that forgets a promise or a
//! vote after a restart breaks step 2. [`Acceptor`]'s state is serialisable
//! and the storage node writes it before replying.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A ballot: `(round, proposer)`. Round 0 with proposer 0 is the shared fast
/// round [`Ballot::FAST`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ballot {
    /// Round number; 0 only for [`Ballot::FAST`].
    pub round: u32,
    /// The proposer owning the ballot (0 for the fast round).
    pub proposer: u32,
}

impl Ballot {
    /// The fast round, lower than every classic ballot.
    pub const FAST: Ballot = Ballot {
        round: 0,
        proposer: 0,
    };

    /// Whether this is the fast round.
    pub fn is_fast(self) -> bool {
        self == Ballot::FAST
    }
}

impl std::fmt::Display for Ballot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_fast() {
            write!(f, "fast")
        } else {
            write!(f, "{}.{}", self.round, self.proposer)
        }
    }
}

/// A protocol message; `V` is the proposed value (a chunk record).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message<V> {
    /// Phase 1a: proposer → acceptors.
    Prepare {
        /// Ballot.
        ballot: Ballot,
    },
    /// Phase 1b: acceptor → proposer: promised, with its last vote.
    Promise {
        /// Ballot promised.
        ballot: Ballot,
        /// Last accepted ballot and value, if any.
        accepted: Option<(Ballot, V)>,
    },
    /// Phase 2a: proposer → acceptors.
    Accept {
        /// Ballot.
        ballot: Ballot,
        /// Value.
        value: V,
    },
    /// Phase 2b: acceptor → proposer: voted.
    Accepted {
        /// Ballot.
        ballot: Ballot,
        /// Value voted for.
        value: V,
    },
    /// Refusal of a prepare or accept at `ballot`: the acceptor has promised
    /// `promised` (or already voted in the fast round).
    Nack {
        /// The refused ballot.
        ballot: Ballot,
        /// The acceptor's promise.
        promised: Ballot,
    },
}

impl<V> Message<V> {
    /// `prepare`, `promise`, `accept`, `accepted` or `nack`.
    pub fn kind(&self) -> super::record::StepKind {
        use super::record::StepKind;
        match self {
            Message::Prepare { .. } => StepKind::Prepare,
            Message::Promise { .. } => StepKind::Promise,
            Message::Accept { .. } => StepKind::Accept,
            Message::Accepted { .. } => StepKind::Accepted,
            Message::Nack { .. } => StepKind::Nack,
        }
    }

    /// The ballot the message is about.
    pub fn ballot(&self) -> Ballot {
        match self {
            Message::Prepare { ballot }
            | Message::Promise { ballot, .. }
            | Message::Accept { ballot, .. }
            | Message::Accepted { ballot, .. }
            | Message::Nack { ballot, .. } => *ballot,
        }
    }
}

/// One acceptor's state for one chunk: what it promised and its last vote.
/// This is what must be durable.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Acceptor<V> {
    /// Highest ballot promised (phase 1) or voted in, if any.
    pub promised: Option<Ballot>,
    /// Last vote: ballot and value.
    pub accepted: Option<(Ballot, V)>,
}

impl<V> Default for Acceptor<V> {
    fn default() -> Self {
        Self {
            promised: None,
            accepted: None,
        }
    }
}

impl<V: Clone + PartialEq> Acceptor<V> {
    /// Handles a proposer's message and returns the reply (`None` for
    /// messages an acceptor does not handle). The caller must persist `self`
    /// before sending the reply when the state changed.
    pub fn handle(&mut self, msg: &Message<V>) -> Option<Message<V>> {
        match msg {
            Message::Prepare { ballot } => Some(self.prepare(*ballot)),
            Message::Accept { ballot, value } => Some(self.accept(*ballot, value)),
            _ => None,
        }
    }

    fn nack(&self, ballot: Ballot) -> Message<V> {
        Message::Nack {
            ballot,
            promised: self.promised.unwrap_or(Ballot::FAST),
        }
    }

    /// Phase 1b. A prepare at the fast ballot is refused (it has no phase 1).
    pub fn prepare(&mut self, ballot: Ballot) -> Message<V> {
        if ballot.is_fast() || self.promised.is_some_and(|p| ballot <= p) {
            return self.nack(ballot);
        }
        self.promised = Some(ballot);
        Message::Promise {
            ballot,
            accepted: self.accepted.clone(),
        }
    }

    /// Phase 2b. The fast ballot is accepted only by an acceptor that has
    /// promised nothing (so it votes there at most once); a classic ballot by
    /// one that has promised nothing higher.
    pub fn accept(&mut self, ballot: Ballot, value: &V) -> Message<V> {
        let ok = if ballot.is_fast() {
            self.promised.is_none()
        } else {
            self.promised.is_none_or(|p| ballot >= p)
        };
        if !ok {
            return self.nack(ballot);
        }
        self.promised = Some(ballot);
        self.accepted = Some((ballot, value.clone()));
        Message::Accepted {
            ballot,
            value: value.clone(),
        }
    }
}

/// Classic quorum size of `n` acceptors: `⌊n/2⌋ + 1`.
pub fn classic_quorum(n: usize) -> usize {
    n / 2 + 1
}

/// Fast quorum size of `n` acceptors: the smallest `f` with `2f + q > 2n`
/// (Lamport, *Fast Paxos*, 2006, §4.1): 3 of 3, 4 of 5, 6 of 7.
pub fn fast_quorum(n: usize) -> usize {
    let q = classic_quorum(n);
    (2 * n - q) / 2 + 1
}

/// What a proposer is doing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase<V> {
    /// Not started.
    Idle,
    /// Fast round: `Accept(FAST, own value)` sent; votes so far.
    Fast {
        /// Acceptors that voted for our value.
        votes: Vec<usize>,
        /// Acceptors that refused (voted otherwise or promised).
        refused: Vec<usize>,
    },
    /// Phase 1 of a classic ballot.
    Preparing {
        /// The ballot.
        ballot: Ballot,
        /// Promises so far: acceptor → its last vote.
        promises: BTreeMap<usize, Option<(Ballot, V)>>,
    },
    /// Phase 2 of a classic ballot.
    Accepting {
        /// The ballot.
        ballot: Ballot,
        /// The value proposed (ours or adopted).
        value: V,
        /// Acceptors that voted.
        votes: Vec<usize>,
    },
    /// A value is chosen (learned by this proposer).
    Chosen {
        /// The value.
        value: V,
        /// The ballot it was learned at.
        ballot: Ballot,
    },
}

/// A message to send: to acceptor `to` (index).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Outgoing<V> {
    /// Acceptor index.
    pub to: usize,
    /// The message.
    pub msg: Message<V>,
}

/// A proposer of one chunk's instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proposer<V> {
    /// Proposer id (≥ 1).
    pub id: u32,
    /// Number of acceptors.
    pub acceptors: usize,
    /// The value this proposer wants chosen.
    pub own: V,
    /// Current phase.
    pub phase: Phase<V>,
    /// Highest round seen in any ballot (ours or in a nack).
    pub max_round: u32,
    /// Attempts so far (the fast round and each classic ballot).
    pub attempts: u32,
}

impl<V: Clone + PartialEq> Proposer<V> {
    /// A proposer `id` (≥ 1) of `own` to `acceptors` acceptors.
    pub fn new(id: u32, acceptors: usize, own: V) -> Self {
        Self {
            id,
            acceptors,
            own,
            phase: Phase::Idle,
            max_round: 0,
            attempts: 0,
        }
    }

    /// The chosen value, once learned.
    pub fn chosen(&self) -> Option<&V> {
        match &self.phase {
            Phase::Chosen { value, .. } => Some(value),
            _ => None,
        }
    }

    fn broadcast(&self, msg: Message<V>) -> Vec<Outgoing<V>> {
        (0..self.acceptors)
            .map(|to| Outgoing {
                to,
                msg: msg.clone(),
            })
            .collect()
    }

    /// Starts: the fast round when `fast`, otherwise phase 1 of a classic
    /// ballot.
    pub fn start(&mut self, fast: bool) -> Vec<Outgoing<V>> {
        self.attempts += 1;
        if fast {
            self.phase = Phase::Fast {
                votes: Vec::new(),
                refused: Vec::new(),
            };
            self.broadcast(Message::Accept {
                ballot: Ballot::FAST,
                value: self.own.clone(),
            })
        } else {
            self.prepare()
        }
    }

    fn prepare(&mut self) -> Vec<Outgoing<V>> {
        // Saturates: a (forged) promise at round `u32::MAX` must not wrap
        // the next ballot round to 0 (or panic).
        self.max_round = self.max_round.saturating_add(1);
        let ballot = Ballot {
            round: self.max_round,
            proposer: self.id,
        };
        self.phase = Phase::Preparing {
            ballot,
            promises: BTreeMap::new(),
        };
        self.broadcast(Message::Prepare { ballot })
    }

    /// A retry after a timeout (or a refusal): a classic ballot above every
    /// round seen. Nothing happens once a value is chosen.
    pub fn retry(&mut self) -> Vec<Outgoing<V>> {
        if self.chosen().is_some() {
            return Vec::new();
        }
        self.attempts += 1;
        self.prepare()
    }

    /// Handles acceptor `from`'s reply. Returns messages to send (phase 2
    /// after a promise quorum, a new ballot after a fast-round collision).
    pub fn handle(&mut self, from: usize, msg: &Message<V>) -> Vec<Outgoing<V>> {
        if let Message::Nack { promised, .. } = msg {
            self.max_round = self.max_round.max(promised.round);
        }
        let n = self.acceptors;
        let q = classic_quorum(n);
        let f = fast_quorum(n);
        match (&mut self.phase, msg) {
            (Phase::Fast { votes, .. }, Message::Accepted { ballot, value })
                if ballot.is_fast() && *value == self.own =>
            {
                if !votes.contains(&from) {
                    votes.push(from);
                }
                if votes.len() >= f {
                    self.phase = Phase::Chosen {
                        value: self.own.clone(),
                        ballot: Ballot::FAST,
                    };
                }
                Vec::new()
            }
            (Phase::Fast { refused, .. }, Message::Nack { ballot, .. }) if ballot.is_fast() => {
                if !refused.contains(&from) {
                    refused.push(from);
                }
                // A fast quorum is out of reach: go classic at once.
                if refused.len() > n - f {
                    self.retry()
                } else {
                    Vec::new()
                }
            }
            (
                Phase::Preparing { ballot, promises },
                Message::Promise {
                    ballot: b,
                    accepted,
                },
            ) if b == ballot => {
                promises.entry(from).or_insert_with(|| accepted.clone());
                if promises.len() < q {
                    return Vec::new();
                }
                let ballot = *ballot;
                let value = pick_value(promises, q, f, n).unwrap_or_else(|| self.own.clone());
                self.phase = Phase::Accepting {
                    ballot,
                    value: value.clone(),
                    votes: Vec::new(),
                };
                self.broadcast(Message::Accept { ballot, value })
            }
            (Phase::Preparing { ballot, .. }, Message::Nack { ballot: b, .. })
            | (Phase::Accepting { ballot, .. }, Message::Nack { ballot: b, .. })
                if b == ballot =>
            {
                self.retry()
            }
            (
                Phase::Accepting {
                    ballot,
                    value,
                    votes,
                },
                Message::Accepted { ballot: b, .. },
            ) if b == ballot => {
                if !votes.contains(&from) {
                    votes.push(from);
                }
                if votes.len() >= q {
                    self.phase = Phase::Chosen {
                        value: value.clone(),
                        ballot: *ballot,
                    };
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

/// The value a classic proposer must adopt from a promise quorum, if any:
/// the value of the highest classic ballot reported; or, when the highest is
/// the fast round, a fast-round value reported by at least `q + f − n`
/// promises (see the module docs).
pub fn pick_value<V: Clone + PartialEq>(
    promises: &BTreeMap<usize, Option<(Ballot, V)>>,
    q: usize,
    f: usize,
    n: usize,
) -> Option<V> {
    let highest = promises.values().flatten().map(|(b, _)| *b).max()?;
    if !highest.is_fast() {
        return promises
            .values()
            .flatten()
            .find(|(b, _)| *b == highest)
            .map(|(_, v)| v.clone());
    }
    let need = (q + f).saturating_sub(n).max(1);
    let fast_votes: Vec<&V> = promises
        .values()
        .flatten()
        .filter(|(b, _)| b.is_fast())
        .map(|(_, v)| v)
        .collect();
    fast_votes
        .iter()
        .find(|v| fast_votes.iter().filter(|w| **w == **v).count() >= need)
        .map(|v| (*v).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delivers every message at once (a reliable, ordered network) and
    /// returns the messages exchanged.
    fn run(p: &mut Proposer<u8>, acc: &mut [Acceptor<u8>], out: Vec<Outgoing<u8>>) -> usize {
        let mut queue = out;
        let mut count = 0;
        while let Some(o) = (!queue.is_empty()).then(|| queue.remove(0)) {
            count += 1;
            if let Some(reply) = acc[o.to].handle(&o.msg) {
                count += 1;
                queue.extend(p.handle(o.to, &reply));
            }
        }
        count
    }

    #[test]
    fn quorum_sizes() {
        assert_eq!((classic_quorum(3), fast_quorum(3)), (2, 3));
        assert_eq!((classic_quorum(5), fast_quorum(5)), (3, 4));
        assert_eq!((classic_quorum(7), fast_quorum(7)), (4, 6));
        for n in 1..20 {
            let (q, f) = (classic_quorum(n), fast_quorum(n));
            assert!(2 * f + q > 2 * n && f <= n && 2 * f > n, "n={n}");
        }
    }

    #[test]
    fn a_nack_at_the_top_round_saturates_instead_of_wrapping() {
        let mut p = Proposer::new(1, 3, 7u8);
        p.start(false);
        let top = Ballot {
            round: u32::MAX,
            proposer: 9,
        };
        let nack = Message::Nack {
            ballot: Ballot {
                round: 1,
                proposer: 1,
            },
            promised: top,
        };
        p.handle(0, &nack);
        let out = p.retry();
        let Message::Prepare { ballot } = &out[0].msg else {
            panic!("{:?}", out[0].msg)
        };
        assert_eq!(ballot.round, u32::MAX);
    }

    #[test]
    fn fast_path_takes_six_messages_and_classic_twelve() {
        let mut acc = vec![Acceptor::default(); 3];
        let mut p = Proposer::new(1, 3, 7u8);
        let out = p.start(true);
        assert_eq!(run(&mut p, &mut acc, out), 6);
        assert_eq!(p.chosen(), Some(&7));

        let mut acc = vec![Acceptor::default(); 3];
        let mut p = Proposer::new(1, 3, 7u8);
        let out = p.start(false);
        assert_eq!(run(&mut p, &mut acc, out), 12);
        assert_eq!(p.chosen(), Some(&7));
    }

    #[test]
    fn a_fast_collision_falls_back_to_classic_and_one_value_wins() {
        let mut acc = vec![Acceptor::default(); 3];
        let mut p1 = Proposer::new(1, 3, 1u8);
        let mut p2 = Proposer::new(2, 3, 2u8);
        let o1 = p1.start(true);
        let o2 = p2.start(true);
        // Acceptors 0, 1 see p1 first, acceptor 2 sees p2 first.
        let r = |a: &mut Acceptor<u8>, m: &Message<u8>| a.handle(m).unwrap();
        let a0 = r(&mut acc[0], &o1[0].msg);
        let a1 = r(&mut acc[1], &o1[1].msg);
        let a2 = r(&mut acc[2], &o2[2].msg);
        let b0 = r(&mut acc[0], &o2[0].msg);
        let b1 = r(&mut acc[1], &o2[1].msg);
        let b2 = r(&mut acc[2], &o1[2].msg);
        assert!(matches!(b2, Message::Nack { .. }));
        let mut out1 = Vec::new();
        for (i, m) in [(0, a0), (1, a1), (2, b2)] {
            out1.extend(p1.handle(i, &m));
        }
        // p1 has 2 of 3 fast votes and one refusal: no fast quorum, classic.
        assert!(
            matches!(p1.phase, Phase::Preparing { .. }),
            "{:?}",
            p1.phase
        );
        let mut out2 = Vec::new();
        for (i, m) in [(0, b0), (1, b1), (2, a2)] {
            out2.extend(p2.handle(i, &m));
        }
        assert!(matches!(p2.phase, Phase::Preparing { .. }));
        // p1's classic ballot runs to the end, then p2's.
        run(&mut p1, &mut acc, out1);
        run(&mut p2, &mut acc, out2);
        let (c1, c2) = (p1.chosen().copied(), p2.chosen().copied());
        assert!(c1.is_some() || c2.is_some());
        if let (Some(a), Some(b)) = (c1, c2) {
            assert_eq!(a, b, "one value per chunk");
        }
    }

    #[test]
    fn a_promise_quorum_adopts_a_possibly_chosen_fast_value() {
        let v = |b: Ballot, x: u8| Some((b, x));
        let fast = Ballot::FAST;
        let c = |r| Ballot {
            round: r,
            proposer: 9,
        };
        let m =
            |xs: Vec<Option<(Ballot, u8)>>| xs.into_iter().enumerate().collect::<BTreeMap<_, _>>();
        // Both promises report fast votes for 5: 5 may be chosen (3 of 3).
        assert_eq!(
            pick_value(&m(vec![v(fast, 5), v(fast, 5)]), 2, 3, 3),
            Some(5)
        );
        // Split fast votes: nothing can have been chosen in the fast round.
        assert_eq!(pick_value(&m(vec![v(fast, 5), v(fast, 6)]), 2, 3, 3), None);
        // One fast vote and one empty acceptor (now promised): 5 cannot get 3.
        assert_eq!(pick_value(&m(vec![v(fast, 5), None]), 2, 3, 3), None);
        // A classic ballot wins over the fast round.
        assert_eq!(
            pick_value(&m(vec![v(fast, 5), v(c(2), 6)]), 2, 3, 3),
            Some(6)
        );
        assert_eq!(
            pick_value(&m(vec![v(c(1), 5), v(c(2), 6)]), 2, 3, 3),
            Some(6)
        );
        assert_eq!(pick_value(&m(vec![None, None]), 2, 3, 3), None);
    }

    #[test]
    fn acceptors_refuse_stale_ballots_and_vote_once_in_the_fast_round() {
        let mut a = Acceptor::<u8>::default();
        assert!(matches!(
            a.accept(Ballot::FAST, &1),
            Message::Accepted { .. }
        ));
        assert!(matches!(a.accept(Ballot::FAST, &2), Message::Nack { .. }));
        assert!(matches!(a.prepare(Ballot::FAST), Message::Nack { .. }));
        let b2 = Ballot {
            round: 2,
            proposer: 1,
        };
        let b1 = Ballot {
            round: 1,
            proposer: 3,
        };
        assert!(matches!(
            a.prepare(b2),
            Message::Promise {
                accepted: Some((Ballot::FAST, 1)),
                ..
            }
        ));
        assert!(matches!(a.prepare(b1), Message::Nack { promised, .. } if promised == b2));
        assert!(matches!(a.accept(b1, &3), Message::Nack { .. }));
        assert!(matches!(a.accept(b2, &3), Message::Accepted { .. }));
        assert_eq!(a.accepted, Some((b2, 3)));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Acceptor<u8>>(&json).unwrap(), a);
    }
}
