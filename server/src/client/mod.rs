//! The live client: the sans-IO engine core ([`vstack_core::engine::Session`])
//! driven by tokio over real HTTP.
//!
//! The driver owns the clock and the sockets; the core decides. Each loop turn
//! it executes the core's actions (probe = `GET {node}/ping?bytes=…`, download =
//! streamed `GET {node}/chunks/{id}` of a byte range, cancel = abort that
//! task, assemble = join and verify a chunk), feeds back what happened as
//! events, and sleeps until the next event or the core's next timeout. A chunk
//! whose size or SHA-256 differs from the manifest fails its assembly, so the
//! core fetches it again from one replica at a time.
//!
//! Time: `now` given to the core is media time, `elapsed wall time × speed`
//! ([`ClientConfig::speed`], default 1), and measured durations are scaled the
//! same way, so a cluster whose emulators run at the same speed looks to the
//! core exactly like a real-time one. Built on `tokio::time::Instant`, so tests
//! can pause the clock.
//!
//! Status: a [`ClientSnapshot`] (the very type the dashboard shows) is
//! published on a `watch` channel after every turn, and the core's notices go
//! out on a `broadcast` channel; the dashboard subscribes to both, and a slow
//! subscriber never blocks playback.
//!
//! Downloads are byte ranges of chunks ([`transfer`]): the driver reports
//! their progress when the core asks, keeps their bytes (or, from offset 0,
//! their hash state) and joins and verifies a chunk when the core says it is
//! all there.

pub mod output;
pub mod transfer;

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::{
    sync::{broadcast, mpsc, watch},
    task::AbortHandle,
    time::Instant,
};
use vstack_core::abr::AbrKind;
use vstack_core::engine::{
    Action, ClientKind, ClientSnapshot, DownloadId, EngineConfig, Event, NodeHealth, NodeId,
    Notice, QoeReport, Session, monitor::NetworkMonitor,
};

use crate::{
    cluster::wire::{NodeList, NodeRecord, VideoManifest},
    http::ErrorBody,
    sync::LockExt,
};

/// Live client settings; every default stated.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Engine settings (monitor, buffer, scheduler). Default: the seed's.
    pub engine: EngineConfig,
    /// Node selection. Default smart.
    pub kind: ClientKind,
    /// Time compression (must match the cluster's emulators). Default 1.
    pub speed: f64,
    /// A probe unanswered after this long (media time) fails. Default 2 s.
    pub probe_timeout: Duration,
    /// Session number stamped on every published snapshot (a host playing
    /// session after session counts them). Default 1.
    pub session: u32,
    /// Snapshots are published this often (wall time) while someone
    /// subscribes, events or not, plus once at every playback state change
    /// and at the end, and never while nobody subscribes: building one walks
    /// every node and recent chunk, which at hundreds of sessions per
    /// process was the host's main cost. Default 50 ms.
    pub status_interval: Duration,
    /// Where every verified chunk goes, as `(chunk index, bytes)` in the
    /// order verified (`vstack play --output`). With a sink, every part keeps
    /// its bytes (not only the hash of a part from offset 0), and the core
    /// hears that a chunk is assembled only once the channel took it, so a
    /// slow reader holds the engine back as a full player buffer would. The
    /// channel's capacity bounds the chunks waiting. Default `None`.
    pub media_sink: Option<mpsc::Sender<(u32, bytes::Bytes)>>,
    /// Quality choice for a video with a ladder (ignored for one rendition).
    /// Default `None`: the smart client's multi-source rule and the naive
    /// client's BOLA-E, as `vstack sim` pits them
    /// ([`ClientKind::default_abr`]).
    pub abr: Option<AbrKind>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            kind: ClientKind::Smart,
            speed: 1.0,
            probe_timeout: Duration::from_secs(2),
            session: 1,
            status_interval: Duration::from_millis(50),
            media_sink: None,
            abr: None,
        }
    }
}

/// Errors of the live client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The metadata service answered with an error (e.g. unknown video → 404).
    #[error("metadata service: {status}: {message}")]
    Metadata {
        /// HTTP status.
        status: u16,
        /// Its error message.
        message: String,
    },
    /// The metadata service cannot be reached.
    #[error("metadata service unreachable at {url}: {message}")]
    Unreachable {
        /// URL tried.
        url: String,
        /// Cause.
        message: String,
    },
    /// The manifest cannot be played (no chunk, a chunk without a live replica).
    #[error("video {0}")]
    Unplayable(String),
    /// Playback was stopped before the end.
    #[error("stopped")]
    Stopped,
}

/// The cluster as a client sees it: nodes and one manifest.
#[derive(Clone, Debug)]
pub struct ClusterView {
    /// Registered nodes, in registration order.
    pub nodes: Vec<NodeRecord>,
    /// The video.
    pub manifest: VideoManifest,
    /// For a video with a ladder, the manifests of its rungs in the
    /// ladder's order (lowest first, the video itself among them); empty
    /// otherwise.
    pub rungs: Vec<VideoManifest>,
    /// The metadata service the view came from (`None`: a view built by
    /// hand). With it, a client that fails over re-reads the manifest and
    /// plays from replicas added since (adaptive redundancy).
    pub metadata_url: Option<String>,
}

impl ClusterView {
    /// The view of a player with one origin, node `node` (index into
    /// `nodes`): every chunk's replicas, the rungs' too, cut to that node
    /// (a chunk it does not hold keeps none, and the session fails on it),
    /// and no metadata service to re-read a wider replica set from. The
    /// live comparison's single-node column plays on it.
    pub fn pinned(&self, node: usize) -> ClusterView {
        let id = self.nodes.get(node).map(|n| n.node_id.clone());
        let pin = |m: &VideoManifest| {
            let mut m = m.clone();
            for c in &mut m.chunks {
                c.replicas.retain(|r| Some(r) == id.as_ref());
            }
            m
        };
        ClusterView {
            nodes: self.nodes.clone(),
            manifest: pin(&self.manifest),
            rungs: self.rungs.iter().map(pin).collect(),
            metadata_url: None,
        }
    }
}

/// Fetches the node list and `video_id`'s manifest from the metadata service.
///
/// # Errors
/// [`ClientError::Metadata`] (404 for an unknown video),
/// [`ClientError::Unreachable`].
pub async fn fetch_view(
    http: &reqwest::Client,
    metadata_url: &str,
    video_id: &str,
) -> Result<ClusterView, ClientError> {
    let base = metadata_url.trim_end_matches('/');
    let nodes: NodeList = get_json(http, &format!("{base}/nodes")).await?;
    let manifest: VideoManifest = get_json(http, &format!("{base}/videos/{video_id}")).await?;
    let mut rungs = Vec::with_capacity(manifest.ladder.len());
    for r in &manifest.ladder {
        rungs.push(if r.video_id == manifest.video_id {
            manifest.clone()
        } else {
            get_json(http, &format!("{base}/videos/{}", r.video_id)).await?
        });
    }
    Ok(ClusterView {
        nodes: nodes.nodes,
        manifest,
        rungs,
        metadata_url: Some(base.to_string()),
    })
}

async fn get_json<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, ClientError> {
    let resp = http
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| ClientError::Unreachable {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&body)
            .map(|b| b.error)
            .unwrap_or(body);
        return Err(ClientError::Metadata {
            status: status.as_u16(),
            message,
        });
    }
    resp.json().await.map_err(|e| ClientError::Unreachable {
        url: url.to_string(),
        message: e.to_string(),
    })
}

/// A notice with the node's id resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientNotice {
    /// Smart or naive.
    pub kind: ClientKind,
    /// Node id the notice is about, if any.
    pub node_id: Option<String>,
    /// The core's notice.
    pub notice: Notice,
}

enum Outcome {
    Probe {
        node: NodeId,
        result: Option<(Duration, Option<(u64, Duration)>)>,
    },
    Download {
        id: DownloadId,
        result: Result<u64, String>,
    },
    Assembled {
        chunk: u32,
        ok: bool,
    },
    /// A re-read manifest.
    Manifest(VideoManifest),
}

/// One rendition's chunks as the driver fetches and verifies them.
struct LevelFiles {
    chunk_ids: Vec<String>,
    hashes: Vec<String>,
    sizes: Vec<u64>,
}

impl LevelFiles {
    fn of(m: &VideoManifest) -> Self {
        Self {
            chunk_ids: m.chunks.iter().map(|c| c.chunk_id.clone()).collect(),
            hashes: m.chunks.iter().map(|c| c.sha256.clone()).collect(),
            sizes: m.chunks.iter().map(|c| c.size_bytes).collect(),
        }
    }
}

/// What a driven session needs to reach the nodes and check the bytes.
struct Driver {
    http: reqwest::Client,
    config: ClientConfig,
    speed: f64,
    node_ids: Vec<String>,
    urls: Vec<String>,
    /// The video's own chunk ids (its rung's for a ladder).
    chunk_ids: Vec<String>,
    /// Per ladder level (one for a video of one rendition), each chunk's
    /// storage id, SHA-256 and size.
    levels: Vec<LevelFiles>,
    /// The level each running or kept part is of.
    part_levels: HashMap<DownloadId, usize>,
    tx: mpsc::UnboundedSender<Outcome>,
    /// Where to re-read the manifest after a failover.
    metadata_url: Option<String>,
    video_id: String,
    /// When the manifest was last re-read.
    manifest_read: Option<Instant>,
    /// When the last failover happened (or a node was found down).
    failed_over: Option<Instant>,
    /// Running downloads.
    downloads: HashMap<DownloadId, AbortHandle>,
    /// Every part's buffer, until its chunk is assembled.
    parts: HashMap<DownloadId, transfer::Part>,
    probes: Vec<AbortHandle>,
    /// This session's random id (16 hex digits), sent with every chunk
    /// `GET` for the nodes' popularity count.
    client_id: Arc<str>,
}

impl Driver {
    /// Checks that `view` can be played and builds the driver and the core.
    fn new(
        http: reqwest::Client,
        view: ClusterView,
        config: ClientConfig,
        tx: mpsc::UnboundedSender<Outcome>,
    ) -> Result<(Self, Session), ClientError> {
        let node_ids: Vec<String> = view.nodes.iter().map(|n| n.node_id.clone()).collect();
        let (manifest, levels) = if view.manifest.ladder.is_empty() {
            (
                view.manifest.to_engine(&node_ids),
                vec![LevelFiles::of(&view.manifest)],
            )
        } else {
            let m = view
                .manifest
                .to_engine_ladder(&view.rungs, &node_ids)
                .ok_or_else(|| {
                    ClientError::Unplayable(format!(
                        "{}: its rungs' manifests do not match its ladder",
                        view.manifest.video_id
                    ))
                })?;
            (m, view.rungs.iter().map(LevelFiles::of).collect())
        };
        let mut config = config;
        config.engine.abr.rule = config.abr.unwrap_or(config.kind.default_abr());
        if manifest.chunks.is_empty() {
            return Err(ClientError::Unplayable(format!(
                "{} has no chunks",
                manifest.video_id
            )));
        }
        if let Some(c) = manifest.chunks.iter().find(|c| c.replicas.is_empty()) {
            return Err(ClientError::Unplayable(format!(
                "{}: chunk {} has no replica on a registered node",
                manifest.video_id, c.index
            )));
        }
        let chunks = &view.manifest.chunks;
        let speed = if config.speed.is_finite() && config.speed >= 1.0 {
            config.speed
        } else {
            1.0
        };
        let session = Session::new(
            config.engine.clone(),
            manifest,
            config.kind.selector(),
            Duration::ZERO,
        );
        let driver = Self {
            metadata_url: view.metadata_url.clone(),
            video_id: view.manifest.video_id.clone(),
            manifest_read: None,
            failed_over: None,
            http,
            speed,
            urls: view.nodes.iter().map(|n| n.url.clone()).collect(),
            node_ids,
            chunk_ids: chunks.iter().map(|c| c.chunk_id.clone()).collect(),
            levels,
            part_levels: HashMap::new(),
            config,
            tx,
            downloads: HashMap::new(),
            parts: HashMap::new(),
            probes: Vec::new(),
            client_id: {
                use rand::Rng;
                hex::encode(rand::rng().random::<[u8; 8]>()).into()
            },
        };
        Ok((driver, session))
    }

    /// Carries out one of the core's actions; `monitor` is the core's view
    /// of the nodes (a probe of a node it has no rate for grows).
    fn execute(&mut self, action: Action, monitor: &NetworkMonitor) {
        match action {
            Action::Probe { node, bytes } => {
                let unrated = node.index() < monitor.node_count()
                    && monitor.stats(node).bandwidth_mbps.is_none();
                self.probe(node, bytes, unrated);
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
                let i = chunk as usize;
                let level = level.min(self.levels.len() - 1);
                self.part_levels.insert(id, level);
                let url = format!(
                    "{}/chunks/{}",
                    self.urls[node.index()],
                    self.levels[level].chunk_ids[i]
                );
                let part = transfer::Part::new(chunk, offset, self.config.media_sink.is_some());
                let buf = part.buf.clone();
                self.parts.insert(id, part);
                let (http, tx) = (self.http.clone(), self.tx.clone());
                let client_id = self.client_id.clone();
                let whole = offset == 0 && len == size_bytes;
                let task = tokio::spawn(async move {
                    let result =
                        transfer::download(&http, &url, &client_id, offset, len, whole, &buf).await;
                    let _ = tx.send(Outcome::Download { id, result });
                });
                self.downloads.insert(id, task.abort_handle());
            }
            Action::Cancel { id } => {
                // The bytes stay for a later assembly; the count stays the
                // one last reported.
                if let Some(h) = self.downloads.remove(&id) {
                    h.abort();
                }
            }
            Action::Assemble { chunk, parts } => self.assemble(chunk, parts),
        }
    }

    /// Probes `node` with a `bytes` payload (the core sizes it to the node's
    /// estimated bandwidth), grown while too quick to time when `grow`
    /// ([`probe_timed`]).
    fn probe(&mut self, node: NodeId, bytes: u64, grow: bool) {
        let speed = self.speed;
        let base = self.urls[node.index()].clone();
        let (http, tx) = (self.http.clone(), self.tx.clone());
        let timeout = self.config.probe_timeout.div_f64(speed);
        self.probes.retain(|h| !h.is_finished());
        let task = tokio::spawn(async move {
            let result =
                probe_timed(&http, &base, bytes, grow, timeout)
                    .await
                    .map(|(rtt, payload)| {
                        (
                            rtt.mul_f64(speed),
                            payload.map(|(b, d)| (b, d.mul_f64(speed))),
                        )
                    });
            let _ = tx.send(Outcome::Probe { node, result });
        });
        self.probes.push(task.abort_handle());
    }

    /// Joins and verifies a chunk on the blocking pool (it hashes), then
    /// drops the chunk's part buffers.
    fn assemble(&mut self, chunk: u32, segments: Vec<(DownloadId, u64, u64)>) {
        let ids: Vec<DownloadId> = self
            .parts
            .iter()
            .filter(|(_, p)| p.chunk == chunk)
            .map(|(id, _)| *id)
            .collect();
        let mut held = Vec::with_capacity(ids.len());
        // The assembly's parts are all of one level (the core drops a
        // chunk's parts when it fetches it at another).
        let level = segments
            .first()
            .and_then(|(id, _, _)| self.part_levels.get(id).copied())
            .unwrap_or(0);
        for id in ids {
            self.part_levels.remove(&id);
            if let Some(p) = self.parts.remove(&id) {
                if let Some(h) = self.downloads.remove(&id) {
                    h.abort();
                }
                let bytes = std::mem::take(&mut p.buf.locked().bytes);
                held.push((id, p.offset, p.reported, bytes));
            }
        }
        let i = chunk as usize;
        let files = &self.levels[level];
        let (size, sha) = (files.sizes[i], files.hashes[i].clone());
        let tx = self.tx.clone();
        let sink = self.config.media_sink.clone();
        tokio::task::spawn_blocking(move || {
            let ok = match sink {
                None => transfer::assemble(&segments, &held, size, &sha),
                Some(sink) => match transfer::join(&segments, &held, size, &sha) {
                    Some(bytes) => {
                        // Waits for room: a slow reader holds the engine back
                        // as a full player buffer would. A reader that left
                        // takes nothing more; the chunk still verified.
                        let _ = sink.blocking_send((chunk, bytes));
                        true
                    }
                    None => false,
                },
            };
            let _ = tx.send(Outcome::Assembled { chunk, ok });
        });
    }

    /// Reports every running download's bytes to the core.
    fn report_progress(&mut self, session: &mut Session, now: Duration) {
        for id in self.downloads.keys() {
            if let Some(p) = self.parts.get_mut(id) {
                let bytes = p.report();
                session.handle(now, Event::DownloadProgress { id: *id, bytes });
            }
        }
    }

    /// The core's notice with its node id resolved.
    fn notice(&self, notice: Notice) -> ClientNotice {
        let node_id = match &notice {
            Notice::ChunkDownloaded { node, .. }
            | Notice::Failover { node, .. }
            | Notice::NodeStatus { node, .. } => self.node_ids.get(node.index()).cloned(),
            Notice::PlaybackState { .. } | Notice::ReplicasUpdated { .. } => None,
        };
        ClientNotice {
            kind: self.config.kind,
            node_id,
            notice,
        }
    }

    /// The event an outcome means for the core.
    fn event(&mut self, outcome: Outcome) -> Option<Event> {
        Some(match outcome {
            Outcome::Probe {
                node,
                result: Some((rtt, payload)),
            } => Event::ProbeOk { node, rtt, payload },
            Outcome::Probe { node, result: None } => Event::ProbeFailed { node },
            Outcome::Download { id, result } => {
                // A part cancelled meanwhile keeps the count last reported.
                let running = self.downloads.remove(&id).is_some();
                let bytes = match self.parts.get_mut(&id) {
                    Some(p) if running => p.report(),
                    Some(p) => p.reported.0,
                    None => 0,
                };
                match result {
                    Ok(_) => Event::DownloadDone { id, bytes },
                    Err(why) => {
                        tracing::debug!(?id, "download failed after {bytes} bytes: {why}");
                        Event::DownloadFailed { id, bytes }
                    }
                }
            }
            Outcome::Assembled { chunk, ok } => Event::ChunkAssembled { chunk, ok },
            // Taken by the loop (`Session::update_replicas`), not an event.
            Outcome::Manifest(_) => return None,
        })
    }

    /// Re-reads the manifest in the background while a failover is recent
    /// (within [`MANIFEST_REFRESH_FOR`] of the last one), at most once per
    /// [`MANIFEST_REFRESH_EVERY`]: repairs land a grace period after a node
    /// dies, later than the failover itself.
    fn refresh_manifest(&mut self) {
        let Some(base) = self.metadata_url.clone() else {
            return;
        };
        if self
            .failed_over
            .is_none_or(|t| t.elapsed() > MANIFEST_REFRESH_FOR)
            || self
                .manifest_read
                .is_some_and(|t| t.elapsed() < MANIFEST_REFRESH_EVERY)
        {
            return;
        }
        self.manifest_read = Some(Instant::now());
        let http = self.http.clone();
        let tx = self.tx.clone();
        let url = format!("{base}/videos/{}", self.video_id);
        tokio::spawn(async move {
            if let Ok(m) = get_json::<VideoManifest>(&http, &url).await {
                let _ = tx.send(Outcome::Manifest(m));
            }
        });
    }

    /// The replica lists of a re-read manifest, as the session's node ids;
    /// `None` when it is another video, version or chunk layout.
    fn replicas_of(&self, m: &VideoManifest) -> Option<Vec<Vec<NodeId>>> {
        if m.video_id != self.video_id
            || m.chunks.len() != self.chunk_ids.len()
            || m.chunks
                .iter()
                .zip(&self.chunk_ids)
                .any(|(c, id)| &c.chunk_id != id)
        {
            return None;
        }
        Some(
            m.to_engine(&self.node_ids)
                .chunks
                .into_iter()
                .map(|c| c.replicas)
                .collect(),
        )
    }

    fn snapshot(&self, session: &Session) -> ClientSnapshot {
        let mut s = ClientSnapshot::of(session, self.config.kind, &self.node_ids);
        s.session = self.config.session;
        s
    }
}

impl Drop for Driver {
    /// Nothing outlives the session: every download and probe is aborted.
    fn drop(&mut self) {
        for h in self.downloads.values().chain(self.probes.iter()) {
            h.abort();
        }
    }
}

/// Plays `view.manifest` to the end with the engine, publishing a snapshot
/// after every turn on `status` and the core's notices on `notices`. Stops
/// early with [`ClientError::Stopped`] when `stop` becomes true.
///
/// # Errors
/// [`ClientError::Unplayable`] for an empty manifest or a chunk without a
/// replica on a known node; [`ClientError::Stopped`].
pub async fn play(
    http: reqwest::Client,
    view: ClusterView,
    config: ClientConfig,
    status: watch::Sender<Option<ClientSnapshot>>,
    notices: broadcast::Sender<ClientNotice>,
    mut stop: watch::Receiver<bool>,
) -> Result<QoeReport, ClientError> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Outcome>();
    let (mut driver, mut session) = Driver::new(http, view, config, tx)?;
    let t0 = Instant::now();
    let speed = driver.speed;
    let media_now = move || t0.elapsed().mul_f64(speed);
    let to_wall = move |media: Duration| t0 + media.div_f64(speed);
    let status_interval = driver.config.status_interval;
    // When the last snapshot went out.
    let mut published: Option<Instant> = None;
    let result = loop {
        while let Some(action) = session.poll_action() {
            driver.execute(action, session.monitor());
        }
        let mut state_changed = false;
        while let Some(n) = session.poll_notice() {
            state_changed |= matches!(n, Notice::PlaybackState { .. });
            if matches!(
                n,
                Notice::Failover { .. }
                    | Notice::NodeStatus {
                        health: NodeHealth::Down,
                        ..
                    }
            ) {
                driver.failed_over = Some(Instant::now());
            }
            let _ = notices.send(driver.notice(n));
        }
        if session.is_finished() {
            break Ok(session.report());
        }
        driver.refresh_manifest();
        let due = published.is_none_or(|t| t.elapsed() >= status_interval);
        if status.receiver_count() > 0 && (due || state_changed) {
            status.send_replace(Some(driver.snapshot(&session)));
            published = Some(Instant::now());
        }
        // While someone subscribes, the next snapshot is due one interval
        // later whether or not an event comes: the playhead, the buffer and
        // a stall in progress move with time alone (a stall with nothing in
        // flight used to freeze the published stall time until the next
        // event, seconds later).
        let publish_at = published
            .filter(|_| status.receiver_count() > 0)
            .map(|t| t + status_interval);
        let wake = match (session.poll_timeout().map(to_wall), publish_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            biased;
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break Err(ClientError::Stopped);
                }
            }
            Some(outcome) = rx.recv() => {
                if let Outcome::Manifest(m) = &outcome {
                    if let Some(r) = driver.replicas_of(m) {
                        session.update_replicas(&r);
                    }
                    continue;
                }
                if let Some(event) = driver.event(outcome) {
                    session.handle(media_now(), event);
                }
            }
            _ = sleep_until_opt(wake) => {
                let now = media_now();
                if session.wants_progress(now) {
                    driver.report_progress(&mut session, now);
                }
                session.handle_timeout(now);
            }
        }
    };
    status.send_replace(Some(driver.snapshot(&session)));
    result
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Plays one whole session of `view` unobserved (no status or notice
/// subscriber, no stop) and returns its QoE; what `vstack compare` and
/// `vstack bench` need per session.
///
/// # Errors
/// As [`play`].
pub async fn play_session(
    http: reqwest::Client,
    view: ClusterView,
    kind: ClientKind,
    speed: f64,
) -> Result<QoeReport, ClientError> {
    let cfg = ClientConfig {
        kind,
        speed,
        ..ClientConfig::default()
    };
    play_session_with(http, view, cfg).await
}

/// [`play_session`] with `config` (its `kind`, `speed`, `abr` …) instead of
/// the defaults.
///
/// # Errors
/// As [`play`].
pub async fn play_session_with(
    http: reqwest::Client,
    view: ClusterView,
    config: ClientConfig,
) -> Result<QoeReport, ClientError> {
    // No receiver: the session builds no snapshot until its end.
    let tx = watch::Sender::new(None);
    let (ntx, _) = broadcast::channel(16);
    let (_stop, stop_rx) = watch::channel(false);
    play(http, view, config, tx, ntx, stop_rx).await
}

/// `GET …/ping?bytes=N`: the time to the response headers (the latency sample)
/// and, with a payload, (bytes, time from headers to the last byte).
/// A client re-reads its manifest after a failover at most this often
/// (wall time).
pub const MANIFEST_REFRESH_EVERY: Duration = Duration::from_secs(2);
/// … and for this long after the last failover (wall time).
pub const MANIFEST_REFRESH_FOR: Duration = Duration::from_secs(60);

/// A probe's body that arrives faster than this (wall time) gives no
/// bandwidth sample: tokio's timer and the emulator's pacing work in
/// milliseconds, so a 16 KiB body on a fast link (0.3 ms at 100 Mbit/s ×5)
/// would read several times too slow and drag the node's estimate down.
pub const MIN_TIMED_PROBE_BODY: Duration = Duration::from_millis(5);

/// While the core has no rate for a node (no timed probe, no transfer
/// sample), a probe of it whose body came too quickly to time
/// ([`MIN_TIMED_PROBE_BODY`]) is asked again with this many times the
/// payload, up to
/// [`crate::cluster::storage::MAX_PING_BYTES`] (at most three repeats from
/// the core's 16 KiB first probe), all within the one probe timeout.
/// Without it a fast link gave the startup gate a latency and no rate: at
/// `vstack compare`'s 10× time compression the default profile's nodes
/// deliver 16 KiB in under a millisecond of wall time, and the first
/// segment went out blind, at the bottom rung. The link is fast exactly
/// when this happens, so the bigger payloads cost it little. Once the
/// core has a rate for the node, its probes are the core's size, timed or
/// not.
pub const PROBE_GROWTH: u64 = 4;

/// [`probe`] of `GET {base}/ping?bytes={bytes}`. With `grow` (a node the
/// core has no rate for: its first probes), asked again with
/// [`PROBE_GROWTH`] × the payload while its body is too quick to time, and
/// at least twice in all; a body of the largest payload that is still too
/// quick gives the rate it proves, `bytes` over [`MIN_TIMED_PROBE_BODY`] (a lower bound:
/// at 10× compression 1 MiB so read is 168 Mbit/s of media time). The
/// latency sample is the smallest of the answers' (the first one may pay
/// for opening the connection; the others ride it warm), the payload
/// sample the last timed one's. `None` when any request fails or the
/// first does not answer within `timeout` ([`grown`] keeps what came in
/// time when a later one is still out). A single
/// first answer judged the node: in CI, under load, a default-profile
/// node's first round trip read 222 ms (50 ms nominal at 4×), its latency
/// estimate crossed the 200 ms degraded mark, and the hub raised a node
/// health alert on a clean run.
async fn probe_timed(
    http: &reqwest::Client,
    base: &str,
    bytes: u64,
    grow: bool,
    timeout: Duration,
) -> Option<(Duration, Option<(u64, Duration)>)> {
    grown(bytes, grow, timeout, |n| {
        probe(http, format!("{base}/ping?bytes={n}"))
    })
    .await
}

/// [`probe_timed`]'s rule over `ask` (one probe of `n` bytes), all of it
/// within `timeout` (wall time): `None` when the first answer does not
/// come by then. A later request still out when time is up is dropped and
/// the answers in hand are kept: the latency, and a body too quick to time
/// read as the rate it proves (its bytes over [`MIN_TIMED_PROBE_BODY`], a
/// lower bound). At 20× time compression (`vstack bench`) the timeout is
/// 100 ms of wall time, and under load about one grown probe in eight ran
/// out of it: the node had answered, yet it was charged a failure and
/// stayed unmeasured.
async fn grown<F, Fut>(
    bytes: u64,
    grow: bool,
    timeout: Duration,
    ask: F,
) -> Option<(Duration, Option<(u64, Duration)>)>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Option<(Duration, Option<(u64, Duration)>)>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let in_time = |n| tokio::time::timeout_at(deadline, ask(n));
    let max = crate::cluster::storage::MAX_PING_BYTES;
    let (mut rtt, mut payload) = in_time(bytes).await.ok()??;
    let mut asked = bytes;
    while grow && payload.is_none() && asked > 0 {
        let answer = match asked.checked_mul(PROBE_GROWTH).filter(|n| *n <= max) {
            Some(next) => in_time(next).await.ok().map(|a| (next, a)),
            None => None,
        };
        // At the node's limit, or out of time: the largest body read
        // proves its rate.
        let Some((next, answer)) = answer else {
            payload = Some((asked, MIN_TIMED_PROBE_BODY));
            break;
        };
        let (again, timed) = answer?;
        asked = next;
        rtt = rtt.min(again);
        payload = timed;
    }
    if grow && asked == bytes {
        // One answer only: ask once more for a second round trip on the
        // connection the first one opened (when there is time left).
        if let Ok(answer) = in_time(bytes).await {
            let (again, timed) = answer?;
            rtt = rtt.min(again);
            payload = timed.or(payload);
        }
    }
    Some((rtt, payload))
}

async fn probe(http: &reqwest::Client, url: String) -> Option<(Duration, Option<(u64, Duration)>)> {
    let t = Instant::now();
    let resp = http.get(url).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let rtt = t.elapsed();
    let expected = resp.content_length();
    let t1 = Instant::now();
    let mut stream = resp.bytes_stream();
    let mut n = 0u64;
    while let Some(b) = stream.next().await {
        n += b.ok()?.len() as u64;
    }
    if expected.is_some_and(|e| e != n) {
        return None;
    }
    // A body that came in less than this is too quick to time with a
    // millisecond timer: its rate would read low, so only the RTT counts.
    let took = t1.elapsed();
    Some((
        rtt,
        (n > 0 && took >= MIN_TIMED_PROBE_BODY).then_some((n, took)),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// One probe's answer from a link of `mbps` (wall time): 10 ms to the
    /// headers (30 ms for the first, which opens the connection), the body
    /// timed only when it takes at least [`MIN_TIMED_PROBE_BODY`], as
    /// [`probe`] reads it.
    fn answer(n: u64, mbps: f64, first: bool) -> Option<(Duration, Option<(u64, Duration)>)> {
        let took = Duration::from_secs_f64(n as f64 * 8.0 / (mbps * 1e6));
        Some((
            Duration::from_millis(if first { 30 } else { 10 }),
            (took >= MIN_TIMED_PROBE_BODY).then_some((n, took)),
        ))
    }

    /// [`grown`] on a link of `mbps`: its answer and the sizes asked.
    async fn run(bytes: u64, grow: bool, mbps: f64) -> (Option<(u64, Duration)>, Vec<u64>) {
        let asked = Mutex::new(Vec::new());
        let (rtt, payload) = grown(bytes, grow, Duration::from_secs(3600), |n| {
            let mut sizes = asked.locked();
            sizes.push(n);
            let first = sizes.len() == 1;
            async move { answer(n, mbps, first) }
        })
        .await
        .unwrap();
        let sizes = asked.into_inner().unwrap_or_default();
        // The smallest round trip: a warm one when there were several.
        let warm = if sizes.len() > 1 { 10 } else { 30 };
        assert_eq!(rtt, Duration::from_millis(warm), "{sizes:?}");
        (payload, sizes)
    }

    #[tokio::test]
    async fn a_node_without_a_rate_is_probed_until_timed_and_twice_at_least() {
        const K: u64 = 1 << 10;
        // 16 KiB takes 1.3 ms at 100 Mbit/s: too quick; 64 KiB 5.2 ms.
        let (payload, sizes) = run(16 * K, true, 100.0).await;
        assert_eq!(sizes, [16 * K, 64 * K]);
        assert_eq!(payload.map(|p| p.0), Some(64 * K));
        // A node the core has a rate for: one probe, untimed or not.
        let (payload, sizes) = run(16 * K, false, 100.0).await;
        assert_eq!((payload, sizes), (None, vec![16 * K]));
        // A slow link is timed at once: nothing grows, but it is asked
        // twice, for a round trip on a warm connection.
        let (payload, sizes) = run(16 * K, true, 3.0).await;
        assert_eq!(sizes, [16 * K, 16 * K]);
        assert!(payload.is_some());
        // Too quick even at the node's 1 MiB limit (2 Gbit/s): the rate the
        // largest payload proves, a lower bound; never past the limit.
        let (payload, sizes) = run(16 * K, true, 2_000.0).await;
        assert_eq!(sizes, [16 * K, 64 * K, 256 * K, 1024 * K]);
        assert_eq!(payload, Some((1024 * K, MIN_TIMED_PROBE_BODY)));
        // A payload already at the limit is not grown past it.
        let (payload, sizes) = run(1024 * K, true, 2_000.0).await;
        assert_eq!(sizes, [1024 * K, 1024 * K]);
        assert_eq!(payload, Some((1024 * K, MIN_TIMED_PROBE_BODY)));
    }

    /// [`grown`] of a 16 KiB probe of a node on a 100 Mbit/s link whose
    /// every answer takes `each` (tokio's clock paused), within `timeout`.
    async fn late(
        each: Duration,
        timeout: Duration,
    ) -> Option<(Duration, Option<(u64, Duration)>)> {
        grown(16 << 10, true, timeout, |n| async move {
            tokio::time::sleep(each).await;
            answer(n, 100.0, false)
        })
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn a_grown_probe_out_of_time_keeps_the_answers_in_hand() {
        let (ms, k) = (Duration::from_millis(1), 1 << 10);
        // The 16 KiB answer (too quick to time) is in at 30 ms; the 64 KiB
        // one would be at 60 ms, past the 50 ms timeout: the latency and
        // the rate the 16 KiB body proves are kept, not a failure.
        assert_eq!(
            late(30 * ms, 50 * ms).await,
            Some((10 * ms, Some((16 * k, MIN_TIMED_PROBE_BODY))))
        );
        // Time for both: the 64 KiB body is timed.
        let (_, payload) = late(30 * ms, 100 * ms).await.unwrap();
        assert_eq!(payload.map(|p| p.0), Some(64 * k));
        // No answer by the timeout: the probe failed.
        assert_eq!(late(30 * ms, 20 * ms).await, None);
    }
}
