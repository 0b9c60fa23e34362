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
    wire::{ClientKind, DashboardSnapshot, HistoryRange, HistoryResponse},
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

/// The Performance Metrics tab: the live charts, or with a time range picked
/// the stored history ([`HistoryCharts`]).
#[component]
pub fn MetricsPage() -> impl IntoView {
    let feed = use_live_feed();
    let range: RwSignal<Option<HistoryRange>> = RwSignal::new(None);
    let keeps = move || {
        feed.engine
            .with(|e| e.as_ref().is_some_and(|e| e.keeps_history))
    };
    view! {
        <StreamNotice/>
        <Show when=keeps>
            <div class="range-picker" role="group" aria-label="Time range" data-testid="range-picker">
                <span class="muted small">"Time range: "</span>
                <button class="btn" data-testid="range-live" aria-pressed=move || range.get().is_none().to_string()
                    on:click=move |_| range.set(None)>"live"</button>
                {HistoryRange::ALL.into_iter().map(|r| view! {
                    <button class="btn" data-testid=format!("range-{}", r.label())
                        aria-pressed=move || (range.get() == Some(r)).to_string()
                        on:click=move |_| range.set(Some(r))>{r.label()}</button>
                }).collect_view()}
            </div>
        </Show>
        {move || match range.get() {
            Some(r) => view! { <HistoryCharts range=r/> }.into_any(),
            None => view! { <LiveCharts/> }.into_any(),
        }}
    }
}

/// The live charts (the collector's in-memory history).
#[component]
fn LiveCharts() -> impl IntoView {
    view! {
        <div class="page-grid wide">
            <Card title="Buffer level history">
                <EngineChart id="chart-buffer" make=buffer_chart/>
            </Card>
            <Card title="Node score trends (smart client)">
                <EngineChart id="chart-scores" make=scores_chart/>
            </Card>
            <Card title="Throughput history (received per sample interval)">
                <EngineChart id="chart-throughput" make=throughput_chart/>
            </Card>
            <Card title="Node utilization (load distribution)">
                <EngineChart id="chart-load" make=load_chart/>
            </Card>
        </div>
    }
}

/// The stored history of `range` (`metrics_history`): buffer, throughput and
/// the smart client's node scores over wall-clock time, alerts shaded. A
/// restart of the server keeps all of it (with `--data-dir`).
#[component]
fn HistoryCharts(range: HistoryRange) -> impl IntoView {
    let data = LocalResource::new(move || crate::api::metrics_history(range));
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Reading the history…"</p> }>
            {move || data.get().map(|r| match r {
                Ok(h) if h.points.is_empty() => view! {
                    <p class="empty-title" data-testid="history-empty">{format!("No samples stored in the last {}.", range.label())}</p>
                }.into_any(),
                Ok(h) => {
                    let h = std::sync::Arc::new(h);
                    let (a, b, c) = (h.clone(), h.clone(), h.clone());
                    view! {
                        <p class="muted small" data-testid="history-info">
                            {format!("{} stored samples over the last {} ({} resolution), {} alerts in the range.",
                                h.points.len(), range.label(),
                                if h.resolution_ms >= 60_000 { "one-minute means".to_string() } else { format!("{:.0} s", h.resolution_ms as f64 / 1e3) },
                                h.alerts.len())}
                        </p>
                        <div class="page-grid wide">
                            <Card title="Buffer level (stored)">
                                <EChart id="chart-history-buffer" option=move || history_chart(&a, "buffer (s)", |p| p.buffer_level_s)/>
                            </Card>
                            <Card title="Throughput (stored; received per sample interval)">
                                <EChart id="chart-history-throughput" option=move || history_chart(&b, "Mbit/s", |p| p.throughput_mbps)/>
                            </Card>
                            <Card title="Node scores, smart client (stored)">
                                <EChart id="chart-history-scores" option=move || history_scores(&c)/>
                            </Card>
                        </div>
                    }.into_any()
                }
                Err(e) => view! { <p class="bad" data-testid="history-error">{e.error}</p> }.into_any(),
            })}
        </Suspense>
    }
}

/// A chart over wall-clock time (ECharts time axis, ms).
fn time_base(y_name: &str) -> Chart {
    frame()
        .x_axis(Axis::new().type_(AxisType::Time).split_line(faint()))
        .y_axis(
            Axis::new()
                .type_(AxisType::Value)
                .name(y_name)
                .split_line(faint()),
        )
}

/// `2026-12-01T05:20:22.750Z`: what ECharts parses as a UTC instant.
fn iso(unix_ms: u64) -> String {
    let day = super::runs::utc(unix_ms);
    let date = &day[..10];
    let time = &day[11..19];
    format!("{date}T{time}.{:03}Z", unix_ms % 1000)
}

/// The range's alerts shaded on a time-axis chart.
fn history_alerts(h: &HistoryResponse) -> Option<Line> {
    use charming::element::{Label, MarkArea, MarkAreaData};
    if h.alerts.is_empty() {
        return None;
    }
    let data: Vec<(MarkAreaData, MarkAreaData)> = h
        .alerts
        .iter()
        .map(|a| {
            let end = a
                .ended_unix_ms
                .unwrap_or(h.now_unix_ms)
                .max(a.started_unix_ms);
            (
                MarkAreaData::new().x_axis(iso(a.started_unix_ms)),
                MarkAreaData::new().x_axis(iso(end)),
            )
        })
        .collect();
    Some(
        Line::new()
            .name("alerts")
            .data(Vec::<Vec<f64>>::new())
            .mark_area(
                MarkArea::new()
                    .silent(true)
                    .item_style(ItemStyle::new().color("rgba(214, 158, 46, 0.18)"))
                    .label(Label::new().show(false))
                    .data(data),
            ),
    )
}

fn history_chart(h: &HistoryResponse, y: &str, f: fn(&crate::wire::HistoryPoint) -> f64) -> Chart {
    let mut chart = ClientKind::ALL.into_iter().fold(time_base(y), |c, kind| {
        let pts: Vec<Vec<f64>> = h
            .points
            .iter()
            .filter(|p| p.client == kind)
            .map(|p| vec![p.unix_ms as f64, (f(p) * 100.0).round() / 100.0])
            .collect();
        c.series(solid(kind.name(), client_color(kind), pts))
    });
    if let Some(a) = history_alerts(h) {
        chart = chart.series(a);
    }
    chart
}

fn history_scores(h: &HistoryResponse) -> Chart {
    let mut chart = time_base("score");
    for (i, id) in h.node_ids.iter().enumerate() {
        let pts: Vec<Vec<f64>> = h
            .points
            .iter()
            .filter(|p| p.client == ClientKind::Smart)
            .filter_map(|p| {
                p.node_scores
                    .get(i)
                    .map(|s| vec![p.unix_ms as f64, (s * 100.0).round() / 100.0])
            })
            .collect();
        chart = chart.series(solid(id, NODE_COLORS[i % NODE_COLORS.len()], pts));
    }
    if let Some(a) = history_alerts(h) {
        chart = chart.series(a);
    }
    chart
}
