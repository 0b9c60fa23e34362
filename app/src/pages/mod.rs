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

/// Formats milliseconds as `1h 02m 03s` / `2m 03s` / `4.2 s`.
pub fn format_duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match (s / 3600, (s / 60) % 60, s % 60) {
        (0, 0, _) => format!("{:.1} s", ms as f64 / 1000.0),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, s) => format!("{h}h {m:02}m {s:02}s"),
    }
}

/// Formats bytes with binary units (`12.3 MiB`).
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(format_duration_ms(4_200), "4.2 s");
        assert_eq!(format_duration_ms(123_000), "2m 03s");
        assert_eq!(format_duration_ms(3_723_000), "1h 02m 03s");
    }

    #[test]
    fn bytes() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
