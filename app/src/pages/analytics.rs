//! Analytics tab (`/analytics`): system health since the server started
//! (uptime, data transferred, failover rate, sessions, per-client totals over
//! every session), the seed's targets vs the smart
//! client's actual figures, the load distribution, detailed metrics of both
//! clients, and export of the metrics history as CSV or JSON.

use leptos::prelude::*;

use super::{Card, engine::StreamNotice, metrics::load_chart};
use crate::{feed::use_live_feed, perf};

/// The Analytics tab.
#[component]
pub fn AnalyticsPage() -> impl IntoView {
    let feed = use_live_feed();
    view! {
        <StreamNotice/>
        <super::runs::RunsLink/>
        <div class="page-grid wide">
            <Card title="System health (both clients, since the server started)">
                {move || feed.engine.with(|e| e.as_ref().map(|e| {
                    let t = &e.totals;
                    let all = |f: fn(&crate::wire::CumulativeTotals) -> u64| f(&t.smart) + f(&t.naive);
                    let bytes = all(|t| t.bytes_transferred);
                    let mut both = t.smart.clone();
                    both.downloads += t.naive.downloads;
                    both.failovers += t.naive.failovers;
                    let clients: Vec<_> = e.clients.iter().filter_map(|(_, c)| c.as_ref()).collect();
                    let downloads: u64 = clients.iter().map(|c| c.downloads).sum();
                    let avg_dl = if downloads > 0 {
                        clients.iter().map(|c| c.avg_download_ms * c.downloads as f64).sum::<f64>() / downloads as f64
                    } else { 0.0 };
                    view! {
                        <div class="stats" data-testid="health">
                            <div class="stat"><span class="stat-label">"uptime"</span><span class="stat-value">{crate::format::uptime_ms(e.uptime_ms)}</span></div>
                            <div class="stat"><span class="stat-label">"data transferred since start"</span><span class="stat-value" data-testid="health-bytes">{crate::format::bytes(bytes)}</span></div>
                            <div class="stat"><span class="stat-label">"failover rate since start (failovers ÷ attempts)"</span><span class="stat-value" data-testid="health-failover-rate">{format!("{:.1} %", both.failover_rate_pct())}</span></div>
                            <div class="stat"><span class="stat-label">"sessions ended since start"</span><span class="stat-value" data-testid="health-sessions">{all(|t| t.sessions_ended).to_string()}</span></div>
                            <div class="stat"><span class="stat-label">"avg download time (current sessions)"</span><span class="stat-value">{format!("{avg_dl:.0} ms")}</span></div>
                        </div>
                        <table class="cmp" data-testid="totals">
                            <thead><tr><th>"since start"</th><th>"sessions ended / finished"</th><th>"downloads"</th><th>"data"</th><th>"failovers"</th><th>"rebuffers"</th><th>"stall time"</th></tr></thead>
                            <tbody>
                                {t.iter().map(|(kind, t)| view! {
                                    <tr>
                                        <td>{kind.name()}</td>
                                        <td>{format!("{} / {}", t.sessions_ended, t.sessions_finished)}</td>
                                        <td>{t.downloads.to_string()}</td>
                                        <td>{crate::format::bytes(t.bytes_transferred)}</td>
                                        <td>{format!("{} ({:.1} %)", t.failovers, t.failover_rate_pct())}</td>
                                        <td>{t.rebuffer_events.to_string()}</td>
                                        <td>{format!("{:.1} s", t.stall_ms / 1e3)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
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
                <crate::chart::LiveChart id="chart-an-load" make=load_chart/>
            </Card>
            <Card title="Detailed metrics (current sessions)">
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
                                        <td>{crate::format::bytes(c.bytes_total)}</td>
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
