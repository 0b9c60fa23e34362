//! The browser player's driver: the core's [`Session`] driven in the page,
//! the way the server's live driver drives it over tokio, and like the core
//! itself sans-IO. The page carries out its [`Command`]s (a `fetch` of a
//! byte range read through a `ReadableStream`, an abort, a probe, a SHA-256
//! check with WebCrypto, an append to the `SourceBuffer`) and reports what
//! happened, with `now` from `performance.now()`.
//!
//! - Downloads keep their bytes until the core assembles the chunk; the
//!   joined chunk is checked against the manifest's SHA-256 before it may be
//!   appended ([`Command::Verify`], answered by [`Player::on_verified`]).
//! - Verified chunks are appended in playback order, the initialization
//!   segment first ([`Command::Append`]); after the last one,
//!   [`Command::EndOfStream`].
//! - The session runs with [`BufferConfig::external_playhead`]: the playhead
//!   is the `<video>` element's `currentTime` and startup and stalls are
//!   its `playing` and `waiting` events ([`Player::on_player`]).
//! - Probes time out after [`PROBE_TIMEOUT`]; the core times out downloads
//!   itself. A player that probes holds its first request until the probes
//!   answer, at most [`STARTUP_PROBE_WAIT`], so its first media segment is
//!   scored on measured replicas rather than taken blind at the bottom.
//! - A video with a ladder ([`WatchManifest::rungs`]) plays adaptively: the
//!   session picks each chunk's level (the smart player vstack's
//!   multi-source rule, the naive one BOLA-E), each part is fetched and
//!   verified at that level, and before the first media chunk of a level
//!   other than the last appended the level's own initialization segment is
//!   appended, as dash.js and hls.js switch renditions. The session's own
//!   first chunk is the initialization segment of the level it picks; the
//!   driver fetches another level's (under a kilobyte, outside the session)
//!   when a media chunk of that level is first asked, beside it. Fetching
//!   every level's at start put a request per level in the browser's queue
//!   (six HTTP/1.1 connections per origin, shared by both players) ahead of
//!   the startup probes.
//!
//! [`BufferConfig::external_playhead`]: vstack_core::engine::BufferConfig::external_playhead

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    time::Duration,
};

use vstack_core::{
    engine::{
        Action, ChunkMeta, ClientKind, ClientSnapshot, DownloadId, EngineConfig, Event, Manifest,
        NodeId, PlayerEvent, Session,
    },
    wire::WatchManifest,
};

/// A probe unanswered after this long fails (the live driver's default).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The payload of a node's first probe, before the node has a bandwidth
/// estimate, bytes (the core's default is 16 KiB,
/// [`vstack_core::engine::MonitorConfig::probe_bytes_initial`]). In
/// Chromium on the default profile 16 KiB read in 0.5–19 ms from the
/// 100 Mbit/s node (Resource Timing, response start to end: 7–262 Mbit/s),
/// the page's and the server's scheduling dominating the transfer; the
/// first media segment's level is scored on these estimates. 64 KiB (the
/// core's `probe_bytes_max`) is 5 ms at 100 Mbit/s and 0.17 s at the
/// `low_bandwidth` scenario's 3 Mbit/s.
pub const FIRST_PROBE_BYTES: u64 = 64 << 10;

/// How long a player that probes holds its first request for the probes'
/// answers ([`vstack_core::engine::SchedulerConfig::startup_probe_wait`]):
/// with them the first media segment's level is scored on the measured
/// replicas ([`vstack_core::abr::AbrRule::startup_level`]) instead of taken
/// blind at the bottom. Without the gate the initialization segment (a few
/// hundred bytes) arrived before the probes, the first media segment then
/// went out blind, and the Watch tab played its first 10 s at the bottom
/// rung and paid a switch up after them. A probe answers within 0.1 s on
/// the default profile (measured in Chromium), later when the page's
/// requests queue for a connection; the wait is [`PROBE_TIMEOUT`], so
/// with no answer at all it ends on the probes' failure (a partition). It
/// was 1 s: one run of the players' table then started blind at the
/// bottom. Once the segments it waits for each have a replica that
/// answered, the core waits for the rest at most twice the slowest answer
/// (`vstack_core::engine::session::GATE_PATIENCE`), and an unmeasured
/// replica sits them out.
pub const STARTUP_PROBE_WAIT: Duration = PROBE_TIMEOUT;

/// What the page must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `GET url`, with `Range: bytes=first-last` when `range` is set; report
    /// the body's bytes as they come ([`Player::on_bytes`]) and its end
    /// ([`Player::on_done`] / [`Player::on_failed`]).
    Fetch {
        /// The download.
        id: DownloadId,
        /// Where.
        url: String,
        /// First and last byte (inclusive), or the whole chunk.
        range: Option<(u64, u64)>,
    },
    /// `GET url` (a probe); report the time to its headers and its body
    /// ([`Player::on_probe`]) or its failure.
    Probe {
        /// The node.
        node: NodeId,
        /// Where.
        url: String,
    },
    /// Abort download `id` (its later reports are ignored).
    Abort {
        /// The download.
        id: DownloadId,
    },
    /// Check that SHA-256 of `bytes` is `sha256` (hex) and answer with
    /// [`Player::on_verified`].
    Verify {
        /// The chunk.
        chunk: u32,
        /// Its joined bytes.
        bytes: Vec<u8>,
        /// The manifest's hash.
        sha256: String,
    },
    /// Append `bytes` (chunk `chunk`, in playback order) to the
    /// `SourceBuffer`.
    Append {
        /// The chunk.
        chunk: u32,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// Every chunk is appended: `MediaSource.endOfStream()`.
    EndOfStream,
}

/// One part being downloaded.
#[derive(Debug)]
struct Part {
    chunk: u32,
    offset: u64,
    /// The ladder level its bytes are of (0 for one rendition).
    level: usize,
    bytes: Vec<u8>,
}

/// Attempts at fetching one level's initialization segment, over its
/// replicas in turn, before the player gives that level up.
pub const INIT_FETCH_ATTEMPTS: u32 = 6;

/// The first [`DownloadId`] of the driver's own initialization-segment
/// fetches, counting down by level (the session's ids count up from 0).
const INIT_ID_BASE: u64 = u64::MAX;

/// The chunk number a [`Command::Verify`] of level `level`'s
/// initialization segment carries (counting down from `u32::MAX`; a video
/// has at most 100 000 chunks).
fn init_marker(level: usize) -> u32 {
    u32::MAX - level as u32
}

/// One level's initialization segment, fetched by the driver itself.
#[derive(Debug, Default)]
struct InitFetch {
    /// Verified bytes.
    bytes: Option<Vec<u8>>,
    /// Bytes of the fetch in flight.
    pending: Vec<u8>,
    /// Attempts so far.
    attempts: u32,
}

/// One player: a session and the state around it.
pub struct Player {
    kind: ClientKind,
    session: Session,
    node_ids: Vec<String>,
    /// Per level (one for a single rendition), per node, per chunk: where to
    /// fetch it.
    chunk_urls: Vec<Vec<Vec<String>>>,
    probe_urls: Vec<String>,
    /// Per level, per chunk: its hex SHA-256.
    hashes: Vec<Vec<String>>,
    /// Per level, per chunk: the nodes holding it.
    replicas: Vec<Vec<Vec<u16>>>,
    parts: HashMap<DownloadId, Part>,
    /// Chunks joined and waiting for their hash check, with their level.
    verifying: HashMap<u32, (usize, Vec<u8>)>,
    /// Verified chunks waiting for the ones before them, with their level.
    ready: BTreeMap<u32, (usize, Vec<u8>)>,
    /// Each level's initialization segment (a video with a ladder and an
    /// init segment only; else empty).
    inits: Vec<InitFetch>,
    /// The level whose initialization segment the buffer holds last.
    appended_level: Option<usize>,
    next_append: u32,
    chunk_count: u32,
    probes: HashMap<NodeId, Duration>,
    commands: VecDeque<Command>,
    ended: bool,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player")
            .field("kind", &self.kind)
            .field("next_append", &self.next_append)
            .finish_non_exhaustive()
    }
}

impl Player {
    /// A `kind` player of `m` for viewer `viewer`, asked to play at `now`;
    /// its first commands are ready.
    ///
    /// # Errors
    /// A message when the manifest cannot be played (no chunk, a replica on
    /// an unknown node, more nodes than a node id holds).
    pub fn new(
        m: &WatchManifest,
        kind: ClientKind,
        viewer: &str,
        now: Duration,
    ) -> Result<Self, String> {
        if m.chunks.is_empty() {
            return Err("the video has no chunk".into());
        }
        let nodes = m.nodes.len();
        if nodes == 0 || nodes > usize::from(u16::MAX) {
            return Err(format!("{nodes} nodes"));
        }
        // The renditions: the ladder's, or the video's one.
        let levels: Vec<&[vstack_core::wire::WatchChunk]> = if m.rungs.is_empty() {
            vec![&m.chunks]
        } else {
            m.rungs.iter().map(|r| r.chunks.as_slice()).collect()
        };
        if levels.len() > 16 || levels.iter().any(|l| l.len() != m.chunks.len()) {
            return Err("the ladder's rungs do not match the video".into());
        }
        let mut chunks = Vec::with_capacity(m.chunks.len());
        for (i, c) in m.chunks.iter().enumerate() {
            for l in &levels {
                let r = &l[i].replicas;
                if r.is_empty() || r.iter().any(|r| usize::from(*r) >= nodes) {
                    return Err(format!("chunk {i} has no replica on a known node"));
                }
            }
            // A node holding the chunk at every level, else the video's own.
            let everywhere: Vec<NodeId> = c
                .replicas
                .iter()
                .filter(|n| levels.iter().all(|l| l[i].replicas.contains(n)))
                .map(|r| NodeId(*r))
                .collect();
            chunks.push(ChunkMeta {
                index: u32::try_from(i).map_err(|_| "too many chunks".to_string())?,
                duration: Duration::from_millis(c.duration_ms),
                size_bytes: c.size_bytes,
                replicas: if everywhere.is_empty() {
                    c.replicas.iter().map(|r| NodeId(*r)).collect()
                } else {
                    everywhere
                },
                level_sizes: if m.rungs.is_empty() {
                    Vec::new()
                } else {
                    levels.iter().map(|l| l[i].size_bytes).collect()
                },
            });
        }
        let manifest = Manifest {
            video_id: m.video_id.clone(),
            node_count: nodes,
            chunks,
            bitrates_kbps: m.rungs.iter().map(|r| r.bitrate_kbps).collect(),
        };
        let mut config = EngineConfig::default();
        config.buffer.external_playhead = true;
        config.abr.rule = kind.default_abr();
        config.scheduler.startup_probe_wait = STARTUP_PROBE_WAIT;
        config.monitor.probe_bytes_initial = FIRST_PROBE_BYTES;
        let k = kind.name();
        let chunk_urls = levels
            .iter()
            .map(|l| {
                (0..nodes)
                    .map(|n| {
                        l.iter()
                            .map(|c| {
                                format!("/watch/{k}/{n}/chunks/{}?viewer={viewer}", c.chunk_id)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let ladder_inits = !m.rungs.is_empty() && m.init;
        let probe_urls = (0..nodes)
            .map(|n| format!("/watch/{k}/{n}/ping?viewer={viewer}"))
            .collect();
        let mut p = Self {
            kind,
            session: Session::new(config, manifest, kind.selector(), now),
            node_ids: m.nodes.clone(),
            chunk_urls,
            probe_urls,
            hashes: levels
                .iter()
                .map(|l| l.iter().map(|c| c.sha256.clone()).collect())
                .collect(),
            replicas: levels
                .iter()
                .map(|l| l.iter().map(|c| c.replicas.clone()).collect())
                .collect(),
            parts: HashMap::new(),
            verifying: HashMap::new(),
            ready: BTreeMap::new(),
            inits: if ladder_inits {
                (0..levels.len()).map(|_| InitFetch::default()).collect()
            } else {
                Vec::new()
            },
            appended_level: None,
            next_append: 0,
            chunk_count: m.chunks.len() as u32,
            probes: HashMap::new(),
            commands: VecDeque::new(),
            ended: false,
        };
        p.pump(now);
        Ok(p)
    }

    /// Fetches level `level`'s initialization segment from its next replica.
    fn fetch_init(&mut self, level: usize) {
        let Some(init) = self.inits.get_mut(level) else {
            return;
        };
        if init.attempts >= INIT_FETCH_ATTEMPTS {
            return;
        }
        let holders = &self.replicas[level][0];
        let node = usize::from(holders[init.attempts as usize % holders.len()]);
        init.attempts += 1;
        init.pending.clear();
        self.commands.push_back(Command::Fetch {
            id: DownloadId(INIT_ID_BASE - level as u64),
            url: self.chunk_urls[level][node][0].clone(),
            range: None,
        });
    }

    /// Before a part of chunk `chunk` at level `level` is asked: a media
    /// chunk of a level whose initialization segment is neither in, asked,
    /// nor the session's own (its chunk 0, at the level the session chose
    /// for it) has it fetched beside it.
    fn init_for(&mut self, chunk: u32, level: usize) {
        let Some(init) = self.inits.get(level) else {
            return;
        };
        if self.is_media(chunk)
            && init.bytes.is_none()
            && init.attempts == 0
            && self.session.chunk_level(0) != Some(level)
        {
            self.fetch_init(level);
        }
    }

    /// Whether session chunk `chunk` is a media segment (it lasts media
    /// time), not the initialization segment.
    fn is_media(&self, chunk: u32) -> bool {
        self.session
            .manifest()
            .chunks
            .get(chunk as usize)
            .is_some_and(|c| !c.duration.is_zero())
    }

    /// The level of a driver's own initialization-segment fetch.
    fn init_level(&self, id: DownloadId) -> Option<usize> {
        let level = usize::try_from(INIT_ID_BASE.checked_sub(id.0)?).ok()?;
        (level < self.inits.len()).then_some(level)
    }

    /// Appends every verified chunk whose turn it is, each level's
    /// initialization segment before the first media chunk of that level
    /// (waiting for it when it is not in yet); ends the stream after the last.
    fn flush(&mut self) {
        while let Some((level, bytes)) = self.ready.remove(&self.next_append) {
            let media = self.is_media(self.next_append);
            if media && !self.inits.is_empty() && self.appended_level != Some(level) {
                let Some(init) = self.inits[level].bytes.clone() else {
                    self.ready.insert(self.next_append, (level, bytes));
                    break;
                };
                self.commands.push_back(Command::Append {
                    chunk: init_marker(level),
                    bytes: init,
                });
            }
            if !media || !self.inits.is_empty() {
                self.appended_level = Some(level);
            }
            self.commands.push_back(Command::Append {
                chunk: self.next_append,
                bytes,
            });
            self.next_append += 1;
        }
        if self.next_append == self.chunk_count && !self.ended {
            self.ended = true;
            self.commands.push_back(Command::EndOfStream);
        }
    }

    /// The next command, if any.
    pub fn poll(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// When [`Player::on_timer`] must run next (page time), if ever.
    pub fn next_timer(&self) -> Option<Duration> {
        let probe = self.probes.values().map(|t| *t + PROBE_TIMEOUT).min();
        [self.session.poll_timeout(), probe]
            .into_iter()
            .flatten()
            .min()
    }

    /// Download `id` received `data` (the next bytes of its range).
    pub fn on_bytes(&mut self, id: DownloadId, data: &[u8]) {
        if let Some(level) = self.init_level(id) {
            self.inits[level].pending.extend_from_slice(data);
        } else if let Some(p) = self.parts.get_mut(&id) {
            p.bytes.extend_from_slice(data);
        }
    }

    /// Download `id` received its whole range.
    pub fn on_done(&mut self, now: Duration, id: DownloadId) {
        if let Some(level) = self.init_level(id) {
            let bytes = std::mem::take(&mut self.inits[level].pending);
            self.verifying
                .insert(init_marker(level), (level, bytes.clone()));
            self.commands.push_back(Command::Verify {
                chunk: init_marker(level),
                bytes,
                sha256: self.hashes[level][0].clone(),
            });
            return;
        }
        if let Some(p) = self.parts.get(&id) {
            let bytes = p.bytes.len() as u64;
            self.session.handle(now, Event::DownloadDone { id, bytes });
            self.pump(now);
        }
    }

    /// Download `id` failed (an error status, a reset); its bytes so far are
    /// kept for a resume.
    pub fn on_failed(&mut self, now: Duration, id: DownloadId) {
        if let Some(level) = self.init_level(id) {
            self.fetch_init(level);
            return;
        }
        if let Some(p) = self.parts.get(&id) {
            let bytes = p.bytes.len() as u64;
            self.session
                .handle(now, Event::DownloadFailed { id, bytes });
            self.pump(now);
        }
    }

    /// A probe of `node` answered: `rtt` to its headers and, when it carried
    /// a body, (bytes, time to read it).
    pub fn on_probe(
        &mut self,
        now: Duration,
        node: NodeId,
        rtt: Duration,
        payload: Option<(u64, Duration)>,
    ) {
        if self.probes.remove(&node).is_some() {
            self.session
                .handle(now, Event::ProbeOk { node, rtt, payload });
            self.pump(now);
        }
    }

    /// A probe of `node` failed.
    pub fn on_probe_failed(&mut self, now: Duration, node: NodeId) {
        if self.probes.remove(&node).is_some() {
            self.session.handle(now, Event::ProbeFailed { node });
            self.pump(now);
        }
    }

    /// The hash check of `chunk` came back.
    pub fn on_verified(&mut self, now: Duration, chunk: u32, ok: bool) {
        if let Some(level) = (0..self.inits.len()).find(|&l| init_marker(l) == chunk) {
            // One of the driver's own initialization-segment fetches.
            if ok {
                if let Some(bytes) = self.verifying.remove(&chunk).map(|v| v.1) {
                    self.inits[level].bytes = Some(bytes);
                }
                self.flush();
            } else {
                self.fetch_init(level);
            }
            return;
        }
        let Some((level, bytes)) = self.verifying.remove(&chunk) else {
            return;
        };
        if ok {
            let header = !self.is_media(chunk);
            if header && let Some(init) = self.inits.get_mut(level) {
                // The level's initialization segment, for a switch back to it.
                init.bytes.get_or_insert_with(|| bytes.clone());
            }
            self.ready.insert(chunk, (level, bytes));
            self.flush();
        }
        self.session
            .handle(now, Event::ChunkAssembled { chunk, ok });
        self.pump(now);
    }

    /// The timer asked for by [`Player::next_timer`] fired.
    pub fn on_timer(&mut self, now: Duration) {
        let late: Vec<NodeId> = self
            .probes
            .iter()
            .filter(|(_, t)| **t + PROBE_TIMEOUT <= now)
            .map(|(n, _)| *n)
            .collect();
        for node in late {
            self.probes.remove(&node);
            self.session.handle(now, Event::ProbeFailed { node });
        }
        if self.session.wants_progress(now) {
            for (id, p) in &self.parts {
                let bytes = p.bytes.len() as u64;
                self.session
                    .handle(now, Event::DownloadProgress { id: *id, bytes });
            }
        }
        self.session.handle_timeout(now);
        self.pump(now);
    }

    /// What the `<video>` element reported: its `currentTime` and the event.
    pub fn on_player(&mut self, now: Duration, position: Duration, event: PlayerEvent) {
        self.session.observe_player(now, position, event);
        self.pump(now);
    }

    /// The player's state in the dashboard's own shape.
    pub fn snapshot(&self) -> ClientSnapshot {
        ClientSnapshot::of(&self.session, self.kind, &self.node_ids)
    }

    /// Whether playback ended and nothing is in flight.
    pub fn is_finished(&self) -> bool {
        self.session.is_finished()
    }

    /// Turns the core's actions into commands.
    fn pump(&mut self, now: Duration) {
        while let Some(a) = self.session.poll_action() {
            match a {
                Action::Probe { node, bytes } => {
                    if let Some(url) = self.probe_urls.get(node.index()) {
                        self.probes.insert(node, now);
                        self.commands.push_back(Command::Probe {
                            node,
                            url: format!("{url}&bytes={bytes}"),
                        });
                    }
                }
                Action::Download {
                    id,
                    chunk,
                    node,
                    offset,
                    len,
                    size_bytes,
                    level,
                    ..
                } => {
                    let level = level.min(self.chunk_urls.len() - 1);
                    self.init_for(chunk, level);
                    let url = self.chunk_urls[level][node.index()][chunk as usize].clone();
                    self.parts.insert(
                        id,
                        Part {
                            chunk,
                            offset,
                            level,
                            bytes: Vec::new(),
                        },
                    );
                    let whole = offset == 0 && len == size_bytes;
                    self.commands.push_back(Command::Fetch {
                        id,
                        url,
                        range: (!whole && len > 0).then(|| (offset, offset + len - 1)),
                    });
                }
                Action::Cancel { id } => self.commands.push_back(Command::Abort { id }),
                Action::Assemble { chunk, parts } => {
                    let joined = self.join(chunk, &parts);
                    // Every part of one assembly is of one level.
                    let level = parts
                        .first()
                        .and_then(|(id, _, _)| self.parts.get(id))
                        .map_or(0, |p| p.level);
                    self.parts.retain(|_, p| p.chunk != chunk);
                    match joined {
                        Some(bytes) => {
                            let sha256 = self.hashes[level][chunk as usize].clone();
                            self.verifying.insert(chunk, (level, bytes.clone()));
                            self.commands.push_back(Command::Verify {
                                chunk,
                                bytes,
                                sha256,
                            });
                        }
                        None => self
                            .session
                            .handle(now, Event::ChunkAssembled { chunk, ok: false }),
                    }
                }
            }
        }
    }

    /// The chunk's bytes from its parts: `(part, from, to)` in absolute chunk
    /// offsets, in order; `None` when a part lacks what it should supply.
    fn join(&self, chunk: u32, segments: &[(DownloadId, u64, u64)]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for (id, from, to) in segments {
            let p = self.parts.get(id).filter(|p| p.chunk == chunk)?;
            if *from != out.len() as u64 || to < from || *from < p.offset {
                return None;
            }
            let a = usize::try_from(from - p.offset).ok()?;
            let b = usize::try_from(to - p.offset).ok()?;
            out.extend_from_slice(p.bytes.get(a..b)?);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vstack_core::{engine::PlaybackState, wire::WatchChunk};

    fn sha(bytes: &[u8]) -> String {
        // The test's own stand-in for WebCrypto: any stable digest-like
        // string works, the page's check decides.
        format!(
            "{}-{}",
            bytes.len(),
            bytes.iter().map(|b| u64::from(*b)).sum::<u64>()
        )
    }

    fn media(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|k| ((i * 31 + k) % 251) as u8).collect()
    }

    /// An init segment and four 10 s chunks on three nodes.
    fn manifest() -> (WatchManifest, Vec<Vec<u8>>) {
        let data: Vec<Vec<u8>> = (0..5)
            .map(|i| media(i, if i == 0 { 900 } else { 40_000 }))
            .collect();
        let m = WatchManifest {
            video_id: "v".into(),
            nodes: vec!["node-1".into(), "node-2".into(), "node-3".into()],
            chunks: data
                .iter()
                .enumerate()
                .map(|(i, d)| WatchChunk {
                    chunk_id: format!("v-{i:05}"),
                    duration_ms: if i == 0 { 0 } else { 10_000 },
                    size_bytes: d.len() as u64,
                    sha256: sha(d),
                    replicas: vec![(i % 3) as u16, ((i + 1) % 3) as u16],
                })
                .collect(),
            init: true,
            mse_type: Some("video/mp4; codecs=\"avc1.64001e\"".into()),
            watching: 1,
            max_watchers: 20,
            rungs: Vec::new(),
        };
        (m, data)
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Answers a fetch of `url` (its chunk's `range`) at once.
    fn fetch(
        p: &mut Player,
        data: &[Vec<u8>],
        now: Duration,
        id: DownloadId,
        url: &str,
        range: Option<(u64, u64)>,
    ) {
        let chunk: usize = url.split("/chunks/v-").nth(1).unwrap()[..5]
            .parse()
            .unwrap();
        let (a, b) = range.map_or((0, data[chunk].len()), |(a, b)| {
            (a as usize, b as usize + 1)
        });
        p.on_bytes(id, &data[chunk][a..b]);
        p.on_done(now, id);
    }

    /// Carries out every command at `now` on an instant network; returns
    /// the appended chunks, `corrupt` chunks failing their first check.
    fn run(p: &mut Player, data: &[Vec<u8>], now: Duration, corrupt: &mut Vec<u32>) -> Vec<u32> {
        let mut appended = Vec::new();
        while let Some(c) = p.poll() {
            match c {
                Command::Fetch { id, url, range } => fetch(p, data, now, id, &url, range),
                Command::Probe { node, url } => {
                    assert!(
                        url.starts_with(&format!("/watch/smart/{}/ping?viewer=", node.0)),
                        "{url}"
                    );
                    p.on_probe(now, node, ms(5), None);
                }
                Command::Verify {
                    chunk,
                    bytes,
                    sha256,
                } => {
                    let bad = corrupt.contains(&chunk);
                    corrupt.retain(|c| *c != chunk);
                    p.on_verified(now, chunk, !bad && sha(&bytes) == sha256);
                }
                Command::Append { chunk, bytes } => {
                    assert_eq!(bytes, data[chunk as usize]);
                    appended.push(chunk);
                }
                Command::Abort { .. } | Command::EndOfStream => {}
            }
        }
        appended
    }

    #[test]
    fn chunks_are_verified_then_appended_in_order_init_first() {
        let (m, data) = manifest();
        let mut p = Player::new(&m, ClientKind::Smart, "viewer-0123456789ab", ms(0)).unwrap();
        // Chunk 1's first check fails: it is fetched again, and nothing after
        // it is appended before it.
        let mut corrupt = vec![1];
        let mut appended = run(&mut p, &data, ms(100), &mut corrupt);
        for t in (200..=400).step_by(100) {
            p.on_timer(ms(t));
            appended.extend(run(&mut p, &data, ms(t), &mut corrupt));
        }
        assert_eq!(appended[..3], [0, 1, 2], "{appended:?}");
        assert_eq!(
            p.snapshot().state,
            PlaybackState::Startup,
            "until the element plays"
        );
        assert!(p.snapshot().failovers >= 1, "the corrupt chunk was charged");
        // The element plays, then drains the buffer: the rest is fetched.
        p.on_player(ms(500), ms(0), PlayerEvent::Playing);
        assert_eq!(p.snapshot().state, PlaybackState::Playing);
        assert_eq!(p.snapshot().startup_latency_ms, Some(500.0));
        p.on_player(ms(20_500), ms(20_000), PlayerEvent::Position);
        appended.extend(run(&mut p, &data, ms(20_500), &mut corrupt));
        assert_eq!(appended, vec![0, 1, 2, 3, 4]);
        p.on_player(ms(40_600), ms(40_000), PlayerEvent::Ended);
        assert!(p.is_finished());
        assert_eq!(p.snapshot().state, PlaybackState::Ended);
    }

    #[test]
    fn the_last_append_ends_the_stream_once() {
        let (m, data) = manifest();
        let mut p = Player::new(&m, ClientKind::Naive, "viewer-0123456789ab", ms(0)).unwrap();
        let mut ends = 0;
        let mut t = 0;
        while !p.ended && t < 100 {
            t += 1;
            while let Some(c) = p.poll() {
                match c {
                    Command::Fetch { id, url, range } => {
                        assert!(url.starts_with("/watch/naive/"), "{url}");
                        fetch(&mut p, &data, ms(t), id, &url, range);
                    }
                    Command::Verify {
                        chunk,
                        bytes,
                        sha256,
                    } => p.on_verified(ms(t), chunk, sha(&bytes) == sha256),
                    Command::EndOfStream => ends += 1,
                    _ => {}
                }
            }
            p.on_player(
                ms(t * 1000),
                ms(t * 1000).min(ms(40_000)),
                if t == 1 {
                    PlayerEvent::Playing
                } else {
                    PlayerEvent::Position
                },
            );
        }
        assert_eq!(ends, 1);
        assert!(p.poll().is_none());
    }

    /// A two-rung ladder (`lo-…` and `v-…`), each with its own init
    /// segment; `(manifest, data by chunk id)`.
    fn ladder() -> (WatchManifest, HashMap<String, Vec<u8>>) {
        let (mut m, _) = manifest();
        let mut data = HashMap::new();
        let rung = |prefix: &str, size: usize, seed: usize, data: &mut HashMap<String, Vec<u8>>| {
            let chunks: Vec<WatchChunk> = (0..5)
                .map(|i| {
                    let d = media(i + seed, if i == 0 { 900 } else { size });
                    let c = WatchChunk {
                        chunk_id: format!("{prefix}-{i:05}"),
                        duration_ms: if i == 0 { 0 } else { 10_000 },
                        size_bytes: d.len() as u64,
                        sha256: sha(&d),
                        replicas: vec![(i % 3) as u16, ((i + 1) % 3) as u16],
                    };
                    data.insert(c.chunk_id.clone(), d);
                    c
                })
                .collect();
            chunks
        };
        let lo = rung("lo", 10_000, 7, &mut data);
        let top = rung("v", 40_000, 0, &mut data);
        m.chunks = top.clone();
        m.rungs = vec![
            vstack_core::wire::WatchRung {
                bitrate_kbps: 8.0,
                chunks: lo,
            },
            vstack_core::wire::WatchRung {
                bitrate_kbps: 32.0,
                chunks: top,
            },
        ];
        (m, data)
    }

    #[test]
    fn a_ladder_switches_with_the_new_levels_init_segment_first() {
        let (m, data) = ladder();
        let mut p = Player::new(&m, ClientKind::Smart, "viewer-0123456789ab", ms(0)).unwrap();
        // (chunk, bytes) appended, in order.
        let mut appended: Vec<(u32, Vec<u8>)> = Vec::new();
        // Fetches answer one step (0.5 s) later, so the throughput is measured.
        // The startup probe gate holds the first request until the probes
        // answer.
        let mut pending: Vec<(DownloadId, Vec<u8>)> = Vec::new();
        let mut init_fetches: HashMap<String, u32> = HashMap::new();
        for t in 0..120u64 {
            let now = ms(t * 500);
            for (id, bytes) in std::mem::take(&mut pending) {
                p.on_bytes(id, &bytes);
                p.on_done(now, id);
            }
            while let Some(c) = p.poll() {
                match c {
                    Command::Fetch { id, url, range } => {
                        if chunk_id(&url).ends_with("-00000") {
                            *init_fetches.entry(chunk_id(&url).to_string()).or_default() += 1;
                        }
                        let d = &data[chunk_id(&url)];
                        let (a, b) =
                            range.map_or((0, d.len()), |(a, b)| (a as usize, b as usize + 1));
                        pending.push((id, d[a..b].to_vec()));
                    }
                    // The first probes find a slow network (13 kbit/s a
                    // node: the first media segment is scored to the bottom
                    // rung), the later ones an instant one.
                    Command::Probe { node, .. } => {
                        let took = if t == 0 { ms(10_000) } else { ms(2) };
                        p.on_probe(now, node, ms(5), Some((16_384, took)))
                    }
                    Command::Verify {
                        chunk,
                        bytes,
                        sha256,
                    } => p.on_verified(now, chunk, sha(&bytes) == sha256),
                    Command::Append { chunk, bytes } => appended.push((chunk, bytes)),
                    Command::Abort { .. } | Command::EndOfStream => {}
                }
            }
            let event = if t == 1 {
                PlayerEvent::Playing
            } else {
                PlayerEvent::Position
            };
            if t >= 1 {
                p.on_player(now, ms((t - 1) * 500).min(ms(40_000)), event);
            }
            p.on_timer(now);
        }
        // Every media chunk once, in order, each preceded (when its level
        // differs from the last appended) by its own level's init segment.
        let media: Vec<u32> = appended.iter().map(|a| a.0).filter(|c| *c < 5).collect();
        assert_eq!(
            media,
            [0, 1, 2, 3, 4],
            "{:?}",
            appended.iter().map(|a| a.0).collect::<Vec<_>>()
        );
        let level_of = |bytes: &[u8], chunk: u32| -> usize {
            if data[&format!("lo-{chunk:05}")] == bytes {
                0
            } else {
                assert_eq!(data[&format!("v-{chunk:05}")], bytes);
                1
            }
        };
        let mut init_level = level_of(&appended[0].1, 0);
        let mut switched = false;
        for (chunk, bytes) in &appended[1..] {
            if *chunk > 4 {
                init_level = (u32::MAX - chunk) as usize;
                assert_eq!(bytes, &data[&format!("{}-00000", ["lo", "v"][init_level])]);
                switched = true;
            } else {
                assert_eq!(
                    level_of(bytes, *chunk),
                    init_level,
                    "chunk {chunk} after init {init_level}"
                );
            }
        }
        assert!(switched, "an instant network climbs the ladder");
        // Each level's initialization segment is fetched once: the session's
        // own first chunk, the other level's when it is first chosen.
        assert_eq!(init_fetches.len(), 2, "{init_fetches:?}");
        assert!(init_fetches.values().all(|n| *n == 1), "{init_fetches:?}");
        let q = p.snapshot();
        assert_eq!(q.bitrates_kbps, [8.0, 32.0]);
        assert!(q.quality.is_some());
    }

    /// The chunk id in a chunk route's URL.
    fn chunk_id(url: &str) -> &str {
        let tail = url.split("/chunks/").nth(1).expect("a chunk route");
        tail.split('?').next().unwrap_or(tail)
    }

    /// The fetches `p` asks for by `now`: `(download, chunk id)`; hash
    /// checks pass.
    fn fetches(p: &mut Player, now: Duration) -> Vec<(DownloadId, String)> {
        let mut out = Vec::new();
        while let Some(c) = p.poll() {
            match c {
                Command::Fetch { id, url, .. } => out.push((id, chunk_id(&url).to_string())),
                Command::Verify { chunk, .. } => p.on_verified(now, chunk, true),
                _ => {}
            }
        }
        out
    }

    /// The chunk ids of media segments (not initialization segments,
    /// `-00000`) among `fetches`.
    fn media_ids(fetches: &[(DownloadId, String)]) -> Vec<&str> {
        fetches
            .iter()
            .map(|(_, id)| id.as_str())
            .filter(|id| !id.ends_with("-00000"))
            .collect()
    }

    #[test]
    fn the_first_media_segment_waits_for_the_probes_and_is_scored_on_them() {
        let (m, data) = ladder();
        let mut p = Player::new(&m, ClientKind::Smart, "viewer-0123456789ab", ms(0)).unwrap();
        let mut probed = Vec::new();
        let mut asked = Vec::new();
        while let Some(c) = p.poll() {
            match c {
                Command::Probe { node, .. } => probed.push(node),
                Command::Fetch { id, url, .. } => asked.push((id, chunk_id(&url).to_string())),
                _ => {}
            }
        }
        assert!(!probed.is_empty());
        // Not even an initialization segment goes ahead of the probes: the
        // session's own is held by the gate, the other levels' wait until a
        // media chunk of theirs is asked.
        assert!(asked.is_empty(), "{asked:?}");
        // The init segment's replicas (nodes 0 and 1) answer first: the gate
        // still holds every request for node 2, a replica of the first media
        // segment. (In Chromium the init segment, a few hundred bytes, came
        // back before that probe, and the media segment went out blind.)
        let (late, early): (Vec<NodeId>, Vec<NodeId>) =
            probed.into_iter().partition(|n| *n == NodeId(2));
        for node in early {
            p.on_probe(ms(20), node, ms(5), Some((16_384, ms(2))));
        }
        let early = fetches(&mut p, ms(20));
        assert!(early.is_empty(), "asked before node 2 answered: {early:?}");
        // Fast replicas: the first media segment goes out at the top rung.
        for node in late {
            p.on_probe(ms(40), node, ms(5), Some((16_384, ms(2))));
        }
        let mut first = fetches(&mut p, ms(40));
        for (id, chunk) in first.iter().filter(|(_, c)| c.ends_with("-00000")) {
            p.on_bytes(*id, &data[chunk]);
            p.on_done(ms(60), *id);
        }
        first.extend(fetches(&mut p, ms(60)));
        let inits: Vec<&str> = first
            .iter()
            .map(|(_, id)| id.as_str())
            .filter(|id| id.ends_with("-00000"))
            .collect();
        assert_eq!(inits, ["v-00000"], "the top level's, once: {first:?}");
        let first = media_ids(&first);
        assert!(
            first.first() == Some(&"v-00001") && first.iter().all(|id| id.starts_with("v-")),
            "{first:?}"
        );

        // No answer at all: the gate holds every request of the session
        // until STARTUP_PROBE_WAIT, then the first media segment goes out
        // blind, at the bottom, once the init segment is in.
        let mut p = Player::new(&m, ClientKind::Smart, "viewer-0123456789ab", ms(0)).unwrap();
        let open_at = STARTUP_PROBE_WAIT;
        let mut asked = fetches(&mut p, ms(0));
        assert!(p.next_timer().is_some_and(|t| t <= open_at));
        p.on_timer(open_at - ms(1));
        asked.extend(fetches(&mut p, open_at - ms(1)));
        assert!(
            media_ids(&asked).is_empty(),
            "held until the gate's end: {asked:?}"
        );
        p.on_timer(open_at);
        asked.extend(fetches(&mut p, open_at));
        for (id, chunk) in &asked {
            p.on_bytes(*id, &data[chunk]);
            p.on_done(open_at + ms(50), *id);
        }
        let blind = fetches(&mut p, open_at + ms(50));
        let blind = media_ids(&blind);
        assert!(
            blind.first() == Some(&"lo-00001") && blind.iter().all(|id| id.starts_with("lo-")),
            "{blind:?}"
        );
    }

    #[test]
    fn manifests_a_player_cannot_play_are_refused() {
        let (mut m, _) = manifest();
        m.chunks[2].replicas = vec![7];
        assert!(Player::new(&m, ClientKind::Smart, "viewer-0123456789ab", ms(0)).is_err());
        m.chunks.clear();
        assert!(Player::new(&m, ClientKind::Smart, "viewer-0123456789ab", ms(0)).is_err());
    }
}
