//! The browser's live connection to the server's `/ws` stream.
//!
//! [`LiveFeed`] is a bundle of signals provided as context at the root of the app:
//! the connection state shown by the header's indicator, the latest
//! [`Heartbeat`] and a bounded history of them for charts. On the client
//! (`hydrate`), [`connect`] runs a loop that opens the WebSocket, applies every
//! frame, and reconnects by itself with exponential back-off (250 ms doubling to
//! 5 s) when the socket closes, errors, or stays silent for
//! [`SILENCE_TIMEOUT_MS`]. On the server the signals simply keep their initial
//! values, so SSR renders the "connecting" state.

use std::collections::VecDeque;

use leptos::prelude::*;

use crate::wire::{
    ChunkSnapshot, ClientKind, ClientSnapshot, DashboardSnapshot, Heartbeat, REDUNDANCY_HISTORY,
    WsEvent,
};

/// Heartbeats kept for charts: 120 samples, two minutes at the default 1 s push.
pub const HISTORY_LEN: usize = 120;
/// A live socket that delivers nothing for this long (ms) is treated as dead.
pub const SILENCE_TIMEOUT_MS: u32 = 4_000;
/// After failing to reconnect for this long (ms) the indicator says "offline";
/// the client keeps retrying every 5 s.
pub const OFFLINE_AFTER_MS: f64 = 30_000.0;

/// State of the dashboard's WebSocket, as shown by the connection indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// First connection attempt in progress (also what SSR renders).
    Connecting,
    /// Frames are arriving.
    Live,
    /// The socket was lost; reconnecting with back-off.
    Reconnecting,
    /// Reconnection has failed for longer than [`OFFLINE_AFTER_MS`], or the
    /// browser reports no network; still retrying.
    Offline,
}

impl ConnectionState {
    /// Lower-case label used in the UI and as a `data-state` attribute.
    pub fn label(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Live => "live",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Offline => "offline",
        }
    }
}

/// Reactive view of the live stream; `Copy`, provided as context by [`crate::App`].
#[derive(Clone, Copy)]
pub struct LiveFeed {
    /// Connection indicator state.
    pub state: RwSignal<ConnectionState>,
    /// Most recent heartbeat, `None` until the first frame.
    pub latest: RwSignal<Option<Heartbeat>>,
    /// The last [`HISTORY_LEN`] heartbeats, oldest first.
    pub history: RwSignal<VecDeque<Heartbeat>>,
    /// Frames received since the page loaded (all connections).
    pub frames_received: RwSignal<u64>,
    /// The live engine's state: the snapshot sent first on `/ws`, kept current
    /// by `metrics_update`, `chunk_downloaded`, `node_status` and
    /// `playback_state` frames. `None` until the first snapshot (or when the
    /// server runs no engine).
    pub engine: RwSignal<Option<DashboardSnapshot>>,
    /// Engine frames received (snapshot and events), to tell a live engine
    /// from a stale one.
    pub engine_frames: RwSignal<u64>,
}

impl LiveFeed {
    /// Fresh signals in the `Connecting` state with no data.
    pub fn new() -> Self {
        Self {
            state: RwSignal::new(ConnectionState::Connecting),
            latest: RwSignal::new(None),
            history: RwSignal::new(VecDeque::with_capacity(HISTORY_LEN)),
            frames_received: RwSignal::new(0),
            engine: RwSignal::new(None),
            engine_frames: RwSignal::new(0),
        }
    }

    /// Applies one frame from the server.
    pub fn apply(&self, event: WsEvent) {
        match event {
            WsEvent::Heartbeat(hb) => {
                self.history.update(|h| {
                    if h.len() == HISTORY_LEN {
                        h.pop_front();
                    }
                    h.push_back(hb.clone());
                });
                self.latest.set(Some(hb));
            }
            WsEvent::Snapshot(snap) => {
                self.engine.set(Some(*snap));
                self.engine_frames.update(|n| *n += 1);
            }
            WsEvent::MetricsUpdate(u) => {
                self.engine.update(|e| {
                    if let Some(e) = e {
                        let keep = e.history.len().max(1);
                        e.history.push(u.sample.clone());
                        let cap = keep.max(100);
                        if e.history.len() > cap {
                            let excess = e.history.len() - cap;
                            e.history.drain(..excess);
                        }
                        e.uptime_ms = u.sample.uptime_ms;
                        e.scenario = u.scenario;
                        e.clients = u.clients.clone();
                        e.totals = u.totals.clone();
                        e.sessions.extend(u.finished.iter().cloned());
                        if e.sessions.len() > 200 {
                            let excess = e.sessions.len() - 200;
                            e.sessions.drain(..excess);
                        }
                    }
                });
                self.engine_frames.update(|n| *n += 1);
            }
            WsEvent::ChunkDownloaded(c) => {
                self.with_client(c.client, |cl| {
                    if cl.recent_chunks.len() >= 50 {
                        cl.recent_chunks.remove(0);
                    }
                    cl.recent_chunks.push(ChunkSnapshot {
                        chunk: c.chunk,
                        node_id: c.node_id.clone(),
                        bytes: c.bytes,
                        download_ms: c.download_ms,
                    });
                });
            }
            WsEvent::NodeStatus(n) => {
                self.with_client(n.client, |cl| {
                    if let Some(node) = cl.nodes.iter_mut().find(|x| x.node_id == n.node_id) {
                        node.health = n.health;
                    }
                });
            }
            WsEvent::PlaybackState(p) => {
                self.with_client(p.client, |cl| cl.state = p.state);
            }
            WsEvent::Demo(d) => {
                self.engine.update(|e| {
                    if let Some(e) = e {
                        e.demo = Some(*d);
                    }
                });
                self.engine_frames.update(|n| *n += 1);
            }
            WsEvent::Redundancy(u) => {
                self.engine.update(|e| {
                    if let Some(e) = e {
                        let r = e.redundancy.get_or_insert_with(Default::default);
                        r.report = u.report;
                        r.hot = u.hot;
                        r.history.push(u.sample);
                        let extra = r.history.len().saturating_sub(REDUNDANCY_HISTORY);
                        r.history.drain(..extra);
                    }
                });
                self.engine_frames.update(|n| *n += 1);
            }
            WsEvent::Anomaly(a) => {
                self.engine.update(|e| {
                    if let Some(e) = e {
                        apply_alert(&mut e.anomalies, *a);
                    }
                });
                self.engine_frames.update(|n| *n += 1);
            }
        }
        self.frames_received.update(|n| *n += 1);
    }

    fn with_client(&self, kind: ClientKind, f: impl FnOnce(&mut ClientSnapshot)) {
        self.engine.update(|e| {
            if let Some(c) = e.as_mut().and_then(|e| e.clients.get_mut(kind).as_mut()) {
                f(c);
            }
        });
        self.engine_frames.update(|n| *n += 1);
    }
}

/// Alerts a dashboard keeps: the server's bound (open ones plus the newest
/// resolved).
pub const MAX_ALERTS: usize = 300;

/// Puts an opened or resolved alert in `alerts` (newest first): a resolved
/// one replaces its open self.
pub fn apply_alert(alerts: &mut Vec<crate::wire::Alert>, a: crate::wire::Alert) {
    match alerts.iter_mut().find(|x| x.id == a.id) {
        Some(x) => *x = a,
        None => alerts.insert(0, a),
    }
    if alerts.len() > MAX_ALERTS {
        // Drop the oldest resolved first.
        if let Some(i) = alerts.iter().rposition(|x| !x.is_open()) {
            alerts.remove(i);
        } else {
            alerts.truncate(MAX_ALERTS);
        }
    }
}

impl Default for LiveFeed {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads the [`LiveFeed`] from context. Panics only if called outside [`crate::App`].
pub fn use_live_feed() -> LiveFeed {
    expect_context::<LiveFeed>()
}

/// Waits until the page's hydration is complete (`hydrating` turns false;
/// checked every 20 ms), then runs [`connect`]. Until then no frame can change what the server rendered:
/// with lazy routes, hydration awaits the route's WASM chunk, and a
/// snapshot applied meanwhile made `/compare` hydrate its "no data" markup
/// against live data (a hydration mismatch: the page trapped and stayed
/// blank).
#[cfg(feature = "hydrate")]
pub async fn connect_after_hydration(feed: LiveFeed, hydrating: impl Fn() -> bool) {
    while hydrating() {
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    connect(feed).await;
}

/// Runs the connect / read / reconnect loop forever (browser only).
#[cfg(feature = "hydrate")]
pub async fn connect(feed: LiveFeed) {
    use futures::{FutureExt, StreamExt};
    use gloo_net::websocket::{Message, futures::WebSocket};
    use gloo_timers::future::TimeoutFuture;

    let mut failures: u32 = 0;
    let mut failing_since: Option<f64> = None;
    loop {
        if let Some(url) = ws_url()
            && let Ok(ws) = WebSocket::open(&url)
        {
            let (_write, mut read) = ws.split();
            loop {
                let next = read.next().fuse();
                let silence = TimeoutFuture::new(SILENCE_TIMEOUT_MS).fuse();
                futures::pin_mut!(next, silence);
                let msg = futures::select! {
                    m = next => m,
                    _ = silence => None,
                };
                match msg {
                    Some(Ok(Message::Text(text))) => {
                        if let Ok(event) = serde_json::from_str::<WsEvent>(&text) {
                            feed.apply(event);
                            failures = 0;
                            failing_since = None;
                            if feed.state.get_untracked() != ConnectionState::Live {
                                feed.state.set(ConnectionState::Live);
                            }
                        }
                    }
                    Some(Ok(Message::Bytes(_))) => {}
                    Some(Err(_)) | None => break,
                }
            }
        }
        failures = failures.saturating_add(1);
        let now = js_sys::Date::now();
        let since = *failing_since.get_or_insert(now);
        let browser_offline = web_sys::window()
            .map(|w| !w.navigator().on_line())
            .unwrap_or(false);
        feed.state
            .set(if browser_offline || now - since > OFFLINE_AFTER_MS {
                ConnectionState::Offline
            } else {
                ConnectionState::Reconnecting
            });
        let backoff_ms = 250u32.saturating_mul(1 << failures.min(5)).min(5_000);
        TimeoutFuture::new(backoff_ms).await;
    }
}

/// `ws://host/ws` (or `wss://` under https) for the page's own origin.
#[cfg(feature = "hydrate")]
fn ws_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/ws", location.host().ok()?))
}
