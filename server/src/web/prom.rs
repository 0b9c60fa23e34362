//! The Prometheus listener (`GET /metrics`): the server's own figures, the
//! engine host's series and each cluster's, in the text exposition format.

use super::*;

/// The metrics listener's router (`--metrics-addr`, default
/// `127.0.0.1:9898`, kept apart because the Performance Metrics tab owns
/// `/metrics` on the main port): `GET /metrics` in the Prometheus text
/// format, anyone who can reach the listener may read it (it binds loopback
/// unless told otherwise, in public mode too). Series: the hub's
/// ([`crate::hub::prom`]), `vstack_dashboard_subscribers`,
/// `vstack_dashboard_dropped_subscribers_total`,
/// `vstack_process_resident_memory_bytes`, `vstack_process_uptime_seconds`
/// and the main port's `vstack_http_request_duration_seconds`.
///
/// Its `Host` must be an IP literal, `localhost` or an `--allow-host` name
/// (DNS-rebinding guard, [`crate::http::host`]).
pub fn metrics_router(state: AppState) -> Router {
    let hosts = crate::http::host::HostAllowList::new(state.access.config().allowed_hosts.clone());
    Router::new()
        .route("/metrics", get(prometheus_metrics))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(hosts),
            crate::http::host::host_guard,
        ))
        .with_state(state)
}

async fn prometheus_metrics(State(state): State<AppState>) -> axum::response::Response {
    let mut s = crate::http::prom::Scrape::new();
    let st = &state.stats;
    s.gauge(
        "vstack_dashboard_subscribers",
        "Dashboards subscribed to /ws",
        vec![],
        f64::from(st.dashboards_connected()),
    );
    s.counter(
        "vstack_dashboard_dropped_subscribers",
        "Dashboards closed for falling too far behind the event stream",
        vec![],
        st.dashboards_dropped() as f64,
    );
    if let Some(m) = memory_stats::memory_stats() {
        s.gauge(
            "vstack_process_resident_memory_bytes",
            "Resident memory of the server process",
            vec![],
            m.physical_mem as f64,
        );
    }
    s.gauge(
        "vstack_process_uptime_seconds",
        "Time since the server started",
        vec![],
        st.uptime_ms() as f64 / 1e3,
    );
    let Some(hub) = &state.hub else {
        return crate::http::prom::render(&[s.registry(), st.http().registry()]);
    };
    hub.scrape(&mut s).await;
    let qoe = hub.histograms();
    crate::http::prom::render(&[s.registry(), qoe.registry(), st.http().registry()])
}
