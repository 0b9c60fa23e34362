//! The metrics collector: every [`super::HubConfig::metrics_interval`] one
//! [`MetricsSample`] (buffer level, throughput over the interval, node
//! scores, mean download time, bytes transferred), the last
//! [`super::HubConfig::history`] kept, and a `metrics_update` event with both
//! clients' snapshots, the sessions finished since the last tick and the
//! cumulative totals.

use std::sync::Arc;

use tokio::task::JoinHandle;
use vstack_core::engine::{ClientSnapshot, PerClient};
use vstack_core::wire::{ClientSample, MetricsSample, MetricsUpdate, WsEvent};

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
        bitrate_kbps: c.bitrate_kbps,
    }
}

/// Feeds the tick to the anomaly monitor; returns the alerts that opened or
/// resolved. Stall share: a client's stall time over the tick (a new session
/// restarts the count) ÷ the tick's media time.
fn detect(
    sh: &mut super::Shared,
    clients: &PerClient<Option<ClientSnapshot>>,
    sample: &MetricsSample,
    finished: &[vstack_core::wire::SessionResult],
    uptime_ms: u64,
    interval_media_s: f64,
) -> Vec<vstack_core::anomaly::Alert> {
    use vstack_core::anomaly::{Now, SessionOutcome, Tick};
    let mut before = sh.stall_before;
    let stall_share = PerClient::from_fn(|kind| {
        let c = clients.get(kind).as_ref()?;
        let b = before.get_mut(kind);
        let delta = if c.rebuffer_time_ms >= *b {
            c.rebuffer_time_ms - *b
        } else {
            c.rebuffer_time_ms
        };
        *b = c.rebuffer_time_ms;
        Some((delta / (interval_media_s * 1e3)).clamp(0.0, 1.0))
    });
    sh.stall_before = before;
    let outcomes: Vec<SessionOutcome> = finished
        .iter()
        .map(|r| SessionOutcome {
            kind: r.kind,
            session: r.session,
            startup_latency_ms: r.playback.startup_latency_ms,
            rebuffer_count: r.playback.rebuffer_count,
            rebuffer_time_ms: r.playback.rebuffer_time_ms,
        })
        .collect();
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let tick = Tick {
        now: Now { uptime_ms, unix_ms },
        clients: PerClient::from_fn(|kind| clients.get(kind).as_ref()),
        throughput_mbps: PerClient::from_fn(|kind| {
            sample.clients.get(kind).as_ref().map(|s| s.throughput_mbps)
        }),
        stall_share,
        finished: &outcomes,
    };
    sh.anomalies
        .as_mut()
        .map(|m| m.tick(&tick))
        .unwrap_or_default()
}

impl Hub {
    /// Stores the comparison since the last re-run when a new pair finished:
    /// the steady pairs by scenario, aggregated like `vstack compare`.
    fn record_compare_run(&self, rec: &crate::history::Recorder) {
        use vstack_core::engine::QoeReport;
        let mut sh = self.shared.locked();
        let Some(run) = sh.compare_run.clone() else {
            return;
        };
        let (groups, _) = vstack_core::wire::paired_groups(&sh.sessions);
        let pairs: usize = groups.iter().map(|(_, p)| p.len()).sum();
        if pairs <= run.pairs_recorded {
            return;
        }
        let qoe = |s: &vstack_core::wire::SessionResult| QoeReport {
            strategy: s.kind.into(),
            playback: s.playback.clone(),
            failovers: s.failovers,
            ended: true,
            ..QoeReport::default()
        };
        let conditions = groups
            .iter()
            .map(|(name, pairs)| {
                let smart: Vec<QoeReport> = pairs.iter().map(|(s, _)| qoe(s)).collect();
                let naive: Vec<QoeReport> = pairs.iter().map(|(_, n)| qoe(n)).collect();
                vstack_core::compare::aggregate(name, &smart, &naive)
            })
            .collect();
        let report = vstack_core::wire::CompareReport {
            mode: vstack_core::wire::CompareMode::Live,
            video: (0, 0.0),
            ladder_kbps: Vec::new(),
            speed: self.config.speed,
            finished_unix_s: Some(crate::history::unix_ms_now() / 1000),
            conditions,
        };
        let mut record = crate::runs::compare_record(&report, run.started_unix_ms, "dashboard");
        record.summary.id = run.id.clone();
        record.summary.conditions = format!("{}; {}", record.summary.conditions, self.conditions);
        if let Some(c) = sh.compare_run.as_mut() {
            c.pairs_recorded = pairs;
            c.stored = true;
        }
        drop(sh);
        rec.run(record);
    }

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
        let alerts = detect(
            &mut sh,
            &clients,
            &sample,
            &finished,
            self.uptime_ms(),
            interval_media_s,
        );
        drop(sh);
        if let Some(rec) = &self.config.recorder {
            rec.sample(&sample);
            for s in &finished {
                rec.session(s);
            }
            for a in &alerts {
                rec.alert(a);
            }
            if !finished.is_empty() {
                self.record_compare_run(rec);
            }
        }
        for a in alerts {
            let _ = self.events.send(WsEvent::Anomaly(Box::new(a)));
        }
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
