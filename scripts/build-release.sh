#!/usr/bin/env bash
# Builds the one-file deploy: the optimised site (WASM through wasm-opt, CSS,
# brotli and gzip siblings), then the server binary with that site embedded
# (bin-features = ["embed-site"] in Cargo.toml). Prints the binary's path and
# size.
#
# Run again with nothing changed, it takes seconds: the site is rebuilt only
# when what it is built from changed (the UI and core sources, styles,
# public assets, Cargo.toml/Cargo.lock and the tools' versions, hashed into
# target/front-inputs.sha256). cargo-leptos itself regenerates the site every
# time, and its output is not byte-identical from run to run (the split
# manifest's order, gzip timestamps), so a regenerated site would make cargo
# re-embed it and rebuild the server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
key_file="$ROOT/target/front-inputs.sha256"

# One hash over the front end's inputs; empty outside a git checkout (then
# the site is always rebuilt).
front_inputs() {
  git rev-parse --is-inside-work-tree >/dev/null 2>&1 || return 0
  {
    cargo leptos --version
    wasm-bindgen --version
    wasm-opt --version
    { git ls-files -co --exclude-standard -- app frontend server/core style Cargo.toml Cargo.lock
      find public -type f; } | sort -u | while read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done |
      xargs -d '\n' sha256sum
  } | sha256sum | cut -d' ' -f1
}

key="$(front_inputs)"
if [ -n "$key" ] && [ -f "$key_file" ] && [ "$(cat "$key_file")" = "$key" ] &&
  [ -f "$ROOT/target/site/pkg/vstack.wasm" ]; then
  echo "site: its inputs are unchanged since the last build; not rebuilt"
else
  rm -f "$key_file"
  # --split: every tab but the Overview is its own WASM chunk (the lazy
  # routes need it); --precompress: brotli and gzip siblings the server
  # sends as they are.
  cargo leptos build --release --frontend-only --split --precompress
  [ -z "$key" ] || printf '%s\n' "$key" > "$key_file"
fi
cargo leptos build --release --server-only
bin="$ROOT/target/server-release/vstack"
echo "one-file build: $bin ($(du -h "$bin" | cut -f1)); run it anywhere: $bin serve --public"
