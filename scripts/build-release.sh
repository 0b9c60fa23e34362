#!/usr/bin/env bash
# Builds the one-file deploy: cargo leptos build --release builds the
# optimised site (WASM through wasm-opt, CSS) and then the server binary with
# that site embedded (bin-features = ["embed-site"] in Cargo.toml). Prints the
# binary's path and size.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
# --split: every tab but the Overview is its own WASM chunk (the lazy routes
# need it); --precompress: brotli and gzip siblings the server sends as they are.
cargo leptos build --release --split --precompress
bin="$ROOT/target/server-release/vstack"
echo "one-file build: $bin ($(du -h "$bin" | cut -f1)); run it anywhere: $bin serve --public"
