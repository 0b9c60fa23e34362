//! Sparklines: one live series drawn as an inline SVG line by leptos itself,
//! with its latest value, its range and its time span written beside it.
//!
//! The Overview draws the dashboard server's own health (RSS, timer lag) this
//! way instead of with ECharts. The first load of `/` then carries no chart
//! library: ECharts (150 KB brotli) loads on demand when a tab with
//! [`crate::chart::EChart`] charts mounts. A sparkline has no tooltip or
//! zoom; the tabs that analyse data keep ECharts.

use leptos::prelude::*;

/// The SVG's user-space width; the element stretches it to its box.
pub const VIEW_WIDTH: f64 = 300.0;
/// The SVG's user-space height.
pub const VIEW_HEIGHT: f64 = 60.0;
/// Space kept above and below the line, in user units, so the stroke at the
/// minimum and maximum is not clipped.
const PAD: f64 = 3.0;

/// `points` (x, y), in any order of magnitude, as the `points` attribute of
/// an SVG `<polyline>` in a `width × height` box: x spans the box from the
/// first to the last point, y from the series' minimum (bottom, less
/// [`PAD`]) to its maximum (top). A flat series is drawn at mid-height; one
/// point as a dot-length line. Points with a non-finite coordinate are left
/// out. Coordinates carry one decimal.
pub fn polyline_points(points: &[(f64, f64)], width: f64, height: f64) -> String {
    let finite: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let Some(&(x0, _)) = finite.first() else {
        return String::new();
    };
    let x1 = finite.last().map_or(x0, |p| p.0);
    let (lo, hi) = y_bounds(&finite);
    let sx = |x: f64| {
        if x1 > x0 {
            (x - x0) / (x1 - x0) * width
        } else {
            width
        }
    };
    let sy = |y: f64| {
        if hi > lo {
            PAD + (hi - y) / (hi - lo) * (height - 2.0 * PAD)
        } else {
            height / 2.0
        }
    };
    let mut out: Vec<String> = finite
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
        .collect();
    if finite.len() == 1 {
        out.insert(0, format!("{:.1},{:.1}", width - 2.0, sy(finite[0].1)));
    }
    out.join(" ")
}

/// The smallest and largest y of `points`; (+∞, −∞) when there are none.
fn y_bounds(points: &[(f64, f64)]) -> (f64, f64) {
    points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, y)| {
            (lo.min(y), hi.max(y))
        })
}

/// A labelled sparkline of one live series.
///
/// - `label`: what the series measures, e.g. `"server RSS"`.
/// - `unit`: its unit, e.g. `"MiB"`.
/// - `decimals`: decimals of the figures shown.
/// - `testid`: `data-testid` of the `<figure>`.
/// - `points`: (server uptime in s, value), oldest first.
///
/// Shows the latest value, the minimum–maximum over the points and the
/// seconds they span; "waiting for data" while there are none, "1 sample so
/// far" while there is one.
#[component]
pub fn Sparkline(
    label: &'static str,
    unit: &'static str,
    decimals: usize,
    testid: &'static str,
    #[prop(into)] points: Signal<Vec<(f64, f64)>>,
) -> impl IntoView {
    let line = move || points.with(|p| polyline_points(p, VIEW_WIDTH, VIEW_HEIGHT));
    let fmt = move |v: f64| format!("{v:.decimals$} {unit}");
    let latest = move || {
        points.with(|p| {
            p.last()
                .map(|&(_, y)| fmt(y))
                .unwrap_or_else(|| "waiting for data".into())
        })
    };
    let range = move || {
        points.with(|p| {
            let (lo, hi) = y_bounds(p);
            match (p.first(), p.last()) {
                (Some(_), Some(_)) if p.len() == 1 => "1 sample so far".to_string(),
                (Some(first), Some(last)) => format!(
                    "min {} · max {} · over the last {:.0} s",
                    fmt(lo),
                    fmt(hi),
                    last.0 - first.0
                ),
                _ => String::new(),
            }
        })
    };
    view! {
        <figure class="spark" data-testid=testid>
            <figcaption>
                <span class="spark-label">{label}</span>
                <span class="spark-value" data-testid=format!("{testid}-latest")>{latest}</span>
            </figcaption>
            <svg
                class="spark-svg"
                viewBox=format!("0 0 {VIEW_WIDTH} {VIEW_HEIGHT}")
                preserveAspectRatio="none"
                role="img"
                aria-label=move || format!("{label} over time: {}", range())
            >
                <polyline points=line fill="none" vector-effect="non-scaling-stroke"></polyline>
            </svg>
            <p class="spark-range muted">{range}</p>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<(f64, f64)> {
        s.split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn a_series_spans_the_box_with_its_maximum_on_top() {
        let p = parse(&polyline_points(
            &[(10.0, 5.0), (11.0, 15.0), (12.0, 10.0)],
            300.0,
            60.0,
        ));
        assert_eq!(p, vec![(0.0, 57.0), (150.0, 3.0), (300.0, 30.0)]);
    }

    #[test]
    fn flat_empty_single_and_non_finite_series() {
        assert_eq!(polyline_points(&[], 300.0, 60.0), "");
        assert_eq!(
            parse(&polyline_points(&[(0.0, 2.0), (5.0, 2.0)], 300.0, 60.0)),
            vec![(0.0, 30.0), (300.0, 30.0)]
        );
        assert_eq!(
            parse(&polyline_points(&[(7.0, 1.0)], 300.0, 60.0)),
            vec![(298.0, 30.0), (300.0, 30.0)]
        );
        let p = parse(&polyline_points(
            &[
                (0.0, 1.0),
                (1.0, f64::NAN),
                (2.0, 3.0),
                (f64::INFINITY, 9.0),
            ],
            300.0,
            60.0,
        ));
        assert_eq!(p, vec![(0.0, 57.0), (300.0, 3.0)]);
    }

    #[test]
    fn every_point_stays_inside_the_box() {
        let pts: Vec<(f64, f64)> = (0..120)
            .map(|i| (f64::from(i), (f64::from(i) * 0.7).sin() * 1e6 + 4e7))
            .collect();
        for (x, y) in parse(&polyline_points(&pts, 300.0, 60.0)) {
            assert!((0.0..=300.0).contains(&x), "{x}");
            assert!((PAD - 0.05..=60.0 - PAD + 0.05).contains(&y), "{y}");
        }
    }
}
