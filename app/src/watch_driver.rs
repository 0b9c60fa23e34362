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
//!   itself.
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
    bytes: Vec<u8>,
}

/// One player: a session and the state around it.
pub struct Player {
    kind: ClientKind,
    session: Session,
    node_ids: Vec<String>,
    chunk_urls: Vec<Vec<String>>,
    probe_urls: Vec<String>,
    hashes: Vec<String>,
    parts: HashMap<DownloadId, Part>,
    /// Chunks joined and waiting for their hash check.
    verifying: HashMap<u32, Vec<u8>>,
    /// Verified chunks waiting for the ones before them.
    ready: BTreeMap<u32, Vec<u8>>,
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
        let mut chunks = Vec::with_capacity(m.chunks.len());
        for (i, c) in m.chunks.iter().enumerate() {
            if c.replicas.is_empty() || c.replicas.iter().any(|r| usize::from(*r) >= nodes) {
                return Err(format!("chunk {i} has no replica on a known node"));
            }
            chunks.push(ChunkMeta {
                index: u32::try_from(i).map_err(|_| "too many chunks".to_string())?,
                duration: Duration::from_millis(c.duration_ms),
                size_bytes: c.size_bytes,
                replicas: c.replicas.iter().map(|r| NodeId(*r)).collect(),
                level_sizes: Vec::new(),
            });
        }
        let manifest = Manifest {
            video_id: m.video_id.clone(),
            node_count: nodes,
            chunks,
            bitrates_kbps: Vec::new(),
        };
        let mut config = EngineConfig::default();
        config.buffer.external_playhead = true;
        let k = kind.name();
        let chunk_urls = (0..nodes)
            .map(|n| {
                m.chunks
                    .iter()
                    .map(|c| format!("/watch/{k}/{n}/chunks/{}?viewer={viewer}", c.chunk_id))
                    .collect()
            })
            .collect();
        let probe_urls = (0..nodes)
            .map(|n| format!("/watch/{k}/{n}/ping?viewer={viewer}"))
            .collect();
        let mut p = Self {
            kind,
            session: Session::new(config, manifest, kind.selector(), now),
            node_ids: m.nodes.clone(),
            chunk_urls,
            probe_urls,
            hashes: m.chunks.iter().map(|c| c.sha256.clone()).collect(),
            parts: HashMap::new(),
            verifying: HashMap::new(),
            ready: BTreeMap::new(),
            next_append: 0,
            chunk_count: m.chunks.len() as u32,
            probes: HashMap::new(),
            commands: VecDeque::new(),
            ended: false,
        };
        p.pump(now);
        Ok(p)
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
        if let Some(p) = self.parts.get_mut(&id) {
            p.bytes.extend_from_slice(data);
        }
    }

    /// Download `id` received its whole range.
    pub fn on_done(&mut self, now: Duration, id: DownloadId) {
        if let Some(p) = self.parts.get(&id) {
            let bytes = p.bytes.len() as u64;
            self.session.handle(now, Event::DownloadDone { id, bytes });
            self.pump(now);
        }
    }

    /// Download `id` failed (an error status, a reset); its bytes so far are
    /// kept for a resume.
    pub fn on_failed(&mut self, now: Duration, id: DownloadId) {
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
        let Some(bytes) = self.verifying.remove(&chunk) else {
            return;
        };
        if ok {
            self.ready.insert(chunk, bytes);
            while let Some(b) = self.ready.remove(&self.next_append) {
                self.commands.push_back(Command::Append {
                    chunk: self.next_append,
                    bytes: b,
                });
                self.next_append += 1;
            }
            if self.next_append == self.chunk_count && !self.ended {
                self.ended = true;
                self.commands.push_back(Command::EndOfStream);
            }
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
                    ..
                } => {
                    let url = self.chunk_urls[node.index()][chunk as usize].clone();
                    self.parts.insert(
                        id,
                        Part {
                            chunk,
                            offset,
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
                    self.parts.retain(|_, p| p.chunk != chunk);
                    match joined {
                        Some(bytes) => {
                            let sha256 = self.hashes[chunk as usize].clone();
                            self.verifying.insert(chunk, bytes.clone());
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

    #[test]
    fn manifests_a_player_cannot_play_are_refused() {
        let (mut m, _) = manifest();
        m.chunks[2].replicas = vec![7];
        assert!(Player::new(&m, ClientKind::Smart, "viewer-0123456789ab", ms(0)).is_err());
        m.chunks.clear();
        assert!(Player::new(&m, ClientKind::Smart, "viewer-0123456789ab", ms(0)).is_err());
    }
}
