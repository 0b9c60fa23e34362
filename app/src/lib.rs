//! The vstack dashboard: leptos components, routes, server functions and the wire
//! types shared by the axum server and the WASM front end.
//!
//! The crate is compiled twice: with feature `ssr` into the `server` binary, which
//! renders every page and answers server functions, and with feature `hydrate`
//! into `frontend` (WASM), which hydrates the rendered page and keeps it live over
//! the `/ws` WebSocket. Layout:
//!
//! - [`wire`]: JSON types on the wire (server functions, WebSocket frames),
//!   re-exported from the pure core, where the server and the CLI read them.
//! - [`access`]: the caller's access (public mode), the read-only gate and sign-in.
//! - [`api`]: server functions and the [`api::DashboardBackend`] seam to the engine.
//! - [`feed`]: the browser's WebSocket connection and its reconnect loop.
//! - [`chart`]: charming/ECharts charts that update in place (ECharts loads on demand).
//! - [`format`]: every time, duration and size the tabs print.
//! - [`sparkline`]: inline SVG lines for the Overview's server health.
//! - [`pages`]: one module per tab.
//! - [`watch_driver`]: the Watch tab's players, sans-IO (the core's engine
//!   with a browser's commands); `watch_browser` (WASM only) carries them
//!   out with `fetch`, WebCrypto and Media Source Extensions.

#![recursion_limit = "512"]

pub mod access;
pub mod alerts;
pub mod api;
pub mod chart;
pub mod feed;
pub mod format;
pub mod pages;
pub mod perf;
pub mod sparkline;
#[cfg(feature = "hydrate")]
pub mod watch_browser;
pub mod watch_driver;
#[cfg(feature = "hydrate")]
pub mod watch_hls;
/// The wire types live in the pure core, shared with the server and the CLI.
pub use vstack_core::wire;
pub use vstack_core::wire::{counted, metric_with_unit};

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    Lazy, LazyRoute, ParamSegment, SsrMode, StaticSegment,
    components::{A, Route, Router, Routes},
    lazy_route,
};

use feed::{LiveFeed, use_live_feed};
use pages::overview::OverviewPage;

/// Path of the ECharts bundle `scripts/setup.sh` builds (only the charts and
/// components the dashboard draws) into `public/vendor/`. Not in the page
/// shell: [`chart::EChart`] loads it when the first chart mounts.
pub const ECHARTS_PATH: &str = "/vendor/echarts.min.js";

/// The HTML document around [`App`], rendered by the server for every route.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en" data-access=access::access_attr(access::initial_access())>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                // No favicon request (it would cost a 404 page per first load).
                <link rel="icon" href="data:,"/>
                <script nonce=leptos::nonce::use_nonce()>"try{var t=localStorage.getItem('vstack-theme');if(t)document.documentElement.setAttribute('data-theme',t)}catch(e){}"</script>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Text for `<head>` (a `<Title>`): leptos_meta writes a title into the
/// server-rendered HTML without escaping it, so on the server `&`, `<`, `>`,
/// `"` and `'` become entities here (a run titled
/// `x</title><script>…` stays text). In the browser the text is set through
/// `document.title`, which takes it literally, so it passes unchanged.
pub fn head_text(s: &str) -> String {
    if cfg!(feature = "ssr") {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
        }
        out
    } else {
        s.to_string()
    }
}

/// The dashboard: header with tabs and connection indicator, and the routed tab.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let feed = LiveFeed::new();
    provide_context(feed);
    provide_context(access::AccessState(RwSignal::new(access::initial_access())));
    // The stream opens once hydration is over: a frame applied while a lazy
    // route's chunk still loads would hydrate that route's markup against
    // live data the server never rendered (a hydration mismatch, a trap).
    #[cfg(feature = "hydrate")]
    {
        let shared = leptos::prelude::Owner::current_shared_context();
        let hydrating = move || shared.as_ref().is_some_and(|s| s.during_hydration());
        leptos::task::spawn_local(feed::connect_after_hydration(feed, hydrating));
    }

    view! {
        <Stylesheet id="leptos" href="/pkg/vstack.css"/>
        <Title text="vstack dashboard"/>
        <Router>
            <Header/>
            <main class="content">
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=StaticSegment("") view=OverviewPage/>
                    <Route path=StaticSegment("metrics") view={Lazy::<MetricsTab>::new()}/>
                    <Route path=StaticSegment("compare") view={Lazy::<CompareTab>::new()}/>
                    <Route path=StaticSegment("analytics") view={Lazy::<AnalyticsTab>::new()}/>
                    <Route path=StaticSegment("consensus") view={Lazy::<ConsensusTab>::new()}/>
                    <Route path=StaticSegment("redundancy") view={Lazy::<RedundancyTab>::new()}/>
                    <Route path=StaticSegment("watch") view={Lazy::<WatchTab>::new()}/>
                    <Route path=StaticSegment("signin") view={Lazy::<SignIn>::new()}/>
                    <Route path=StaticSegment("runs") view={Lazy::<RunsList>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("runs"), ParamSegment("id")) view={Lazy::<RunPermalink>::new()} ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// A tab whose code loads on demand: in a release build split by
/// `cargo leptos build --split`, its WASM is a separate chunk fetched when
/// the route is first visited (or hydrated), so the first load of `/` does
/// not carry it. Elsewhere it is an ordinary route.
macro_rules! lazy_tab {
    ($(#[$doc:meta])* $name:ident => $page:path) => {
        $(#[$doc])*
        struct $name;

        #[lazy_route]
        impl LazyRoute for $name {
            fn data() -> Self {
                Self
            }

            fn view(this: Self) -> AnyView {
                let _ = this;
                view! { <$page/> }.into_any()
            }
        }
    };
}

lazy_tab!(
    /// `/metrics`.
    MetricsTab => pages::metrics::MetricsPage
);
lazy_tab!(
    /// `/compare`.
    CompareTab => pages::compare::ComparePage
);
lazy_tab!(
    /// `/analytics`.
    AnalyticsTab => pages::analytics::AnalyticsPage
);
lazy_tab!(
    /// `/consensus`.
    ConsensusTab => pages::consensus::ConsensusPage
);
lazy_tab!(
    /// `/redundancy`.
    RedundancyTab => pages::redundancy::RedundancyPage
);
lazy_tab!(
    /// `/watch`.
    WatchTab => pages::watch::WatchPage
);
lazy_tab!(
    /// `/signin` (public mode).
    SignIn => access::SignInPage
);
lazy_tab!(
    /// `/runs`.
    RunsList => pages::runs::RunsPage
);
lazy_tab!(
    /// `/runs/{id}`.
    RunPermalink => pages::runs::RunPage
);

/// The tabs, in the seed's order: (path, label).
pub const TABS: [(&str, &str); 7] = [
    ("/", "Overview"),
    ("/metrics", "Performance Metrics"),
    ("/compare", "Smart vs Naive"),
    ("/analytics", "Analytics"),
    ("/consensus", "Consensus"),
    ("/redundancy", "Redundancy"),
    ("/watch", "Watch"),
];

#[component]
fn Header() -> impl IntoView {
    view! {
        <header class="topbar">
            <div class="brand">
                <span class="logo">"vstack"</span>
                <span class="subtitle">"smart streaming monitor"</span>
            </div>
            <nav class="tabs" aria-label="Dashboard tabs">
                {TABS
                    .iter()
                    .map(|(href, label)| {
                        view! { <A href=*href exact=true attr:class="tab">{*label}</A> }
                    })
                    .collect_view()}
            </nav>
            <alerts::AlertBadge/>
            <access::AccessBadge/>
            <ThemeToggle/>
            <ConnectionIndicator/>
        </header>
    }
}

/// Light / dark switch: the page follows the system until toggled; the choice
/// is kept in `localStorage` (`vstack-theme`) and applied before first paint
/// by a tiny inline script in the shell.
#[component]
fn ThemeToggle() -> impl IntoView {
    let toggle = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let Some(w) = web_sys::window() else { return };
            let Some(root) = w.document().and_then(|d| d.document_element()) else {
                return;
            };
            let system_dark = w
                .match_media("(prefers-color-scheme: dark)")
                .ok()
                .flatten()
                .is_some_and(|m| m.matches());
            let current = root.get_attribute("data-theme");
            let dark_now = match current.as_deref() {
                Some("dark") => true,
                Some("light") => false,
                _ => system_dark,
            };
            let next = if dark_now { "light" } else { "dark" };
            let _ = root.set_attribute("data-theme", next);
            if let Ok(Some(store)) = w.local_storage() {
                let _ = store.set_item("vstack-theme", next);
            }
        }
    };
    view! {
        <button class="theme-toggle" data-testid="theme-toggle" title="Toggle light / dark" on:click=toggle>
            "◐ theme"
        </button>
    }
}

/// Live / reconnecting / offline badge for the `/ws` stream.
#[component]
fn ConnectionIndicator() -> impl IntoView {
    let feed = use_live_feed();
    let state = move || feed.state.get().label();
    view! {
        <div class="conn" data-testid="connection" data-state=state title="WebSocket /ws">
            <span class="dot"></span>
            <span class="conn-label">{state}</span>
        </div>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <div class="empty-state">
            <p class="empty-title">"Page not found"</p>
            <p>"The dashboard has seven tabs: " <A href="/">"Overview"</A> ", metrics, compare, analytics, consensus, redundancy and watch."</p>
        </div>
    }
}
