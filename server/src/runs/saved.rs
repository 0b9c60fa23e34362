//! The latest comparison as a JSON file (`vstack compare --output`, default
//! `compare_results.json`): written by the command, read by the Smart vs
//! Naive tab and `GET /api/compare`.

use std::path::Path;

use vstack_core::compare::CompareReport;

/// Saves `report` as pretty JSON at `path` (what the dashboard reads).
///
/// # Errors
/// The I/O error.
pub fn save(report: &CompareReport, path: &Path) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(path, json)
}

/// Reads a saved comparison ([`save`], `vstack compare --output`).
///
/// # Errors
/// A message when the file exists but cannot be read or is not a comparison.
/// A missing file is `Ok(None)`.
pub fn read_saved(path: &Path) -> Result<Option<CompareReport>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is not a vstack compare result: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}
