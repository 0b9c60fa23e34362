//! Prometheus exposition shared by every vstack server (storage nodes, the
//! metadata service, the dashboard's metrics listener).
//!
//! Two kinds of series:
//!
//! - **Read at scrape time** ([`Scrape`]): gauges and counters whose value
//!   already lives in the server's state (a node's score, a client's
//!   cumulative rebuffer count, the bytes repaired so far). Each scrape builds
//!   a fresh [`Registry`] from that state, so a number is never stale and no
//!   second copy of it is kept.
//! - **Observed as they happen**: histograms (request durations in
//!   [`HttpMetrics`], startup latency) live in a long-lived registry and are
//!   encoded beside the scrape's.
//!
//! Every name starts with `vstack_` and carries its unit (`_seconds`,
//! `_bytes`, `_mbps`, `_ms`), per Prometheus' naming conventions. Counters are
//! registered without `_total`; the encoder appends it to the samples.
//! [`render`] answers in the Prometheus text format 0.0.4 (what every
//! Prometheus scrapes and `promtool check metrics` lints): prometheus-client
//! writes OpenMetrics, and [`encode`] renames each counter family's `# HELP`
//! and `# TYPE` lines to the `_total` name its samples carry and drops the
//! `# EOF` marker, the only two differences for these metric types.

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::AtomicU64},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::text::{encode_eof, encode_registry},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// The content type of [`render`]'s body: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label set: `(name, value)` pairs in a fixed order.
pub type Labels = Vec<(&'static str, String)>;

type GaugeF = Gauge<f64, AtomicU64>;
type CounterF = Counter<f64, AtomicU64>;

/// Series read from state at one scrape. Add values with [`Scrape::gauge`]
/// and [`Scrape::counter`]; the first call for a name registers it with its
/// help text. Bounded by what the caller adds: one series per label set.
#[derive(Default)]
pub struct Scrape {
    registry: Registry,
    gauges: BTreeMap<&'static str, Family<Labels, GaugeF>>,
    counters: BTreeMap<&'static str, Family<Labels, CounterF>>,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape")
            .field("gauges", &self.gauges.len())
            .field("counters", &self.counters.len())
            .finish()
    }
}

impl Scrape {
    /// An empty scrape.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets gauge `name{labels}` to `value` (non-finite values are skipped:
    /// Prometheus would store NaN, which no alert can compare).
    pub fn gauge(&mut self, name: &'static str, help: &str, labels: Labels, value: f64) {
        if !value.is_finite() {
            return;
        }
        let registry = &mut self.registry;
        let family = self.gauges.entry(name).or_insert_with(|| {
            let f = Family::<Labels, GaugeF>::default();
            registry.register(name, help, f.clone());
            f
        });
        family.get_or_create(&labels).set(value);
    }

    /// Sets counter `name_total{labels}` to the cumulative `value` (a count
    /// the server already keeps; negative or non-finite values are skipped).
    pub fn counter(&mut self, name: &'static str, help: &str, labels: Labels, value: f64) {
        if !value.is_finite() || value < 0.0 {
            return;
        }
        let registry = &mut self.registry;
        let family = self.counters.entry(name).or_insert_with(|| {
            let f = Family::<Labels, CounterF>::default();
            registry.register(name, help, f.clone());
            f
        });
        family.get_or_create(&labels).inc_by(value);
    }

    /// The registry holding this scrape's series.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// Encodes `registries` one after the other as one body in the Prometheus
/// text format 0.0.4 (see the module docs).
///
/// # Errors
/// Only a formatting error of the encoder (never with these metric types).
pub fn encode(registries: &[&Registry]) -> Result<String, std::fmt::Error> {
    let mut open = String::with_capacity(8 << 10);
    for r in registries {
        encode_registry(&mut open, r)?;
    }
    encode_eof(&mut open)?;
    let counters: std::collections::HashSet<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len() + 64);
    for line in open.lines() {
        if line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    Ok(out)
}

/// A `/metrics` response from `registries` (500 JSON if encoding fails).
pub fn render(registries: &[&Registry]) -> Response {
    match encode(registries) {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(_) => super::ApiError::internal("metrics encoding failed").into_response(),
    }
}

/// Labels of `vstack_http_request_duration_seconds`: the route as declared
/// (`/videos/{id}`, never the raw path, so the series stay bounded), the
/// method and the status code.
type HttpLabels = Vec<(&'static str, String)>;

/// Request durations per route of one server: the histogram
/// `vstack_http_request_duration_seconds{server, route, method, status}`.
/// Buckets 1 ms × 2^k up to 16 s. Install with [`HttpMetrics::track`] as a
/// `route_layer`, so only declared routes are counted (a scan of random paths
/// adds no series).
#[derive(Debug)]
pub struct HttpMetrics {
    server: &'static str,
    registry: Registry,
    durations: Family<HttpLabels, Histogram>,
}

impl HttpMetrics {
    /// Metrics for the server named `server` (`node`, `metadata`,
    /// `dashboard`).
    pub fn new(server: &'static str) -> Arc<Self> {
        let durations = Family::<HttpLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 15))) as fn() -> Histogram,
        );
        let mut registry = Registry::default();
        registry.register(
            "vstack_http_request_duration_seconds",
            "Time from a request's arrival to its response's head, per declared route, seconds",
            durations.clone(),
        );
        Arc::new(Self {
            server,
            registry,
            durations,
        })
    }

    /// The registry holding the histogram (encode it beside a [`Scrape`]).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records one request.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.durations
            .get_or_create(&vec![
                ("server", self.server.to_string()),
                ("route", route.to_string()),
                ("method", method.to_string()),
                ("status", status.to_string()),
            ])
            .observe(seconds);
    }

    /// Middleware: times the request until its response head.
    pub async fn track(State(m): State<Arc<Self>>, req: Request, next: Next) -> Response {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
        let method = req.method().as_str().to_string();
        let started = Instant::now();
        let res = next.run(req).await;
        m.observe(
            &route,
            &method,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_encodes_gauges_counters_and_histograms() {
        let mut s = Scrape::new();
        s.gauge(
            "vstack_test_level_seconds",
            "a level",
            vec![("client", "smart".into())],
            2.5,
        );
        s.gauge(
            "vstack_test_level_seconds",
            "a level",
            vec![("client", "naive".into())],
            f64::NAN,
        );
        s.counter("vstack_test_events", "events", vec![], 7.0);
        let http = HttpMetrics::new("test");
        http.observe("/x/{id}", "GET", 200, 0.003);
        let text = encode(&[s.registry(), http.registry()]).unwrap();
        assert!(
            text.contains("vstack_test_level_seconds{client=\"smart\"} 2.5"),
            "{text}"
        );
        assert!(!text.contains("naive"), "NaN is skipped: {text}");
        assert!(text.contains("vstack_test_events_total 7"), "{text}");
        assert!(
            text.contains("vstack_http_request_duration_seconds_count{server=\"test\",route=\"/x/{id}\",method=\"GET\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE vstack_test_events_total counter\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }
}
