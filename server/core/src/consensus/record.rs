//! A recorded ChunkPaxos run as the Consensus tab replays it: every message
//! step with each node's state after it ([`ConsensusRecording`]). Built by
//! [`super::run::simulate`]; plain serde data on the wire.

use serde::{Deserialize, Serialize};

/// An acceptor's state as shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcceptorView {
    /// Name.
    pub name: String,
    /// Up (not in an outage).
    pub up: bool,
    /// Promised ballot (`fast`, `1.2`, …).
    pub promised: Option<String>,
    /// Last vote: ballot.
    pub accepted_ballot: Option<String>,
    /// Last vote: value label.
    pub accepted_value: Option<String>,
}

/// A proposer's state as shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposerView {
    /// Name.
    pub name: String,
    /// `idle`, `fast`, `preparing`, `accepting` or `chosen`.
    pub phase: String,
    /// Current ballot, if any.
    pub ballot: Option<String>,
    /// The value it learned, once chosen.
    pub chosen: Option<String>,
}

/// One recorded step of a ChunkPaxos run: a message delivered (or lost), a
/// proposer's start or timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsensusStep {
    /// Virtual time, ms.
    pub t_ms: f64,
    /// Sender name.
    pub from: String,
    /// Receiver name.
    pub to: String,
    /// `prepare`, `promise`, `accept`, `accepted`, `nack` or `timeout`.
    pub kind: String,
    /// Ballot of the message.
    pub ballot: String,
    /// Value label carried, if any.
    pub value: Option<String>,
    /// The message was lost (loss or a down acceptor).
    pub lost: bool,
    /// What happened, in a sentence.
    pub narration: String,
    /// Every acceptor after the step.
    pub acceptors: Vec<AcceptorView>,
    /// Every proposer after the step.
    pub proposers: Vec<ProposerView>,
}

/// A whole recorded ChunkPaxos run (the Consensus tab replays it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsensusRecording {
    /// Scenario name.
    pub scenario: String,
    /// What the scenario shows.
    pub description: String,
    /// Acceptor (storage node) names, in order.
    pub acceptor_names: Vec<String>,
    /// Proposer (uploader) names, in order.
    pub proposer_names: Vec<String>,
    /// The steps, in time order.
    pub steps: Vec<ConsensusStep>,
    /// The chosen value (label), if one was chosen.
    pub chosen: Option<String>,
    /// Every value some quorum voted for at one ballot (safety: at most one).
    pub chosen_by_quorum: Vec<String>,
    /// Messages sent (delivered or lost), timeouts excluded.
    pub messages: usize,
    /// Messages of a fast-path commit with every acceptor answering: 2·n.
    pub fast_path_messages: usize,
    /// Messages of a classic Paxos commit with every acceptor answering: 4·n.
    pub classic_messages: usize,
    /// Virtual time until every proposer learned the value, ms.
    pub decided_ms: Option<f64>,
}
