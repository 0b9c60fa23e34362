//! Performance Metrics tab (`/metrics`): the metrics collector's history as
//! charts that update in place: buffer level of both clients with the target
//! and low-water lines, the smart client's node score trends, throughput of
//! both clients, the quality each plays (the level at its playhead, for a
//! video with a ladder), and the load distribution over nodes. Alerts are shaded on
//! the chart of their series ([`crate::chart::alerts`]).

use charming::{
    Chart,
    component::Axis,
    element::{AxisType, ItemStyle},
    series::Bar,
};
use leptos::prelude::*;

use super::{
    Card,
    engine::{NODE_COLORS, StreamNotice},
};
use crate::{
    chart::{
        EChart, LiveChart,
        alerts::{ChartOf, with_alerts, with_history_alerts},
        style::{base, client_color, dashed, frame, solid, time_base},
    },
    feed::use_live_feed,
    wire::{ClientKind, DashboardSnapshot, HistoryRange, HistoryResponse},
};

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

/// The level each client plays, as its nominal bitrate (kbit/s), with the
/// ladder's rungs as dashed lines; samples without a ladder are left out.
pub fn bitrate_chart(e: &DashboardSnapshot) -> Chart {
    let chart = ClientKind::ALL.into_iter().fold(base("kbit/s"), |c, kind| {
        let pts: Vec<Vec<f64>> = e
            .history
            .iter()
            .filter_map(|m| {
                let kbps = m.clients.get(kind).as_ref()?.bitrate_kbps?;
                Some(vec![m.uptime_ms as f64 / 1e3, kbps.round()])
            })
            .collect();
        c.series(solid(kind.name(), client_color(kind), pts))
    });
    let ends: Vec<f64> = [e.history.first(), e.history.last()]
        .iter()
        .flatten()
        .map(|m| m.uptime_ms as f64 / 1e3)
        .collect();
    let ladder = e
        .clients
        .smart
        .as_ref()
        .or(e.clients.naive.as_ref())
        .map(|c| c.bitrates_kbps.clone())
        .unwrap_or_default();
    ladder.iter().enumerate().fold(chart, |c, (i, kbps)| {
        let flat: Vec<Vec<f64>> = ends.iter().map(|t| vec![*t, kbps.round()]).collect();
        c.series(dashed(&format!("level {}", i + 1), "#9aa5b1", flat))
    })
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
                <LiveChart id="chart-buffer" make=buffer_chart/>
            </Card>
            <Card title="Node score trends (smart client)">
                <LiveChart id="chart-scores" make=scores_chart/>
            </Card>
            <Card title="Throughput history (received per sample interval)">
                <LiveChart id="chart-throughput" make=throughput_chart/>
            </Card>
            <Card title="Quality playing (the nominal bitrate of the level at the playhead)">
                <LiveChart id="chart-bitrate" make=bitrate_chart/>
            </Card>
            <Card title="Node utilization (load distribution)">
                <LiveChart id="chart-load" make=load_chart/>
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
                    let d = h.clone();
                    let ladder = h.points.iter().any(|p| p.bitrate_kbps.is_some());
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
                            {ladder.then(|| view! {
                                <Card title="Quality playing (stored; the nominal bitrate of the level at the playhead)">
                                    <EChart id="chart-history-bitrate" option=move || history_chart(&d, "kbit/s", |p| p.bitrate_kbps.unwrap_or(f64::NAN))/>
                                </Card>
                            }.into_any())}
                        </div>
                    }.into_any()
                }
                Err(e) => view! { <p class="bad" data-testid="history-error">{e.error}</p> }.into_any(),
            })}
        </Suspense>
    }
}

fn history_chart(h: &HistoryResponse, y: &str, f: fn(&crate::wire::HistoryPoint) -> f64) -> Chart {
    let chart = ClientKind::ALL.into_iter().fold(time_base(y), |c, kind| {
        let pts: Vec<Vec<f64>> = h
            .points
            .iter()
            .filter(|p| p.client == kind && f(p).is_finite())
            .map(|p| vec![p.unix_ms as f64, (f(p) * 100.0).round() / 100.0])
            .collect();
        c.series(solid(kind.name(), client_color(kind), pts))
    });
    with_history_alerts(chart, h)
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
    with_history_alerts(chart, h)
}
