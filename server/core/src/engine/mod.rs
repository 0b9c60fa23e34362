//! The smart streaming client's engine, sans-IO (seed `002_*`).
//!
//! Like quinn-proto, the core never sleeps, reads a clock or opens a socket: a
//! [`Session`] is told `now` (a [`Duration`] since an arbitrary origin) and events
//! (probe answered, download finished or failed), and it returns [`Action`]s
//! (probe this node, download this chunk from that node, cancel that download)
//! plus the next instant it wants to be woken ([`Session::poll_timeout`]). The live
//! driver (tokio + HTTP) and the simulator ([`crate::sim`], virtual clock +
//! recorded traces) drive the very same code.
//!
//! Parts:
//! - [`monitor`]: per-node EWMA latency / bandwidth, reliability, score, health;
//! - [`buffer`]: playback state, buffer level, startup latency, rebuffering;
//! - [`session`]: the chunk scheduler (in-flight cap, timeouts, failover,
//!   statistics) tying them together, and the QoE report;
//! - [`NodeSelector`]: the only difference between the smart client
//!   ([`SmartSelector`]) and the naive one ([`RoundRobinSelector`]);
//!   [`ClientKind`] names the two and [`PerClient`] holds a value for each;
//! - [`snapshot`]: [`ClientSnapshot`], what a live client publishes (and what
//!   the dashboard shows, unchanged).

pub mod buffer;
pub mod fetch;
pub mod kind;
pub mod monitor;
pub mod session;
pub mod snapshot;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use buffer::{BufferConfig, BufferManager, PlaybackState, PlayerEvent};
pub use kind::{ClientKind, PerClient};
pub use monitor::{MonitorConfig, NetworkMonitor, NodeHealth, NodeStats, score};
pub use session::{
    Action, DownloadId, DownloadRecord, EngineConfig, Event, NodeLoad, Notice, PlaybackQoe,
    QoeReport, STARTUP_PROBE_WAIT, SchedulerConfig, Session, TimeStats,
};
pub use snapshot::{ChunkSnapshot, ClientSnapshot, NodeSnapshot, QualitySnapshot};

/// Index of a storage node within a session (`0..node_count`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NodeId(pub u16);

impl NodeId {
    /// The id as a vector index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node-{}", self.0 + 1)
    }
}

/// One chunk of a video as the client sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkMeta {
    /// Position in playback order, from 0.
    pub index: u32,
    /// Media duration of the chunk.
    pub duration: Duration,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Nodes holding a replica, in the catalogue's order.
    pub replicas: Vec<NodeId>,
    /// Size in bytes at each level of the video's ladder
    /// ([`Manifest::bitrates_kbps`]), lowest first; empty for a video with
    /// one rendition. The session sets `size_bytes` from it when its ABR
    /// rule picks the chunk's level.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub level_sizes: Vec<u64>,
}

/// A video: its chunks in playback order and how many nodes the cluster has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Video id, e.g. `test-video-001`.
    pub video_id: String,
    /// Number of storage nodes (node ids are `0..node_count`).
    pub node_count: usize,
    /// Chunks in playback order.
    pub chunks: Vec<ChunkMeta>,
    /// Nominal bitrate of each level of the ladder, kbit/s, lowest first;
    /// empty for a video with one rendition (every chunk then has no
    /// [`ChunkMeta::level_sizes`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bitrates_kbps: Vec<f64>,
}

impl Manifest {
    /// Total media duration.
    pub fn duration(&self) -> Duration {
        self.chunks.iter().map(|c| c.duration).sum()
    }

    /// Total bytes.
    pub fn size_bytes(&self) -> u64 {
        self.chunks
            .iter()
            .fold(0u64, |a, c| a.saturating_add(c.size_bytes))
    }
}

/// What a [`NodeSelector`] may look at to pick a replica.
#[derive(Debug)]
pub struct SelectionContext<'a> {
    /// Current time.
    pub now: Duration,
    /// The chunk to fetch.
    pub chunk: &'a ChunkMeta,
    /// Bytes to fetch: the whole chunk, or what a failed part left.
    pub bytes: u64,
    /// Replicas not yet tried for this chunk in the current round; never empty.
    pub candidates: &'a [NodeId],
    /// The session's network monitor.
    pub monitor: &'a NetworkMonitor,
    /// Downloads currently in flight per node (indexed by node id).
    pub in_flight_per_node: &'a [usize],
    /// Bytes still to come from each node's running downloads.
    pub queued_bytes_per_node: &'a [u64],
}

/// Node-selection strategies: the two live clients, and the simulator's
/// oracle and bound (snake_case names on the wire and the command line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Multi-source, share-aware, progress-monitoring client (the smart one).
    #[default]
    Smart,
    /// Round robin, no monitoring.
    Naive,
    /// Knows the links' future (simulator only).
    Oracle,
    /// A single-origin player: the smart client's fetching with the whole
    /// video on one node, the best node in hindsight per session (simulator
    /// only; a placement of its own, so outside the bound's claim).
    Single,
    /// The fluid pooled-capacity bound ([`bound`]; simulator only).
    ///
    /// [`bound`]: crate::sim::bound
    Bound,
    /// The offline optimum of linear QoE with a ladder ([`optimum`]; an
    /// upper bound no strategy's linear QoE exceeds; simulator only).
    ///
    /// [`optimum`]: crate::sim::optimum
    Optimum,
}

impl Strategy {
    /// Lower-case name (`smart`, `naive`, `oracle`, `single`, `bound`,
    /// `optimum`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Smart => "smart",
            Strategy::Naive => "naive",
            Strategy::Oracle => "oracle",
            Strategy::Single => "single",
            Strategy::Bound => "bound",
            Strategy::Optimum => "optimum",
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<ClientKind> for Strategy {
    fn from(k: ClientKind) -> Self {
        match k {
            ClientKind::Smart => Strategy::Smart,
            ClientKind::Naive => Strategy::Naive,
        }
    }
}

/// Picks the replica a chunk is downloaded from: the only difference between
/// the smart and the naive client.
pub trait NodeSelector: Send {
    /// The strategy it implements (named in reports).
    fn strategy(&self) -> Strategy;
    /// Whether the session should probe nodes for this selector. The naive client
    /// does no monitoring, so it sends no probes.
    fn uses_probes(&self) -> bool {
        true
    }
    /// Whether the session fetches for this selector the smart way: progress
    /// monitoring, stall detection, critical chunks split across replicas,
    /// hedging and resume (see [`session`]). The naive client does not.
    fn multi_source(&self) -> bool {
        false
    }
    /// One of `ctx.candidates`.
    fn select(&mut self, ctx: &SelectionContext<'_>) -> NodeId;
    /// What the selector knows of `node`'s link at `now`, replacing the
    /// monitor's estimates before every decision (the simulator's oracle,
    /// which reads the traces). Default `None`: estimates come from
    /// measurements, as for every real client.
    fn known_link(&self, _now: Duration, _node: NodeId) -> Option<monitor::LinkTruth> {
        None
    }
    /// Whether [`NodeSelector::known_link`] ever answers (the session asks
    /// it before every decision only then). Default `false`.
    fn knows_links(&self) -> bool {
        false
    }
}

/// The smart client: the replica that would deliver the bytes first.
///
/// Rule (share-aware): among candidates that are not down (all candidates if
/// every one is down), pick the lowest expected completion time `latency +
/// (bytes already queued on the node + these bytes) / rate`, with the node's
/// latency and bandwidth estimates (priors while unmeasured) and the rate
/// scaled by its reliability. Ties go to the node with fewer downloads in
/// flight, then to the lower node id. It also fetches multi-source
/// ([`NodeSelector::multi_source`]).
#[derive(Clone, Debug, Default)]
pub struct SmartSelector;

/// Seconds until `bytes` more from `node` would be in, from the monitor's
/// estimates and the bytes queued on it.
pub fn expected_finish_s(monitor: &NetworkMonitor, node: NodeId, queued: u64, bytes: u64) -> f64 {
    let s = monitor.stats(node);
    let latency_s = s.latency_ms.unwrap_or(monitor::PRIOR_LATENCY_MS) / 1e3;
    let mbps = s.bandwidth_mbps.unwrap_or(monitor::PRIOR_BANDWIDTH_MBPS) * s.reliability();
    let rate = (mbps * 1e6 / 8.0).max(1.0);
    latency_s + (queued + bytes) as f64 / rate
}

impl NodeSelector for SmartSelector {
    fn strategy(&self) -> Strategy {
        Strategy::Smart
    }

    fn multi_source(&self) -> bool {
        true
    }

    fn select(&mut self, ctx: &SelectionContext<'_>) -> NodeId {
        let all_down = ctx
            .candidates
            .iter()
            .all(|n| ctx.monitor.health(*n) == NodeHealth::Down);
        let mut best: Option<(f64, usize, NodeId)> = None;
        for &node in ctx.candidates {
            if !all_down && ctx.monitor.health(node) == NodeHealth::Down {
                continue;
            }
            let load = ctx
                .in_flight_per_node
                .get(node.index())
                .copied()
                .unwrap_or(0);
            let queued = ctx
                .queued_bytes_per_node
                .get(node.index())
                .copied()
                .unwrap_or(0);
            let t = expected_finish_s(ctx.monitor, node, queued, ctx.bytes);
            let better = match best {
                None => true,
                Some((bt, bl, bn)) => {
                    t < bt || (t == bt && (load < bl || (load == bl && node < bn)))
                }
            };
            if better {
                best = Some((t, load, node));
            }
        }
        best.map(|b| b.2).unwrap_or(ctx.candidates[0])
    }
}

/// The naive client: replicas in turn, no monitoring.
///
/// A pointer cycles through node ids: the pick is the first candidate whose id is
/// at or after the pointer (wrapping around), and the pointer then moves just past
/// it. With full replication this visits nodes 0, 1, 2, 0, ...; with partial
/// replication it takes each chunk's replicas in the same rotating order.
#[derive(Clone, Debug, Default)]
pub struct RoundRobinSelector {
    pointer: usize,
}

impl NodeSelector for RoundRobinSelector {
    fn strategy(&self) -> Strategy {
        Strategy::Naive
    }

    fn uses_probes(&self) -> bool {
        false
    }

    fn select(&mut self, ctx: &SelectionContext<'_>) -> NodeId {
        let n = ctx.monitor.node_count().max(1);
        let distance = |node: &NodeId| (node.index() + n - self.pointer % n) % n;
        let pick = *ctx
            .candidates
            .iter()
            .min_by_key(|c| distance(c))
            .unwrap_or(&ctx.candidates[0]);
        self.pointer = (pick.index() + 1) % n;
        pick
    }
}

/// Replica layout used by the embedded cluster and the simulator: chunk `i` is
/// on nodes `(i + k) mod node_count` for `k` in `0..replication`.
pub fn striped_replicas(index: usize, node_count: usize, replication: usize) -> Vec<NodeId> {
    let r = replication.clamp(1, node_count.max(1));
    (0..r)
        .map(|k| NodeId(((index + k) % node_count.max(1)) as u16))
        .collect()
}

/// Builds a manifest whose chunk `i` has `layout[i]` replicas (striped from
/// node `i`, see [`striped_replicas`]) and the chunks past the layout
/// `replication`: the replica-count-per-chunk layout adaptive redundancy
/// leaves behind (hot or startup chunks on more nodes), for the simulator.
/// Counts are clamped to `1..=node_count`.
pub fn layout_manifest(
    video_id: &str,
    chunks: &[(Duration, u64)],
    node_count: usize,
    replication: usize,
    layout: &[usize],
) -> Manifest {
    let mut m = striped_manifest(video_id, chunks, node_count, replication);
    for (c, &r) in m.chunks.iter_mut().zip(layout) {
        c.replicas = striped_replicas(c.index as usize, node_count, r);
    }
    m
}

/// Builds a manifest from chunk (duration, size) pairs with [`striped_replicas`].
pub fn striped_manifest(
    video_id: &str,
    chunks: &[(Duration, u64)],
    node_count: usize,
    replication: usize,
) -> Manifest {
    Manifest {
        video_id: video_id.to_string(),
        node_count,
        chunks: chunks
            .iter()
            .enumerate()
            .map(|(i, (duration, size))| ChunkMeta {
                index: i as u32,
                duration: *duration,
                size_bytes: *size,
                replicas: striped_replicas(i, node_count, replication),
                level_sizes: Vec::new(),
            })
            .collect(),
        bitrates_kbps: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(replicas: &[u16]) -> ChunkMeta {
        ChunkMeta {
            index: 0,
            duration: Duration::from_secs(10),
            size_bytes: 1_000_000,
            replicas: replicas.iter().map(|n| NodeId(*n)).collect(),
            level_sizes: Vec::new(),
        }
    }

    #[test]
    fn round_robin_takes_replicas_in_turn() {
        let m = NetworkMonitor::new(MonitorConfig::default(), 3);
        let c = chunk(&[0, 1, 2]);
        let mut rr = RoundRobinSelector::default();
        let picks: Vec<u16> = (0..6)
            .map(|_| {
                rr.select(&SelectionContext {
                    now: Duration::ZERO,
                    chunk: &c,
                    bytes: c.size_bytes,
                    candidates: &c.replicas,
                    monitor: &m,
                    in_flight_per_node: &[0, 0, 0],
                    queued_bytes_per_node: &[0, 0, 0],
                })
                .0
            })
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
        assert!(!rr.uses_probes());
        // Partial replication: each chunk's replicas, in the rotating order.
        let mut rr = RoundRobinSelector::default();
        let picks: Vec<u16> = (0..6)
            .map(|i| {
                let c = ChunkMeta {
                    replicas: striped_replicas(i, 3, 2),
                    ..chunk(&[])
                };
                rr.select(&SelectionContext {
                    now: Duration::ZERO,
                    chunk: &c,
                    bytes: c.size_bytes,
                    candidates: &c.replicas,
                    monitor: &m,
                    in_flight_per_node: &[0, 0, 0],
                    queued_bytes_per_node: &[0, 0, 0],
                })
                .0
            })
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn smart_prefers_the_earliest_finish_counting_queued_bytes() {
        let mut m = NetworkMonitor::new(MonitorConfig::default(), 3);
        m.update_bandwidth(NodeId(0), 50.0);
        m.update_bandwidth(NodeId(1), 40.0);
        m.update_bandwidth(NodeId(2), 5.0);
        let c = chunk(&[0, 1, 2]);
        let mut smart = SmartSelector;
        let mut pick = |queued: [u64; 3]| {
            smart.select(&SelectionContext {
                now: Duration::ZERO,
                chunk: &c,
                bytes: c.size_bytes,
                candidates: &c.replicas,
                monitor: &m,
                in_flight_per_node: &queued.map(|q| usize::from(q > 0)),
                queued_bytes_per_node: &queued,
            })
        };
        assert_eq!(pick([0, 0, 0]), NodeId(0));
        // 2 MB at 50 Mbit/s (0.32 s) > 1 MB at 40 (0.2 s): the idle node wins.
        assert_eq!(pick([1_000_000, 0, 0]), NodeId(1));
        assert_eq!(
            pick([1_000_000, 1_000_000, 0]),
            NodeId(0),
            "0.32 s < 0.4 s < 1.6 s"
        );
    }

    #[test]
    fn smart_avoids_down_nodes_unless_all_are_down() {
        let mut m = NetworkMonitor::new(MonitorConfig::default(), 2);
        m.update_bandwidth(NodeId(0), 100.0);
        m.update_bandwidth(NodeId(1), 1.0);
        for _ in 0..3 {
            m.record_failure(NodeId(0));
        }
        let c = chunk(&[0, 1]);
        let ctx = |cands: &'static [NodeId]| SelectionContext {
            now: Duration::ZERO,
            chunk: &c,
            bytes: c.size_bytes,
            candidates: cands,
            monitor: &m,
            in_flight_per_node: &[0, 0],
            queued_bytes_per_node: &[0, 0],
        };
        assert_eq!(
            SmartSelector.select(&ctx(&[NodeId(0), NodeId(1)])),
            NodeId(1)
        );
        assert_eq!(SmartSelector.select(&ctx(&[NodeId(0)])), NodeId(0));
    }

    #[test]
    fn striped_layout() {
        assert_eq!(striped_replicas(0, 3, 2), vec![NodeId(0), NodeId(1)]);
        let chunks = [(Duration::from_secs(2), 10u64); 4];
        let m = layout_manifest("v", &chunks, 3, 2, &[3, 9, 1]);
        let counts: Vec<usize> = m.chunks.iter().map(|c| c.replicas.len()).collect();
        assert_eq!(counts, [3, 3, 1, 2], "layout, clamped, then the base");
        assert_eq!(striped_replicas(2, 3, 2), vec![NodeId(2), NodeId(0)]);
        assert_eq!(
            striped_replicas(1, 3, 5),
            vec![NodeId(1), NodeId(2), NodeId(0)]
        );
    }
}
