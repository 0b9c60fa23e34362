//! Analytics tab (`/analytics`): system health (uptime, data transferred,
//! average download time, failover rate), the seed's targets vs the smart
//! client's actual figures, the load distribution, detailed metrics of both
//! clients, and export of the metrics history as CSV or JSON.

use leptos::prelude::*;

use super::{
    Card,
    engine::StreamNotice,
    format_bytes, format_duration_ms,
    metrics::{EngineChart, load_chart},
};
use crate::{feed::use_live_feed, perf};

/// The Analytics tab.
#[component]
pub fn AnalyticsPage() -> impl IntoView {
    let feed = use_live_feed();
    view! {
        <StreamNotice/>
        <div class="page-grid wide">
            <Card title="System health">
                {move || feed.engine.with(|e| e.as_ref().map(|e| {
                    let bytes: u64 = e.history.last().map(|m| {
                        m.clients.iter().filter_map(|(_, c)| c.as_ref()).map(|c| c.bytes_transferred).sum()
                    }).unwrap_or(0);
                    let clients: Vec<_> = e.clients.iter().filter_map(|(_, c)| c.as_ref()).collect();
                    let downloads: u64 = clients.iter().map(|c| c.downloads).sum();
                    let failovers: u64 = clients.iter().map(|c| c.failovers).sum();
                    let avg_dl = if downloads > 0 {
                        clients.iter().map(|c| c.avg_download_ms * c.downloads as f64).sum::<f64>() / downloads as f64
                    } else { 0.0 };
                    let rate = if downloads + failovers > 0 { failovers as f64 / (downloads + failovers) as f64 * 100.0 } else { 0.0 };
                    view! {
                        <div class="stats" data-testid="health">
                            <div class="stat"><span class="stat-label">"uptime"</span><span class="stat-value">{format_duration_ms(e.uptime_ms)}</span></div>
                            <div class="stat"><span class="stat-label">"data transferred"</span><span class="stat-value" data-testid="health-bytes">{format_bytes(bytes)}</span></div>
                            <div class="stat"><span class="stat-label">"avg download time"</span><span class="stat-value">{format!("{avg_dl:.0} ms")}</span></div>
                            <div class="stat"><span class="stat-label">"failover rate"</span><span class="stat-value">{format!("{rate:.1} %")}</span></div>
                            <div class="stat"><span class="stat-label">"sessions finished"</span><span class="stat-value">{e.sessions.len().to_string()}</span></div>
                        </div>
                    }
                }))}
            </Card>
            <Card title="Targets vs actual (smart client, current session)">
                {move || feed.engine.with(|e| e.as_ref().map(|e| {
                    let t = perf::targets(e.clients.smart.as_ref());
                    let score = perf::score_pct(&t);
                    view! {
                        <table class="cmp" data-testid="targets">
                            <thead><tr><th>"metric"</th><th>"target"</th><th>"actual"</th><th>""</th></tr></thead>
                            <tbody>
                                {t.into_iter().map(|t| view! {
                                    <tr>
                                        <td>{t.name.replace('_', " ")}</td>
                                        <td>{t.target.clone()}</td>
                                        <td>{t.measured.map(|v| format!("{v:.1} {}", t.unit)).unwrap_or_else(|| "no data yet".into())}</td>
                                        <td class=if t.met { "ok" } else { "bad" }>{if t.met { "met" } else { "not met" }}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        <p data-testid="score">{format!("Overall: {score:.0} % of targets met")}</p>
                    }
                }))}
            </Card>
            <Card title="Load distribution">
                <EngineChart id="chart-an-load" make=load_chart/>
            </Card>
            <Card title="Detailed metrics">
                {move || feed.engine.with(|e| e.as_ref().map(|e| {
                    let clients: Vec<_> = e.clients.clone().into_iter().filter_map(|(_, c)| c).collect();
                    view! {
                        <table class="cmp">
                            <thead><tr><th>"client"</th><th>"downloads"</th><th>"bytes"</th><th>"avg download"</th><th>"avg buffer"</th><th>"success"</th></tr></thead>
                            <tbody>
                                {clients.into_iter().map(|c| view! {
                                    <tr>
                                        <td>{c.kind.name()}</td>
                                        <td>{c.downloads.to_string()}</td>
                                        <td>{format_bytes(c.bytes_total)}</td>
                                        <td>{format!("{:.0} ms", c.avg_download_ms)}</td>
                                        <td>{format!("{:.1} s", c.avg_buffer_s)}</td>
                                        <td>{format!("{:.1} %", c.success_rate * 100.0)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }
                }))}
                <p class="control-row">
                    <a class="btn" href="/api/metrics?format=csv" download="vstack-metrics.csv" data-testid="export-csv">"Export history (CSV)"</a>
                    <a class="btn" href="/api/metrics" download="vstack-metrics.json" data-testid="export-json">"Export history (JSON)"</a>
                </p>
            </Card>
        </div>
    }
}
