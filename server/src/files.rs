//! The files vstack reads as input: recorded traces, video chunk-size files
//! and saved comparison results. The core parses text; this module reads it
//! from disk and names the path in every error.
//!
//! These reads are blocking `std::fs` calls made while a command or the
//! server starts, and by the dashboard's compare-results request (one small
//! JSON file).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use vstack_core::input::{Trace, TraceError};

/// An input file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The trace in it is malformed (the message names the file and line).
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// A trace folder holds no trace file (only documents or subfolders).
    #[error(
        "{path}: no trace files in this folder{}",
        if subfolders.is_empty() { String::new() } else { format!("; pass one of its folders: {}", subfolders.join(", ")) }
    )]
    NoTraces {
        /// The folder.
        path: PathBuf,
        /// Names of its subfolders, sorted (each may be a trace set).
        subfolders: Vec<String>,
    },
}

/// Whether a file in a trace folder is its documentation rather than a
/// trace: `README*`, `LICENSE*` (any case) or `*.md`. The recorded trace
/// sets ship such files beside the traces.
fn is_document(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("README") || upper.starts_with("LICENSE") || upper.ends_with(".MD")
}

/// The whole text of `path`.
///
/// # Errors
/// [`FileError::Io`] naming the path.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The chunk-size files of a ladder folder (Pensieve's `video_size_0` …
/// `video_size_N`, level 0 the lowest), as `(path, text)` in level order;
/// at most 64 levels are read.
///
/// # Errors
/// [`FileError::Io`] for an unreadable folder or file, or a folder with no
/// `video_size_N` file (reported as not found).
pub fn ladder_dir(dir: &Path) -> Result<Vec<(String, String)>, FileError> {
    let io = |source| FileError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut levels: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix("video_size_")?.parse::<u32>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    levels.sort();
    if levels.is_empty() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no video_size_N files (one chunk-size file per level)",
        )));
    }
    levels
        .into_iter()
        .take(64)
        .map(|(_, p)| Ok((p.display().to_string(), read_text(&p)?)))
        .collect()
}

/// One trace file, in any format of [`Trace::parse`].
///
/// # Errors
/// [`FileError`] naming the file (and the line for a malformed one).
pub fn trace_file(path: &Path) -> Result<Trace, FileError> {
    let text = read_text(path)?;
    Ok(Trace::parse(&path.to_string_lossy(), &text)?)
}

/// The trace files in a folder, sorted by name (hidden files, subfolders
/// and documents such as `README*`, `LICENSE*`, `*.md` skipped), or the
/// path itself when it is a file.
///
/// # Errors
/// [`FileError::Io`] for an unreadable folder; [`FileError::NoTraces`]
/// when it holds no trace file.
pub fn trace_file_paths(path: &Path) -> Result<Vec<PathBuf>, FileError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|source| FileError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .collect();
    let name = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut files: Vec<PathBuf> = entries
        .iter()
        .filter(|p| p.is_file() && !is_document(&name(p)))
        .cloned()
        .collect();
    if files.is_empty() {
        let mut subfolders: Vec<String> = entries.iter().filter(|p| p.is_dir()).map(name).collect();
        subfolders.sort();
        return Err(FileError::NoTraces {
            path: path.to_path_buf(),
            subfolders,
        });
    }
    files.sort();
    Ok(files)
}

/// Every trace file in a folder ([`trace_file_paths`]), or the file itself,
/// parsed.
///
/// # Errors
/// As [`trace_file`], for the folder or the first bad file;
/// [`FileError::NoTraces`] when the folder holds no trace file.
pub fn trace_path(path: &Path) -> Result<Vec<Trace>, FileError> {
    trace_file_paths(path)?
        .iter()
        .map(|f| trace_file(f))
        .collect()
}

/// [`trace_path`] over several files or folders, in order, shared.
///
/// # Errors
/// As [`trace_path`].
pub fn trace_paths(paths: &[PathBuf]) -> Result<Vec<Arc<Trace>>, FileError> {
    let mut out = Vec::new();
    for p in paths {
        out.extend(trace_path(p)?.into_iter().map(Arc::new));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vstack_core::input::{VideoSource, load_chunks};

    use super::*;

    fn shared(dir: &str) -> Option<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared")
            .join(dir);
        if root.exists() {
            Some(root)
        } else {
            eprintln!("skipping: {} not found", root.display());
            None
        }
    }

    #[test]
    fn errors_name_the_file() {
        let e = trace_file(Path::new("/nonexistent/trace"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/trace"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad");
        std::fs::write(&p, "0.0 1.0\n1.0 x\n").unwrap();
        let e = trace_path(dir.path()).unwrap_err().to_string();
        assert!(e.contains(&format!("{}:2:", p.display())), "{e}");
    }

    #[test]
    fn a_folder_skips_documents_and_names_its_subfolders_when_it_has_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lte")).unwrap();
        std::fs::create_dir(dir.path().join("3g")).unwrap();
        std::fs::write(dir.path().join("README.md"), "# traces\n").unwrap();
        std::fs::write(dir.path().join("LICENSE-x"), "MIT\n").unwrap();
        let e = trace_path(dir.path()).unwrap_err();
        assert!(
            matches!(&e, FileError::NoTraces { subfolders, .. } if subfolders == &["3g", "lte"]),
            "{e}"
        );
        assert!(
            e.to_string().ends_with("pass one of its folders: 3g, lte"),
            "{e}"
        );
        std::fs::write(dir.path().join("t1"), "0.0 1.0\n1.0 2.0\n").unwrap();
        assert_eq!(trace_path(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn reads_the_shared_traces() {
        let Some(root) = shared("traces") else { return };
        for (dir, lo, hi) in [
            ("hsdpa-3g", 0.1, 5.0),
            ("lte-4g", 5.0, 100.0),
            ("fcc", 1.0, 20.0),
            ("fcc-2col", 0.05, 5.0),
        ] {
            let traces = trace_path(&root.join(dir)).unwrap();
            assert!(!traces.is_empty(), "{dir}");
            for t in &traces {
                let m = t.mean_bandwidth_mbps();
                assert!(m > lo && m < hi, "{dir}/{}: mean {m} Mbit/s", t.name);
            }
        }
    }

    #[test]
    fn real_videos() {
        let Some(root) = shared("videos") else { return };
        let s = Duration::from_secs;
        let sabre = |level| VideoSource::Sabre {
            origin: "bbb.json".into(),
            text: read_text(&root.join("bbb.json")).unwrap(),
            level,
        };
        let bbb = load_chunks(&sabre(9), s(10)).unwrap();
        assert_eq!(bbb.len(), 50, "199 × 3 s regrouped into 12 s chunks");
        let total_s: f64 = bbb.iter().map(|c| c.0.as_secs_f64()).sum();
        assert_eq!(total_s, 597.0);
        let mbps = bbb.iter().map(|c| c.1).sum::<u64>() as f64 * 8.0 / total_s / 1e6;
        assert!((mbps - 6.0).abs() < 1.0, "level 9 is ~6 Mbit/s: {mbps}");
        let env = load_chunks(
            &VideoSource::SizeFile {
                origin: "video_size_5".into(),
                text: read_text(&root.join("envivio/video_size_5")).unwrap(),
                segment: s(4),
            },
            s(10),
        )
        .unwrap();
        assert_eq!(env.len(), 17, "49 × 4 s into 12 s chunks");
        let e = load_chunks(&sabre(10), s(10)).unwrap_err().to_string();
        assert!(e.contains("level 10 out of range"), "{e}");
    }
}
