//! Wire types shared by the server and the browser.
//!
//! Everything here is plain serde data: the server serialises it as JSON (server
//! function responses, WebSocket frames) and the WASM front end deserialises the
//! same structs, so the two sides cannot disagree about a field's name or unit.
//! Units are part of every field name (`_ms`, `_bytes`, ...).

use serde::{Deserialize, Serialize};

/// Identity and liveness of the dashboard server, returned by the
/// [`crate::api::server_info`] server function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// `vstack` crate version, e.g. `"0.1.0"`.
    pub version: String,
    /// OS process id of the server.
    pub pid: u32,
    /// Wall-clock start time of the server, milliseconds since the Unix epoch.
    pub started_at_unix_ms: u64,
    /// Time since the server started, in milliseconds (monotonic clock).
    pub uptime_ms: u64,
    /// Number of dashboards currently subscribed to the `/ws` stream.
    pub dashboards_connected: u32,
    /// Interval between two `heartbeat` frames on `/ws`, in milliseconds.
    pub ws_push_interval_ms: u64,
}

/// One live sample of the server itself, pushed on `/ws` every
/// [`ServerInfo::ws_push_interval_ms`] (default 1000 ms).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Sequence number of this frame on this connection, starting at 0.
    pub seq: u64,
    /// Time since the server started, in milliseconds (monotonic clock).
    pub uptime_ms: u64,
    /// Server wall clock when the frame was built, milliseconds since the Unix epoch.
    pub server_time_unix_ms: u64,
    /// Number of dashboards currently subscribed to `/ws`.
    pub dashboards_connected: u32,
    /// Resident set size of the server process in bytes, when the OS reports it.
    pub rss_bytes: Option<u64>,
    /// How late the server's push timer fired compared to its schedule, in
    /// milliseconds: a direct measurement of how busy the server's runtime is.
    pub tick_lag_ms: f64,
}

/// A typed frame on the `/ws` WebSocket, serialised as JSON with a `type` tag,
/// e.g. `{"type":"heartbeat","seq":3,...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WsEvent {
    /// A server liveness sample, see [`Heartbeat`].
    Heartbeat(Heartbeat),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_event_is_tagged_json() {
        let ev = WsEvent::Heartbeat(Heartbeat {
            seq: 7,
            uptime_ms: 1500,
            server_time_unix_ms: 1_700_000_000_000,
            dashboards_connected: 2,
            rss_bytes: Some(1024),
            tick_lag_ms: 0.25,
        });
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["type"], "heartbeat");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["dashboards_connected"], 2);
        let back: WsEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, ev);
    }
}
