//! The node's Prometheus series (`GET /metrics`) and the emulator's
//! conditions as series, which the dashboard's scrape shares.

use super::*;

/// `GET /metrics`: the node's series (module [`crate::http::prom`]), all
/// labelled `node`:
/// `vstack_node_chunks`, `vstack_node_stored_bytes`, `vstack_node_free_bytes`,
/// `vstack_node_gets_in_window` (chunk GETs over the popularity window),
/// `vstack_node_served_bytes_total`, the emulator's conditions
/// (`vstack_emulator_latency_seconds`, `_jitter_seconds`,
/// `_bandwidth_bytes_per_second` (absent when unshaped), `_loss_ratio`,
/// `_down`, `_partitioned`, `_disk_delay_seconds`) and
/// `vstack_http_request_duration_seconds`.
pub(super) async fn metrics(State(node): State<Arc<StorageNode>>) -> Response {
    let h = node.heartbeat_body().await;
    let c = node.emulator.conditions();
    let mut s = crate::http::prom::Scrape::new();
    let l = || vec![("node", node.config.node_id.clone())];
    s.gauge(
        "vstack_node_chunks",
        "Chunks stored on the node",
        l(),
        h.chunk_count as f64,
    );
    s.gauge(
        "vstack_node_stored_bytes",
        "Bytes of chunks stored on the node",
        l(),
        h.bytes_stored as f64,
    );
    if let Some(free) = h.free_bytes {
        s.gauge(
            "vstack_node_free_bytes",
            "Free bytes on the node's data disk (statvfs)",
            l(),
            free as f64,
        );
    }
    s.gauge(
        "vstack_node_gets_in_window",
        "Chunk GETs over the node's popularity window",
        l(),
        h.gets_in_window as f64,
    );
    s.gauge(
        "vstack_node_popularity_window_seconds",
        "Length of the popularity window",
        l(),
        h.window_ms as f64 / 1e3,
    );
    s.counter(
        "vstack_node_served_bytes",
        "Chunk bytes the node's GETs set out to send",
        l(),
        node.served_bytes.load(Ordering::Relaxed) as f64,
    );
    emulator_series(&mut s, l(), &c);
    crate::http::prom::render(&[s.registry(), node.http.registry()])
}

/// The emulator's conditions as gauges labelled `labels` (see [`metrics`]).
pub fn emulator_series(
    s: &mut crate::http::prom::Scrape,
    labels: crate::http::prom::Labels,
    c: &vstack_core::conditions::Conditions,
) {
    let l = || labels.clone();
    s.gauge(
        "vstack_emulator_latency_seconds",
        "Emulated one-way latency before a response starts",
        l(),
        c.latency_ms / 1e3,
    );
    s.gauge(
        "vstack_emulator_jitter_seconds",
        "Emulated latency jitter (uniform, plus or minus)",
        l(),
        c.jitter_ms / 1e3,
    );
    if let Some(b) = c.bandwidth_mbps {
        s.gauge(
            "vstack_emulator_bandwidth_bytes_per_second",
            "Emulated bandwidth cap (absent when unshaped)",
            l(),
            b * 1e6 / 8.0,
        );
    }
    s.gauge(
        "vstack_emulator_loss_ratio",
        "Emulated probability that a transfer is cut",
        l(),
        c.loss,
    );
    s.gauge(
        "vstack_emulator_down",
        "1 while the emulator holds the node down",
        l(),
        f64::from(u8::from(c.down)),
    );
    s.gauge(
        "vstack_emulator_partitioned",
        "1 while the emulator partitions the node",
        l(),
        f64::from(u8::from(c.partitioned)),
    );
    s.gauge(
        "vstack_emulator_disk_delay_seconds",
        "Emulated disk delay per read",
        l(),
        c.disk_delay_ms / 1e3,
    );
}
