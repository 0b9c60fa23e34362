//! Alerts on the charts: each alert of the server's anomaly monitor as an
//! ECharts `markArea` over the time it was open, on the chart of its series
//! (buffer, node scores, throughput); a stored range's alerts on the history
//! charts. One shading builder serves both.

use charming::{
    Chart,
    element::{ItemStyle, Label, MarkArea, MarkAreaData},
    series::Line,
};

use crate::wire::{Alert, AlertMetric, ClientKind, DashboardSnapshot, HistoryResponse, Severity};

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
    let bands = spans
        .into_iter()
        .map(|(start, end, what)| {
            let shown = if what.len() > 2 {
                format!("{}, {} +{}", what[0], what[1], what.len() - 2)
            } else {
                what.join(", ")
            };
            Band {
                label: Some(format!("⚠ {shown}")),
                from: format!("{:.2}", start as f64 / 1e3),
                to: format!("{:.2}", end as f64 / 1e3),
            }
        })
        .collect();
    let critical = marks.iter().any(|a| a.severity == Severity::Critical);
    Some(shaded(bands, critical))
}

/// `chart` with the alerts of `of` shaded ([`alert_areas`]).
pub fn with_alerts(chart: Chart, e: &DashboardSnapshot, of: ChartOf) -> Chart {
    match alert_areas(e, of) {
        Some(areas) => chart.series(areas),
        None => chart,
    }
}

/// A history chart (time axis) with the range's alerts shaded, unlabelled.
pub fn with_history_alerts(chart: Chart, h: &HistoryResponse) -> Chart {
    if h.alerts.is_empty() {
        return chart;
    }
    let bands = h
        .alerts
        .iter()
        .map(|a| {
            let end = a
                .ended_unix_ms
                .unwrap_or(h.now_unix_ms)
                .max(a.started_unix_ms);
            Band {
                label: None,
                from: crate::format::iso(a.started_unix_ms),
                to: crate::format::iso(end),
            }
        })
        .collect();
    chart.series(shaded(bands, false))
}

/// One shaded span of an x axis: its ends as the axis reads them (uptime
/// seconds as text, or an ISO instant) and its label, if shown.
struct Band {
    label: Option<String>,
    from: String,
    to: String,
}

/// The one `markArea` series every chart's alerts use: no line, the bands
/// shaded red when `critical`, amber otherwise; labels in small orange text
/// when the bands carry them.
fn shaded(bands: Vec<Band>, critical: bool) -> Line {
    let color = if critical {
        "rgba(229, 62, 62, 0.16)"
    } else {
        "rgba(214, 158, 46, 0.18)"
    };
    let labelled = bands.iter().any(|b| b.label.is_some());
    let data: Vec<(MarkAreaData, MarkAreaData)> = bands
        .into_iter()
        .map(|b| {
            let start = match b.label {
                Some(l) => MarkAreaData::new().name(l),
                None => MarkAreaData::new(),
            };
            (start.x_axis(b.from), MarkAreaData::new().x_axis(b.to))
        })
        .collect();
    let label = if labelled {
        Label::new().show(true).color("#c05621").font_size(10)
    } else {
        Label::new().show(false)
    };
    Line::new()
        .name("alerts")
        .data(Vec::<Vec<f64>>::new())
        .mark_area(
            MarkArea::new()
                .silent(true)
                .item_style(ItemStyle::new().color(color))
                .label(label)
                .data(data),
        )
}
