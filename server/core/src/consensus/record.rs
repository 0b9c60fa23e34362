//! A recorded ChunkPaxos run as the Consensus tab replays it: every message
//! step with each node's state after it ([`ConsensusRecording`]). Built by
//! [`super::run::simulate`]; plain serde data on the wire.

use serde::{Deserialize, Serialize};

/// A ChunkPaxos scenario the Consensus tab and `GET /api/consensus/{name}`
/// replay (snake_case names on the wire and in URLs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsensusScenario {
    /// One uploader; every node answers: the fast round decides.
    Normal,
    /// Two uploaders race for the same chunk: classic rounds resolve it.
    Conflict,
    /// A node is down: the quorum decides without it.
    NodeFailure,
}

impl ConsensusScenario {
    /// Every scenario, in the tab's order.
    pub const ALL: [ConsensusScenario; 3] = [
        ConsensusScenario::Normal,
        ConsensusScenario::Conflict,
        ConsensusScenario::NodeFailure,
    ];

    /// `normal`, `conflict`, `node_failure`.
    pub fn name(self) -> &'static str {
        match self {
            ConsensusScenario::Normal => "normal",
            ConsensusScenario::Conflict => "conflict",
            ConsensusScenario::NodeFailure => "node_failure",
        }
    }

    /// Parses [`Self::name`]; `None` for any other text.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }
}

impl std::fmt::Display for ConsensusScenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a recorded step is: a proposer's start or timeout, or one of the
/// five ChunkPaxos messages (seed `003_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A proposer starts its round.
    Start,
    /// Phase 1a.
    Prepare,
    /// Phase 1b.
    Promise,
    /// Phase 2a (also the fast round's proposal).
    Accept,
    /// Phase 2b.
    Accepted,
    /// A refusal naming a higher ballot.
    Nack,
    /// A proposer's timer fired.
    Timeout,
}

impl StepKind {
    /// The wire name (`start`, `prepare`, …).
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Start => "start",
            StepKind::Prepare => "prepare",
            StepKind::Promise => "promise",
            StepKind::Accept => "accept",
            StepKind::Accepted => "accepted",
            StepKind::Nack => "nack",
            StepKind::Timeout => "timeout",
        }
    }

    /// Whether the step is a message (counted in
    /// [`ConsensusRecording::messages`]); a start or timeout is not.
    pub fn is_message(self) -> bool {
        !matches!(self, StepKind::Start | StepKind::Timeout)
    }
}

impl std::fmt::Display for StepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a proposer's round stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposerPhase {
    /// Not started.
    Idle,
    /// In the fast round.
    Fast,
    /// Phase 1 of a classic round.
    Preparing,
    /// Phase 2 of a classic round.
    Accepting,
    /// It learned the chosen value.
    Chosen,
}

impl ProposerPhase {
    /// The wire name (`idle`, `fast`, …).
    pub fn name(self) -> &'static str {
        match self {
            ProposerPhase::Idle => "idle",
            ProposerPhase::Fast => "fast",
            ProposerPhase::Preparing => "preparing",
            ProposerPhase::Accepting => "accepting",
            ProposerPhase::Chosen => "chosen",
        }
    }
}

impl std::fmt::Display for ProposerPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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
    /// Where its round stands (`"idle"`, `"fast"`, `"preparing"`,
    /// `"accepting"` or `"chosen"` on the wire).
    pub phase: ProposerPhase,
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
    /// What happened (`"start"`, `"prepare"`, `"promise"`, `"accept"`,
    /// `"accepted"`, `"nack"` or `"timeout"` on the wire).
    pub kind: StepKind,
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
    /// The scenario recorded (`"normal"`, `"conflict"` or `"node_failure"`
    /// on the wire).
    pub scenario: ConsensusScenario,
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
