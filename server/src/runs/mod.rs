//! Runs as the history keeps them and the run pages show them. A finished
//! `vstack compare`, `bench`, `chaos` or `demo` (or the dashboard's re-run
//! and demo) becomes a [`RunRecord`] ([`records`]); [`keep`] stores it in a
//! data directory's history (`--data-dir`) and publishes it to a running
//! server (`--publish URL`, `POST /api/runs` with the admin token); [`saved`]
//! is the latest comparison as a JSON file, which the Smart vs Naive tab and
//! `GET /api/compare` read.
//!
//! Sits above `tools` (it reads the bench and chaos reports) and below the
//! engine host and the web layer, which build and serve records.

pub mod keep;
pub mod records;
pub mod saved;

pub use keep::{KeepError, RunOutput};
pub use records::{DemoRun, bench_record, chaos_record, compare_record, demo_record};

use crate::tools::bench::Machine;

/// A fresh run id: 16 hex digits (64 random bits: links cannot be guessed).
pub fn new_id() -> String {
    use rand::Rng;
    hex::encode(rand::rng().random::<[u8; 8]>())
}

/// Whether `id` has the shape of a run id (16 lower-case hex digits).
pub fn is_run_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The machine as (label, value) rows.
pub fn machine_rows(m: &Machine) -> Vec<(String, String)> {
    let mut rows = vec![
        ("OS".to_string(), format!("{} {}", m.os, m.arch)),
        ("CPUs".to_string(), m.cpus.to_string()),
    ];
    if let Some(c) = &m.cpu_model {
        rows.push(("CPU".into(), c.clone()));
    }
    if let Some(mib) = m.memory_total_mib {
        rows.push(("memory".into(), format!("{:.1} GiB", mib as f64 / 1024.0)));
    }
    if let Some(h) = &m.hostname {
        rows.push(("host".into(), h.clone()));
    }
    rows
}

/// `vstack 0.1.0 (debug build)`.
pub fn version_of(m: &Machine) -> String {
    format!("vstack {} ({} build)", m.vstack_version, m.build)
}
