//! Each client's loop: fetch the manifest of the video the dashboard plays,
//! play a session, record its QoE, pause, play again — until the controls
//! stop it, restarting at once when they say so. The client's notices become
//! `/ws` events on the way.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use app::wire::{ChunkEvent, NodeStatusEvent, PlaybackStateEvent, SessionResult, WsEvent};
use tokio::{
    sync::{broadcast, watch},
    task::JoinHandle,
};
use vstack_core::engine::{ClientKind, ClientSnapshot, Notice, QoeReport};

use super::{HubConfig, MAX_SESSIONS, Shared};
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
    /// Sessions started (1-based).
    pub session: Arc<Mutex<u32>>,
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
) -> ClientLoop {
    let (status_tx, status_rx) = watch::channel(None);
    let (stopped_tx, stopped_rx) = watch::channel(false);
    let (restart_tx, restart_rx) = watch::channel(0u64);
    let session = Arc::new(Mutex::new(0u32));
    let run = Run {
        kind,
        http,
        metadata_url,
        config,
        shared,
        session: session.clone(),
        status: status_tx,
    };
    let task = tokio::spawn(run.forever(events, stopped_rx, restart_rx));
    ClientLoop {
        status: status_rx,
        stopped: stopped_tx,
        restart: restart_tx,
        session,
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
    session: Arc<Mutex<u32>>,
    status: watch::Sender<Option<ClientSnapshot>>,
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
            let n = {
                let mut s = self.session.locked();
                *s += 1;
                *s
            };
            let (stop_tx, stop_rx) = watch::channel(false);
            let cfg = ClientConfig {
                kind: self.kind,
                speed: self.config.speed,
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
            if let Ok(q) = result {
                self.record(n, &q);
                let gap = self.config.session_gap.div_f64(self.config.speed.max(1.0));
                tokio::time::sleep(gap).await;
            }
        }
    }

    /// Keeps a finished session's QoE (the last [`MAX_SESSIONS`]) and queues
    /// it for the next collector tick.
    fn record(&self, session: u32, q: &QoeReport) {
        let mut sh = self.shared.locked();
        let r = SessionResult {
            kind: self.kind,
            session,
            scenario: sh.scenario,
            startup_latency_ms: q.startup_latency_ms,
            rebuffer_count: q.rebuffer_count,
            rebuffer_time_ms: q.rebuffer_time_ms,
            avg_buffer_s: q.avg_buffer_s,
            avg_throughput_mbps: q.avg_throughput_mbps,
            failovers: q.failovers,
        };
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

/// The `/ws` event of a notice (failovers have none).
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
        Notice::Failover { .. } => return None,
    })
}
