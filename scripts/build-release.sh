#!/usr/bin/env bash
# Builds the one-file deploy: the optimised site (WASM through wasm-opt, CSS,
# brotli and gzip siblings), then the server binary with that site embedded
# (bin-features = ["embed-site"] in Cargo.toml). Prints the binary's path and
# size.
#
# Run twice with nothing changed, the second run takes seconds: cargo-leptos
# rewrites the site's files even when their bytes are the same, and the new
# timestamps alone would make cargo rebuild the server that embeds them. So
# every file whose bytes did not change gets its old timestamp back before
# the server is built.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
site="$ROOT/target/site"
stamps="$ROOT/target/site-stamps.tsv"
# path, sha256 and mtime of every file of the site as it is now.
snapshot() {
  [ -d "$site" ] || return 0
  (cd "$site" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) |
    while read -r sum path; do
      printf '%s\t%s\t%s\n' "$path" "$sum" "$(stat -c %Y "$site/$path")"
    done
}
snapshot > "$stamps"
# --split: every tab but the Overview is its own WASM chunk (the lazy routes
# need it); --precompress: brotli and gzip siblings the server sends as they are.
cargo leptos build --release --frontend-only --split --precompress
# Files with the same bytes as before get their old mtime back.
while IFS=$'\t' read -r path sum mtime; do
  f="$site/$path"
  [ -f "$f" ] || continue
  if [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$sum" ]; then
    touch -d "@$mtime" "$f"
  fi
done < "$stamps"
cargo leptos build --release --server-only
bin="$ROOT/target/server-release/vstack"
echo "one-file build: $bin ($(du -h "$bin" | cut -f1)); run it anywhere: $bin serve --public"
