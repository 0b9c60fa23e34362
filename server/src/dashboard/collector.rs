//! The metrics collector: every [`super::HubConfig::metrics_interval`] one
//! [`MetricsSample`] (buffer level, throughput over the interval, node
//! scores, mean download time, bytes transferred), the last
//! [`super::HubConfig::history`] kept, and a `metrics_update` event with both
//! clients' snapshots, the sessions finished since the last tick and the
//! cumulative totals.

use std::sync::Arc;

use app::wire::{ClientSample, MetricsSample, MetricsUpdate, WsEvent};
use tokio::task::JoinHandle;
use vstack_core::engine::{ClientSnapshot, PerClient};

use super::Hub;
use crate::sync::LockExt;

/// Starts the collector's task; it ends when the hub is dropped.
pub(super) fn spawn(hub: &Arc<Hub>) -> JoinHandle<()> {
    let weak = Arc::downgrade(hub);
    let period = hub.config.metrics_interval;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(hub) = weak.upgrade() else { break };
            hub.collect();
        }
    })
}

/// A client's sample: `bytes_before` is its byte count at the last tick (a
/// new session restarts the count), updated here.
fn sample(c: &ClientSnapshot, bytes_before: &mut u64, interval_media_s: f64) -> ClientSample {
    let total = c.bytes_total;
    let delta = total.checked_sub(*bytes_before).unwrap_or(total);
    *bytes_before = total;
    ClientSample {
        buffer_level_s: c.buffer_level_s,
        throughput_mbps: delta as f64 * 8.0 / interval_media_s / 1e6,
        node_scores: c.nodes.iter().map(|n| n.score).collect(),
        avg_download_ms: c.avg_download_ms,
        bytes_transferred: total,
        state: c.state,
    }
}

impl Hub {
    /// One collector tick: sample, keep, broadcast.
    pub fn collect(&self) {
        let clients = self.client_snapshots();
        let interval_media_s = self.config.metrics_interval.as_secs_f64() * self.config.speed;
        let mut sh = self.shared.locked();
        let mut before = sh.bytes_before;
        let samples = PerClient::from_fn(|kind| {
            clients
                .get(kind)
                .as_ref()
                .map(|c| sample(c, before.get_mut(kind), interval_media_s))
        });
        sh.bytes_before = before;
        let sample = MetricsSample {
            uptime_ms: self.uptime_ms(),
            clients: samples,
        };
        sh.history.push_back(sample.clone());
        while sh.history.len() > self.config.history.max(1) {
            sh.history.pop_front();
        }
        let finished = std::mem::take(&mut sh.pending);
        let scenario = sh.scenario;
        let totals = sh.totals(&clients);
        drop(sh);
        let _ = self
            .events
            .send(WsEvent::MetricsUpdate(Box::new(MetricsUpdate {
                sample,
                scenario,
                clients,
                finished,
                totals,
            })));
        self.collect_redundancy();
    }
}
