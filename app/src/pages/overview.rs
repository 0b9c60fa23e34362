//! Overview tab (`/`): both live clients side by side (buffer bar, playback and
//! download stats, throughput meter, a card per storage node, the chunk source
//! grid), the controls panel, the demo panel, and the dashboard server's own
//! figures.
//!
//! The server's own health is drawn as sparklines ([`crate::sparkline`]), so
//! the first load of `/` needs no chart library.
//!
//! Engine data comes from the `/ws` stream ([`crate::feed::LiveFeed::engine`]);
//! server identity from the [`crate::api::server_info`] server function.

use leptos::prelude::*;

use super::{
    Card, Stat,
    engine::{
        BufferBar, ChunkGrid, ClientStats, Controls, NodeCards, StreamNotice, ThroughputMeter,
    },
};
use crate::{api::server_info, feed::use_live_feed, sparkline::Sparkline, wire::ClientKind};

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
            .map(|h| crate::format::uptime_ms(h.uptime_ms))
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
            .map(crate::format::bytes)
            .unwrap_or_else(|| "—".into())
    });
    let lag = Signal::derive(move || {
        latest()
            .map(|h| format!("{:.2} ms", h.tick_lag_ms))
            .unwrap_or_else(|| "—".into())
    });
    let frames = Signal::derive(move || feed.frames_received.get().to_string());
    // The heartbeats' history as (server uptime s, value) series.
    let series = move |value: fn(&crate::wire::Heartbeat) -> f64| {
        Signal::derive(move || {
            feed.history.with(|h| {
                h.iter()
                    .map(|hb| (hb.uptime_ms as f64 / 1000.0, value(hb)))
                    .collect::<Vec<_>>()
            })
        })
    };
    let rss_points = series(|hb| hb.rss_bytes.unwrap_or(0) as f64 / (1024.0 * 1024.0));
    let lag_points = series(|hb| hb.tick_lag_ms);

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
                                            <Stat label="uptime at call" testid="server-uptime" value=Signal::stored(crate::format::uptime_ms(i.uptime_ms))/>
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
                <div id="chart-server" class="sparks">
                    <Sparkline label="server memory (RSS)" unit="MiB" decimals=1 testid="spark-rss" points=rss_points/>
                    <Sparkline label="timer lag" unit="ms" decimals=2 testid="spark-lag" points=lag_points/>
                </div>
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
