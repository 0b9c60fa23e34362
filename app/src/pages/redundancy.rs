//! Redundancy tab (`/redundancy`): adaptive redundancy live. The replica map
//! (chunks × nodes, coloured live / repairing / down / lost, with each chunk's
//! target replication factor), under-replicated chunks over time, repair
//! throughput against its cap with the repair queue, per-chunk popularity
//! against the hot threshold, the replication manager's event feed, and the
//! controls to fail a node for good, bring it back, and make a video hot.

use charming::{
    Chart,
    component::Axis,
    element::{AxisType, ItemStyle, LineStyle, LineStyleType, NameLocation},
    series::{Bar, Line},
};
use leptos::prelude::*;

use super::{
    Card, Stat,
    engine::{engine, send_control},
};
use crate::{
    chart::{
        LiveChart,
        style::{base, base_framed, dashed, faint, frame, solid},
    },
    format,
    wire::{
        ChunkReplication, Control, DashboardSnapshot, RedundancyEventKind, RedundancyView,
        ReplicaNodeStatus,
    },
};

/// Whether the snapshot holds redundancy history to chart.
fn has_redundancy(e: &DashboardSnapshot) -> bool {
    e.redundancy.as_ref().is_some_and(|r| !r.history.is_empty())
}

/// The redundancy view of the live state, if a replication manager runs.
fn view_of(e: &Option<DashboardSnapshot>) -> Option<&RedundancyView> {
    e.as_ref().and_then(|e| e.redundancy.as_ref())
}

/// The chunks of the video the clients play, in order.
fn video_chunks(e: &DashboardSnapshot) -> Vec<ChunkReplication> {
    e.redundancy
        .as_ref()
        .map(|r| {
            r.report
                .chunks
                .iter()
                .filter(|c| c.video_id == e.video_id)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// A replica cell's state: `live`, `repairing`, `suspect`, `lost` or `none`.
pub fn cell_state(c: &ChunkReplication, node: &str) -> &'static str {
    let has = |v: &[String]| v.iter().any(|n| n == node);
    if has(&c.repairing) {
        "repairing"
    } else if has(&c.live) {
        "live"
    } else if has(&c.suspect) {
        "suspect"
    } else if has(&c.lost) {
        "lost"
    } else {
        "none"
    }
}

fn under_chart(e: &DashboardSnapshot) -> Chart {
    let h = e
        .redundancy
        .as_ref()
        .map(|r| r.history.as_slice())
        .unwrap_or(&[]);
    let pts = |f: fn(&crate::wire::RedundancySample) -> usize| -> Vec<Vec<f64>> {
        h.iter()
            .map(|s| vec![format::seconds(s.uptime_ms), f(s) as f64])
            .collect()
    };
    base("chunks")
        .series(solid(
            "under-replicated",
            "#c53030",
            pts(|s| s.under_replicated),
        ))
        .series(solid(
            "over-replicated",
            "#d69e2e",
            pts(|s| s.over_replicated),
        ))
        .series(solid(
            "unavailable (no copy)",
            "#553c9a",
            pts(|s| s.unavailable),
        ))
}

fn repair_chart(e: &DashboardSnapshot) -> Chart {
    let Some(r) = e.redundancy.as_ref() else {
        return Chart::new();
    };
    let h = &r.history;
    let cap = r.report.totals.repair_cap_mbps;
    let rate: Vec<Vec<f64>> = h
        .iter()
        .map(|s| {
            vec![
                format::seconds(s.uptime_ms),
                (s.repair_mbps * 100.0).round() / 100.0,
            ]
        })
        .collect();
    let queue: Vec<Vec<f64>> = h
        .iter()
        .map(|s| {
            vec![
                format::seconds(s.uptime_ms),
                (s.in_flight + s.queued) as f64,
            ]
        })
        .collect();
    let ends: Vec<Vec<f64>> = [h.first(), h.last()]
        .iter()
        .flatten()
        .map(|s| vec![format::seconds(s.uptime_ms), cap])
        .collect();
    base_framed("Mbit/s", "56")
        .y_axis(Axis::new().type_(AxisType::Value).name("actions"))
        .series(solid("repair read rate", "#2b6cb0", rate))
        .series(dashed("cap", "#c53030", ends))
        .series(solid("in flight + queued", "#38a169", queue).y_axis_index(1))
}

fn popularity_chart(e: &DashboardSnapshot) -> Chart {
    let chunks = video_chunks(e);
    let hot = e
        .redundancy
        .as_ref()
        .map(|r| r.report.config.hot_gets as f64)
        .unwrap_or(0.0);
    let labels: Vec<String> = chunks.iter().map(|c| c.index.to_string()).collect();
    frame()
        .x_axis(
            Axis::new()
                .type_(AxisType::Category)
                .name("chunk")
                .name_location(NameLocation::Middle)
                .name_gap(26)
                .data(labels),
        )
        .y_axis(
            Axis::new()
                .type_(AxisType::Value)
                .name("GETs per window")
                .split_line(faint()),
        )
        .series(
            Bar::new()
                .name("GETs (all nodes)")
                .item_style(ItemStyle::new().color("#667eea"))
                .data(
                    chunks
                        .iter()
                        .map(|c| c.popularity as f64)
                        .collect::<Vec<_>>(),
                ),
        )
        .series(
            Line::new()
                .name("hot threshold")
                .show_symbol(false)
                .line_style(
                    LineStyle::new()
                        .type_(LineStyleType::Dashed)
                        .color("#c53030"),
                )
                .item_style(ItemStyle::new().color("#c53030"))
                .data(vec![hot; chunks.len()]),
        )
}

/// The replica map: one row per node, one cell per chunk of the playing
/// video, and the target replication factor under each column.
#[component]
fn ReplicaMap() -> impl IntoView {
    let e = engine();
    let data = move || {
        e.with(|e| {
            e.as_ref().and_then(|e| {
                let r = e.redundancy.as_ref()?;
                let nodes: Vec<(String, ReplicaNodeStatus)> = r
                    .report
                    .nodes
                    .iter()
                    .map(|n| (n.node_id.clone(), n.status))
                    .collect();
                Some((nodes, video_chunks(e), e.video_id.clone()))
            })
        })
    };
    view! {
        {move || data().map(|(nodes, chunks, video)| {
            let under = chunks.iter().filter(|c| c.live.len() + c.suspect.len() < c.target_rf).count();
            view! {
                <p class="muted small">
                    {format!("{video}: {} chunks, {under} below target", chunks.len())}
                </p>
                <div class="replica-map" data-testid="replica-map"
                    style=format!("grid-template-columns: 7rem repeat({}, minmax(6px, 1fr))", chunks.len().max(1))>
                    {nodes.iter().map(|(id, status)| {
                        let status = format!("{status:?}").to_lowercase();
                        view! {
                            <span class="rm-node" data-status=status.clone() title=format!("{id}: {status}")>{id.clone()}</span>
                            {chunks.iter().map(|c| {
                                let s = cell_state(c, id);
                                view! {
                                    <span class="rm-cell" data-state=s
                                        title=format!("chunk {} on {id}: {s} · target {} · {} GETs", c.index, c.target_rf, c.popularity)></span>
                                }
                            }).collect_view()}
                        }
                    }).collect_view()}
                    <span class="rm-node muted">"target RF"</span>
                    {chunks.iter().map(|c| {
                        let short = c.live.len() + c.suspect.len() < c.target_rf;
                        view! {
                            <span class="rm-target" class:short=short
                                title=format!("chunk {}: {} live of target {}", c.index, c.live.len(), c.target_rf)>
                                {c.target_rf.to_string()}
                            </span>
                        }
                    }).collect_view()}
                </div>
                <div class="legend-row">
                    <span class="legend-item"><span class="rm-cell" data-state="live"></span>"live"</span>
                    <span class="legend-item"><span class="rm-cell" data-state="repairing"></span>"repairing (copy in flight)"</span>
                    <span class="legend-item"><span class="rm-cell" data-state="suspect"></span>"down, within grace"</span>
                    <span class="legend-item"><span class="rm-cell" data-state="lost"></span>"lost (not counted)"</span>
                    <span class="legend-item"><span class="rm-cell" data-state="none"></span>"no copy"</span>
                </div>
            }
        })}
    }
}

/// The manager's events, newest first.
#[component]
fn EventFeed() -> impl IntoView {
    let e = engine();
    let events = move || {
        e.with(|e| {
            view_of(e)
                .map(|r| r.report.events.iter().rev().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    view! {
        <ul class="event-feed" data-testid="redundancy-events">
            {move || {
                let ev = events();
                if ev.is_empty() {
                    view! { <li class="muted">"No events yet: fail a node or make a video hot."</li> }.into_any()
                } else {
                    ev.into_iter().map(|e| {
                        let kind = match e.kind {
                            RedundancyEventKind::NodeLost => "lost",
                            RedundancyEventKind::NodeBack => "back",
                            RedundancyEventKind::Repaired => "repaired",
                            RedundancyEventKind::Popularity => "popularity",
                            RedundancyEventKind::Failure => "failure",
                        };
                        view! {
                            <li data-kind=kind>
                                <span class="muted small">{format::clock_utc(e.unix_ms)} " UTC "</span>
                                {e.message}
                            </li>
                        }
                    }).collect_view().into_any()
                }
            }}
        </ul>
    }
}

/// Fail a node for good, bring it back, make the video hot, cool it down.
#[component]
fn RedundancyControls() -> impl IntoView {
    let e = engine();
    let status = RwSignal::new(String::new());
    let clients = RwSignal::new(10u32);
    let nodes = move || {
        e.with(|e| {
            e.as_ref()
                .map(|e| {
                    e.node_ids
                        .iter()
                        .enumerate()
                        .map(|(i, id)| {
                            let killed = e
                                .clients
                                .smart
                                .as_ref()
                                .and_then(|c| c.nodes.get(i))
                                .is_some_and(|n| n.killed);
                            (i, id.clone(), killed)
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    let grace = move || e.with(|e| view_of(e).map(|r| r.report.config.grace_ms / 1000));
    let hot = move || e.with(|e| view_of(e).map(|r| r.hot.clone()));
    view! {
        <crate::access::AdminGate>
        <div class="controls" data-testid="redundancy-controls">
            <div class="control-row nodes-ctl">
                {move || nodes().into_iter().map(|(i, id, killed)| view! {
                    <span class="node-ctl">
                        <span>{id}</span>
                        {if killed {
                            view! { <button class="btn" data-testid=format!("back-node-{i}")
                                on:click=move |_| send_control(Control::ReviveNode { node: i }, status)>"Bring back"</button> }.into_any()
                        } else {
                            view! { <button class="btn danger" data-testid=format!("fail-node-{i}")
                                on:click=move |_| send_control(Control::KillNode { node: i }, status)>"Fail for good"</button> }.into_any()
                        }}
                    </span>
                }).collect_view()}
            </div>
            <p class="muted small">{move || grace().map(|g| format!(
                "A failed node's replicas stop counting {g} s after its last heartbeat; then repair starts."))}</p>
            <div class="control-row">
                <label>"Extra clients "
                    <input type="number" min="1" max="50" data-testid="hot-clients"
                        prop:value=move || clients.get().to_string()
                        on:input=move |ev| clients.set(event_target_value(&ev).parse().unwrap_or(10))/>
                </label>
                <button class="btn" data-testid="make-hot"
                    on:click=move |_| send_control(Control::MakeHot { video_id: None, clients: clients.get_untracked() }, status)>"Make video hot"</button>
                <button class="btn" data-testid="cool-down"
                    on:click=move |_| send_control(Control::CoolDown, status)>"Cool down"</button>
            </div>
            <p class="muted small" data-testid="hot-population">{move || match hot() {
                Some(h) if h.video_id.is_some() => format!(
                    "{} is hot: {} extra smart clients per cluster (not counted in the comparison), {} sessions done",
                    h.video_id.unwrap_or_default(), h.clients, h.sessions_done),
                _ => "No hot population running.".to_string(),
            }}</p>
            <div class="muted small" data-testid="redundancy-ctl-status">{move || status.get()}</div>
        </div>
        </crate::access::AdminGate>
    }
}

/// The totals as figures.
#[component]
fn Totals() -> impl IntoView {
    let e = engine();
    let t = move |f: fn(&RedundancyView) -> String| {
        Signal::derive(move || e.with(|e| view_of(e).map(f).unwrap_or_else(|| "–".into())))
    };
    view! {
        <div class="stats" data-testid="redundancy-totals">
            <Stat label="under-replicated chunks" testid="rd-under" value=t(|r| r.report.totals.under_replicated.to_string())/>
            <Stat label="over-replicated chunks" testid="rd-over" value=t(|r| r.report.totals.over_replicated.to_string())/>
            <Stat label="chunks without a copy" testid="rd-unavailable" value=t(|r| r.report.totals.unavailable.to_string())/>
            <Stat label="repairs in flight / queued" testid="rd-inflight" value=t(|r| format!("{} / {}", r.report.totals.repairs_in_flight, r.report.totals.queued))/>
            <Stat label="bytes repaired (since start)" testid="rd-bytes" value=t(|r| format::bytes(r.report.totals.bytes_repaired))/>
            <Stat label="repair read rate (5 s) / cap" testid="rd-rate" value=t(|r| format!("{:.1} / {:.0} Mbit/s", r.report.totals.repair_mbps, r.report.totals.repair_cap_mbps))/>
            <Stat label="copies done / failed · trims" testid="rd-copies" value=t(|r| format!("{} / {} · {}", r.report.totals.copies_done, r.report.totals.copies_failed, r.report.totals.trims_done))/>
            <Stat label="since the last node loss" testid="rd-since-loss" value=t(|r| r.report.totals.since_last_loss_ms.map(format::uptime_ms).unwrap_or_else(|| "never".into()))/>
        </div>
    }
}

/// The Redundancy tab.
#[component]
pub fn RedundancyPage() -> impl IntoView {
    let e = engine();
    let has = move || e.with(|e| view_of(e).is_some());
    let connected = move || e.with(|e| e.is_some());
    view! {
        <Show when=has fallback=move || view! {
            <div class="empty-state" data-testid="no-redundancy">
                <p class="empty-title">{move || if connected() { "No replication manager here" } else { "Waiting for the engine…" }}</p>
                <p>"Adaptive redundancy runs in the embedded cluster's metadata service ("
                   <code>"vstack serve"</code> " without " <code>"--metadata-url"</code> " or "
                   <code>"--no-adaptive-redundancy"</code> "). A standalone cluster serves it at "
                   <code>"GET /replication"</code> " on its metadata service."</p>
            </div>
        }>
            <div class="page-grid wide">
                <Card title="Replication (smart client's cluster; the twin mirrors it)">
                    <Totals/>
                </Card>
                <Card title="Controls">
                    <RedundancyControls/>
                </Card>
            </div>
            <div class="page-grid">
                <Card title="Replica map: nodes × chunks of the playing video">
                    <ReplicaMap/>
                </Card>
            </div>
            <div class="page-grid wide">
                <Card title="Under-replicated chunks over time">
                    <LiveChart has_data=has_redundancy empty="No data yet: the first sample arrives within one collector interval." id="chart-under" make=under_chart/>
                </Card>
                <Card title="Repair throughput and queue">
                    <LiveChart has_data=has_redundancy empty="No data yet: the first sample arrives within one collector interval." id="chart-repair" make=repair_chart/>
                </Card>
                <Card title="Popularity: GETs per chunk over the nodes' window">
                    <LiveChart has_data=has_redundancy empty="No data yet: the first sample arrives within one collector interval." id="chart-popularity" make=popularity_chart/>
                </Card>
                <Card title="Events">
                    <EventFeed/>
                </Card>
            </div>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_clock() {
        let c = ChunkReplication {
            video_id: "v".into(),
            index: 0,
            chunk_id: "v-00000".into(),
            size_bytes: 1,
            target_rf: 2,
            live: vec!["a".into()],
            suspect: vec!["b".into()],
            lost: vec!["c".into()],
            repairing: vec!["d".into()],
            popularity: 0,
            revision: 1,
        };
        assert_eq!(cell_state(&c, "a"), "live");
        assert_eq!(cell_state(&c, "b"), "suspect");
        assert_eq!(cell_state(&c, "c"), "lost");
        assert_eq!(cell_state(&c, "d"), "repairing");
        assert_eq!(cell_state(&c, "e"), "none");
    }
}
