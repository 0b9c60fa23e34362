//! Alerts in the dashboard: the header's badge with the count of open alerts
//! (red when one is critical) that opens the alert feed, and the chart
//! markers: each alert as an ECharts `markArea` over the time it was open,
//! on the chart of its series (buffer, node scores, throughput).
//!
//! The alerts come from the server's anomaly monitor
//! (`vstack_core::anomaly`): the snapshot's `anomalies` first, then
//! `anomaly` frames on `/ws` ([`crate::feed::apply_alert`]).

use charming::{
    element::{ItemStyle, Label, MarkArea, MarkAreaData},
    series::Line,
};
use leptos::prelude::*;

use crate::{
    feed::use_live_feed,
    wire::{Alert, AlertMetric, ClientKind, DashboardSnapshot, Severity},
};

/// Alerts open now and whether one of them is critical.
fn open_counts(alerts: &[Alert]) -> (usize, bool) {
    let open: Vec<&Alert> = alerts.iter().filter(|a| a.is_open()).collect();
    let critical = open.iter().any(|a| a.severity == Severity::Critical);
    (open.len(), critical)
}

/// `12.3 s` / `4 min 5 s` for a duration in ms.
fn fmt_duration(ms: u64) -> String {
    let s = ms / 1000;
    if s < 60 {
        format!("{:.1} s", ms as f64 / 1e3)
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

/// The header's alert badge and its feed.
#[component]
pub fn AlertBadge() -> impl IntoView {
    let feed = use_live_feed();
    let shown = RwSignal::new(false);
    let counts = move || {
        feed.engine.with(|e| {
            e.as_ref()
                .map(|e| open_counts(&e.anomalies))
                .unwrap_or((0, false))
        })
    };
    let level = move || match counts() {
        (0, _) => "none",
        (_, true) => "critical",
        _ => "warning",
    };
    let label = move || match counts().0 {
        0 => "no open alerts".to_string(),
        1 => "1 open alert".to_string(),
        n => format!("{n} open alerts"),
    };
    view! {
        <div class="alerts">
            <button
                class="alert-badge"
                data-testid="alert-badge"
                data-level=level
                data-open=move || counts().0
                aria-expanded=move || shown.get().to_string()
                title="Anomalies and alert rules: open the feed"
                on:click=move |_| shown.update(|s| *s = !*s)
            >
                <span class="alert-icon">"⚠"</span>
                <span class="alert-count">{move || counts().0}</span>
                <span class="sr-only">{label}</span>
            </button>
            <Show when=move || shown.get()>
                <LazyFeed/>
            </Show>
        </div>
    }
}

/// The feed's code, loaded the first time it opens (a separate chunk in a
/// split release build: the first load of a page does not carry it).
#[leptos::lazy]
fn feed_view() -> AnyView {
    view! { <AlertFeed/> }.into_any()
}

/// [`AlertFeed`] once its code has loaded.
#[component]
fn LazyFeed() -> impl IntoView {
    view! { <Suspense fallback=|| ()>{move || Suspend::new(feed_view())}</Suspense> }
}

/// The feed: open alerts first, then the resolved ones, newest first.
#[component]
pub fn AlertFeed() -> impl IntoView {
    let feed = use_live_feed();
    let rows = move || {
        feed.engine.with(|e| {
            let Some(e) = e else { return Vec::new() };
            let mut v = e.anomalies.clone();
            v.sort_by_key(|a| (!a.is_open(), std::cmp::Reverse(a.started_uptime_ms)));
            v.into_iter().map(|a| (a, e.uptime_ms)).collect::<Vec<_>>()
        })
    };
    view! {
        <div class="alert-feed" data-testid="alert-feed" role="dialog" aria-label="Alerts">
            <p class="alert-feed-title">"Alerts"<span class="muted">" — robust z-score anomalies and rules, with hysteresis"</span></p>
            {move || {
                let rows = rows();
                if rows.is_empty() {
                    return view! { <p class="muted">"No alerts since the server started."</p> }.into_any();
                }
                view! {
                    <ul class="alert-list">
                        {rows.into_iter().map(|(a, now)| alert_row(a, now)).collect_view()}
                    </ul>
                }
                .into_any()
            }}
        </div>
    }
}

fn alert_row(a: Alert, now_ms: u64) -> impl IntoView {
    let severity = match a.severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
    };
    let state = if a.is_open() { "open" } else { "resolved" };
    let when = match a.ended_uptime_ms {
        None => format!(
            "open for {} (since t = {:.0} s)",
            fmt_duration(now_ms.saturating_sub(a.started_uptime_ms)),
            a.started_uptime_ms as f64 / 1e3
        ),
        Some(end) => format!(
            "t = {:.0}–{:.0} s ({}){}",
            a.started_uptime_ms as f64 / 1e3,
            end as f64 / 1e3,
            fmt_duration(end.saturating_sub(a.started_uptime_ms)),
            a.resolution
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    };
    view! {
        <li class="alert-row" data-severity=severity data-state=state data-testid="alert-row">
            <span class="alert-sev">{severity}</span>
            <span class="alert-msg">{a.message}</span>
            <span class="alert-when muted">{state}" · "{when}" · "{a.series}</span>
        </li>
    }
}

/// Which chart an alert is marked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartOf {
    /// Buffer level (low buffer, stall share).
    Buffer,
    /// The smart client's node scores (its per-node alerts).
    Scores,
    /// Throughput (throughput anomalies).
    Throughput,
}

fn belongs(a: &Alert, chart: ChartOf) -> bool {
    match chart {
        ChartOf::Buffer => matches!(a.metric, AlertMetric::BufferS | AlertMetric::StallShare),
        ChartOf::Scores => {
            a.client == Some(ClientKind::Smart)
                && matches!(
                    a.metric,
                    AlertMetric::Score | AlertMetric::LatencyMs | AlertMetric::Health
                )
        }
        ChartOf::Throughput => a.metric == AlertMetric::ThroughputMbps,
    }
}

/// A few words for a chart label: the node and measure (`node-1 latency`),
/// or the client and measure (`naive buffer`).
fn alert_label(a: &Alert) -> String {
    let measure = match a.metric {
        AlertMetric::ThroughputMbps => "throughput",
        AlertMetric::StallShare => "stalls",
        AlertMetric::LatencyMs => "latency",
        AlertMetric::Score => "score",
        AlertMetric::BufferS => "buffer",
        AlertMetric::Health => "health",
        AlertMetric::StartupMs => "startup",
        AlertMetric::Rebuffers => "rebuffers",
        AlertMetric::StallGapMs => "stall gap",
    };
    match (&a.node, a.client) {
        (Some(n), _) => format!("{n} {measure}"),
        (None, Some(c)) => format!("{} {measure}", c.name()),
        (None, None) => measure.to_string(),
    }
}

/// A series that draws no line, only the alerts of `chart` as shaded areas
/// over the time each was open (to now while open), red when critical,
/// amber otherwise, labelled with the series. `None` without such alerts.
pub fn alert_areas(e: &DashboardSnapshot, chart: ChartOf) -> Option<Line> {
    let first = e.history.first().map_or(0, |m| m.uptime_ms);
    let marks: Vec<&Alert> = e
        .anomalies
        .iter()
        .filter(|a| belongs(a, chart) && a.ended_uptime_ms.is_none_or(|end| end >= first))
        .collect();
    if marks.is_empty() {
        return None;
    }
    // Overlapping alerts share one area, labelled with what they concern.
    let mut spans: Vec<(u64, u64, Vec<String>)> = Vec::new();
    let mut sorted = marks.clone();
    sorted.sort_by_key(|a| a.started_uptime_ms);
    for a in sorted {
        let start = a.started_uptime_ms.max(first);
        let end = a.ended_uptime_ms.unwrap_or(e.uptime_ms).max(start);
        let what = alert_label(a);
        match spans.last_mut() {
            Some(last) if start <= last.1 => {
                last.1 = last.1.max(end);
                if !last.2.contains(&what) {
                    last.2.push(what);
                }
            }
            _ => spans.push((start, end, vec![what])),
        }
    }
    let data: Vec<(MarkAreaData, MarkAreaData)> = spans
        .into_iter()
        .map(|(start, end, what)| {
            let shown = if what.len() > 2 {
                format!("{}, {} +{}", what[0], what[1], what.len() - 2)
            } else {
                what.join(", ")
            };
            (
                MarkAreaData::new()
                    .name(format!("⚠ {shown}"))
                    .x_axis(format!("{:.2}", start as f64 / 1e3)),
                MarkAreaData::new().x_axis(format!("{:.2}", end as f64 / 1e3)),
            )
        })
        .collect();
    let critical = marks.iter().any(|a| a.severity == Severity::Critical);
    let color = if critical {
        "rgba(229, 62, 62, 0.16)"
    } else {
        "rgba(214, 158, 46, 0.18)"
    };
    Some(
        Line::new()
            .name("alerts")
            .data(Vec::<Vec<f64>>::new())
            .mark_area(
                MarkArea::new()
                    .silent(true)
                    .item_style(ItemStyle::new().color(color))
                    .label(Label::new().show(true).color("#c05621").font_size(10))
                    .data(data),
            ),
    )
}
