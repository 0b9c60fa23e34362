//! What a live client publishes about itself: [`ClientSnapshot`], built from a
//! [`Session`] by [`ClientSnapshot::of`]. This is the very type that goes on
//! the wire (REST `GET /api/status`, `/ws` frames, the dashboard's signals),
//! so a client's state is never copied field by field into another shape.
//! Units are part of every field name.

use serde::{Deserialize, Serialize};

use super::{ClientKind, NodeHealth, NodeId, PlaybackState, Session};

/// Downloads kept in [`ClientSnapshot::recent_chunks`]: the last 50.
pub const RECENT_CHUNKS: usize = 50;

/// One storage node as a live client sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeSnapshot {
    /// Node id, e.g. `node-1`.
    pub node_id: String,
    /// Seed score `(bandwidth_mbps × reliability) / (1 + latency_ms × 0.1)`.
    pub score: f64,
    /// Latency EWMA, ms; `None` before the first probe (naive never probes).
    pub latency_ms: Option<f64>,
    /// Bandwidth EWMA, Mbit/s; `None` before the first sample.
    pub bandwidth_mbps: Option<f64>,
    /// Success ratio of the recent samples, 0–1.
    pub success_rate: f64,
    /// Health from the client's monitor: `healthy`, `degraded` or `down`.
    pub health: NodeHealth,
    /// Downloads in flight on this node.
    pub in_flight: u32,
    /// Chunks served this session.
    pub chunks: u64,
    /// Bytes served this session.
    pub bytes: u64,
    /// Failed attempts this session.
    pub failures: u64,
    /// Whether the node's server is killed (set by the host that runs the
    /// cluster, from its controls; a client alone cannot know).
    pub killed: bool,
}

/// One finished chunk download.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkSnapshot {
    /// Chunk index.
    pub chunk: u32,
    /// Node that served it.
    pub node_id: String,
    /// Bytes.
    pub bytes: u64,
    /// Download time, ms (media time).
    pub download_ms: f64,
}

/// One live client (smart or naive) at a point in time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientSnapshot {
    /// `smart` or `naive`.
    pub kind: ClientKind,
    /// Video being played.
    pub video_id: String,
    /// `startup`, `playing`, `rebuffering`, `ended` or `stopped`.
    pub state: PlaybackState,
    /// Sessions started by this client (1-based; a host that loops sessions
    /// numbers them, a single session is 1).
    pub session: u32,
    /// Media time since this session's play request, ms.
    pub elapsed_ms: f64,
    /// Buffered media ahead of the playhead, s.
    pub buffer_level_s: f64,
    /// Buffer target, s (default 30).
    pub buffer_target_s: f64,
    /// Low-water mark, s (default 15).
    pub low_water_mark_s: f64,
    /// Playhead, s.
    pub playhead_s: f64,
    /// Video length, s.
    pub video_duration_s: f64,
    /// Play request → playback start, ms; `None` until playback starts.
    pub startup_latency_ms: Option<f64>,
    /// Rebuffering events this session.
    pub rebuffer_count: u32,
    /// Total stall time this session, ms.
    pub rebuffer_time_ms: f64,
    /// Chunks played.
    pub chunks_played: u32,
    /// Chunks in the video.
    pub chunk_count: u32,
    /// Successful downloads.
    pub downloads: u64,
    /// Failed attempts that moved to another replica.
    pub failovers: u64,
    /// downloads / attempts, 0–1.
    pub success_rate: f64,
    /// Bytes downloaded this session.
    pub bytes_total: u64,
    /// Busy-time rate: bytes × 8 over the time with at least one download
    /// in flight, Mbit/s ([`crate::engine::QoeReport::avg_throughput_mbps`]).
    pub avg_throughput_mbps: f64,
    /// Session goodput: bytes × 8 over the session time so far (play request
    /// to now or the end), Mbit/s.
    #[serde(default)]
    pub goodput_mbps: f64,
    /// Mean download time, ms.
    pub avg_download_ms: f64,
    /// Time-weighted mean buffer level, s.
    pub avg_buffer_s: f64,
    /// Per-node view, in node order.
    pub nodes: Vec<NodeSnapshot>,
    /// The last [`RECENT_CHUNKS`] (50) downloads, oldest first.
    pub recent_chunks: Vec<ChunkSnapshot>,
    /// The video's ladder, kbit/s per level, lowest first (at most 16
    /// levels); empty for a video of one rendition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bitrates_kbps: Vec<f64>,
    /// Level of the chunk at the playhead (the next to play before
    /// playback starts); `None` without a ladder.
    #[serde(default)]
    pub level: Option<u32>,
    /// Nominal bitrate of that level, kbit/s; `None` without a ladder.
    #[serde(default)]
    pub bitrate_kbps: Option<f64>,
    /// What was played so far, scored: played bitrate, switches and linear
    /// QoE (Pensieve) with its levels left out; `None` without a ladder.
    #[serde(default)]
    pub quality: Option<QualitySnapshot>,
}

impl From<&crate::abr::QualityQoe> for QualitySnapshot {
    fn from(x: &crate::abr::QualityQoe) -> Self {
        Self {
            played_bitrate_kbps: x.played_bitrate_kbps,
            switches: x.switches,
            switch_kbps: x.switch_kbps,
            linear_qoe: x.linear_qoe,
        }
    }
}

/// A session's quality so far ([`crate::abr::QualityQoe`] without the
/// per-chunk levels, so a snapshot stays small).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualitySnapshot {
    /// Played bitrate averaged over played media time, kbit/s.
    pub played_bitrate_kbps: f64,
    /// Level changes between consecutive played chunks.
    pub switches: u32,
    /// Σ |ΔR| over those changes, kbit/s.
    pub switch_kbps: f64,
    /// Linear QoE (Pensieve): Σ R in Mbit/s − 4.3 × (startup + stall) s −
    /// Σ |ΔR| in Mbit/s, over the chunks played so far.
    pub linear_qoe: f64,
}

impl ClientSnapshot {
    /// The snapshot of `session` played by a `kind` client; `node_ids[i]` is
    /// node `i`'s id. `session` is 1 and no node is `killed`: a host that
    /// knows better sets them.
    pub fn of(session: &Session, kind: ClientKind, node_ids: &[String]) -> Self {
        let b = session.buffer();
        let cfg = b.config();
        let m = session.monitor();
        let q = session.report();
        let records = session.records();
        let node_id = |n: NodeId| node_ids.get(n.index()).cloned().unwrap_or_default();
        Self {
            kind,
            video_id: session.manifest().video_id.clone(),
            state: b.state(),
            session: 1,
            elapsed_ms: q.session_ms,
            buffer_level_s: b.level().as_secs_f64(),
            buffer_target_s: cfg.target.as_secs_f64(),
            low_water_mark_s: cfg.low_water_mark.as_secs_f64(),
            playhead_s: b.playhead().as_secs_f64(),
            video_duration_s: b.video_duration().as_secs_f64(),
            startup_latency_ms: q.playback.startup_latency_ms,
            rebuffer_count: q.playback.rebuffer_count,
            rebuffer_time_ms: q.playback.rebuffer_time_ms,
            chunks_played: u32::try_from(q.chunks_played).unwrap_or(u32::MAX),
            chunk_count: u32::try_from(q.chunk_count).unwrap_or(u32::MAX),
            downloads: q.downloads,
            failovers: q.failovers,
            success_rate: q.success_rate,
            bytes_total: q.bytes_total,
            avg_throughput_mbps: q.playback.avg_throughput_mbps,
            goodput_mbps: q.playback.goodput_mbps,
            avg_download_ms: q.download_time.mean_ms,
            avg_buffer_s: q.playback.avg_buffer_s,
            nodes: (0..node_ids.len())
                .map(|i| {
                    let n = NodeId(i as u16);
                    let s = m.stats(n);
                    let load = q.per_node.get(i).cloned().unwrap_or_default();
                    NodeSnapshot {
                        node_id: node_id(n),
                        score: m.score(n),
                        latency_ms: s.latency_ms,
                        bandwidth_mbps: s.bandwidth_mbps,
                        success_rate: s.reliability(),
                        health: m.health(n),
                        in_flight: session
                            .in_flight_per_node()
                            .get(i)
                            .map_or(0, |&k| u32::try_from(k).unwrap_or(u32::MAX)),
                        chunks: load.chunks,
                        bytes: load.bytes,
                        failures: load.failures,
                        killed: false,
                    }
                })
                .collect(),
            recent_chunks: records[records.len().saturating_sub(RECENT_CHUNKS)..]
                .iter()
                .map(|r| ChunkSnapshot {
                    chunk: r.chunk,
                    node_id: node_id(r.node),
                    bytes: r.bytes,
                    download_ms: r.download_ms,
                })
                .collect(),
            bitrates_kbps: session.manifest().bitrates_kbps.clone(),
            level: None,
            bitrate_kbps: None,
            quality: q.quality.as_ref().map(QualitySnapshot::from),
        }
        .with_level(session)
    }

    /// Sets [`Self::level`] and [`Self::bitrate_kbps`] from the chunk at the
    /// playhead (media chunks only: an initialization segment plays no
    /// time).
    fn with_level(mut self, session: &Session) -> Self {
        let m = session.manifest();
        let played = self.chunks_played as usize;
        let at = (played..m.chunks.len())
            .find(|&i| !m.chunks[i].duration.is_zero())
            .or_else(|| m.chunks.len().checked_sub(1));
        if let Some(level) = at.and_then(|i| session.chunk_level(i)) {
            self.level = u32::try_from(level).ok();
            self.bitrate_kbps = m.bitrates_kbps.get(level).copied();
        }
        self
    }
}
