//! The house rules of ARCHITECTURE.md, checked against the code: every
//! `crate::<module>` path in `server/src` is read (comments left out) and
//! held to the layer table below, and no command under `cli/` reaches into
//! another command. Beside it, `scripts/test.sh` checks with `cargo tree`
//! that the core depends on no runtime, web or I/O crate, and Cargo itself
//! keeps the UI crate from depending on the server. Two more rules are
//! read from the source: outside `web/`, no server file names the UI crate
//! (`app::`) or leptos (the types the server, the CLI and the browser share
//! live in `vstack_core::wire`), and the core names no clock, file, socket,
//! thread or process (it is sans-IO: time comes in as `now`).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

/// The server crate's top-level modules in layers, top to bottom: a module
/// may use its own layer and those below, never one above. ARCHITECTURE.md
/// states the same list (checked by
/// [`the_documented_layers_are_the_checked_ones`]).
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["web"],
    &["hub"],
    &["demo"],
    &["runs"],
    &["tools"],
    &["history"],
    &["client", "cluster", "steer"],
    &["http", "files", "sync"],
];

/// The modules `m` may not use: those in layers above its own; `None` for a
/// module in no layer.
fn forbidden_for(m: &str) -> Option<Vec<&'static str>> {
    let layer = LAYERS.iter().position(|l| l.contains(&m))?;
    Some(
        LAYERS[..layer]
            .iter()
            .flat_map(|l| l.iter().copied())
            .collect(),
    )
}

/// The commands (files of `cli/` other than `mod.rs`).
const COMMANDS: &[&str] = &[
    "serve", "sim", "play", "metadata", "node", "cluster", "ingest", "media", "compare", "bench",
    "chaos", "demo",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The file's code without comments (`//` to the end of the line; doc
/// comments name modules freely).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file under `src/` belongs to (`cluster` for
/// `cluster/storage.rs`, `files` for `files.rs`); `None` for `lib.rs` and
/// `main.rs`.
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let m = first.trim_end_matches(".rs").to_string();
    (!matches!(m.as_str(), "lib" | "main")).then_some(m)
}

/// Every module named as `crate::<m>` in `text`, including inside
/// `use crate::{a::…, b::…}` groups.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::x, b, c::{y, z}}`: the first segment of each item.
            let mut depth = 0;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphabetic() || c == '_') => {
                        out.insert(ident(&group[j..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

fn files() -> Vec<(String, PathBuf)> {
    let root = src();
    let mut v = Vec::new();
    rust_files(&root, &mut v);
    v.sort();
    v.into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, p)
        })
        .collect()
}

#[test]
fn no_module_uses_one_above_its_layer() {
    let mut broken = Vec::new();
    for (rel, path) in files() {
        let Some(m) = module_of(Path::new(&rel)) else {
            continue;
        };
        let forbidden = forbidden_for(&m).unwrap_or_else(|| {
            panic!("{rel}: module {m} is in no layer (add it to LAYERS and ARCHITECTURE.md)")
        });
        for used in crate_paths(&code(&path)) {
            if forbidden.contains(&used.as_str()) {
                broken.push(format!("{rel} uses crate::{used} ({m} may not)"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_command_reaches_into_another() {
    let mut broken = Vec::new();
    for (rel, path) in files() {
        let Some(own) = rel
            .strip_prefix("cli/")
            .and_then(|f| f.strip_suffix(".rs"))
            .filter(|f| *f != "mod")
        else {
            continue;
        };
        let text = code(&path);
        for other in COMMANDS.iter().filter(|c| **c != own) {
            for path in [
                format!("super::{other}::"),
                format!("crate::cli::{other}::"),
            ] {
                if text.contains(&path) {
                    broken.push(format!("cli/{own}.rs uses {path}"));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "a command uses another (shared arguments live in cli/mod.rs):\n{}",
        broken.join("\n")
    );
}

/// Whether `text` names `prefix` as a path's first segment (not the end of
/// another name, as in `my_app::`).
fn names_path(text: &str, prefix: &str) -> bool {
    text.match_indices(prefix).any(|(i, _)| {
        i == 0 || !text[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[test]
fn only_web_names_the_ui_crate_and_leptos() {
    let naming: Vec<_> = files()
        .into_iter()
        .filter(|(rel, _)| !rel.starts_with("web/"))
        .filter(|(_, path)| {
            let text = code(path);
            [
                "app::",
                "leptos::",
                "leptos_axum::",
                "leptos_meta::",
                "leptos_router::",
            ]
            .iter()
            .any(|p| names_path(&text, p))
        })
        .map(|(rel, _)| rel)
        .collect();
    assert!(
        naming.is_empty(),
        "outside web/ these files name the UI crate or leptos: {naming:?} (shared types belong in vstack_core::wire)"
    );
}

#[test]
fn the_core_names_no_clock_file_socket_or_thread() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("core/src");
    let mut v = Vec::new();
    rust_files(&root, &mut v);
    let impure = [
        "std::fs",
        "std::net",
        "std::thread",
        "std::process",
        "std::env",
        "SystemTime::now",
        "Instant::now",
    ];
    let mut broken = Vec::new();
    for path in v {
        let text = code(&path);
        for p in impure.iter().filter(|p| names_path(&text, p)) {
            broken.push(format!("{} names {p}", path.display()));
        }
    }
    assert!(
        broken.is_empty(),
        "the core is sans-IO (time comes in as `now`):\n{}",
        broken.join("\n")
    );
}

fn architecture_md() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md"))
        .unwrap()
}

#[test]
fn the_documented_layers_are_the_checked_ones() {
    let doc = architecture_md();
    let line = doc
        .lines()
        .find_map(|l| l.strip_prefix("Layers, top to bottom: "))
        .expect("ARCHITECTURE.md states the layers on one line starting 'Layers, top to bottom: '");
    let documented: Vec<Vec<String>> = line
        .trim_end_matches('.')
        .split(';')
        .map(|group| {
            group
                .split(',')
                .map(|m| m.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect();
    let checked: Vec<Vec<String>> = LAYERS
        .iter()
        .map(|l| l.iter().map(|m| m.to_string()).collect())
        .collect();
    assert_eq!(documented, checked, "ARCHITECTURE.md and LAYERS disagree");
}

#[test]
fn every_path_the_architecture_names_exists() {
    // Backticked paths (with a slash, no spaces): from the repository root,
    // or inside the folder of the section they are in (`### `server/core/``
    // makes `engine/` mean `server/core/src/engine/`). A renamed or removed
    // folder or file fails here until the document follows.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut base = root.clone();
    let mut missing = Vec::new();
    for line in architecture_md().lines() {
        let spans: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
        if line.starts_with("### ") {
            base = spans.first().map_or(root.clone(), |b| root.join(b));
        }
        for part in spans {
            let looks_like_path = part.contains('/')
                && !part.contains(' ')
                && !part.contains("::")
                && !part.starts_with('/')
                && !part.contains('{');
            let found = [
                root.join(part),
                base.join(part),
                base.join("src").join(part),
            ]
            .iter()
            .any(|p| p.exists());
            if looks_like_path && !found {
                missing.push(part.to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}

#[test]
fn every_server_module_is_in_a_layer() {
    for (rel, _) in files() {
        if let Some(m) = module_of(Path::new(&rel)) {
            assert!(forbidden_for(&m).is_some(), "{rel}: {m} is in no layer");
        }
    }
}

#[test]
fn the_path_reader_sees_groups_and_plain_paths() {
    let t = "use crate::{cluster::auth, http::{ApiError, x}, sync::LockExt};\nlet a = crate::web::app(s);";
    let got: Vec<_> = crate_paths(t).into_iter().collect();
    assert_eq!(got, ["cluster", "http", "sync", "web"]);
}
