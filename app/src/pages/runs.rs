//! Run pages: `/runs` (every stored run of `compare`, `bench`, `chaos` and
//! `demo`, newest first) and `/runs/{id}` (one run's permalink: conditions,
//! per-metric tables with their spread, charts, findings, the machine and
//! the version; its JSON at `/api/runs/{id}`).
//!
//! Both routes render with `SsrMode::Async`: the server waits for the run
//! and sends complete HTML, so a shared link reads without WebAssembly; the
//! charts draw once the page hydrates. Times are formatted in UTC by Rust on
//! both sides, so server and browser render the same text.

use charming::{
    Chart,
    component::Axis,
    element::{AxisLabel, AxisType, ItemStyle, Label, LabelPosition},
    series::Bar,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use super::Card;
use crate::{
    api::{get_run, list_runs},
    chart::{EChart, style::frame},
    format,
    wire::{RunChart, RunRecord, RunSummary},
};

fn verdict(passed: Option<bool>) -> (&'static str, &'static str) {
    match passed {
        Some(true) => ("passed", "good"),
        Some(false) => ("failed", "bad"),
        None => ("—", ""),
    }
}

/// A bar linking to `/runs`, and to the permalink of the comparison since
/// the last re-run once the history stored it (the Smart vs Naive and
/// Analytics tabs).
#[component]
pub fn RunsLink() -> impl IntoView {
    let feed = crate::feed::use_live_feed();
    let current = move || {
        feed.engine
            .with(|e| e.as_ref().and_then(|e| e.compare_run_id.clone()))
    };
    view! {
        <p class="runs-link" data-testid="runs-link">
            <A href="/runs">"Stored runs (compare, bench, chaos, demo, players) →"</A>
            {move || current().map(|id| view! {
                " · "<a href=format!("/runs/{id}") data-testid="compare-run-link">"this comparison's permalink"</a>
            })}
        </p>
    }
}

/// `/runs`: the list.
#[component]
pub fn RunsPage() -> impl IntoView {
    let runs = Resource::new_blocking(|| (), |_| list_runs(None));
    view! {
        <Title text="vstack runs"/>
        <Card title="Runs (compare, bench, chaos, demo, players)">
            <p class="muted small">"Every run stored in this server's history: from the command line (--data-dir), published to it (--publish), or started from the dashboard. Each has a permalink that shows the same run to anyone."</p>
            <Suspense fallback=|| view! { <p class="muted">"Reading the history…"</p> }>
                {move || Suspend::new(async move {
                    match runs.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="empty-title" data-testid="runs-empty">"No runs yet: run `vstack compare --data-dir DIR` (or bench, chaos, demo), or start the demo from the Overview tab."</p>
                        }.into_any(),
                        Ok(list) => runs_table(list).into_any(),
                        Err(e) => view! { <p class="bad" data-testid="runs-error">{e.error}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </Card>
    }
}

fn runs_table(list: Vec<RunSummary>) -> impl IntoView {
    view! {
        <table class="cmp runs" data-testid="runs-table">
            <thead><tr><th>"finished"</th><th>"kind"</th><th>"run"</th><th>"outcome"</th><th>"verdict"</th><th>"from"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|r| {
                    let (v, class) = verdict(r.passed);
                    let href = format!("/runs/{}", r.id);
                    view! {
                        <tr data-testid="run-row" data-kind=r.kind.name()>
                            <td>{format::utc(r.finished_unix_ms)}</td>
                            <td>{r.kind.name()}</td>
                            <td><a href=href>{r.title}</a></td>
                            <td>{r.headline}</td>
                            <td class=class>{v}</td>
                            <td class="muted">{r.source}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// `/runs/{id}`: one run.
#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let run = Resource::new_blocking(id, get_run);
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Reading the run…"</p> }>
            {move || Suspend::new(async move {
                match run.await {
                    Ok(r) => run_view(r).into_any(),
                    Err(e) => {
                        #[cfg(feature = "ssr")]
                        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>()
                            && let Ok(status) = http::StatusCode::from_u16(e.status)
                        {
                            resp.set_status(status);
                        }
                        view! {
                        <Title text="vstack run not found"/>
                        <div class="empty-state" data-testid="run-error">
                            <p class="empty-title">{format!("{} ({})", e.error, e.status)}</p>
                            <p><A href="/runs">"All runs"</A></p>
                        </div>
                    }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

fn run_view(r: RunRecord) -> impl IntoView {
    let s = r.summary.clone();
    let (v, class) = verdict(s.passed);
    let json = format!("/api/runs/{}", s.id);
    let charts = r.charts.clone();
    view! {
        <Title text=crate::head_text(&format!("vstack run: {}", s.title))/>
        <div class="page-grid wide run-page" data-testid="run-page" data-run=s.id.clone()>
            <Card title="Run">
                <h1 class="run-title" data-testid="run-title">{s.title.clone()}</h1>
                <p class="run-headline" data-testid="run-headline">{s.headline.clone()}</p>
                <div class="stats">
                    <div class="stat"><span class="stat-label">"kind"</span><span class="stat-value">{s.kind.name()}</span></div>
                    <div class="stat"><span class="stat-label">"verdict"</span><span class=format!("stat-value {class}")>{v}</span></div>
                    <div class="stat"><span class="stat-label">"started"</span><span class="stat-value small">{format::utc(s.started_unix_ms)}</span></div>
                    <div class="stat"><span class="stat-label">"took"</span><span class="stat-value">{format::duration_ms(s.finished_unix_ms.saturating_sub(s.started_unix_ms))}</span></div>
                    <div class="stat"><span class="stat-label">"from"</span><span class="stat-value">{s.source.clone()}</span></div>
                </div>
                <p><span class="muted">"Conditions: "</span><span data-testid="run-conditions">{s.conditions.clone()}</span></p>
                <p class="muted small">
                    {r.version.clone()}" · "
                    <a href=json.clone() data-testid="run-json">"JSON"</a>" · "
                    <A href="/runs">"all runs"</A>
                </p>
            </Card>
            <Card title="Machine">
                <table class="cmp" data-testid="run-machine">
                    <tbody>
                        {r.machine.iter().map(|(k, v)| view! { <tr><th>{k.clone()}</th><td>{v.clone()}</td></tr> }).collect_view()}
                    </tbody>
                </table>
            </Card>
        </div>
        {r.tables.into_iter().map(|t| view! {
            <section class="card run-table">
                <h2>{t.title}</h2>
                <div class="table-scroll">
                    <table class="cmp" data-testid="run-table">
                        <thead><tr>{t.columns.into_iter().map(|c| view! { <th>{c}</th> }).collect_view()}</tr></thead>
                        <tbody>
                            {t.rows.into_iter().map(|row| view! {
                                <tr>{row.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </section>
        }).collect_view()}
        <div class="page-grid wide">
            {charts.into_iter().enumerate().map(|(i, c)| {
                let title = c.title.clone();
                view! {
                    <section class="card">
                        <h2>{title}</h2>
                        <EChart id=format!("run-chart-{i}") option=move || run_chart(&c)/>
                    </section>
                }
            }).collect_view()}
        </div>
        {(!r.notes.is_empty()).then(|| view! {
            <section class="card">
                <h2>"Findings and notes"</h2>
                <ul data-testid="run-notes">{r.notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}</ul>
            </section>
        })}
    }
}

const SERIES_COLORS: [&str; 4] = ["#667eea", "#ed8936", "#38b2ac", "#9f7aea"];

fn run_chart(c: &RunChart) -> Chart {
    let chart = frame()
        .x_axis(
            Axis::new()
                .type_(AxisType::Category)
                .data(c.categories.clone())
                .axis_label(
                    AxisLabel::new()
                        .interval(0)
                        .rotate(if c.categories.len() > 5 { 30 } else { 0 }),
                ),
        )
        .y_axis(Axis::new().type_(AxisType::Value).name(c.y_name.clone()));
    c.series.iter().enumerate().fold(chart, |chart, (i, s)| {
        let color = match s.name.as_str() {
            "smart" => "#667eea",
            "naive" => "#ed8936",
            _ => SERIES_COLORS[i % SERIES_COLORS.len()],
        };
        chart.series(
            Bar::new()
                .name(s.name.clone())
                .item_style(ItemStyle::new().color(color))
                // The value on each bar: a mean of 0 (no stalls) draws no bar,
                // and the label says it is a measured 0, not a missing one.
                .label(Label::new().show(true).position(LabelPosition::Top))
                .data(
                    s.values
                        .iter()
                        .map(|v| (v * 100.0).round() / 100.0)
                        .collect::<Vec<f64>>(),
                ),
        )
    })
}
