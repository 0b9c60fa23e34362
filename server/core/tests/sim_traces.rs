//! Smart vs naive on recorded traces from `shared/traces` (skipped with a message
//! when the folder is absent): every node on a different real trace, 20 sessions
//! per trace set; in aggregate the smart client must rebuffer less, start
//! playback sooner and keep a fuller buffer than the naive one. Prints the
//! figures (run with `--nocapture`).

#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // a test may time itself and read files; the rule is for the core's code

mod support;

use std::time::Duration;

use vstack_core::{
    engine::striped_manifest,
    sim::{Experiment, SimConfig, Strategy, Summary, VideoSource, load_chunks, run_experiment},
};

fn experiment(dir: &str, bitrate_kbps: f64) -> Option<Summary> {
    let traces = support::load_traces(dir)?;
    let chunks = load_chunks(
        &VideoSource::Synthetic {
            bitrate_kbps,
            duration: Duration::from_secs(600),
            vbr: 0.2,
            seed: 3,
        },
        Duration::from_secs(10),
    )
    .unwrap();
    let exp = Experiment {
        base: SimConfig::new(Vec::new()),
        traces,
        manifest: striped_manifest("traces", &chunks, 3, 2),
        strategies: vec![Strategy::Smart, Strategy::Naive, Strategy::Oracle],
        sessions: 20,
        seed: 11,
        random_offsets: true,
    };
    let s = Summary::of(&run_experiment(&exp));
    for st in &s.strategies {
        eprintln!(
            "{dir} @ {bitrate_kbps} kbit/s {:>6}: startup {:>7.0} ms, rebuffers {:>5.2}, stall {:>8.0} ms, buffer {:>5.1} s, {:>6.2} Mbit/s",
            st.strategy.name(),
            st.startup_latency_ms.mean,
            st.rebuffer_count.mean,
            st.rebuffer_time_ms.mean,
            st.avg_buffer_s.mean,
            st.avg_throughput_mbps.mean
        );
    }
    eprintln!("{dir}: smart vs naive {:?}", s.smart_vs_naive);
    Some(s)
}

fn check(s: &Summary) {
    let get = |x: Strategy| s.strategies.iter().find(|a| a.strategy == x).unwrap();
    let (smart, naive) = (get(Strategy::Smart), get(Strategy::Naive));
    assert!(
        smart.rebuffer_count.mean < naive.rebuffer_count.mean,
        "rebuffers: {smart:?} vs {naive:?}"
    );
    assert!(
        smart.startup_latency_ms.mean < naive.startup_latency_ms.mean,
        "startup: {smart:?} vs {naive:?}"
    );
    assert!(
        smart.avg_buffer_s.mean > naive.avg_buffer_s.mean,
        "buffer: {smart:?} vs {naive:?}"
    );
}

#[test]
fn smart_beats_naive_on_fcc_broadband_traces() {
    if let Some(s) = experiment("fcc", 2000.0) {
        check(&s);
    }
}

#[test]
fn smart_beats_naive_on_lte_traces() {
    if let Some(s) = experiment("lte-4g", 8000.0) {
        check(&s);
    }
}

#[test]
fn smart_beats_naive_on_3g_traces() {
    if let Some(s) = experiment("hsdpa-3g", 600.0) {
        check(&s);
    }
}
