//! Alerts in the dashboard header: the badge with the count of open alerts
//! (red when one is critical) that opens the alert feed. No chart code here
//! (the header is on every page's first load): the charts' alert shading is
//! [`crate::chart::alerts`].
//!
//! The alerts come from the server's anomaly monitor
//! (`vstack_core::anomaly`): the snapshot's `anomalies` first, then
//! `anomaly` frames on `/ws` ([`crate::feed::apply_alert`]).

use leptos::prelude::*;

use crate::{
    feed::use_live_feed,
    wire::{Alert, Severity},
};

/// Alerts open now and whether one of them is critical.
fn open_counts(alerts: &[Alert]) -> (usize, bool) {
    let open: Vec<&Alert> = alerts.iter().filter(|a| a.is_open()).collect();
    let critical = open.iter().any(|a| a.severity == Severity::Critical);
    (open.len(), critical)
}

/// The header's alert badge and its feed.
#[component]
pub fn AlertBadge() -> impl IntoView {
    let feed = use_live_feed();
    let shown = RwSignal::new(false);
    let counts = move || {
        feed.engine.with(|e| {
            e.as_ref()
                .map(|e| open_counts(&e.anomalies))
                .unwrap_or((0, false))
        })
    };
    let level = move || match counts() {
        (0, _) => "none",
        (_, true) => "critical",
        _ => "warning",
    };
    let label = move || match counts().0 {
        0 => "no open alerts".to_string(),
        1 => "1 open alert".to_string(),
        n => format!("{n} open alerts"),
    };
    view! {
        <div class="alerts">
            <button
                class="alert-badge"
                data-testid="alert-badge"
                data-level=level
                data-open=move || counts().0
                aria-expanded=move || shown.get().to_string()
                title="Anomalies and alert rules: open the feed"
                on:click=move |_| shown.update(|s| *s = !*s)
            >
                <span class="alert-icon">"⚠"</span>
                <span class="alert-count">{move || counts().0}</span>
                <span class="sr-only">{label}</span>
            </button>
            <Show when=move || shown.get()>
                <LazyFeed/>
            </Show>
        </div>
    }
}

/// The feed's code, loaded the first time it opens (a separate chunk in a
/// split release build: the first load of a page does not carry it).
#[leptos::lazy]
fn feed_view() -> AnyView {
    view! { <AlertFeed/> }.into_any()
}

/// [`AlertFeed`] once its code has loaded.
#[component]
fn LazyFeed() -> impl IntoView {
    view! { <Suspense fallback=|| ()>{move || Suspend::new(feed_view())}</Suspense> }
}

/// The feed: open alerts first, then the resolved ones, newest first.
#[component]
pub fn AlertFeed() -> impl IntoView {
    let feed = use_live_feed();
    let rows = move || {
        feed.engine.with(|e| {
            let Some(e) = e else { return Vec::new() };
            let mut v = e.anomalies.clone();
            v.sort_by_key(|a| (!a.is_open(), std::cmp::Reverse(a.started_uptime_ms)));
            v.into_iter().map(|a| (a, e.uptime_ms)).collect::<Vec<_>>()
        })
    };
    view! {
        <div class="alert-feed" data-testid="alert-feed" role="dialog" aria-label="Alerts">
            <p class="alert-feed-title">"Alerts"<span class="muted">" — robust z-score anomalies and rules, with hysteresis"</span></p>
            {move || {
                let rows = rows();
                if rows.is_empty() {
                    return view! { <p class="muted">"No alerts since the server started."</p> }.into_any();
                }
                view! {
                    <ul class="alert-list">
                        {rows.into_iter().map(|(a, now)| alert_row(a, now)).collect_view()}
                    </ul>
                }
                .into_any()
            }}
        </div>
    }
}

fn alert_row(a: Alert, now_ms: u64) -> impl IntoView {
    let severity = match a.severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
    };
    let state = if a.is_open() { "open" } else { "resolved" };
    let when = match a.ended_uptime_ms {
        None => format!(
            "open for {} (since t = {:.0} s)",
            crate::format::duration_ms(now_ms.saturating_sub(a.started_uptime_ms)),
            a.started_uptime_ms as f64 / 1e3
        ),
        Some(end) => format!(
            "t = {:.0}–{:.0} s ({}){}",
            a.started_uptime_ms as f64 / 1e3,
            end as f64 / 1e3,
            crate::format::duration_ms(end.saturating_sub(a.started_uptime_ms)),
            a.resolution
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    };
    view! {
        <li class="alert-row" data-severity=severity data-state=state data-testid="alert-row">
            <span class="alert-sev">{severity}</span>
            <span class="alert-msg">{a.message}</span>
            <span class="alert-when muted">{state}" · "{when}" · "{a.series}</span>
        </li>
    }
}
