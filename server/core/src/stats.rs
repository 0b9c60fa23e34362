//! Small statistics shared by the simulator, the comparison, the benchmark and
//! the dashboard: mean, standard deviation, nearest-rank percentiles and the
//! smart-vs-naive improvement in %.

/// Mean of `v`; NaN when empty.
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Mean and population standard deviation of `v`; `(0, 0)` when empty.
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let m = mean(v);
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

/// The `p` quantile (0–1, nearest rank) of an ascending slice; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// `v` sorted ascending (NaN last), for [`percentile`].
pub fn sorted(v: &[f64]) -> Vec<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Improvement of smart over naive in %, positive = smart better;
/// `lower_is_better` for latencies, stalls and counts. `None` when the naive
/// value is 0 and the smart one is not (no meaningful ratio); `Some(0)` when
/// both are 0.
pub fn improvement_pct(smart: f64, naive: f64, lower_is_better: bool) -> Option<f64> {
    if naive.abs() < 1e-12 {
        return (smart.abs() < 1e-12).then_some(0.0);
    }
    Some(if lower_is_better {
        (naive - smart) / naive * 100.0
    } else {
        (smart - naive) / naive * 100.0
    })
}

/// The "smart better by" cell for `smart` vs `naive` (in `unit`): the
/// [`improvement_pct`] as `+12.5 %` when there is a ratio; when naive is 0
/// and smart is not, the plain difference and whether it is better or worse
/// (`+2 events, worse`), so a regression is never hidden behind a dash.
/// Values are rounded to `decimals` places.
pub fn improvement_label(
    smart: f64,
    naive: f64,
    lower_is_better: bool,
    unit: &str,
    decimals: usize,
) -> String {
    if let Some(x) = improvement_pct(smart, naive, lower_is_better) {
        return format!("{x:+.1} %");
    }
    let d = smart - naive;
    let worse = if lower_is_better { d > 0.0 } else { d < 0.0 };
    let sep = if unit.is_empty() { "" } else { " " };
    format!(
        "{d:+.decimals$}{sep}{unit}, {}",
        if worse { "worse" } else { "better" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regression_from_zero_is_named() {
        assert_eq!(
            improvement_label(2.0, 0.0, true, "events", 0),
            "+2 events, worse"
        );
        assert_eq!(
            improvement_label(1.5, 0.0, false, "Mbit/s", 1),
            "+1.5 Mbit/s, better"
        );
        assert_eq!(
            improvement_label(300.0, 0.0, true, "ms", 0),
            "+300 ms, worse"
        );
        assert_eq!(improvement_label(50.0, 100.0, true, "ms", 0), "+50.0 %");
        assert_eq!(improvement_label(0.0, 0.0, true, "", 0), "+0.0 %");
    }

    #[test]
    fn improvements() {
        assert_eq!(improvement_pct(50.0, 100.0, true), Some(50.0));
        assert_eq!(improvement_pct(120.0, 100.0, false), Some(20.0));
        assert_eq!(improvement_pct(150.0, 100.0, false), Some(50.0));
        assert_eq!(improvement_pct(0.0, 0.0, true), Some(0.0));
        assert_eq!(improvement_pct(1.0, 0.0, true), None);
    }

    #[test]
    fn mean_and_standard_deviation() {
        assert_eq!(
            mean_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
            (5.0, 2.0)
        );
        assert_eq!(mean_sd(&[]), (0.0, 0.0));
        assert!(mean(&[]).is_nan());
        assert_eq!(mean_sd(&[1.0, 3.0]), (2.0, 1.0));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v = sorted(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(percentile(&v, 0.5), 2.0);
        assert_eq!(percentile(&v, 0.95), 4.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
