//! Adaptive redundancy, the decisions: how many replicas each chunk should
//! have and which copies to make or remove (seeds `000_*`/`001_*`: "dynamic
//! replication strategies").
//!
//! The policy is a pure function of (chunk popularity, node health, node free
//! space, [`RedundancyConfig`]): [`target_rf`] gives a chunk's target
//! replication factor, [`plan`] the ordered repair, adoption and trim actions
//! that bring the cluster to it. The server's replication manager (in the
//! metadata service) gathers the inputs, executes the actions under a
//! [`TokenBucket`] throttle and commits each replica-set change through the
//! chunk's ChunkPaxos log; [`PopularityWindow`] is the nodes' sliding-window
//! GET counter that feeds the popularity.
//!
//! Anchors:
//! - HDFS: an under-replicated queue with priorities (one live copy first),
//!   throttled re-replication (`dfs.namenode.replication.max-streams`, default
//!   2, is [`RedundancyConfig::max_concurrent_repairs`]), excess replicas
//!   removed when a node returns;
//! - Ceph: recovery throttles so client I/O keeps priority
//!   ([`RedundancyConfig::repair_cap_mbps`]);
//! - Scarlett (EuroSys 2011): replicate by observed popularity, back to the
//!   base factor when it cools ([`RedundancyConfig::hot_gets`] and
//!   [`RedundancyConfig::cool_gets`], a hysteresis band).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The replication policy's settings; every default stated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedundancyConfig {
    /// Base replication factor. Default 2 (what ingest writes).
    pub base_rf: usize,
    /// Most replicas a hot chunk gets. Default `None`: every live node.
    pub max_rf: Option<usize>,
    /// GET requests of a chunk over the popularity window, summed over the
    /// nodes, at which it becomes hot. Default 6.
    pub hot_gets: u64,
    /// At or below this many GETs a hot chunk cools back to the base factor
    /// (between `cool_gets` and `hot_gets` it keeps what it has). Default 1.
    pub cool_gets: u64,
    /// The first this many chunks of every video count as hot: they carry
    /// startup. Default 1.
    pub startup_chunks: usize,
    /// Length of the nodes' popularity window, ms. Default 60 000.
    pub popularity_window_ms: u64,
    /// A node down for this long loses its replicas from the count (HDFS'
    /// dead-node interval, shortened). Default 30 000 ms.
    pub grace_ms: u64,
    /// Cap on the bytes repairs read per second, Mbit/s (0.01 – 100 000).
    /// Default 40.
    pub repair_cap_mbps: f64,
    /// Copies in flight at once (1 – 64). Default 2 (HDFS'
    /// `dfs.namenode.replication.max-streams`).
    pub max_concurrent_repairs: usize,
    /// Period of the manager's loop, ms (50 – 60 000). Default 1 000.
    pub tick_ms: u64,
}

impl Default for RedundancyConfig {
    fn default() -> Self {
        Self {
            base_rf: 2,
            max_rf: None,
            hot_gets: 6,
            cool_gets: 1,
            startup_chunks: 1,
            popularity_window_ms: 60_000,
            grace_ms: 30_000,
            repair_cap_mbps: 40.0,
            max_concurrent_repairs: 2,
            tick_ms: 1_000,
        }
    }
}

impl RedundancyConfig {
    /// Checks every field's range.
    ///
    /// # Errors
    /// A message naming the field, its value and its range.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.base_rf) {
            return Err(format!("base_rf {} out of range 1..=64", self.base_rf));
        }
        if let Some(m) = self.max_rf
            && !(self.base_rf..=64).contains(&m)
        {
            return Err(format!(
                "max_rf {m} out of range {}..=64 (at least base_rf)",
                self.base_rf
            ));
        }
        if self.cool_gets >= self.hot_gets {
            return Err(format!(
                "cool_gets {} must be below hot_gets {}",
                self.cool_gets, self.hot_gets
            ));
        }
        if !(1_000..=86_400_000).contains(&self.popularity_window_ms) {
            return Err(format!(
                "popularity_window_ms {} out of range 1000..=86400000",
                self.popularity_window_ms
            ));
        }
        if self.grace_ms > 86_400_000 {
            return Err(format!("grace_ms {} over 86400000", self.grace_ms));
        }
        if !(self.repair_cap_mbps.is_finite() && (0.01..=100_000.0).contains(&self.repair_cap_mbps))
        {
            return Err(format!(
                "repair_cap_mbps {:e} out of range 0.01..=100000",
                self.repair_cap_mbps
            ));
        }
        if !(1..=64).contains(&self.max_concurrent_repairs) {
            return Err(format!(
                "max_concurrent_repairs {} out of range 1..=64",
                self.max_concurrent_repairs
            ));
        }
        if !(50..=60_000).contains(&self.tick_ms) {
            return Err(format!("tick_ms {} out of range 50..=60000", self.tick_ms));
        }
        Ok(())
    }

    /// The repair cap in bytes per second.
    pub fn repair_cap_bytes_per_s(&self) -> f64 {
        self.repair_cap_mbps * 1e6 / 8.0
    }
}

/// A storage node as the policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Heartbeating: holds replicas, serves as a source, takes new copies.
    Live,
    /// Missed its heartbeats for less than the grace period: its replicas
    /// still count, it is neither a source nor a target.
    Suspect,
    /// Down for the grace period or longer: its replicas no longer count.
    Lost,
}

/// One node's inputs to [`plan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// Node id.
    pub node_id: String,
    /// Health, from heartbeats and the grace period.
    pub status: NodeStatus,
    /// Free space on its data disk, bytes (from its heartbeat).
    pub free_bytes: u64,
    /// Load: GET requests it served over the popularity window.
    pub load_gets: u64,
}

/// One chunk's inputs to [`plan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkView {
    /// Position of the chunk's media in its video (0 = first). An fMP4
    /// initialization segment (no media, fetched before the first media
    /// chunk) counts as 0 too: startup needs both.
    pub index: usize,
    /// Size, bytes.
    pub size_bytes: u64,
    /// Nodes its committed record names.
    pub replicas: Vec<String>,
    /// Nodes holding a verified copy the record does not name (a returning
    /// node's old copy): adopted when the chunk needs one, removed as excess
    /// otherwise.
    pub extra: Vec<String>,
    /// GET requests over the popularity window, summed over the nodes.
    pub popularity: u64,
}

/// What [`plan`] asks for, in priority order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RepairAction {
    /// Copy chunk `chunk` (an index into the `chunks` given) from `from` to
    /// `to`, verify its hash there, then commit `to` into the record.
    Copy {
        /// Index into the chunk list.
        chunk: usize,
        /// A live replica.
        from: String,
        /// A live node without a copy.
        to: String,
        /// Bytes the copy moves.
        size_bytes: u64,
    },
    /// Commit `node`'s existing, verified copy into the record (no bytes move).
    Adopt {
        /// Index into the chunk list.
        chunk: usize,
        /// The node holding an unrecorded copy.
        node: String,
    },
    /// Remove `node`'s copy: commit the record without it first when the
    /// record names it, then delete the bytes.
    Trim {
        /// Index into the chunk list.
        chunk: usize,
        /// The node whose copy goes.
        node: String,
    },
}

impl RepairAction {
    /// The chunk the action is about.
    pub fn chunk(&self) -> usize {
        match self {
            RepairAction::Copy { chunk, .. }
            | RepairAction::Adopt { chunk, .. }
            | RepairAction::Trim { chunk, .. } => *chunk,
        }
    }
}

/// A chunk's replica counts under the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkCount {
    /// The target replication factor.
    pub target_rf: usize,
    /// Replicas that count: the record's on live or suspect nodes.
    pub counted: usize,
}

/// The outcome of [`plan`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Per chunk (same order as the input): target and counted replicas.
    pub counts: Vec<ChunkCount>,
    /// Actions in priority order: repairs and adoptions (fewest counted
    /// copies first, then most popular, then earliest in the video), then
    /// trims.
    pub actions: Vec<RepairAction>,
    /// Chunks below their target.
    pub under_replicated: usize,
    /// Chunks above their target (counting unrecorded copies).
    pub over_replicated: usize,
    /// Chunks without a single counted copy: nothing left to copy from.
    pub unavailable: usize,
}

/// A chunk's target replication factor: `base_rf`, or up to `max_rf` (and
/// never more than the live nodes) while hot. Hot: at or over `hot_gets`, or
/// among the first `startup_chunks`. Between `cool_gets` and `hot_gets` a chunk
/// keeps `counted` (hysteresis: no flapping around one threshold). Never below
/// 1 or above `live_nodes` unless `base_rf` itself is (a cluster with fewer
/// live nodes than the base keeps the base as its target: under-replicated,
/// honestly).
pub fn target_rf(
    c: &ChunkView,
    counted: usize,
    live_nodes: usize,
    cfg: &RedundancyConfig,
) -> usize {
    let base = cfg.base_rf.max(1);
    let hot_rf = cfg.max_rf.unwrap_or(usize::MAX).min(live_nodes).max(base);
    let hot = c.index < cfg.startup_chunks || c.popularity >= cfg.hot_gets;
    if hot {
        hot_rf
    } else if c.popularity > cfg.cool_gets {
        counted.clamp(base, hot_rf)
    } else {
        base
    }
}

/// The actions that bring every chunk to its target, at most
/// `max_actions` of them (the manager asks for what it can run now);
/// `busy[i]` marks chunk `i` as having an action in flight (it gets no
/// other). Targets for copies are the live nodes without the chunk with the
/// most free space, then the least load (copies planned in this call count as
/// load); sources the least loaded live replica. Trims take the copy on the
/// node with the least free space, then the most load; unrecorded copies go
/// first, a suspect node's never.
pub fn plan(
    chunks: &[ChunkView],
    nodes: &[NodeView],
    busy: &[bool],
    max_actions: usize,
    cfg: &RedundancyConfig,
) -> Plan {
    let status: HashMap<&str, NodeStatus> = nodes
        .iter()
        .map(|n| (n.node_id.as_str(), n.status))
        .collect();
    // Hot chunks may spread over every node not lost.
    let live_nodes = nodes
        .iter()
        .filter(|n| n.status != NodeStatus::Lost)
        .count();
    let is = |id: &str, s: NodeStatus| status.get(id) == Some(&s);
    let mut load: HashMap<&str, u64> = nodes
        .iter()
        .map(|n| (n.node_id.as_str(), n.load_gets))
        .collect();
    let mut free: HashMap<&str, u64> = nodes
        .iter()
        .map(|n| (n.node_id.as_str(), n.free_bytes))
        .collect();
    let mut out = Plan::default();
    // (counted, popularity desc, index) → priority of under-replicated chunks.
    let mut under: Vec<(usize, std::cmp::Reverse<u64>, usize, usize)> = Vec::new();
    let mut over: Vec<usize> = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let counted = c
            .replicas
            .iter()
            .filter(|r| is(r, NodeStatus::Live) || is(r, NodeStatus::Suspect))
            .count();
        let target = target_rf(c, counted, live_nodes, cfg);
        let extra_live = c
            .extra
            .iter()
            .filter(|r| is(r, NodeStatus::Live) && !c.replicas.contains(r))
            .count();
        out.counts.push(ChunkCount {
            target_rf: target,
            counted,
        });
        if counted == 0 {
            out.unavailable += 1;
        }
        if counted < target {
            out.under_replicated += 1;
            under.push((counted, std::cmp::Reverse(c.popularity), c.index, i));
        } else if counted + extra_live > target {
            out.over_replicated += 1;
            over.push(i);
        }
    }
    under.sort();
    for &(counted, _, _, i) in &under {
        if out.actions.len() >= max_actions {
            return out;
        }
        if busy.get(i).copied().unwrap_or(false) {
            continue;
        }
        let c = &chunks[i];
        // An unrecorded live copy is adopted before any byte moves.
        if let Some(n) = c
            .extra
            .iter()
            .find(|r| is(r, NodeStatus::Live) && !c.replicas.contains(r))
        {
            out.actions.push(RepairAction::Adopt {
                chunk: i,
                node: n.clone(),
            });
            continue;
        }
        let Some(from) = c
            .replicas
            .iter()
            .filter(|r| is(r, NodeStatus::Live))
            .min_by_key(|r| (load.get(r.as_str()).copied().unwrap_or(0), r.as_str()))
        else {
            continue; // nothing live to copy from (suspect or lost only)
        };
        let _ = counted;
        let to = nodes
            .iter()
            .filter(|n| {
                n.status == NodeStatus::Live
                    && !c.replicas.contains(&n.node_id)
                    && !c.extra.contains(&n.node_id)
                    && free.get(n.node_id.as_str()).copied().unwrap_or(0) >= c.size_bytes
            })
            .max_by_key(|n| {
                (
                    free.get(n.node_id.as_str()).copied().unwrap_or(0) / (64 << 20),
                    std::cmp::Reverse(load.get(n.node_id.as_str()).copied().unwrap_or(0)),
                    std::cmp::Reverse(n.node_id.as_str()),
                )
            });
        let Some(to) = to else { continue };
        *load.entry(from.as_str()).or_default() += 1;
        *load.entry(to.node_id.as_str()).or_default() += 1;
        if let Some(f) = free.get_mut(to.node_id.as_str()) {
            *f = f.saturating_sub(c.size_bytes);
        }
        out.actions.push(RepairAction::Copy {
            chunk: i,
            from: from.clone(),
            to: to.node_id.clone(),
            size_bytes: c.size_bytes,
        });
    }
    let trims = plan_trims(chunks, &over, busy, &status, &free, &load);
    let room = max_actions.saturating_sub(out.actions.len());
    out.actions.extend(trims.into_iter().take(room));
    out
}

/// One trim per over-replicated chunk in `over` (unless busy): an
/// unrecorded live copy first, else a recorded live one; the copy on the node
/// with the least free space (64 MiB bands), then the most load, goes.
fn plan_trims(
    chunks: &[ChunkView],
    over: &[usize],
    busy: &[bool],
    status: &HashMap<&str, NodeStatus>,
    free: &HashMap<&str, u64>,
    load: &HashMap<&str, u64>,
) -> Vec<RepairAction> {
    let live = |id: &str| status.get(id) == Some(&NodeStatus::Live);
    let pick = |it: &mut dyn Iterator<Item = &String>| {
        it.min_by_key(|r| {
            (
                free.get(r.as_str()).copied().unwrap_or(0) / (64 << 20),
                std::cmp::Reverse(load.get(r.as_str()).copied().unwrap_or(0)),
                std::cmp::Reverse(r.as_str()),
            )
        })
        .cloned()
    };
    let mut out = Vec::new();
    for &i in over {
        if busy.get(i).copied().unwrap_or(false) {
            continue;
        }
        let c = &chunks[i];
        let mut unrecorded = c
            .extra
            .iter()
            .filter(|r| live(r) && !c.replicas.contains(r));
        let mut recorded = c.replicas.iter().filter(|r| live(r));
        if let Some(node) = pick(&mut unrecorded).or_else(|| pick(&mut recorded)) {
            out.push(RepairAction::Trim { chunk: i, node });
        }
    }
    out
}

/// A token bucket over bytes, sans-IO: [`TokenBucket::reserve`] takes `now`
/// and answers how long to wait before sending. Repairs read through one so
/// their bytes per second stay under the cap (Ceph's recovery throttle).
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate_bytes_per_s: f64,
    burst_bytes: f64,
    /// Tokens at `at` (may go negative: debt paid by waiting).
    tokens: f64,
    at: Duration,
}

impl TokenBucket {
    /// A full bucket refilled at `rate_bytes_per_s` (> 0), holding at most
    /// `burst_bytes`.
    pub fn new(rate_bytes_per_s: f64, burst_bytes: f64) -> Self {
        let rate = if rate_bytes_per_s.is_finite() && rate_bytes_per_s > 0.0 {
            rate_bytes_per_s
        } else {
            1.0
        };
        let burst = burst_bytes.max(1.0);
        Self {
            rate_bytes_per_s: rate,
            burst_bytes: burst,
            tokens: burst,
            at: Duration::ZERO,
        }
    }

    /// Takes `bytes` at `now`; returns how long the caller waits before
    /// sending them so the long-run rate stays at the cap.
    pub fn reserve(&mut self, now: Duration, bytes: u64) -> Duration {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        self.at = self.at.max(now);
        self.tokens = (self.tokens + elapsed * self.rate_bytes_per_s).min(self.burst_bytes);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((-self.tokens / self.rate_bytes_per_s).min(86_400.0))
        }
    }
}

/// Voters [`PopularityWindow::record_vote`] remembers at most (one entry per
/// chunk and client within the window); past it new votes are dropped and
/// counted in [`PopularityWindow::dropped`].
pub const MAX_POPULARITY_VOTES: usize = 100_000;

/// A sliding-window counter of GET requests per chunk, sans-IO: the window is
/// `buckets` slots of `bucket` each; counts older than the window fall off.
/// Holds at most `max_keys` keys per slot and [`MAX_POPULARITY_VOTES`] votes
/// (more are dropped and counted in [`PopularityWindow::dropped`]).
#[derive(Clone, Debug)]
pub struct PopularityWindow {
    bucket: Duration,
    slots: VecDeque<(u64, HashMap<String, u64>)>,
    buckets: usize,
    max_keys: usize,
    /// The slot of each (chunk, voter)'s counted vote within the window.
    votes: HashMap<(String, String), u64>,
    /// Counts refused because a slot or the vote book was full.
    pub dropped: u64,
}

impl PopularityWindow {
    /// A window of `window` split into `buckets` slots (≥ 1).
    pub fn new(window: Duration, buckets: usize, max_keys: usize) -> Self {
        let buckets = buckets.max(1);
        let bucket = (window / buckets as u32).max(Duration::from_millis(1));
        Self {
            bucket,
            slots: VecDeque::with_capacity(buckets + 1),
            buckets,
            max_keys,
            votes: HashMap::new(),
            dropped: 0,
        }
    }

    fn slot_of(&self, now: Duration) -> u64 {
        (now.as_nanos() / self.bucket.as_nanos().max(1)) as u64
    }

    fn expire(&mut self, now: Duration) {
        let cur = self.slot_of(now);
        let mut popped = false;
        while let Some((s, _)) = self.slots.front() {
            if cur.saturating_sub(*s) >= self.buckets as u64 {
                self.slots.pop_front();
                popped = true;
            } else {
                break;
            }
        }
        if popped || self.votes.len() >= MAX_POPULARITY_VOTES {
            let buckets = self.buckets as u64;
            self.votes.retain(|_, s| cur.saturating_sub(*s) < buckets);
        }
    }

    /// Counts one GET of `key` at `now` by `voter` (a client: its address,
    /// or on loopback the id its player sends), at most once per voter and
    /// key per window: one client requesting a chunk in a loop (a
    /// cross-site image loop, say) is one vote, so it cannot make a video
    /// hot and set off copies.
    pub fn record_vote(&mut self, now: Duration, key: &str, voter: &str) {
        self.expire(now);
        let cur = self.slot_of(now);
        let vk = (key.to_string(), voter.to_string());
        if let Some(s) = self.votes.get(&vk)
            && cur.saturating_sub(*s) < self.buckets as u64
        {
            return;
        }
        if self.votes.len() >= MAX_POPULARITY_VOTES {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        self.votes.insert(vk, cur);
        self.record(now, key);
    }

    /// Counts one GET of `key` at `now`.
    pub fn record(&mut self, now: Duration, key: &str) {
        self.expire(now);
        let cur = self.slot_of(now);
        if self.slots.back().is_none_or(|(s, _)| *s != cur) {
            self.slots.push_back((cur, HashMap::new()));
        }
        let (_, m) = self.slots.back_mut().expect("pushed");
        if let Some(v) = m.get_mut(key) {
            *v = v.saturating_add(1);
        } else if m.len() < self.max_keys {
            m.insert(key.to_string(), 1);
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// Counts per key over the window ending at `now`, most requested first,
    /// at most `limit` keys.
    pub fn top(&mut self, now: Duration, limit: usize) -> Vec<(String, u64)> {
        self.expire(now);
        let mut sum: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, m) in &self.slots {
            for (k, v) in m {
                let e = sum.entry(k.as_str()).or_default();
                *e = e.saturating_add(*v);
            }
        }
        let mut v: Vec<(String, u64)> = sum.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(limit);
        v
    }
}

/// One node in [`ReplicationReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeReplication {
    /// Node id.
    pub node_id: String,
    /// Health as the policy sees it.
    pub status: NodeStatus,
    /// Free space on its data disk, bytes (last heartbeat).
    pub free_bytes: u64,
    /// GET requests it served over the popularity window.
    pub load_gets: u64,
    /// Chunk records naming it.
    pub replicas: u64,
}

/// One chunk in [`ReplicationReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkReplication {
    /// Video id.
    pub video_id: String,
    /// Position in the video.
    pub index: u32,
    /// Stored chunk id.
    pub chunk_id: String,
    /// Size, bytes.
    pub size_bytes: u64,
    /// Target replication factor.
    pub target_rf: usize,
    /// Replicas on live nodes.
    pub live: Vec<String>,
    /// Replicas on suspect nodes (down, within the grace period).
    pub suspect: Vec<String>,
    /// Replicas on lost nodes (no longer counted).
    pub lost: Vec<String>,
    /// Nodes a copy is being made to right now.
    pub repairing: Vec<String>,
    /// GET requests over the popularity window, summed over the nodes.
    pub popularity: u64,
    /// The record's revision in the chunk's ChunkPaxos log (1 = as ingested).
    pub revision: u64,
}

/// Totals of [`ReplicationReport`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicationTotals {
    /// Chunks in the catalog.
    pub chunks: usize,
    /// Chunks below their target.
    pub under_replicated: usize,
    /// Chunks above their target.
    pub over_replicated: usize,
    /// Chunks without a counted copy.
    pub unavailable: usize,
    /// Copies, adoptions and trims running now.
    pub repairs_in_flight: usize,
    /// Actions waiting behind them (planned, not started).
    pub queued: usize,
    /// Bytes copied by repairs and hot-chunk copies since start.
    pub bytes_repaired: u64,
    /// Copies finished (hash verified and committed) since start.
    pub copies_done: u64,
    /// Copies that failed (source unreadable, hash mismatch, lost race).
    pub copies_failed: u64,
    /// Replicas trimmed since start.
    pub trims_done: u64,
    /// Milliseconds since a node was last declared lost (`None`: never).
    pub since_last_loss_ms: Option<u64>,
    /// Repair read rate over the last 5 s, Mbit/s.
    pub repair_mbps: f64,
    /// The cap on that rate, Mbit/s.
    pub repair_cap_mbps: f64,
}

/// Kinds of [`RedundancyEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedundancyEventKind {
    /// A node passed the grace period and its replicas stopped counting.
    NodeLost,
    /// A lost or suspect node heartbeats again.
    NodeBack,
    /// Every chunk is back at its target after a loss.
    Repaired,
    /// A chunk became hot and gained replicas, or cooled and lost them.
    Popularity,
    /// A copy or commit failed.
    Failure,
}

/// One entry of the manager's event feed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedundancyEvent {
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// What happened.
    pub kind: RedundancyEventKind,
    /// One line for people: `node-3 lost → 40 chunks under-replicated`.
    pub message: String,
}

/// `GET /replication`: the replication manager's view, as the metadata
/// service serves it and the dashboard shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicationReport {
    /// Whether a manager runs (a report without one only counts).
    pub enabled: bool,
    /// The policy in force.
    pub config: RedundancyConfig,
    /// Registered nodes.
    pub nodes: Vec<NodeReplication>,
    /// Chunks of every video, in catalog order (at most
    /// [`MAX_REPORTED_CHUNKS`]).
    pub chunks: Vec<ChunkReplication>,
    /// Whether `chunks` was cut at [`MAX_REPORTED_CHUNKS`].
    pub chunks_truncated: bool,
    /// Totals over every chunk.
    pub totals: ReplicationTotals,
    /// The latest events, oldest first (at most [`MAX_EVENTS`]).
    pub events: Vec<RedundancyEvent>,
}

/// Chunks a [`ReplicationReport`] lists at most.
pub const MAX_REPORTED_CHUNKS: usize = 5_000;
/// Events a [`ReplicationReport`] keeps at most.
pub const MAX_EVENTS: usize = 100;

#[cfg(test)]
mod tests {
    #[test]
    fn one_client_is_one_vote_per_window() {
        let mut w = PopularityWindow::new(Duration::from_secs(60), 6, 100);
        let t = Duration::from_secs(1);
        for _ in 0..50 {
            w.record_vote(t, "c0", "192.0.2.1");
        }
        assert_eq!(
            w.top(t, 10),
            vec![("c0".to_string(), 1)],
            "a loop is one vote"
        );
        for i in 0..7 {
            w.record_vote(t, "c0", &format!("client-{i}"));
        }
        assert_eq!(w.top(t, 10)[0].1, 8, "seven more clients, seven more votes");
        // After the window the same client votes again.
        let later = Duration::from_secs(70);
        w.record_vote(later, "c0", "192.0.2.1");
        assert_eq!(w.top(later, 10), vec![("c0".to_string(), 1)]);
    }

    use super::*;

    fn node(id: &str, status: NodeStatus, free_gb: u64) -> NodeView {
        NodeView {
            node_id: id.into(),
            status,
            free_bytes: free_gb << 30,
            load_gets: 0,
        }
    }

    fn chunk(index: usize, replicas: &[&str], popularity: u64) -> ChunkView {
        ChunkView {
            index,
            size_bytes: 1 << 20,
            replicas: replicas.iter().map(|s| s.to_string()).collect(),
            extra: Vec::new(),
            popularity,
        }
    }

    fn cfg() -> RedundancyConfig {
        RedundancyConfig {
            startup_chunks: 0,
            ..RedundancyConfig::default()
        }
    }

    #[test]
    fn defaults_are_valid_and_ranges_are_checked() {
        RedundancyConfig::default().validate().unwrap();
        for bad in [
            RedundancyConfig {
                base_rf: 0,
                ..cfg()
            },
            RedundancyConfig {
                max_rf: Some(1),
                ..cfg()
            },
            RedundancyConfig {
                cool_gets: 6,
                ..cfg()
            },
            RedundancyConfig {
                repair_cap_mbps: 1e-300,
                ..cfg()
            },
            RedundancyConfig {
                repair_cap_mbps: f64::NAN,
                ..cfg()
            },
            RedundancyConfig {
                max_concurrent_repairs: 0,
                ..cfg()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn target_follows_popularity_with_hysteresis() {
        let c = cfg();
        let t = |pop, counted| target_rf(&chunk(5, &[], pop), counted, 4, &c);
        assert_eq!(t(0, 2), 2, "cold: base");
        assert_eq!(t(6, 2), 4, "hot: every live node");
        assert_eq!(t(3, 4), 4, "warm keeps what it has");
        assert_eq!(t(3, 2), 2, "warm does not grow");
        assert_eq!(t(1, 4), 2, "cooled: back to base");
        let capped = RedundancyConfig {
            max_rf: Some(3),
            ..cfg()
        };
        assert_eq!(target_rf(&chunk(5, &[], 100), 2, 4, &capped), 3);
        // Startup chunks count as hot.
        let d = RedundancyConfig::default();
        assert_eq!(target_rf(&chunk(0, &[], 0), 2, 3, &d), 3);
        assert_eq!(target_rf(&chunk(1, &[], 0), 2, 3, &d), 2);
        // Fewer live nodes than the base: the base stays the target.
        assert_eq!(target_rf(&chunk(5, &[], 100), 1, 1, &c), 2);
    }

    #[test]
    fn a_lost_node_is_repaired_one_copy_chunks_first_then_popular() {
        let nodes = [
            node("a", NodeStatus::Live, 10),
            node("b", NodeStatus::Live, 10),
            node("c", NodeStatus::Lost, 10),
            node("d", NodeStatus::Live, 20),
        ];
        let chunks = [
            chunk(0, &["a", "b"], 0), // fine
            chunk(1, &["b", "c"], 0), // one live copy
            chunk(2, &["c", "a"], 9), // one live copy, hot: wants 3
            chunk(3, &["c"], 0),      // nothing left
        ];
        let p = plan(&chunks, &nodes, &[false; 4], 10, &cfg());
        assert_eq!(p.under_replicated, 3);
        assert_eq!(p.unavailable, 1);
        let first: Vec<usize> = p.actions.iter().map(RepairAction::chunk).collect();
        // Chunk 3 has no live source; chunk 2 (popular) before chunk 1; the
        // hot chunk 2 needs two copies, planned one per call.
        assert_eq!(first, [2, 1]);
        match &p.actions[0] {
            RepairAction::Copy { from, to, .. } => {
                assert_eq!(from, "a");
                assert_eq!(to, "d", "most free space");
            }
            other => panic!("{other:?}"),
        }
        match &p.actions[1] {
            RepairAction::Copy { from, to, .. } => {
                assert_eq!(from, "b");
                assert_eq!(to, "d", "still the most free space");
            }
            other => panic!("{other:?}"),
        }
        // Busy chunks and the action cap are respected.
        let p = plan(&chunks, &nodes, &[false, false, true, false], 1, &cfg());
        assert_eq!(p.actions.len(), 1);
        assert_eq!(p.actions[0].chunk(), 1);
    }

    #[test]
    fn suspect_nodes_count_but_neither_serve_nor_receive() {
        let nodes = [
            node("a", NodeStatus::Live, 10),
            node("b", NodeStatus::Suspect, 10),
            node("c", NodeStatus::Live, 10),
        ];
        let p = plan(&[chunk(4, &["a", "b"], 0)], &nodes, &[false], 10, &cfg());
        assert_eq!(p.under_replicated, 0);
        assert!(p.actions.is_empty());
        // A hot chunk grows only onto live nodes.
        let p = plan(&[chunk(4, &["a", "b"], 50)], &nodes, &[false], 10, &cfg());
        assert_eq!(
            p.actions,
            [RepairAction::Copy {
                chunk: 0,
                from: "a".into(),
                to: "c".into(),
                size_bytes: 1 << 20
            }]
        );
    }

    #[test]
    fn a_returning_copy_is_adopted_when_needed_and_trimmed_when_not() {
        let nodes = [
            node("a", NodeStatus::Live, 10),
            node("b", NodeStatus::Live, 10),
            node("c", NodeStatus::Live, 5),
        ];
        let mut c = chunk(4, &["a"], 0);
        c.extra = vec!["c".into()];
        let p = plan(std::slice::from_ref(&c), &nodes, &[false], 10, &cfg());
        assert_eq!(
            p.actions,
            [RepairAction::Adopt {
                chunk: 0,
                node: "c".into()
            }]
        );
        // Already at target: the unrecorded copy is excess.
        c.replicas = vec!["a".into(), "b".into()];
        let p = plan(std::slice::from_ref(&c), &nodes, &[false], 10, &cfg());
        assert_eq!(p.over_replicated, 1);
        assert_eq!(
            p.actions,
            [RepairAction::Trim {
                chunk: 0,
                node: "c".into()
            }]
        );
        // A cooled chunk on three nodes loses the copy on the fullest disk.
        let p = plan(
            &[chunk(4, &["a", "b", "c"], 0)],
            &nodes,
            &[false],
            10,
            &cfg(),
        );
        assert_eq!(
            p.actions,
            [RepairAction::Trim {
                chunk: 0,
                node: "c".into()
            }]
        );
    }

    #[test]
    fn the_token_bucket_holds_the_rate() {
        let mut b = TokenBucket::new(1_000_000.0, 100_000.0);
        let mut now = Duration::ZERO;
        let mut sent = 0u64;
        while now < Duration::from_secs(10) {
            let wait = b.reserve(now, 64 * 1024);
            now += wait;
            sent += 64 * 1024;
        }
        let rate = sent as f64 / now.as_secs_f64();
        assert!((rate - 1_000_000.0).abs() < 20_000.0, "{rate}");
        // After idling the burst is available again, no more.
        let later = now + Duration::from_secs(60);
        assert_eq!(b.reserve(later, 100_000), Duration::ZERO);
        assert!(b.reserve(later, 1) > Duration::ZERO);
    }

    #[test]
    fn the_popularity_window_slides() {
        let mut w = PopularityWindow::new(Duration::from_secs(60), 6, 2);
        let s = Duration::from_secs;
        for _ in 0..3 {
            w.record(s(1), "x");
        }
        w.record(s(30), "y");
        w.record(s(31), "x");
        w.record(s(32), "z");
        assert_eq!(w.top(s(31), 10), [("x".into(), 4), ("y".into(), 1)]);
        assert_eq!(w.dropped, 1, "slot full: z dropped");
        assert_eq!(w.top(s(65), 10), [("x".into(), 1), ("y".into(), 1)]);
        assert!(w.top(s(200), 10).is_empty());
    }
}
