//! The engine host's Prometheus series, read at scrape time from the same
//! state the dashboard shows ([`Hub::snapshot`]), plus the startup-latency
//! histogram observed as sessions finish.
//!
//! Series (all `vstack_`-prefixed, units in the names):
//!
//! - QoE per client kind (`client="smart"|"naive"`):
//!   `vstack_client_startup_latency_seconds` (histogram over finished
//!   sessions), `vstack_client_rebuffer_events_total`,
//!   `vstack_client_rebuffer_seconds_total`, `vstack_client_received_bytes_total`,
//!   `vstack_client_failovers_total`, `vstack_client_downloads_total`,
//!   `vstack_client_sessions_ended_total` (cumulative since the server
//!   started, the session playing now included), and the gauges
//!   `vstack_client_buffer_level_seconds`, `vstack_client_low_water_mark_seconds`,
//!   `vstack_client_state{state}` (1 for the state the client is in);
//! - per node as each client sees it (`client`, `node`):
//!   `vstack_client_node_score` (seed 002: `(bandwidth_mbps × reliability) /
//!   (1 + latency_ms × 0.1)`, 0 for a down node),
//!   `vstack_client_node_bandwidth_bytes_per_second` and
//!   `vstack_client_node_latency_seconds` (EWMA estimates, absent before the
//!   first measurement), `vstack_client_node_health{health}` (1 for the
//!   node's health: healthy, degraded or down);
//! - the emulator's conditions on every node of both clusters (`cluster`,
//!   `node`, names of [`crate::cluster::storage::emulator_series`]);
//! - adaptive redundancy on the smart client's cluster:
//!   `vstack_repair_bytes_total`, `vstack_replication_under_replicated_chunks`.

use prometheus_client::{
    metrics::{
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use vstack_core::engine::{ClientKind, NodeHealth, PlaybackState};

use super::Hub;
use crate::http::prom::{Labels, Scrape};

/// Histograms the hub observes as sessions finish. Buckets for startup
/// latency: 50 ms × 2^k, k = 0..12 (50 ms to 102 s).
#[derive(Debug)]
pub struct QoeHistograms {
    registry: Registry,
    startup: Family<Labels, Histogram>,
}

impl Default for QoeHistograms {
    fn default() -> Self {
        let startup = Family::<Labels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.05, 2.0, 12))) as fn() -> Histogram,
        );
        let mut registry = Registry::default();
        registry.register(
            "vstack_client_startup_latency_seconds",
            "Startup latency of finished sessions (first request to first frame), seconds",
            startup.clone(),
        );
        Self { registry, startup }
    }
}

impl QoeHistograms {
    /// Records a finished session's startup latency (ms).
    pub fn observe_startup(&self, kind: ClientKind, startup_latency_ms: f64) {
        if startup_latency_ms.is_finite() && startup_latency_ms >= 0.0 {
            self.startup
                .get_or_create(&vec![("client", kind.name().to_string())])
                .observe(startup_latency_ms / 1e3);
        }
    }

    /// The registry holding the histograms.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

const STATES: [PlaybackState; 5] = [
    PlaybackState::Startup,
    PlaybackState::Playing,
    PlaybackState::Rebuffering,
    PlaybackState::Ended,
    PlaybackState::Stopped,
];
const HEALTHS: [NodeHealth; 3] = [NodeHealth::Healthy, NodeHealth::Degraded, NodeHealth::Down];

/// Each node as client `kind` sees it (see the module docs).
fn node_series(s: &mut Scrape, kind: ClientKind, nodes: &[vstack_core::engine::NodeSnapshot]) {
    for n in nodes {
        let l = || {
            vec![
                ("client", kind.name().to_string()),
                ("node", n.node_id.clone()),
            ]
        };
        s.gauge("vstack_client_node_score", "The seed 002 node score, (bandwidth_mbps x reliability) / (1 + latency_ms x 0.1), as the client computes it", l(), n.score);
        if let Some(b) = n.bandwidth_mbps {
            s.gauge(
                "vstack_client_node_bandwidth_bytes_per_second",
                "EWMA of the node's measured bandwidth",
                l(),
                b * 1e6 / 8.0,
            );
        }
        if let Some(ms) = n.latency_ms {
            s.gauge(
                "vstack_client_node_latency_seconds",
                "EWMA of the node's measured latency",
                l(),
                ms / 1e3,
            );
        }
        for h in HEALTHS {
            let mut lh = l();
            lh.push(("health", h.name().to_string()));
            s.gauge(
                "vstack_client_node_health",
                "1 for the node's health as the client sees it",
                lh,
                f64::from(u8::from(n.health == h)),
            );
        }
    }
}

impl Hub {
    /// Adds the hub's series read at scrape time to `s` (see the module
    /// docs).
    pub async fn scrape(&self, s: &mut Scrape) {
        let snap = self.snapshot();
        for kind in ClientKind::ALL {
            let client = || vec![("client", kind.name().to_string())];
            let t = snap.totals.get(kind);
            let counters = [
                (
                    "vstack_client_rebuffer_events",
                    "Rebuffering events since the server started",
                    t.rebuffer_events as f64,
                ),
                (
                    "vstack_client_rebuffer_seconds",
                    "Time spent rebuffering since the server started",
                    t.stall_ms / 1e3,
                ),
                (
                    "vstack_client_received_bytes",
                    "Bytes of verified chunks received since the server started",
                    t.bytes_transferred as f64,
                ),
                (
                    "vstack_client_failovers",
                    "Failed attempts moved to another replica since the server started",
                    t.failovers as f64,
                ),
                (
                    "vstack_client_downloads",
                    "Chunks downloaded since the server started",
                    t.downloads as f64,
                ),
                (
                    "vstack_client_sessions_ended",
                    "Sessions that ended (finished, stopped or restarted)",
                    t.sessions_ended as f64,
                ),
            ];
            for (name, help, v) in counters {
                s.counter(name, help, client(), v);
            }
            let Some(c) = snap.clients.get(kind) else {
                continue;
            };
            s.gauge(
                "vstack_client_buffer_level_seconds",
                "Media buffered ahead of the playhead",
                client(),
                c.buffer_level_s,
            );
            s.gauge(
                "vstack_client_low_water_mark_seconds",
                "Buffer level below which the client fetches urgently",
                client(),
                c.low_water_mark_s,
            );
            for st in STATES {
                let mut l = client();
                l.push(("state", st.name().to_string()));
                s.gauge(
                    "vstack_client_state",
                    "1 for the playback state the client is in",
                    l,
                    f64::from(u8::from(c.state == st)),
                );
            }
            node_series(s, kind, &c.nodes);
        }
        self.scrape_emulators(s).await;
        if let Some(r) = &snap.redundancy {
            let t = &r.report.totals;
            s.counter(
                "vstack_repair_bytes",
                "Bytes copied by repairs and hot-chunk copies on the smart client's cluster",
                vec![],
                t.bytes_repaired as f64,
            );
            s.gauge(
                "vstack_replication_under_replicated_chunks",
                "Chunks below their target replication factor on the smart client's cluster",
                vec![],
                t.under_replicated as f64,
            );
        }
    }

    async fn scrape_emulators(&self, s: &mut Scrape) {
        let Some(clusters) = &self.clusters else {
            return;
        };
        let clusters = clusters.lock().await;
        for (kind, cluster) in clusters.iter() {
            for n in cluster.nodes() {
                let labels = vec![
                    ("cluster", kind.name().to_string()),
                    ("node", n.node_id.clone()),
                ];
                crate::cluster::storage::emulator_series(s, labels, &n.emulator().conditions());
            }
        }
    }

    /// The histograms observed as sessions finish (encode
    /// [`QoeHistograms::registry`] beside [`Hub::scrape`]'s series).
    pub fn histograms(&self) -> std::sync::Arc<QoeHistograms> {
        use crate::sync::LockExt;
        self.shared.locked().qoe.clone()
    }
}
