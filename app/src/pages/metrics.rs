//! Performance Metrics tab (`/metrics`): the metrics collector's history as
//! charts that update in place: buffer level of both clients with the target
//! and low-water lines, the smart client's node score trends, throughput of
//! both clients, and the load distribution over nodes. Alerts are shaded on
//! the chart of their series ([`crate::alerts::alert_areas`]).

use charming::{
    Chart,
    component::{Axis, Grid, Legend},
    element::{
        AxisType, ItemStyle, LineStyle, LineStyleType, NameLocation, SplitLine, TextStyle, Tooltip,
        Trigger,
    },
    series::{Bar, Line},
};
use leptos::prelude::*;

use super::{
    Card,
    engine::{NODE_COLORS, StreamNotice},
};
use crate::{
    alerts::{ChartOf, alert_areas},
    chart::EChart,
    feed::use_live_feed,
    wire::{ClientKind, DashboardSnapshot},
};

/// A grey readable on light and dark backgrounds (legend text).
pub const MUTED: &str = "#8a91ab";

/// Grid lines faint enough for light and dark backgrounds.
pub fn faint() -> SplitLine {
    SplitLine::new().line_style(LineStyle::new().color("rgba(128, 128, 128, 0.25)"))
}

/// The frame every engine chart shares: no animation (updates in place),
/// axis tooltip, legend below, fixed margins.
pub fn frame() -> Chart {
    framed("24")
}

/// [`frame`] with `right` px of right margin (room for a second value axis).
pub fn framed(right: &str) -> Chart {
    Chart::new()
        .animation(false)
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(
            Legend::new()
                .bottom("0")
                .text_style(TextStyle::new().color(MUTED)),
        )
        .grid(Grid::new().left("56").right(right).top("36").bottom("64"))
}

/// A chart over server uptime (s) with one value axis named `y_name`.
pub fn base(y_name: &str) -> Chart {
    base_framed(y_name, "24")
}

/// [`base`] with `right` px of right margin (room for a second value axis).
pub fn base_framed(y_name: &str, right: &str) -> Chart {
    framed(right)
        .x_axis(
            Axis::new()
                .type_(AxisType::Value)
                .name("server uptime (s)")
                .name_location(NameLocation::Middle)
                .name_gap(26)
                .scale(true)
                .split_line(faint()),
        )
        .y_axis(
            Axis::new()
                .type_(AxisType::Value)
                .name(y_name)
                .split_line(faint()),
        )
}

/// A solid line without symbols in `color`.
pub fn solid(name: &str, color: &str, points: Vec<Vec<f64>>) -> Line {
    Line::new()
        .name(name)
        .show_symbol(false)
        .item_style(ItemStyle::new().color(color))
        .data(points)
}

/// A dashed line without symbols in `color` (targets, caps, thresholds).
pub fn dashed(name: &str, color: &str, points: Vec<Vec<f64>>) -> Line {
    Line::new()
        .name(name)
        .show_symbol(false)
        .line_style(LineStyle::new().type_(LineStyleType::Dashed).color(color))
        .item_style(ItemStyle::new().color(color))
        .data(points)
}

fn series(
    e: &DashboardSnapshot,
    kind: ClientKind,
    f: impl Fn(&crate::wire::ClientSample) -> f64,
) -> Vec<Vec<f64>> {
    e.history
        .iter()
        .filter_map(|m| {
            m.clients
                .get(kind)
                .as_ref()
                .map(|c| vec![m.uptime_ms as f64 / 1e3, (f(c) * 100.0).round() / 100.0])
        })
        .collect()
}

/// Each client's colour in the charts.
pub fn client_color(kind: ClientKind) -> &'static str {
    match kind {
        ClientKind::Smart => "#667eea",
        ClientKind::Naive => "#ed8936",
    }
}

/// Adds the smart and the naive client's series of `f` to `chart`.
fn client_lines(
    chart: Chart,
    e: &DashboardSnapshot,
    f: fn(&crate::wire::ClientSample) -> f64,
) -> Chart {
    ClientKind::ALL.into_iter().fold(chart, |c, kind| {
        c.series(solid(kind.name(), client_color(kind), series(e, kind, f)))
    })
}

/// Buffer history chart option.
pub fn buffer_chart(e: &DashboardSnapshot) -> Chart {
    let ends: Vec<f64> = [e.history.first(), e.history.last()]
        .iter()
        .flatten()
        .map(|m| m.uptime_ms as f64 / 1e3)
        .collect();
    let (target, low) = e
        .clients
        .smart
        .as_ref()
        .map(|c| (c.buffer_target_s, c.low_water_mark_s))
        .unwrap_or((30.0, 15.0));
    let flat = |v: f64| ends.iter().map(|t| vec![*t, v]).collect::<Vec<_>>();
    with_alerts(
        client_lines(base("buffer (s)"), e, |c| c.buffer_level_s)
            .series(dashed("target", "#1a8f5a", flat(target)))
            .series(dashed("low-water mark", "#c53030", flat(low))),
        e,
        ChartOf::Buffer,
    )
}

/// `chart` with the alerts that belong to it shaded ([`alert_areas`]).
fn with_alerts(chart: Chart, e: &DashboardSnapshot, of: ChartOf) -> Chart {
    match alert_areas(e, of) {
        Some(areas) => chart.series(areas),
        None => chart,
    }
}

fn scores_chart(e: &DashboardSnapshot) -> Chart {
    let mut c = base("score");
    for (i, id) in e.node_ids.iter().enumerate() {
        c = c.series(solid(
            id,
            NODE_COLORS[i % NODE_COLORS.len()],
            series(e, ClientKind::Smart, |s| {
                s.node_scores.get(i).copied().unwrap_or(0.0)
            }),
        ));
    }
    with_alerts(c, e, ChartOf::Scores)
}

fn throughput_chart(e: &DashboardSnapshot) -> Chart {
    with_alerts(
        client_lines(base("Mbit/s"), e, |c| c.throughput_mbps),
        e,
        ChartOf::Throughput,
    )
}

/// Load distribution: chunks served per node this session, both clients.
pub fn load_chart(e: &DashboardSnapshot) -> Chart {
    let per = |c: &Option<crate::wire::ClientSnapshot>| -> Vec<f64> {
        e.node_ids
            .iter()
            .map(|id| {
                c.as_ref()
                    .and_then(|c| c.nodes.iter().find(|n| &n.node_id == id))
                    .map(|n| n.chunks as f64)
                    .unwrap_or(0.0)
            })
            .collect()
    };
    let chart = frame()
        .x_axis(
            Axis::new()
                .type_(AxisType::Category)
                .data(e.node_ids.clone()),
        )
        .y_axis(
            Axis::new()
                .type_(AxisType::Value)
                .name("chunks this session"),
        );
    e.clients.iter().fold(chart, |chart, (kind, c)| {
        chart.series(
            Bar::new()
                .name(kind.name())
                .item_style(ItemStyle::new().color(client_color(kind)))
                .data(per(c)),
        )
    })
}

/// An engine chart, or "no data yet" while the engine state is missing.
#[component]
pub fn EngineChart(id: &'static str, make: fn(&DashboardSnapshot) -> Chart) -> impl IntoView {
    let feed = use_live_feed();
    view! {
        {move || feed.engine.with(|e| e.as_ref().is_none_or(|e| e.history.is_empty()))
            .then(|| view! { <p class="muted chart-empty">"No data yet: the first metrics sample arrives within one collector interval."</p> })}
        <EChart id=id option=move || feed.engine.with(|e| e.as_ref().map(make).unwrap_or_else(Chart::new))/>
    }
}

/// The Performance Metrics tab.
#[component]
pub fn MetricsPage() -> impl IntoView {
    view! {
        <StreamNotice/>
        <div class="page-grid wide">
            <Card title="Buffer level history">
                <EngineChart id="chart-buffer" make=buffer_chart/>
            </Card>
            <Card title="Node score trends (smart client)">
                <EngineChart id="chart-scores" make=scores_chart/>
            </Card>
            <Card title="Throughput history">
                <EngineChart id="chart-throughput" make=throughput_chart/>
            </Card>
            <Card title="Node utilization (load distribution)">
                <EngineChart id="chart-load" make=load_chart/>
            </Card>
        </div>
    }
}
