//! Test and benchmark support: the recorded traces of `shared/traces`, read
//! from disk here (the core itself reads no files).

#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // a test may time itself and read files; the rule is for the core's code

use std::{path::PathBuf, sync::Arc};

use vstack_core::input::Trace;

/// `shared/traces/<dir>` (next to the checkout), if present. Absent, the
/// caller skips, unless `VSTACK_REQUIRE_TOOLS` is set (CI, the test
/// script): then it panics, so no run passes by skipping its real input.
pub fn shared_traces(dir: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/traces")
        .join(dir);
    if p.exists() {
        Some(p)
    } else {
        assert!(
            std::env::var_os("VSTACK_REQUIRE_TOOLS").is_none(),
            "{} not found and VSTACK_REQUIRE_TOOLS is set: the recorded traces are this test's input",
            p.display()
        );
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

/// Every trace in `shared/traces/<dir>`, by file name; `None` (with a
/// message) when the folder is absent.
pub fn load_traces(dir: &str) -> Option<Vec<Arc<Trace>>> {
    let dir = shared_traces(dir)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Some(
        files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).unwrap();
                Arc::new(Trace::parse(&f.to_string_lossy(), &text).unwrap())
            })
            .collect(),
    )
}
