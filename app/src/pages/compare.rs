//! Smart vs Naive tab (`/compare`): the two real clients side by side, each on
//! its own twin cluster under identical conditions. The table shows the
//! current sessions live and the mean over every finished session, with the
//! smart client's improvement in %; a re-run restarts both under a chosen
//! scenario. A card shows the latest saved `vstack compare` run (server
//! function [`crate::api::latest_compare`]).

use leptos::prelude::*;

use super::{
    Card,
    engine::{ScenarioSelect, StreamNotice, send_control},
    metrics::{EngineChart, load_chart},
};
use crate::{
    api::latest_compare,
    feed::use_live_feed,
    perf::improvement_pct,
    wire::{
        ClientKind, ClientSnapshot, CompareMode, CompareReport, Control, Scenario, SessionResult,
    },
};

fn ago(finished_unix_s: Option<u64>, now_unix_ms: Option<u64>) -> String {
    match (finished_unix_s, now_unix_ms) {
        (Some(t), Some(now)) => {
            let s = (now / 1000).saturating_sub(t);
            if s < 120 {
                format!("{s} s ago")
            } else if s < 7200 {
                format!("{} min ago", s / 60)
            } else if s < 172_800 {
                format!("{} h ago", s / 3600)
            } else {
                format!("{} days ago", s / 86_400)
            }
        }
        _ => "at an unknown time".into(),
    }
}

fn saved_report(r: CompareReport, now_unix_ms: Option<u64>) -> impl IntoView {
    let how = if r.mode == CompareMode::Live {
        format!("live twin clusters at ×{}", r.speed)
    } else {
        "the simulator".into()
    };
    view! {
        <p class="muted small" data-testid="cmp-saved-meta">
            {format!("Finished {} · {} · {} s video at {:.0} kbit/s", ago(r.finished_unix_s, now_unix_ms), how, r.video.0, r.video.1)}
        </p>
        {r.conditions.into_iter().map(|c| view! {
            <h3>{format!("{} · {} sessions per client", c.condition, c.sessions)}</h3>
            <div class="table-scroll">
                <table class="cmp" data-testid="cmp-saved-table">
                    <thead><tr><th>"metric"</th><th>"smart mean ± sd"</th><th>"naive mean ± sd"</th><th>"smart better by"</th><th>"pairs p10..p90"</th></tr></thead>
                    <tbody>
                        {c.metrics.into_iter().map(|m| {
                            let class = match m.improvement_pct { Some(x) if x > 0.5 => "ok", Some(x) if x < -0.5 => "bad", _ => "" };
                            view! {
                                <tr>
                                    <td>{format!("{} {}", m.metric, m.unit)}</td>
                                    <td>{format!("{:.1} ± {:.1}", m.smart_mean, m.smart_sd)}</td>
                                    <td>{format!("{:.1} ± {:.1}", m.naive_mean, m.naive_sd)}</td>
                                    <td class=class>{m.improvement_pct.map(|x| format!("{x:+.1} %")).unwrap_or_else(|| "—".into())}</td>
                                    <td>{m.improvement_p10_p90.map(|(a, b)| format!("{a:+.0} .. {b:+.0} %")).unwrap_or_else(|| "—".into())}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <p class="muted small">{format!("chunks per node: smart {:?}, naive {:?}", c.load_per_node.0, c.load_per_node.1)}</p>
        }).collect_view()}
    }
}

struct Row {
    name: &'static str,
    unit: &'static str,
    lower_is_better: bool,
    smart: Option<f64>,
    naive: Option<f64>,
}

fn mean(v: &[&SessionResult], f: impl Fn(&SessionResult) -> Option<f64>) -> Option<f64> {
    let xs: Vec<f64> = v.iter().filter_map(|r| f(r)).collect();
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

fn live_rows(s: Option<&ClientSnapshot>, n: Option<&ClientSnapshot>) -> Vec<Row> {
    let row = |name, unit, lower, f: fn(&ClientSnapshot) -> Option<f64>| Row {
        name,
        unit,
        lower_is_better: lower,
        smart: s.and_then(f),
        naive: n.and_then(f),
    };
    vec![
        row("startup latency", "ms", true, |c| c.startup_latency_ms),
        row("rebuffering events", "", true, |c| {
            Some(f64::from(c.rebuffer_count))
        }),
        row("stall time", "ms", true, |c| Some(c.rebuffer_time_ms)),
        row("average buffer", "s", false, |c| Some(c.avg_buffer_s)),
        row("throughput", "Mbit/s", false, |c| {
            Some(c.avg_throughput_mbps)
        }),
        row("failovers", "", true, |c| Some(c.failovers as f64)),
    ]
}

fn session_rows(sessions: &[SessionResult]) -> Vec<Row> {
    let of = |kind| {
        sessions
            .iter()
            .filter(|r| r.kind == kind)
            .collect::<Vec<_>>()
    };
    let (smart, naive) = (of(ClientKind::Smart), of(ClientKind::Naive));
    let row = |name, unit, lower, f: fn(&SessionResult) -> Option<f64>| Row {
        name,
        unit,
        lower_is_better: lower,
        smart: mean(&smart, f),
        naive: mean(&naive, f),
    };
    vec![
        row("startup latency", "ms", true, |r| r.startup_latency_ms),
        row("rebuffering events", "", true, |r| {
            Some(f64::from(r.rebuffer_count))
        }),
        row("stall time", "ms", true, |r| Some(r.rebuffer_time_ms)),
        row("average buffer", "s", false, |r| Some(r.avg_buffer_s)),
        row("throughput", "Mbit/s", false, |r| {
            Some(r.avg_throughput_mbps)
        }),
        row("failovers", "", true, |r| Some(r.failovers as f64)),
    ]
}

fn table(rows: Vec<Row>, testid: &'static str) -> impl IntoView {
    let f = |v: Option<f64>, unit: &str| {
        v.map(|x| format!("{x:.1} {unit}"))
            .unwrap_or_else(|| "—".into())
    };
    view! {
        <table class="cmp" data-testid=testid>
            <thead><tr><th>"metric"</th><th>"smart"</th><th>"naive"</th><th>"smart better by"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|r| {
                    let imp = match (r.smart, r.naive) {
                        (Some(s), Some(n)) => improvement_pct(s, n, r.lower_is_better),
                        _ => None,
                    };
                    let class = match imp { Some(x) if x > 0.5 => "ok", Some(x) if x < -0.5 => "bad", _ => "" };
                    view! {
                        <tr>
                            <td>{r.name}</td>
                            <td>{f(r.smart, r.unit)}</td>
                            <td>{f(r.naive, r.unit)}</td>
                            <td class=class>{imp.map(|x| format!("{x:+.1} %")).unwrap_or_else(|| "—".into())}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The Smart vs Naive tab.
#[component]
pub fn ComparePage() -> impl IntoView {
    let feed = use_live_feed();
    let status = RwSignal::new(String::new());
    let scenario = RwSignal::new(Scenario::Normal);
    let saved = LocalResource::new(latest_compare);
    view! {
        <StreamNotice/>
        <div class="page-grid wide">
            <Card title="Current sessions, live">
                {move || feed.engine.with(|e| e.as_ref().map(|e| {
                    view! {
                        <p class="muted small" data-testid="cmp-conditions">
                            {format!("Conditions: {} · scenario {} · speed ×{}", e.conditions, e.scenario, e.speed)}
                        </p>
                        {table(live_rows(e.clients.smart.as_ref(), e.clients.naive.as_ref()), "cmp-live")}
                    }
                }))}
            </Card>
            <Card title="Finished sessions (mean)">
                {move || feed.engine.with(|e| e.as_ref().map(|e| {
                    let count = |kind| e.sessions.iter().filter(|r| r.kind == kind).count();
                    let (ns, nn) = (count(ClientKind::Smart), count(ClientKind::Naive));
                    view! {
                        <p class="muted small" data-testid="cmp-sessions">
                            {format!("Covers {ns} smart and {nn} naive sessions since the last re-run (each a full playback of {}).", e.video_id)}
                        </p>
                        {(ns + nn == 0).then(|| view! { <p class="muted">"No session has finished yet; the table fills when the first playbacks end."</p> })}
                        {table(session_rows(&e.sessions), "cmp-sessions-table")}
                    }
                }))}
            </Card>
            <Card title="Load distribution">
                <EngineChart id="chart-cmp-load" make=load_chart/>
            </Card>
            <Card title="Latest vstack compare run">
                <Suspense fallback=|| view! { <p class="muted">"Asking the server…"</p> }>
                    {move || saved.get().map(|res| match res {
                        Ok(Some(r)) => saved_report(r, feed.latest.get_untracked().map(|h| h.server_time_unix_ms)).into_any(),
                        Ok(None) => view! {
                            <p class="muted" data-testid="cmp-saved-none">
                                "No saved comparison yet. Run " <code>"vstack compare"</code>
                                " (live twin clusters or " <code>"--mode sim --trace …"</code>
                                "); it saves compare_results.json, which this card shows."
                            </p>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    })}
                </Suspense>
                <button class="btn" data-testid="cmp-saved-refresh" on:click=move |_| saved.refetch()>"Reload"</button>
            </Card>
            <Card title="Re-run the comparison">
                <div class="control-row">
                    <ScenarioSelect value=scenario testid="cmp-scenario"/>
                    <button class="btn" data-testid="cmp-rerun" on:click=move |_| {
                        let name = scenario.get_untracked();
                        send_control(Control::Scenario { name }, status);
                        send_control(Control::RerunComparison, status);
                    }>"Re-run both clients"</button>
                </div>
                <p class="muted small">{move || status.get()}</p>
            </Card>
        </div>
    }
}
