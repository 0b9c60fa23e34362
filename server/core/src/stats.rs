//! Small statistics shared by the simulator, the comparison, the benchmark and
//! the dashboard: mean, standard deviation, nearest-rank percentiles and the
//! smart-vs-naive improvement in %.

/// Serde for an `f64` that may be infinite (a session that never started
/// has an infinite startup): finite values are JSON numbers, ±∞ the strings
/// `"inf"` / `"-inf"`, NaN `null` (JSON has no such numbers, and serde_json
/// would write `null` for all three, which then fails to read back).
/// Reading also takes a plain number.
pub mod f64_or_inf {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `v` as described in the module doc.
    ///
    /// # Errors
    /// The serializer's.
    #[allow(clippy::trivially_copy_pass_by_ref)]
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_none()
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
    }

    /// Reads what [`serialize`] writes.
    ///
    /// # Errors
    /// A string other than `inf` / `-inf`, or another JSON type.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Option::<Repr>::deserialize(d)? {
            None => Ok(f64::NAN),
            Some(Repr::Number(x)) => Ok(x),
            Some(Repr::Text(t)) => match t.as_str() {
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number, \"inf\" or \"-inf\", got {other:?}"
                ))),
            },
        }
    }
}

/// [`f64_or_inf`] for an `Option<f64>`: `None` is `null` (or absent, with
/// `#[serde(default)]`), `Some` as [`f64_or_inf`] writes it.
pub mod opt_f64_or_inf {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `v`: `None` as `null`, `Some(x)` as [`super::f64_or_inf`].
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => super::f64_or_inf::serialize(x, s),
            None => s.serialize_none(),
        }
    }

    /// Reads what [`serialize`] writes (`null` → `None`).
    ///
    /// # Errors
    /// As [`super::f64_or_inf::deserialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::f64_or_inf")] f64);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

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
/// `lower_is_better` for latencies, stalls and counts. `None` when there is
/// no meaningful ratio: the naive value is 0 and the smart one is not, or
/// either is not finite (a session that never started has an infinite
/// startup); `Some(0)` when both are 0. The difference is taken relative
/// to |naive|, so a score that can be negative (linear QoE) keeps its sign:
/// smart −9 against naive −49 is 82 % better, not worse.
pub fn improvement_pct(smart: f64, naive: f64, lower_is_better: bool) -> Option<f64> {
    if !smart.is_finite() || !naive.is_finite() {
        return None;
    }
    if naive.abs() < 1e-12 {
        return (smart.abs() < 1e-12).then_some(0.0);
    }
    Some(if lower_is_better {
        (naive - smart) / naive.abs() * 100.0
    } else {
        (smart - naive) / naive.abs() * 100.0
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
    fn a_negative_score_keeps_the_sign_of_the_gain() {
        let up = improvement_pct(-9.0, -49.0, false).unwrap();
        assert!((up - 81.632_653).abs() < 1e-4, "{up}");
        assert!(improvement_pct(-49.0, -9.0, false).unwrap() < 0.0);
        assert_eq!(improvement_pct(12.0, 10.0, false), Some(20.0));
        assert_eq!(improvement_pct(8.0, 10.0, true), Some(20.0));
    }

    #[test]
    fn infinite_values_survive_json() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct W(#[serde(with = "f64_or_inf")] f64);
        for x in [1.5, f64::INFINITY, f64::NEG_INFINITY] {
            let j = serde_json::to_string(&W(x)).unwrap();
            assert_eq!(serde_json::from_str::<W>(&j).unwrap().0, x, "{j}");
        }
        assert!(serde_json::from_str::<W>("null").unwrap().0.is_nan());
        assert_eq!(serde_json::to_string(&W(f64::INFINITY)).unwrap(), "\"inf\"");
        assert_eq!(improvement_pct(f64::INFINITY, 1000.0, true), None);
    }

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
