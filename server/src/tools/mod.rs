//! The tools behind `vstack compare`, `bench` and `chaos`, as a library
//! the commands call (the demo's phase loop and run records, which the
//! dashboard shares, are `crate::demo` and `crate::runs`):
//!
//! - [`testbed`]: start an embedded cluster (and its twin) and fetch its
//!   video, the sequence every tool starts with;
//! - [`compare`]: smart vs naive on identical conditions, live or simulated;
//! - [`bench`]: the seed's benchmark targets measured in one run;
//! - [`chaos`]: seeded failure injection with invariant checks;
//! - [`ws_load`]: the dashboards step of `bench` (many `/ws` subscribers,
//!   slowloris connections).
//! - [`redundancy_bench`]: the redundancy step of `bench` (restore after a
//!   loss, startup on a hot video under adaptive vs fixed replication).
//! - [`watch_bench`]: the watchers step of `bench` (the twins alone and
//!   beside simulated Watch tab viewers).
//! - [`sabre_bench`]: the sabre step of `bench` (vstack's Sabre model beside
//!   `sabre.py`, cell by cell, and the speed of both).
//! - [`players_bench`]: the opt-in players step of `bench` (the players'
//!   table in Chromium: vstack's browser players beside hls.js).
//!
//! Also here: the notice log and failover time both `bench` and `chaos` use.

pub mod bench;
pub mod chaos;
pub mod compare;
pub mod players_bench;
pub mod redundancy_bench;
pub mod sabre_bench;
pub mod testbed;
pub mod watch_bench;
pub mod ws_load;

use std::sync::{Arc, Mutex};

use vstack_core::engine::Notice;

use crate::client::ClientNotice;

/// Waits until the `vstack serve` child at `base` (`http://host:port`)
/// answers `GET /healthz`, polling every 100 ms.
///
/// # Errors
/// When it has not answered within 60 s.
pub async fn wait_healthy(base: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_secs(60) {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("vstack serve did not answer {base}/healthz within 60 s")
}

/// A client's notices with the media time (s) each was seen at.
pub type NoticeLog = Arc<Mutex<Vec<(f64, ClientNotice)>>>;

/// Failover time of one client for one failure on `node_id` injected at
/// `from_s`, ms: the first attempt on that node that failed between `from_s`
/// and `to_s` (log times are media seconds), from the injection or that
/// attempt's start (whichever is later) to the delivery of its chunk from
/// anywhere. `None` when no attempt on the node failed in the window or the
/// chunk has not arrived yet.
pub fn failover_time_ms(
    log: &[(f64, ClientNotice)],
    node_id: &str,
    from_s: f64,
    to_s: f64,
) -> Option<f64> {
    let (t_fail, chunk, started) = log.iter().find_map(|(t, n)| match &n.notice {
        Notice::Failover {
            chunk, attempt_ms, ..
        } if *t >= from_s && *t <= to_s && n.node_id.as_deref() == Some(node_id) => {
            Some((*t, *chunk, t - attempt_ms / 1e3))
        }
        _ => None,
    })?;
    let delivered = log.iter().find_map(|(t, n)| match &n.notice {
        Notice::ChunkDownloaded { chunk: c, .. } if *c == chunk && *t >= t_fail => Some(*t),
        _ => None,
    })?;
    Some((delivered - started.max(from_s)) * 1e3)
}

#[cfg(test)]
mod tests {
    use vstack_core::engine::ClientKind;

    use super::*;

    #[test]
    fn failover_time_runs_from_injection_or_request_start_to_delivery() {
        let n = |notice| ClientNotice {
            kind: ClientKind::Smart,
            node_id: Some("node-1".into()),
            notice,
        };
        let log = vec![
            (
                11.0,
                n(Notice::Failover {
                    chunk: 3,
                    node: vstack_core::engine::NodeId(0),
                    reason: "error".into(),
                    attempt_ms: 2500.0,
                }),
            ),
            (
                12.5,
                n(Notice::ChunkDownloaded {
                    chunk: 3,
                    node: vstack_core::engine::NodeId(1),
                    bytes: 1,
                    download_ms: 1.0,
                }),
            ),
        ];
        // The attempt started at 8.5 s, before the injection at 10 s.
        assert_eq!(failover_time_ms(&log, "node-1", 10.0, 20.0), Some(2500.0));
        // Injection at 7 s: the attempt started later, at 8.5 s.
        assert_eq!(failover_time_ms(&log, "node-1", 7.0, 20.0), Some(4000.0));
        assert_eq!(failover_time_ms(&log, "node-2", 7.0, 20.0), None);
        assert_eq!(failover_time_ms(&log, "node-1", 11.5, 20.0), None);
    }
}
