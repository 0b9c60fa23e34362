//! Overview tab (`/`): both live clients side by side (buffer bar, playback and
//! download stats, throughput meter, a card per storage node, the chunk source
//! grid), the controls panel, the demo panel, and the dashboard server's own
//! figures.
//!
//! Engine data comes from the `/ws` stream ([`crate::feed::LiveFeed::engine`]);
//! server identity from the [`crate::api::server_info`] server function.

use leptos::prelude::*;

use super::{
    Card, Stat,
    engine::{
        BufferBar, ChunkGrid, ClientStats, Controls, NodeCards, StreamNotice, ThroughputMeter,
    },
    format_bytes, format_duration_ms,
};
use serde_json::json;

use super::metrics::MUTED;
use crate::{
    api::server_info,
    chart::{ChartOption, EChart},
    feed::use_live_feed,
    wire::ClientKind,
};

/// One client's column.
#[component]
fn ClientColumn(kind: ClientKind, title: &'static str) -> impl IntoView {
    view! {
        <section class="card client" data-testid=format!("engine-{kind}")>
            <h2>{title}</h2>
            <h3>"Buffer"</h3>
            <BufferBar kind=kind/>
            <h3>"Playback and downloads"</h3>
            <ClientStats kind=kind/>
            <h3>"Throughput"</h3>
            <ThroughputMeter kind=kind/>
            <h3>"Storage nodes"</h3>
            <NodeCards kind=kind/>
            <h3>"Chunk sources (last 50)"</h3>
            <ChunkGrid kind=kind/>
        </section>
    }
}

/// The Overview tab.
#[component]
pub fn OverviewPage() -> impl IntoView {
    let feed = use_live_feed();
    // A client-side resource, so the browser itself calls the server function.
    let info = LocalResource::new(server_info);

    let latest = move || feed.latest.get();
    let uptime = Signal::derive(move || {
        latest()
            .map(|h| format_duration_ms(h.uptime_ms))
            .unwrap_or_else(|| "—".into())
    });
    let dashboards = Signal::derive(move || {
        latest()
            .map(|h| h.dashboards_connected.to_string())
            .unwrap_or_else(|| "—".into())
    });
    let rss = Signal::derive(move || {
        latest()
            .and_then(|h| h.rss_bytes)
            .map(format_bytes)
            .unwrap_or_else(|| "—".into())
    });
    let lag = Signal::derive(move || {
        latest()
            .map(|h| format!("{:.2} ms", h.tick_lag_ms))
            .unwrap_or_else(|| "—".into())
    });
    let frames = Signal::derive(move || feed.frames_received.get().to_string());

    view! {
        <StreamNotice/>
        <div class="two-col">
            <ClientColumn kind=ClientKind::Smart title="Smart client"/>
            <ClientColumn kind=ClientKind::Naive title="Naive client (round robin)"/>
        </div>
        <div class="page-grid">
            <Card title="Controls">
                <Controls/>
            </Card>
            <section class="card span-2" data-testid="demo-card">
                <h2>"Demo"</h2>
                <super::demo::DemoPanel/>
            </section>
            <Card title="Dashboard server">
                <Suspense fallback=|| view! { <p class="muted">"Asking the server…"</p> }>
                    {move || {
                        info.get()
                            .map(|res| match res {
                                Ok(i) => {
                                    view! {
                                        <div class="stats" data-testid="server-info">
                                            <Stat label="version" testid="server-version" value=Signal::stored(i.version.clone())/>
                                            <Stat label="process id" testid="server-pid" value=Signal::stored(i.pid.to_string())/>
                                            <Stat label="uptime at call" testid="server-uptime" value=Signal::stored(format_duration_ms(i.uptime_ms))/>
                                            <Stat label="push interval" testid="server-push" value=Signal::stored(format!("{} ms", i.ws_push_interval_ms))/>
                                        </div>
                                    }
                                        .into_any()
                                }
                                Err(e) => {
                                    view! { <p class="error">"Server function failed: " {e.to_string()}</p> }
                                        .into_any()
                                }
                            })
                    }}
                </Suspense>
                <button class="btn" data-testid="refresh-info" on:click=move |_| info.refetch()>
                    "Refresh"
                </button>
            </Card>
            <Card title="Server process, live">
                {move || {
                    feed.history
                        .with(|h| h.is_empty())
                        .then(|| view! { <p class="muted chart-empty">"No data yet: waiting for the first frame from /ws."</p> })
                }}
                <EChart id="chart-server" option=move || server_chart(feed)/>
            </Card>
            <Card title="Live stream (/ws)">
                <div class="stats">
                    <Stat label="server uptime" testid="live-uptime" value=uptime/>
                    <Stat label="dashboards connected" testid="live-dashboards" value=dashboards/>
                    <Stat label="server memory (RSS)" testid="live-rss" value=rss/>
                    <Stat label="timer lag" testid="live-lag" value=lag/>
                    <Stat label="frames received" testid="live-frames" value=frames/>
                </div>
            </Card>
        </div>
    }
}

/// The server chart's option: RSS (MiB) on the left axis and timer lag (ms)
/// on the right, over server uptime (s), in the frame every engine chart
/// shares ([`super::metrics::base`]).
///
/// Written as JSON, not with charming, so the first-load WASM carries no
/// chart serialiser; `the_server_chart_is_the_charming_chart` checks it is
/// the very object charming builds for the same chart.
fn server_chart(feed: crate::feed::LiveFeed) -> ChartOption {
    let points = feed.history.with(|h| {
        h.iter()
            .map(|hb| (hb.uptime_ms, hb.rss_bytes, hb.tick_lag_ms))
            .collect::<Vec<_>>()
    });
    ChartOption::from_json(&server_chart_json(&points))
}

/// `(uptime_ms, rss_bytes, tick_lag_ms)` samples to the chart's JSON.
fn server_chart_json(samples: &[(u64, Option<u64>, f64)]) -> serde_json::Value {
    let (rss, lag): (Vec<[f64; 2]>, Vec<[f64; 2]>) = samples
        .iter()
        .map(|&(uptime_ms, rss_bytes, lag_ms)| {
            let t = uptime_ms as f64 / 1000.0;
            let mib = rss_bytes.unwrap_or(0) as f64 / (1024.0 * 1024.0);
            ([t, (mib * 100.0).round() / 100.0], [t, lag_ms])
        })
        .unzip();
    // Symbols only while there are too few points to draw a line.
    let few = rss.len() < 3;
    let faint = json!({ "lineStyle": { "color": "rgba(128, 128, 128, 0.25)" } });
    let line = |name: &str, data: Vec<[f64; 2]>| {
        let mut s = json!({ "type": "line", "name": name, "showSymbol": few });
        // charming leaves out an empty `data`.
        if !data.is_empty() {
            s["data"] = json!(data);
        }
        s
    };
    let mut lag_line = line("timer lag (ms)", lag);
    lag_line["yAxisIndex"] = json!(1.0);
    json!({
        "animation": false,
        "tooltip": { "trigger": "axis" },
        "legend": { "bottom": "0", "textStyle": { "color": MUTED } },
        "grid": [{ "left": "56", "right": "24", "top": "36", "bottom": "64" }],
        "xAxis": {
            "type": "value", "name": "server uptime (s)", "nameLocation": "middle",
            "nameGap": 26.0, "scale": true, "splitLine": faint,
        },
        "yAxis": [
            { "type": "value", "name": "RSS (MiB)", "splitLine": faint },
            { "type": "value", "name": "lag (ms)", "splitLine": faint },
        ],
        "series": [line("server RSS (MiB)", rss), lag_line],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::metrics::{base, faint};
    use charming::{component::Axis, element::AxisType, series::Line};

    /// The chart as charming builds it (what the Overview drew before).
    fn charming_chart(samples: &[(u64, Option<u64>, f64)]) -> charming::Chart {
        let (rss, lag): (Vec<Vec<f64>>, Vec<Vec<f64>>) = samples
            .iter()
            .map(|&(uptime_ms, rss_bytes, lag_ms)| {
                let t = uptime_ms as f64 / 1000.0;
                let mib = rss_bytes.unwrap_or(0) as f64 / (1024.0 * 1024.0);
                (vec![t, (mib * 100.0).round() / 100.0], vec![t, lag_ms])
            })
            .unzip();
        let few = rss.len() < 3;
        base("RSS (MiB)")
            .y_axis(
                Axis::new()
                    .type_(AxisType::Value)
                    .name("lag (ms)")
                    .split_line(faint()),
            )
            .series(Line::new().name("server RSS (MiB)").show_symbol(few).data(rss))
            .series(
                Line::new()
                    .name("timer lag (ms)")
                    .show_symbol(few)
                    .y_axis_index(1)
                    .data(lag),
            )
    }

    #[test]
    fn the_server_chart_is_the_charming_chart() {
        for samples in [
            vec![],
            vec![(1_000, Some(50 << 20), 0.25)],
            (0..10u64)
                .map(|i| (i * 1_000, (i % 3 != 0).then_some(40_000_000 + i * 12_345), i as f64 * 0.5))
                .collect(),
        ] {
            let ours = server_chart_json(&samples);
            let theirs = serde_json::to_value(charming_chart(&samples)).unwrap();
            assert_eq!(ours, theirs, "{} samples", samples.len());
        }
    }
}
