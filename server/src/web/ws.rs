//! `GET /ws`: the live stream. A subscriber gets a snapshot, then every
//! [`WsEvent`] as JSON frames and a heartbeat a second; one that stops
//! reading is dropped.

use super::*;

/// Read buffer of a `/ws` connection, bytes (dashboards send nothing but
/// pings and a close).
pub const WS_READ_BUFFER_BYTES: usize = 4096;

/// `GET /ws`: 503 JSON once [`WebLimits::max_dashboards`] are subscribed;
/// inbound messages are bounded by [`WebLimits::ws_max_message_bytes`].
/// The upgraded socket keeps the connection's [`ConnectionSlot`], so it still
/// counts against the accept loop's caps.
pub(super) async fn ws_upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    slot: Option<axum::Extension<ConnectionSlot>>,
) -> axum::response::Response {
    let Some(guard) = state.stats.try_subscribe(state.limits.max_dashboards) else {
        return ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} dashboards are connected, the most this server takes",
                state.limits.max_dashboards
            ),
        )
        .into_response();
    };
    let max = state.limits.ws_max_message_bytes;
    // Small socket buffers: an idle dashboard holds little (tungstenite's
    // defaults are 128 KiB each way); frames are written out at once.
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .on_upgrade(move |socket| {
            let held = (guard, slot.map(|s| s.0));
            push_loop(
                socket,
                held,
                state.stats,
                state.hub,
                state.limits.ws_send_timeout,
            )
        })
        .into_response()
}

/// Sends one frame; `false` when the socket failed or did not take it
/// within `timeout` (a subscriber that stopped reading).
/// A timed-out subscriber counts as dropped in `stats`.
pub(super) async fn send(
    socket: &mut WebSocket,
    ev: &WsEvent,
    timeout: std::time::Duration,
    stats: &ServerStats,
) -> bool {
    match serde_json::to_string(ev) {
        Ok(t) => match tokio::time::timeout(timeout, socket.send(Message::Text(t.into()))).await {
            Ok(r) => r.is_ok(),
            Err(_) => {
                tracing::info!("dropping a dashboard that took no frame for {timeout:?}");
                stats.count_dropped();
                false
            }
        },
        Err(e) => {
            tracing::error!("event serialisation: {e}");
            false
        }
    }
}

async fn next_event(
    rx: &mut Option<tokio::sync::broadcast::Receiver<WsEvent>>,
) -> Result<WsEvent, tokio::sync::broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// One subscriber: a full snapshot first (with an engine), then the engine's
/// events as they happen and a heartbeat every push interval, until the peer
/// goes away. A subscriber more than [`crate::hub::EVENT_QUEUE`] events
/// behind is dropped (the connection is closed; the dashboard reconnects and
/// gets a fresh snapshot). Incoming frames are read only to notice a close.
/// A subscriber whose socket does not take a frame within `send_timeout` is
/// dropped too. `_held` (the subscriber count's guard and the connection's
/// slot) is released when the loop ends.
async fn push_loop(
    mut socket: WebSocket,
    _held: (server_stats::SubscriberGuard, Option<ConnectionSlot>),
    stats: Arc<ServerStats>,
    hub: Option<Arc<Hub>>,
    send_timeout: std::time::Duration,
) {
    let mut beats = stats.heartbeats();
    let mut events = hub.as_ref().map(|h| h.subscribe());
    if let Some(h) = &hub
        && !send(
            &mut socket,
            &WsEvent::Snapshot(Box::new(h.snapshot())),
            send_timeout,
            &stats,
        )
        .await
    {
        return;
    }
    loop {
        tokio::select! {
            hb = beats.next() => {
                if !send(&mut socket, &WsEvent::Heartbeat(hb), send_timeout, &stats).await {
                    break;
                }
            }
            ev = next_event(&mut events) => match ev {
                Ok(ev) => if !send(&mut socket, &ev, send_timeout, &stats).await { break },
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::info!("dropping a slow dashboard ({n} events behind)");
                    stats.count_dropped();
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => events = None,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
}
