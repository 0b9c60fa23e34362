//! The anomaly detector on recorded bandwidth traces (`shared/traces`, 3G
//! and 4G/LTE; skipped with a message when absent): each trace sampled once
//! a second as a throughput series, judged on a log scale like the live
//! throughput detector.
//!
//! - Alerted share: the share of samples inside an alert on the recorded
//!   trace as it is. These traces are real mobile links, so their fades are
//!   real changes, not noise; the figure says how often the default
//!   settings call one an anomaly (`--nocapture` prints it per set).
//! - Detection: the same trace with a 20 s outage to 5 % of its median
//!   rate spliced in at the middle; an alert must be open within
//!   `open_after` + 2 samples of its start.
//!
//! Bars (measured with the defaults: LTE 10/10 caught, 5.8 % of samples
//! inside an alert on average; 3G 14/20 caught, 18 %): on LTE every outage
//! is caught and under 10 % of samples alert; on 3G, whose links swing
//! between nothing and 3 Mbit/s so often that a 20 s dip is no outlier in a
//! third of the traces, at least 60 % are caught and under 30 % of samples
//! alert.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // a test may read files; the rule is for the core's code

mod support;

use vstack_core::anomaly::{AnomalyConfig, Direction, Scale, alerted_share, run_series};

/// The trace's bandwidth once a second, Mbit/s.
fn per_second(t: &vstack_core::input::Trace) -> Vec<f64> {
    let mut out = Vec::new();
    let mut carry = 0.0;
    for p in t.periods() {
        carry += p.duration.as_secs_f64();
        while carry >= 1.0 {
            out.push(p.bandwidth_mbps);
            carry -= 1.0;
        }
    }
    out
}

fn check(dir: &str, offset_mbps: f64, min_caught: f64, max_share: f64) {
    let scale = Scale::Log {
        offset: offset_mbps,
        min_mad: 0.1,
    };
    let Some(traces) = support::load_traces(dir) else {
        return;
    };
    let cfg = AnomalyConfig::default();
    let mut shares = Vec::new();
    let mut detected = 0u32;
    let mut tried = 0u32;
    for t in &traces {
        let s = per_second(t);
        if s.len() < 120 {
            continue;
        }
        let alerts = run_series(&s, Direction::Low, scale, &cfg);
        shares.push(alerted_share(&alerts, s.len()));
        let mut hit = s.clone();
        let start = s.len() / 2;
        let mut sorted = s.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        for x in &mut hit[start..start + 20] {
            *x = 0.05 * median;
        }
        let alerts = run_series(&hit, Direction::Low, scale, &cfg);
        let by = start + cfg.open_after as usize + 2;
        tried += 1;
        if alerts
            .iter()
            .any(|&(o, c)| o <= by && c.is_none_or(|c| c > by))
        {
            detected += 1;
        }
    }
    let mean = shares.iter().sum::<f64>() / shares.len().max(1) as f64;
    let worst = shares.iter().copied().fold(0.0, f64::max);
    println!(
        "{dir}: {} traces; samples inside an alert on the clean traces: mean {:.2} %, worst {:.2} %; outages detected {detected}/{tried}",
        shares.len(),
        mean * 100.0,
        worst * 100.0
    );
    assert!(
        f64::from(detected) >= min_caught * f64::from(tried),
        "{dir}: {detected}/{tried} spliced outages caught"
    );
    assert!(mean < max_share, "{dir}: mean alerted share {mean}");
}

#[test]
fn lte_traces() {
    check("lte-4g", 0.5, 1.0, 0.10);
}

#[test]
fn hsdpa_3g_traces() {
    check("hsdpa-3g", 0.05, 0.6, 0.30);
}
