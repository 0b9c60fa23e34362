//! Each client's loop: fetch the manifest of the video the dashboard plays,
//! meet the twin client ([`Pairing`]) so both start session `n` together,
//! play it, record its QoE (steady or not) and fold its counters into the
//! totals, pause, play again — until the controls stop it, restarting at once
//! when they say so. The client's notices become `/ws` events on the way.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    sync::{broadcast, watch},
    task::JoinHandle,
};
use vstack_core::engine::{
    ClientKind, ClientSnapshot, Notice, PerClient, QoeReport, QualitySnapshot,
};
use vstack_core::wire::{ChunkEvent, NodeStatusEvent, PlaybackStateEvent, SessionResult, WsEvent};

use super::{HubConfig, MAX_SESSIONS, Shared};

/// How long a client waits for its twin at the start of a session before it
/// starts alone (the twin's manifest fetch keeps failing), wall time.
pub const PAIR_WAIT: Duration = Duration::from_secs(30);

/// The twin clients' meeting point: each client counts the sessions it is
/// ready to start, and session `n` starts when both have reached `n`. Shared
/// by both loops (`Clone` shares it).
#[derive(Clone)]
pub(super) struct Pairing {
    ready: Arc<watch::Sender<PerClient<u32>>>,
}

impl Pairing {
    pub fn new() -> Self {
        Self {
            ready: Arc::new(watch::Sender::new(PerClient::default())),
        }
    }

    /// `kind` is ready for its next session: returns its number once the
    /// twin is ready for it too (or after [`PAIR_WAIT`]). `None` when
    /// `stopped` turned true meanwhile (the readiness is withdrawn).
    async fn meet(&self, kind: ClientKind, stopped: &mut watch::Receiver<bool>) -> Option<u32> {
        let mut n = 0;
        self.ready.send_modify(|r| {
            let mine = r.get_mut(kind);
            *mine = mine.saturating_add(1);
            n = *mine;
        });
        let mut rx = self.ready.subscribe();
        let twin = kind.other();
        tokio::select! {
            _ = rx.wait_for(|r| *r.get(twin) >= n) => Some(n),
            _ = tokio::time::sleep(PAIR_WAIT) => Some(n),
            _ = stopped.wait_for(|s| *s) => {
                self.ready.send_modify(|r| *r.get_mut(kind) -= 1);
                None
            }
        }
    }
}
use crate::{
    client::{self, ClientConfig, ClientNotice, fetch_view},
    sync::LockExt,
};

/// Handles on one client's loop.
pub(super) struct ClientLoop {
    /// The client's latest snapshot.
    pub status: watch::Receiver<Option<ClientSnapshot>>,
    /// `true` = stopped by the controls.
    pub stopped: watch::Sender<bool>,
    /// Bumped to restart the current session.
    pub restart: watch::Sender<u64>,
    pub task: JoinHandle<()>,
}

impl ClientLoop {
    /// Plays again (if stopped) from a new session.
    pub fn restart(&self) {
        self.stopped.send_replace(false);
        self.restart.send_modify(|v| *v += 1);
    }
}

/// Starts `kind`'s loop on the cluster behind `metadata_url`.
pub(super) fn spawn(
    kind: ClientKind,
    http: reqwest::Client,
    metadata_url: String,
    config: HubConfig,
    events: broadcast::Sender<WsEvent>,
    shared: Arc<Mutex<Shared>>,
    pairing: Pairing,
) -> ClientLoop {
    let (status_tx, status_rx) = watch::channel(None);
    let (stopped_tx, stopped_rx) = watch::channel(false);
    let (restart_tx, restart_rx) = watch::channel(0u64);
    let run = Run {
        kind,
        http,
        metadata_url,
        config,
        shared,
        pairing,
        status: status_tx,
    };
    let task = tokio::spawn(run.forever(events, stopped_rx, restart_rx));
    ClientLoop {
        status: status_rx,
        stopped: stopped_tx,
        restart: restart_tx,
        task,
    }
}

/// One client's loop and what it needs.
struct Run {
    kind: ClientKind,
    http: reqwest::Client,
    metadata_url: String,
    config: HubConfig,
    shared: Arc<Mutex<Shared>>,
    pairing: Pairing,
    status: watch::Sender<Option<ClientSnapshot>>,
}

/// The conditions at a session's start, to tell whether they held.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Epoch {
    conditions: u64,
    demo_running: bool,
}

impl Run {
    async fn forever(
        self,
        events: broadcast::Sender<WsEvent>,
        mut stopped: watch::Receiver<bool>,
        mut restart: watch::Receiver<u64>,
    ) {
        let (notice_tx, notice_rx) = broadcast::channel::<ClientNotice>(256);
        let forward = tokio::spawn(forward_notices(notice_rx, events));
        loop {
            // Wait while stopped.
            while *stopped.borrow_and_update() {
                if stopped.changed().await.is_err() {
                    forward.abort();
                    return;
                }
            }
            let video_id = self.shared.locked().video_id.clone();
            let view = match fetch_view(&self.http, &self.metadata_url, &video_id).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(client = self.kind.name(), "cannot fetch the manifest: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let Some(n) = self.pairing.meet(self.kind, &mut stopped).await else {
                continue;
            };
            let start = self.epoch();
            let (stop_tx, stop_rx) = watch::channel(false);
            let cfg = ClientConfig {
                kind: self.kind,
                speed: self.config.speed,
                session: n,
                ..ClientConfig::default()
            };
            restart.borrow_and_update();
            let play = client::play(
                self.http.clone(),
                view,
                cfg,
                self.status.clone(),
                notice_tx.clone(),
                stop_rx,
            );
            tokio::pin!(play);
            let result = loop {
                tokio::select! {
                    r = &mut play => break r,
                    _ = stopped.changed() => {
                        if *stopped.borrow() { let _ = stop_tx.send(true); }
                    }
                    _ = restart.changed() => { let _ = stop_tx.send(true); }
                }
            };
            let steady = !start.demo_running && self.epoch() == start;
            self.fold(n, result.is_ok());
            if let Ok(q) = result {
                self.record(n, steady, &q);
                let gap = self.config.session_gap.div_f64(self.config.speed.max(1.0));
                tokio::time::sleep(gap).await;
            }
        }
    }

    fn epoch(&self) -> Epoch {
        let sh = self.shared.locked();
        Epoch {
            conditions: sh.conditions_epoch,
            demo_running: sh.demo.as_ref().is_some_and(|d| d.running),
        }
    }

    /// Adds session `n`'s last snapshot to the client's totals (once).
    fn fold(&self, n: u32, finished: bool) {
        let last = self.status.borrow().clone();
        let mut sh = self.shared.locked();
        let kind = self.kind;
        if *sh.folded_session.get(kind) >= n {
            return;
        }
        *sh.folded_session.get_mut(kind) = n;
        let t = sh.ended.get_mut(kind);
        t.sessions_ended += 1;
        t.sessions_finished += u64::from(finished);
        if let Some(c) = last.filter(|c| c.session == n) {
            t.add(&c);
        }
    }

    /// Keeps a finished session's QoE (the last [`MAX_SESSIONS`]) and queues
    /// it for the next collector tick.
    fn record(&self, session: u32, steady: bool, q: &QoeReport) {
        let mut sh = self.shared.locked();
        let r = SessionResult {
            kind: self.kind,
            session,
            scenario: sh.scenario,
            steady,
            playback: q.playback.clone(),
            failovers: q.failovers,
            quality: q.quality.as_ref().map(QualitySnapshot::from),
        };
        if let Some(ms) = q.playback.startup_latency_ms {
            sh.qoe.observe_startup(self.kind, ms);
        }
        sh.sessions.push(r.clone());
        if sh.sessions.len() > MAX_SESSIONS {
            let excess = sh.sessions.len() - MAX_SESSIONS;
            sh.sessions.drain(..excess);
        }
        sh.pending.push(r);
    }
}

/// Turns a client's notices into `/ws` events until the client is gone.
async fn forward_notices(
    mut notices: broadcast::Receiver<ClientNotice>,
    events: broadcast::Sender<WsEvent>,
) {
    loop {
        match notices.recv().await {
            Ok(n) => {
                if let Some(ev) = notice_event(&n) {
                    let _ = events.send(ev);
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// The `/ws` event of a notice (failovers and replica updates have none).
fn notice_event(n: &ClientNotice) -> Option<WsEvent> {
    let client = n.kind;
    let node_id = n.node_id.clone().unwrap_or_default();
    Some(match &n.notice {
        Notice::ChunkDownloaded {
            chunk,
            bytes,
            download_ms,
            ..
        } => WsEvent::ChunkDownloaded(ChunkEvent {
            client,
            chunk: *chunk,
            node_id,
            bytes: *bytes,
            download_ms: *download_ms,
        }),
        Notice::NodeStatus { health, .. } => WsEvent::NodeStatus(NodeStatusEvent {
            client,
            node_id,
            health: *health,
        }),
        Notice::PlaybackState { state } => WsEvent::PlaybackState(PlaybackStateEvent {
            client,
            state: *state,
        }),
        Notice::Failover { .. } | Notice::ReplicasUpdated { .. } => return None,
    })
}
