//! The live proposer: drives a [`Proposer`] over HTTP against the storage
//! nodes' `POST /paxos/{chunk_id}` (each request carries one message, its
//! response is the acceptor's reply). Tries the fast round first, then
//! classic ballots with a randomized back-off until a value is chosen.

use std::time::Duration;

use futures::{StreamExt, stream::FuturesUnordered};
use rand::Rng;

use vstack_core::consensus::{
    ChunkRecord,
    paxos::{Message, Outgoing, Proposer},
};

/// Errors of [`commit`].
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// No value was chosen within the attempts (a majority unreachable).
    #[error(
        "chunk {chunk_id}: no value chosen after {attempts} attempts (is a majority of nodes up?)"
    )]
    NoQuorum {
        /// The chunk.
        chunk_id: String,
        /// Attempts made.
        attempts: u32,
    },
}

/// What a commit cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Requests sent plus replies received.
    pub messages: usize,
    /// Attempts (the fast round counts as one).
    pub attempts: u32,
    /// Decided in the fast round.
    pub fast: bool,
}

async fn send(
    http: &crate::cluster::auth::ClusterClient,
    url: &str,
    to: usize,
    msg: Message<ChunkRecord>,
    timeout: Duration,
) -> (usize, Option<Message<ChunkRecord>>) {
    let r = http.post(url).json(&msg).timeout(timeout).send().await;
    let reply = match r {
        Ok(resp) if resp.status().is_success() => resp.json().await.ok(),
        _ => None,
    };
    (to, reply)
}

/// Commits `record` for its chunk through the acceptors at `nodes` (base
/// URLs) as proposer `proposer_id` (≥ 1, unique among concurrent uploaders).
/// Returns the chosen record — `record` itself, or another uploader's that
/// won — and the cost.
///
/// # Errors
/// [`CommitError::NoQuorum`] after `max_attempts` attempts without a choice.
pub async fn commit(
    http: &crate::cluster::auth::ClusterClient,
    nodes: &[String],
    proposer_id: u32,
    record: ChunkRecord,
    request_timeout: Duration,
    max_attempts: u32,
) -> Result<(ChunkRecord, CommitStats), CommitError> {
    let slot = record.chunk_id.clone();
    commit_instance(
        http,
        nodes,
        &slot,
        proposer_id,
        record,
        request_timeout,
        max_attempts,
    )
    .await
}

/// [`commit`] in the instance named `slot` (the chunk's position, e.g.
/// `film-00003`), which may differ from the record's content-addressed
/// `chunk_id`.
///
/// # Errors
/// [`CommitError::NoQuorum`] after `max_attempts` attempts without a choice.
pub async fn commit_instance(
    http: &crate::cluster::auth::ClusterClient,
    nodes: &[String],
    slot: &str,
    proposer_id: u32,
    record: ChunkRecord,
    request_timeout: Duration,
    max_attempts: u32,
) -> Result<(ChunkRecord, CommitStats), CommitError> {
    let chunk_id = slot.to_string();
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("{}/paxos/{chunk_id}", n.trim_end_matches('/')))
        .collect();
    let mut p = Proposer::new(proposer_id, nodes.len(), record);
    let mut stats = CommitStats::default();
    let mut out: Vec<Outgoing<ChunkRecord>> = p.start(true);
    loop {
        let mut inflight = FuturesUnordered::new();
        for o in out.drain(..) {
            stats.messages += 1;
            inflight.push(send(http, &urls[o.to], o.to, o.msg, request_timeout));
        }
        while let Some((from, reply)) = inflight.next().await {
            let Some(reply) = reply else { continue };
            stats.messages += 1;
            for o in p.handle(from, &reply) {
                stats.messages += 1;
                inflight.push(send(http, &urls[o.to], o.to, o.msg, request_timeout));
            }
            if let Some(v) = p.chosen() {
                stats.attempts = p.attempts;
                stats.fast = p.attempts == 1;
                return Ok((v.clone(), stats));
            }
        }
        if p.attempts >= max_attempts {
            return Err(CommitError::NoQuorum {
                chunk_id,
                attempts: p.attempts,
            });
        }
        // Back off a random 10–100 ms so dueling uploaders separate.
        let ms = rand::rng().random_range(10..=100);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        out = p.retry();
    }
}
