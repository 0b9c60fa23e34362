//! Smart vs Naive tab (`/compare`): the two real clients side by side, each on
//! its own twin cluster under identical conditions. The twins start every
//! session together, so the live table compares session `n` of both at the
//! same moment. Finished sessions are compared in pairs (smart's and naive's
//! session `n`), grouped by scenario; sessions during which the conditions
//! changed or a demo ran are left out and counted. A regression is shown as
//! one ("+2 events, worse"), never hidden behind a dash. A re-run applies the
//! chosen scenario and restarts both in one control. A card shows the latest
//! saved `vstack compare` run (server function [`crate::api::latest_compare`]).

use leptos::prelude::*;

use super::{
    Card,
    engine::{ScenarioSelect, StreamNotice, send_control},
    metrics::load_chart,
};
use crate::{
    api::latest_compare,
    feed::use_live_feed,
    perf::improvement_label,
    wire::{
        ClientSnapshot, CompareMode, CompareReport, Control, Pair, Scenario, SessionResult,
        paired_groups,
    },
};

/// The saved comparison; `now_unix_ms` is the server's clock from the latest
/// heartbeat, so "Finished … ago" fills in once the stream is live and keeps
/// counting.
fn saved_report(r: CompareReport, now_unix_ms: Signal<Option<u64>>) -> impl IntoView {
    let how = if r.mode == CompareMode::Live {
        format!("live twin clusters at ×{}", r.speed)
    } else {
        "the simulator".into()
    };
    view! {
        <p class="muted small" data-testid="cmp-saved-meta">
            {move || format!("Finished {} · {} · {} s video at {:.0} kbit/s", crate::format::ago(r.finished_unix_s, now_unix_ms.get()), how, r.video.0, r.video.1)}
        </p>
        {r.conditions.into_iter().map(|c| {
            let single = c.smart_at_or_above_single;
            view! {
            <h3>{format!("{} · {} per client", c.condition, crate::counted(c.sessions, "session", "sessions"))}</h3>
            <div class="table-scroll">
                <table class="cmp" data-testid="cmp-saved-table">
                    <thead><tr><th>"metric"</th><th>"smart mean ± sd"</th><th>"naive mean ± sd"</th>{single.map(|_| view! { <th>"best single node mean ± sd"</th> })}<th>"smart better by (vs naive)"</th><th>"pairs p10..p90"</th></tr></thead>
                    <tbody>
                        {c.metrics.into_iter().map(|m| {
                            let label = if m.improvement.is_empty() {
                                m.improvement_pct.map(|x| format!("{x:+.1} %")).unwrap_or_else(|| "no ratio (naive 0)".into())
                            } else {
                                m.improvement.clone()
                            };
                            let class = verdict_class(&label);
                            view! {
                                <tr>
                                    <td>{crate::metric_with_unit(&m.metric, &m.unit)}</td>
                                    <td>{format!("{:.1} ± {:.1}", m.smart_mean, m.smart_sd)}</td>
                                    <td>{format!("{:.1} ± {:.1}", m.naive_mean, m.naive_sd)}</td>
                                    {single.map(|_| view! { <td>{format!("{:.1} ± {:.1}", m.single_mean.unwrap_or(f64::NAN), m.single_sd.unwrap_or(f64::NAN))}</td> })}
                                    <td class=class>{label}</td>
                                    <td>{m.pairs_label()}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <p class="muted small">{format!("chunks per node: smart {:?}, naive {:?}", c.load_per_node.0, c.load_per_node.1)}</p>
            {single.map(|k| view! {
                <p class="muted small" data-testid="cmp-saved-single">{format!(
                    "smart at or above the best single node (linear QoE with a ladder, else startup + stall) in {k} of {}; best node per session {:?}",
                    crate::counted(c.sessions, "session", "sessions"),
                    c.single_best_node
                )}</p>
            })}
        }}).collect_view()}
    }
}

/// `ok` for a gain, `bad` for a loss, nothing for a tie (±0.5 %).
fn verdict_class(label: &str) -> &'static str {
    if label.ends_with("worse") {
        return "bad";
    }
    if label.ends_with("better") {
        return "ok";
    }
    match label.trim_end_matches(" %").parse::<f64>() {
        Ok(x) if x > 0.5 => "ok",
        Ok(x) if x < -0.5 => "bad",
        _ => "",
    }
}

struct Row {
    name: &'static str,
    unit: &'static str,
    decimals: usize,
    lower_is_better: bool,
    smart: Option<f64>,
    naive: Option<f64>,
}

/// A metric of a client's figures: name, unit, decimals, lower is better,
/// and how to read it.
type Metric<T> = (
    &'static str,
    &'static str,
    usize,
    bool,
    fn(&T) -> Option<f64>,
);

const LIVE: [Metric<ClientSnapshot>; 10] = [
    ("startup latency", "ms", 0, true, |c| c.startup_latency_ms),
    ("rebuffering events", "events", 0, true, |c| {
        Some(f64::from(c.rebuffer_count))
    }),
    ("stall time", "ms", 0, true, |c| Some(c.rebuffer_time_ms)),
    ("average buffer", "s", 1, false, |c| Some(c.avg_buffer_s)),
    (
        "session goodput (bytes ÷ session time)",
        "Mbit/s",
        2,
        false,
        |c| Some(c.goodput_mbps),
    ),
    (
        "busy-time rate (bytes ÷ time downloading)",
        "Mbit/s",
        1,
        false,
        |c| Some(c.avg_throughput_mbps),
    ),
    ("failovers", "", 0, true, |c| Some(c.failovers as f64)),
    ("played bitrate", "kbit/s", 0, false, |c| {
        c.quality.as_ref().map(|q| q.played_bitrate_kbps)
    }),
    ("quality switches", "", 0, true, |c| {
        c.quality.as_ref().map(|q| f64::from(q.switches))
    }),
    (LINEAR_QOE, "", 1, false, |c| {
        c.quality.as_ref().map(|q| q.linear_qoe)
    }),
];

/// The linear QoE row's name, with its formula (Pensieve, SIGCOMM 2017).
const LINEAR_QOE: &str = "linear QoE (Σ Mbit/s − 4.3 × wait s − Σ |Δ| Mbit/s)";

const FINISHED: [Metric<SessionResult>; 10] = [
    ("startup latency", "ms", 0, true, |r| {
        r.playback.startup_latency_ms
    }),
    ("rebuffering events", "events", 1, true, |r| {
        Some(f64::from(r.playback.rebuffer_count))
    }),
    ("stall time", "ms", 0, true, |r| {
        Some(r.playback.rebuffer_time_ms)
    }),
    ("average buffer", "s", 1, false, |r| {
        Some(r.playback.avg_buffer_s)
    }),
    (
        "session goodput (bytes ÷ session time)",
        "Mbit/s",
        2,
        false,
        |r| Some(r.playback.goodput_mbps),
    ),
    (
        "busy-time rate (bytes ÷ time downloading)",
        "Mbit/s",
        1,
        false,
        |r| Some(r.playback.avg_throughput_mbps),
    ),
    ("failovers", "", 1, true, |r| Some(r.failovers as f64)),
    ("played bitrate", "kbit/s", 0, false, |r| {
        r.quality.as_ref().map(|q| q.played_bitrate_kbps)
    }),
    ("quality switches", "", 1, true, |r| {
        r.quality.as_ref().map(|q| f64::from(q.switches))
    }),
    (LINEAR_QOE, "", 1, false, |r| {
        r.quality.as_ref().map(|q| q.linear_qoe)
    }),
];

/// Whether a row applies: the quality rows only for a video with a ladder.
fn shown_row(r: &Row) -> bool {
    r.smart.is_some() || r.naive.is_some() || !QUALITY_ROWS.contains(&r.name)
}

/// The rows that exist only for a video with a ladder.
const QUALITY_ROWS: [&str; 3] = ["played bitrate", "quality switches", LINEAR_QOE];

fn mean(v: &[&SessionResult], f: fn(&SessionResult) -> Option<f64>) -> Option<f64> {
    let xs: Vec<f64> = v.iter().filter_map(|r| f(r)).collect();
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

fn live_rows(s: Option<&ClientSnapshot>, n: Option<&ClientSnapshot>) -> Vec<Row> {
    LIVE.iter()
        .map(|&(name, unit, decimals, lower_is_better, f)| Row {
            name,
            unit,
            decimals,
            lower_is_better,
            smart: s.and_then(f),
            naive: n.and_then(f),
        })
        .filter(shown_row)
        .collect()
}

fn pair_rows(pairs: &[Pair<'_>]) -> Vec<Row> {
    let smart: Vec<_> = pairs.iter().map(|p| p.0).collect();
    let naive: Vec<_> = pairs.iter().map(|p| p.1).collect();
    FINISHED
        .iter()
        .map(|&(name, unit, decimals, lower_is_better, f)| Row {
            name,
            unit,
            decimals,
            lower_is_better,
            smart: mean(&smart, f),
            naive: mean(&naive, f),
        })
        .filter(shown_row)
        .collect()
}

fn table(rows: Vec<Row>, testid: &'static str) -> impl IntoView {
    let f = |v: Option<f64>, unit: &str, d: usize| {
        v.map(|x| format!("{x:.d$} {unit}"))
            .unwrap_or_else(|| "no data yet".into())
    };
    view! {
        <table class="cmp" data-testid=testid>
            <thead><tr><th>"metric"</th><th>"smart"</th><th>"naive"</th><th>"smart better by"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|r| {
                    let label = match (r.smart, r.naive) {
                        (Some(s), Some(n)) => improvement_label(s, n, r.lower_is_better, r.unit, r.decimals),
                        _ => "no data yet".into(),
                    };
                    let class = verdict_class(&label);
                    view! {
                        <tr>
                            <td>{r.name}</td>
                            <td>{f(r.smart, r.unit, r.decimals)}</td>
                            <td>{f(r.naive, r.unit, r.decimals)}</td>
                            <td class=class>{label}</td>
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
        <super::runs::RunsLink/>
        <div class="page-grid wide">
            <Card title="Current sessions, live">
                {move || feed.engine.with(|e| e.as_ref().map(|e| {
                    let session = |c: Option<&ClientSnapshot>| c.map(|c| format!("session {} at {:.0} s", c.session, c.elapsed_ms / 1e3)).unwrap_or_else(|| "not started".into());
                    view! {
                        <p class="muted small" data-testid="cmp-conditions">
                            {format!("Conditions: {} · scenario {} · speed ×{}", e.conditions, e.scenario, e.speed)}
                        </p>
                        <p class="muted small" data-testid="cmp-live-sessions">
                            {format!("The twins start each session together: smart {}, naive {} (media time since the play request).", session(e.clients.smart.as_ref()), session(e.clients.naive.as_ref()))}
                        </p>
                        {table(live_rows(e.clients.smart.as_ref(), e.clients.naive.as_ref()), "cmp-live")}
                    }
                }))}
            </Card>
            <Card title="Finished sessions (paired means by scenario)">
                {move || feed.engine.with(|e| e.as_ref().map(|e| {
                    let (groups, left_out) = paired_groups(&e.sessions);
                    let pairs: usize = groups.iter().map(|(_, v)| v.len()).sum();
                    view! {
                        <p class="muted small" data-testid="cmp-sessions">
                            {format!("{pairs} pairs since the last re-run (smart's and naive's session n, each a full playback of {}); {left_out} sessions left out: the conditions changed while they played, a demo ran, or the twin's session is missing.", e.video_id)}
                        </p>
                        {groups.is_empty().then(|| view! { <p class="muted">"No pair has finished under steady conditions yet; the table fills when both twins end a session."</p> })}
                        {groups.into_iter().map(|(name, pairs)| view! {
                            <h3 data-testid="cmp-group">{format!("{name} · {} pairs", pairs.len())}</h3>
                            {table(pair_rows(&pairs), "cmp-sessions-table")}
                        }).collect_view()}
                    }
                }))}
            </Card>
            <Card title="Load distribution">
                <crate::chart::LiveChart id="chart-cmp-load" make=load_chart/>
            </Card>
            <Card title="Latest vstack compare run">
                <Suspense fallback=|| view! { <p class="muted">"Asking the server…"</p> }>
                    {move || saved.get().map(|res| match res {
                        Ok(Some(r)) => saved_report(r, Signal::derive(move || feed.latest.get().map(|h| h.server_time_unix_ms))).into_any(),
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
                <crate::access::AdminGate>
                <div class="control-row">
                    <ScenarioSelect value=scenario testid="cmp-scenario"/>
                    <button class="btn" data-testid="cmp-rerun" on:click=move |_| {
                        let name = scenario.get_untracked();
                        send_control(Control::RerunComparison { scenario: Some(name) }, status);
                    }>"Apply and re-run both clients"</button>
                </div>
                </crate::access::AdminGate>
                <p class="muted small">{move || status.get()}</p>
            </Card>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regression_gets_the_bad_class() {
        assert_eq!(verdict_class("+2 events, worse"), "bad");
        assert_eq!(verdict_class("+0.4 Mbit/s, better"), "ok");
        assert_eq!(verdict_class("-12.0 %"), "bad");
        assert_eq!(verdict_class("+0.2 %"), "");
    }
}
