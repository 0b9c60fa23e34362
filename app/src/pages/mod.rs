//! One module per dashboard tab. Each tab is a router route and reads the live
//! data it shows from context ([`crate::feed::LiveFeed`]) or from server functions.

pub mod analytics;
pub mod compare;
pub mod consensus;
pub mod demo;
pub mod engine;
pub mod metrics;
pub mod overview;
pub mod redundancy;
pub mod runs;
pub mod watch;

use leptos::prelude::*;

/// A card with a title; the body is the children.
#[component]
pub fn Card(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <section class="card">
            <h2>{title}</h2>
            {children()}
        </section>
    }
}

/// One labelled figure inside a card. `testid` becomes `data-testid` for tests.
#[component]
pub fn Stat(
    label: &'static str,
    testid: &'static str,
    #[prop(into)] value: Signal<String>,
) -> impl IntoView {
    view! {
        <div class="stat">
            <span class="stat-label">{label}</span>
            <span class="stat-value" data-testid=testid>{move || value.get()}</span>
        </div>
    }
}
