//! The replication manager: adaptive redundancy's background loop in the
//! metadata service (seeds `000_*`/`001_*`, "dynamic replication
//! strategies").
//!
//! Every tick ([`RedundancyConfig::tick_ms`]) it reads the registry (health
//! from heartbeats, free space), the nodes' popularity reports and the
//! catalog, asks the pure policy ([`vstack_core::redundancy::plan`]) what to
//! do, and runs at most [`RedundancyConfig::max_concurrent_repairs`] actions
//! at once:
//!
//! - **copy** (repair or a hot chunk's extra replica): the bytes are read from
//!   a live replica through one shared [`TokenBucket`] (the repair cap), their
//!   SHA-256 checked against the record, written to the target (which checks
//!   them again), and only then committed;
//! - **adopt**: a returning node's verified copy joins the record, no bytes
//!   move;
//! - **trim**: the record drops the copy first, then the bytes are deleted.
//!
//! A replica-set change is revision *k* + 1 of the chunk's record, decided in
//! its own ChunkPaxos instance ([`super::ingest::revision_slot`]) among every
//! registered node. The catalog takes the *chosen* record, so two managers (or
//! a manager and an uploader) never disagree about where a chunk lives: the
//! loser learns the winner's record in the same instance, adopts it and plans
//! again. A copy the chosen record does not name is deleted again.
//!
//! The loop publishes a `ReplicationReport` ([`super::replica_view`]) after each tick
//! (`GET /replication` on the metadata service) and keeps an event feed
//! ("node-3 lost → 40 chunks under-replicated → repaired in 12.4 s, 250 MB
//! moved").

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use tokio::{task::JoinHandle, time::Instant};

use vstack_core::{
    consensus::ChunkRecord,
    redundancy::{
        MAX_EVENTS, NodeStatus, RedundancyConfig, RedundancyEvent, RedundancyEventKind,
        RepairAction, TokenBucket, plan,
    },
};

use super::{
    ingest::{revision_slot, slot_of},
    metadata::MetadataService,
    proposer,
    replica_view::{World, build_report},
    storage::{HASH_HEADER, StoredChunk},
    wire::ChunkEntry,
};
use crate::{http::sha256_hex, sync::LockExt};

/// Revision instances a commit tries past ones holding a decision about
/// another chunk (left from an earlier catalog of the same video id) before
/// it gives up.
pub const MAX_STALE_REVISIONS: u64 = 16;

/// Counters and the event feed, shared by the loop and its actions.
#[derive(Debug, Default)]
struct Counters {
    bytes_repaired: u64,
    copies_done: u64,
    copies_failed: u64,
    trims_done: u64,
    /// (when, bytes) of repair reads, for the rate over the last 5 s.
    reads: VecDeque<(Instant, u64)>,
    events: VecDeque<RedundancyEvent>,
}

impl Counters {
    fn event(&mut self, kind: RedundancyEventKind, message: String) {
        tracing::info!(target: "vstack::replication", "{message}");
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(RedundancyEvent {
            unix_ms: unix_ms(),
            kind,
            message,
        });
    }

    fn read(&mut self, bytes: u64) {
        let now = Instant::now();
        self.reads.push_back((now, bytes));
        while self
            .reads
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > RATE_WINDOW)
        {
            self.reads.pop_front();
        }
    }

    fn rate_mbps(&mut self) -> f64 {
        let now = Instant::now();
        while self
            .reads
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > RATE_WINDOW)
        {
            self.reads.pop_front();
        }
        let bytes: u64 = self.reads.iter().map(|(_, b)| b).sum();
        bytes as f64 * 8.0 / RATE_WINDOW.as_secs_f64() / 1e6
    }
}

/// Window of the reported repair rate.
const RATE_WINDOW: Duration = Duration::from_secs(5);
/// Bytes read per step of a throttled copy.
const READ_STEP_BYTES: u64 = 64 * 1024;

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A loss being repaired: opened when a node is declared lost, closed when
/// nothing is under-replicated any more.
#[derive(Debug)]
struct Incident {
    node: String,
    since: Instant,
    under: usize,
    bytes_at_start: u64,
}

/// The loop's own state between ticks.
#[derive(Debug, Default)]
struct LoopState {
    statuses: HashMap<String, NodeStatus>,
    incident: Option<Incident>,
    last_loss: Option<Instant>,
    /// Chunk keys hot by popularity at the last tick, per video.
    hot: HashSet<(String, u32)>,
}

/// A running replication manager; dropping the handle does not stop it
/// ([`ManagerHandle::stop`] does).
#[derive(Debug)]
pub struct ManagerHandle {
    inner: Arc<Manager>,
    task: JoinHandle<()>,
}

impl ManagerHandle {
    /// Stops the loop (copies in flight finish or are dropped with it).
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Also applies every committed change to `other`'s catalog (the
    /// dashboard's twin cluster, which reads the same disks).
    pub fn add_mirror(&self, other: Arc<MetadataService>) {
        self.inner.mirrors.locked().push(other);
    }

    /// The policy in force.
    pub fn config(&self) -> &RedundancyConfig {
        &self.inner.cfg
    }
}

impl Drop for ManagerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
struct Manager {
    svc: Arc<MetadataService>,
    cfg: RedundancyConfig,
    http: crate::cluster::auth::ClusterClient,
    proposer_id: u32,
    name: String,
    counters: Mutex<Counters>,
    bucket: Mutex<TokenBucket>,
    started: Instant,
    in_flight: Mutex<HashMap<(String, u32), RepairAction>>,
    mirrors: Mutex<Vec<Arc<MetadataService>>>,
    /// Chunks a returning node holds (node → chunk id → hash), listed when it
    /// came back; entries leave as they are adopted or trimmed.
    listings: Mutex<HashMap<String, HashMap<String, String>>>,
}

/// Starts the replication manager of `svc` with policy `cfg`; `http` must
/// carry the cluster token (copies, deletes and ChunkPaxos messages change
/// state on the nodes).
///
/// # Errors
/// The policy's range error ([`RedundancyConfig::validate`]).
pub fn spawn(
    svc: Arc<MetadataService>,
    cfg: RedundancyConfig,
    http: crate::cluster::auth::ClusterClient,
) -> Result<ManagerHandle, String> {
    cfg.validate()?;
    let proposer_id = rand::random::<u32>().max(1);
    let rate = cfg.repair_cap_bytes_per_s();
    let inner = Arc::new(Manager {
        svc,
        http,
        proposer_id,
        name: format!("replication-manager-{proposer_id:08x}"),
        counters: Mutex::new(Counters::default()),
        // A burst of 50 ms of the cap, at least one read step.
        bucket: Mutex::new(TokenBucket::new(
            rate,
            (rate / 20.0).max(READ_STEP_BYTES as f64),
        )),
        started: Instant::now(),
        in_flight: Mutex::new(HashMap::new()),
        mirrors: Mutex::new(Vec::new()),
        listings: Mutex::new(HashMap::new()),
        cfg,
    });
    let m = inner.clone();
    let task = tokio::spawn(async move { m.run().await });
    Ok(ManagerHandle { inner, task })
}

/// Why an action did not complete.
#[derive(Debug, thiserror::Error)]
enum ActionError {
    #[error("{0}")]
    Http(String),
    #[error("hash mismatch reading {chunk} from {node}")]
    Corrupt { chunk: String, node: String },
    #[error("{0}")]
    Consensus(String),
    #[error("another change won revision {revision} of {chunk}")]
    LostRace { chunk: String, revision: u64 },
}

impl Manager {
    async fn run(self: Arc<Self>) {
        let mut state = LoopState::default();
        let mut tick = tokio::time::interval(Duration::from_millis(self.cfg.tick_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.tick(&mut state).await;
        }
    }

    async fn tick(self: &Arc<Self>, state: &mut LoopState) {
        let listings = self.listings.locked().clone();
        let w0 = world(&self.svc, &self.cfg, &listings);
        self.transitions(state, &w0).await;
        let listings = self.listings.locked().clone();
        let w = world(&self.svc, &self.cfg, &listings);
        let in_flight = self.in_flight.locked().clone();
        let busy: Vec<bool> = w
            .keys
            .iter()
            .map(|&(mi, ci)| {
                let m = &w.manifests[mi];
                in_flight.contains_key(&(m.video_id.clone(), m.chunks[ci].index))
            })
            .collect();
        let free_slots = self
            .cfg
            .max_concurrent_repairs
            .saturating_sub(in_flight.len());
        let all = plan(&w.chunks, &w.views, &busy, usize::MAX, &self.cfg);
        self.popularity_events(state, &w, &all);
        let mut report = build_report(&w, &all, &self.cfg, &in_flight);
        for action in all.actions.iter().take(free_slots) {
            self.start(&w, action.clone());
        }
        // Incidents close once nothing is under-replicated or in flight.
        if let Some(inc) = &state.incident
            && all.under_replicated == 0
            && in_flight.is_empty()
        {
            let mut c = self.counters.locked();
            let moved = c.bytes_repaired.saturating_sub(inc.bytes_at_start);
            let msg = format!(
                "{} lost → {} chunks under-replicated → repaired in {:.1} s, {:.1} MB moved",
                inc.node,
                inc.under,
                inc.since.elapsed().as_secs_f64(),
                moved as f64 / 1e6
            );
            c.event(RedundancyEventKind::Repaired, msg);
            state.incident = None;
        }
        let in_flight_now = self.in_flight.locked().len();
        let mut c = self.counters.locked();
        report.totals.repairs_in_flight = in_flight_now;
        report.totals.queued = all.actions.len().saturating_sub(free_slots);
        report.totals.bytes_repaired = c.bytes_repaired;
        report.totals.copies_done = c.copies_done;
        report.totals.copies_failed = c.copies_failed;
        report.totals.trims_done = c.trims_done;
        report.totals.since_last_loss_ms = state.last_loss.map(|t| t.elapsed().as_millis() as u64);
        report.totals.repair_mbps = c.rate_mbps();
        report.events = c.events.iter().cloned().collect();
        drop(c);
        self.svc.set_replication_report(report);
    }

    /// Node status changes: a loss opens an incident, a return lists the
    /// node's chunks (its copies may be adopted or trimmed).
    async fn transitions(&self, state: &mut LoopState, w: &World) {
        let p = plan(&w.chunks, &w.views, &[], 0, &self.cfg);
        for (n, v) in w.nodes.iter().zip(&w.views) {
            let before = state.statuses.insert(n.node_id.clone(), v.status);
            match (before, v.status) {
                (Some(b), NodeStatus::Lost) if b != NodeStatus::Lost => {
                    state.last_loss = Some(Instant::now());
                    self.listings.locked().remove(&n.node_id);
                    let msg = format!(
                        "{} lost → {} chunks under-replicated",
                        n.node_id, p.under_replicated
                    );
                    self.counters
                        .locked()
                        .event(RedundancyEventKind::NodeLost, msg);
                    if state.incident.is_none() {
                        state.incident = Some(Incident {
                            node: n.node_id.clone(),
                            since: Instant::now(),
                            under: p.under_replicated,
                            bytes_at_start: self.counters.locked().bytes_repaired,
                        });
                    } else if let Some(inc) = &mut state.incident {
                        inc.node = format!("{} + {}", inc.node, n.node_id);
                        inc.under = inc.under.max(p.under_replicated);
                    }
                }
                (Some(b), NodeStatus::Live) if b != NodeStatus::Live => {
                    let listing = self.list(&n.url).await;
                    let held = listing.as_ref().map_or(0, HashMap::len);
                    let msg = format!("{} back ({held} chunks on disk)", n.node_id);
                    self.counters
                        .locked()
                        .event(RedundancyEventKind::NodeBack, msg);
                    if let Some(l) = listing {
                        self.listings.locked().insert(n.node_id.clone(), l);
                    }
                }
                _ => {}
            }
        }
    }

    /// One event per video whose hot set changed.
    fn popularity_events(
        &self,
        state: &mut LoopState,
        w: &World,
        p: &vstack_core::redundancy::Plan,
    ) {
        let mut hot = HashSet::new();
        for ((&(mi, ci), view), count) in w.keys.iter().zip(&w.chunks).zip(&p.counts) {
            if view.popularity >= self.cfg.hot_gets && count.target_rf > self.cfg.base_rf {
                hot.insert((w.manifests[mi].video_id.clone(), ci as u32));
            }
        }
        let mut videos: Vec<&String> = hot
            .symmetric_difference(&state.hot)
            .map(|(v, _)| v)
            .collect();
        videos.sort();
        videos.dedup();
        for v in videos {
            let now_hot = hot.iter().filter(|(x, _)| x == v).count();
            let was_hot = state.hot.iter().filter(|(x, _)| x == v).count();
            let msg = if now_hot > was_hot {
                format!("{v}: {now_hot} chunks hot → more replicas")
            } else {
                format!("{v}: {now_hot} chunks above the base factor by popularity (was {was_hot})")
            };
            self.counters
                .locked()
                .event(RedundancyEventKind::Popularity, msg);
        }
        state.hot = hot;
    }

    async fn list(&self, url: &str) -> Option<HashMap<String, String>> {
        let r = self
            .http
            .get(format!("{url}/chunks"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?;
        let v: Vec<StoredChunk> = r.json().await.ok()?;
        Some(v.into_iter().map(|c| (c.chunk_id, c.sha256)).collect())
    }

    fn start(self: &Arc<Self>, w: &World, action: RepairAction) {
        let (mi, ci) = w.keys[action.chunk()];
        let m = &w.manifests[mi];
        let c = m.chunks[ci].clone();
        let key = (m.video_id.clone(), c.index);
        if self
            .in_flight
            .locked()
            .insert(key.clone(), action.clone())
            .is_some()
        {
            return;
        }
        let urls: HashMap<String, String> = w
            .nodes
            .iter()
            .map(|n| (n.node_id.clone(), n.url.clone()))
            .collect();
        let lost: HashSet<String> = w
            .views
            .iter()
            .filter(|v| v.status == NodeStatus::Lost)
            .map(|v| v.node_id.clone())
            .collect();
        let (video_id, version) = (m.video_id.clone(), m.version);
        let me = self.clone();
        tokio::spawn(async move {
            let r = me
                .execute(&video_id, version, &c, &action, &urls, &lost)
                .await;
            if let Err(e) = r {
                let mut k = me.counters.locked();
                if matches!(action, RepairAction::Copy { .. }) {
                    k.copies_failed += 1;
                }
                if !matches!(e, ActionError::LostRace { .. }) {
                    k.event(
                        RedundancyEventKind::Failure,
                        format!("{video_id} chunk {}: {e}", c.index),
                    );
                }
            }
            me.in_flight.locked().remove(&key);
        });
    }

    async fn execute(
        &self,
        video_id: &str,
        version: u64,
        c: &ChunkEntry,
        action: &RepairAction,
        urls: &HashMap<String, String>,
        lost: &HashSet<String>,
    ) -> Result<(), ActionError> {
        let url = |n: &str| {
            urls.get(n)
                .cloned()
                .ok_or_else(|| ActionError::Http(format!("unknown node {n}")))
        };
        // Lost nodes leave the record with the next change.
        let mut replicas: Vec<String> = c
            .replicas
            .iter()
            .filter(|r| !lost.contains(*r))
            .cloned()
            .collect();
        match action {
            RepairAction::Copy { from, to, .. } => {
                let bytes = match self.read_throttled(&url(from)?, c, from).await {
                    Ok(b) => b,
                    Err(e @ ActionError::Corrupt { .. }) => {
                        // A corrupt replica leaves the record and the disk;
                        // the chunk is then repaired from a good one.
                        let kept: Vec<String> =
                            replicas.iter().filter(|r| *r != from).cloned().collect();
                        if !kept.is_empty() {
                            let chosen = self.commit(video_id, version, c, kept, urls).await?;
                            if !chosen.replicas.contains(from) {
                                self.delete(&url(from)?, &c.chunk_id).await;
                            }
                        }
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                };
                self.put(&url(to)?, c, bytes).await?;
                replicas.push(to.clone());
                let chosen = self.commit(video_id, version, c, replicas, urls).await;
                let chosen = match chosen {
                    Ok(r) => r,
                    Err(e) => {
                        self.delete(&url(to)?, &c.chunk_id).await;
                        return Err(e);
                    }
                };
                if !chosen.replicas.contains(to) {
                    self.delete(&url(to)?, &c.chunk_id).await;
                    return Err(ActionError::LostRace {
                        chunk: c.chunk_id.clone(),
                        revision: chosen.revision,
                    });
                }
                self.counters.locked().copies_done += 1;
                Ok(())
            }
            RepairAction::Adopt { node, .. } => {
                replicas.push(node.clone());
                self.forget(node, &c.chunk_id);
                self.commit(video_id, version, c, replicas, urls).await?;
                Ok(())
            }
            RepairAction::Trim { node, .. } => {
                if replicas.contains(node) {
                    replicas.retain(|r| r != node);
                    let chosen = self.commit(video_id, version, c, replicas, urls).await?;
                    if chosen.replicas.contains(node) {
                        return Err(ActionError::LostRace {
                            chunk: c.chunk_id.clone(),
                            revision: chosen.revision,
                        });
                    }
                }
                self.forget(node, &c.chunk_id);
                self.delete(&url(node)?, &c.chunk_id).await;
                self.counters.locked().trims_done += 1;
                Ok(())
            }
        }
    }

    /// Drops `chunk_id` from `node`'s listing (adopted or trimmed).
    fn forget(&self, node: &str, chunk_id: &str) {
        if let Some(l) = self.listings.locked().get_mut(node) {
            l.remove(chunk_id);
        }
    }

    /// Reads chunk `c` from `url` under the repair cap and checks its hash.
    async fn read_throttled(
        &self,
        url: &str,
        c: &ChunkEntry,
        node: &str,
    ) -> Result<bytes::Bytes, ActionError> {
        let resp = self
            .http
            .get(format!("{url}/chunks/{}", c.chunk_id))
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| ActionError::Http(format!("reading from {node}: {e}")))?;
        let cap = usize::try_from(c.size_bytes).unwrap_or(usize::MAX);
        let mut buf = bytes::BytesMut::with_capacity(cap.min(64 << 20));
        let mut stream = resp.bytes_stream();
        while let Some(piece) = stream.next().await {
            let piece =
                piece.map_err(|e| ActionError::Http(format!("reading from {node}: {e}")))?;
            if (buf.len() + piece.len()) as u64 > c.size_bytes {
                return Err(ActionError::Corrupt {
                    chunk: c.chunk_id.clone(),
                    node: node.to_string(),
                });
            }
            let mut off = 0;
            while off < piece.len() {
                let step = (piece.len() - off).min(READ_STEP_BYTES as usize);
                let wait = self
                    .bucket
                    .locked()
                    .reserve(self.started.elapsed(), step as u64);
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                buf.extend_from_slice(&piece[off..off + step]);
                self.counters.locked().read(step as u64);
                off += step;
            }
        }
        let bytes = buf.freeze();
        if bytes.len() as u64 != c.size_bytes || sha256_hex(&bytes) != c.sha256 {
            return Err(ActionError::Corrupt {
                chunk: c.chunk_id.clone(),
                node: node.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Writes a verified copy; the node checks the hash header again.
    async fn put(&self, url: &str, c: &ChunkEntry, bytes: bytes::Bytes) -> Result<(), ActionError> {
        let len = bytes.len() as u64;
        self.http
            .put(format!("{url}/chunks/{}", c.chunk_id))
            .header(HASH_HEADER, &c.sha256)
            .body(bytes)
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| ActionError::Http(format!("writing to {url}: {e}")))?;
        self.counters.locked().bytes_repaired += len;
        Ok(())
    }

    async fn delete(&self, url: &str, chunk_id: &str) {
        let _ = self
            .http
            .delete(format!("{url}/chunks/{chunk_id}"))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
    }

    /// Commits revision `c.revision + 1` with `replicas` in its ChunkPaxos
    /// instance (or a later one, when that instance holds a decision about
    /// another chunk: at most [`MAX_STALE_REVISIONS`] tried) and applies the
    /// chosen record to the catalog (and mirrors).
    /// Returns the chosen record; [`ActionError::LostRace`] is not returned
    /// here: the caller compares.
    async fn commit(
        &self,
        video_id: &str,
        version: u64,
        c: &ChunkEntry,
        replicas: Vec<String>,
        urls: &HashMap<String, String>,
    ) -> Result<ChunkRecord, ActionError> {
        let mut acceptors: Vec<String> = urls.values().cloned().collect();
        acceptors.sort();
        let mut revision = c.revision;
        let chosen = loop {
            revision = revision.saturating_add(1);
            let record = ChunkRecord {
                chunk_id: c.chunk_id.clone(),
                sha256: c.sha256.clone(),
                size_bytes: c.size_bytes,
                duration_ms: c.duration_ms,
                replicas: replicas.clone(),
                version,
                uploader: self.name.clone(),
                revision,
            };
            let slot = revision_slot(&slot_of(video_id, version, c.index as usize), revision);
            let (chosen, _) = proposer::commit_instance(
                &self.http,
                &acceptors,
                &slot,
                self.proposer_id,
                record,
                Duration::from_secs(3),
                10,
            )
            .await
            .map_err(|e| ActionError::Consensus(e.to_string()))?;
            // A decision about another chunk in this slot is left from an
            // earlier catalog of the same video id (the acceptors keep their
            // state in the nodes' data directories; an embedded catalog does
            // not): this revision is taken, the next one may be free.
            if chosen.chunk_id == c.chunk_id
                || revision >= c.revision.saturating_add(MAX_STALE_REVISIONS)
            {
                break chosen;
            }
        };
        if chosen.chunk_id != c.chunk_id {
            return Err(ActionError::Consensus(format!(
                "revisions {}..={revision} of {} hold decisions about other chunks",
                c.revision + 1,
                c.chunk_id
            )));
        }
        let entry = ChunkEntry {
            index: c.index,
            chunk_id: chosen.chunk_id.clone(),
            duration_ms: chosen.duration_ms,
            size_bytes: chosen.size_bytes,
            sha256: chosen.sha256.clone(),
            replicas: chosen.replicas.clone(),
            revision: chosen.revision,
        };
        self.svc
            .update_chunk(video_id, version, entry.clone())
            .await
            .map_err(|e| ActionError::Http(e.message))?;
        let mirrors = self.mirrors.locked().clone();
        for m in mirrors {
            let _ = m.update_chunk(video_id, version, entry.clone()).await;
        }
        Ok(chosen)
    }
}

/// What one tick sees of `svc` (see [`super::replica_view::world`]).
fn world(
    svc: &MetadataService,
    cfg: &RedundancyConfig,
    listings: &HashMap<String, HashMap<String, String>>,
) -> World {
    super::replica_view::world(
        svc.node_usage(),
        svc.manifests(),
        svc.heartbeat_timeout(),
        cfg,
        listings,
    )
}
