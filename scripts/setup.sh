#!/usr/bin/env bash
# Installs whatever vstack's build and tests need and is missing or at the wrong
# version; skips everything already in place, so a warm machine passes in seconds.
#
#   - rustup components clippy, rustfmt and the wasm32-unknown-unknown target
#   - cargo-leptos 0.3.10 (--locked --features no_downloads: it never downloads
#     tools itself and uses the ones on PATH)
#   - wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock
#   - the npm packages of end2end/package-lock.json (npm ci): Playwright (no
#     browser download), ECharts, binaryen's wasm-opt
#   - ECharts bundled with only the charts the dashboard draws
#     (end2end/echarts-entry.js, esbuild from npm) into public/vendor/, with
#     brotli and gzip siblings; hls.js (the Watch tab's peer player) copied
#     there from npm the same way
#   - Debian chromium for the browser tests, Debian ffmpeg for the HLS ingest
#     tests (it encodes a real video to ingest), Debian caddy and openssl for
#     the browser suite through a TLS reverse proxy (openssl also signs the
#     cluster's test certificates), Debian nginx (the deploy config is checked
#     with `nginx -t`), Debian prometheus (and its promtool) for the metrics
#     tests
#
# Source it (`. scripts/setup.sh`) or run it; either way it exports PATH with
# ~/.cargo/bin and end2end/node_modules/.bin (wasm-opt) in front.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_LEPTOS_VERSION="0.3.10"
export PATH="$HOME/.cargo/bin:$ROOT/end2end/node_modules/.bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

say() { printf '[setup] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root for: $*"; return 1; fi
}

# --- Rust toolchain pieces -------------------------------------------------
installed_components="$(rustup component list --installed 2>/dev/null || true)"
for comp in clippy rustfmt; do
  if ! grep -q "^$comp" <<<"$installed_components"; then
    say "adding rustup component $comp"; rustup component add "$comp"
  fi
done
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding target wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown
fi

# The npm packages, the ECharts bundle and the Debian packages are mostly
# download and unpack time; the two cargo installs below are compile time.
# On a fresh machine they overlap: this part runs in the background, its
# output held in a log that is printed when it ends, and a failure there
# fails the setup.
# Writes FILE.br (brotli, quality 11) and FILE.gz (gzip -9) beside FILE, for
# browsers that accept them.
compressed_siblings() {
  node -e '
    const fs = require("fs"), zlib = require("zlib");
    const f = process.argv[1], data = fs.readFileSync(f);
    fs.writeFileSync(f + ".br", zlib.brotliCompressSync(data, { params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length } }));
    fs.writeFileSync(f + ".gz", zlib.gzipSync(data, { level: 9 }));
  ' "$1"
}

system_and_npm() {
  # --- npm packages --------------------------------------------------------------
  stamp="$ROOT/end2end/node_modules/.vstack-lock.sha256"
  want_stamp="$(sha256sum "$ROOT/end2end/package-lock.json" | awk '{print $1}')"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_stamp" ]; then
    say "installing npm packages (npm ci in end2end/)"
    (cd "$ROOT/end2end" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want_stamp" >"$stamp"
  fi

  # --- ECharts where the page loads it: a build of only what the dashboard
  # --- draws (end2end/echarts-entry.js, bundled by esbuild), with brotli and gzip
  # --- siblings the server sends to browsers that accept them -------------------
  entry="$ROOT/end2end/echarts-entry.js"
  dst="$ROOT/public/vendor/echarts.min.js"
  want_echarts="$(cat "$entry" "$ROOT/end2end/package-lock.json" | sha256sum | awk '{print $1}')"
  echarts_stamp="$ROOT/public/vendor/.echarts-build.sha256"
  if [ ! -f "$dst.br" ] || [ "$(cat "$echarts_stamp" 2>/dev/null)" != "$want_echarts" ]; then
    say "bundling ECharts (only the charts and components used) into public/vendor/"
    mkdir -p "$(dirname "$dst")"
    (cd "$ROOT/end2end" && npx esbuild echarts-entry.js --bundle --minify --format=iife \
      --target=es2020 --legal-comments=none --log-level=warning --outfile="$dst")
    compressed_siblings "$dst"
    echo "$want_echarts" >"$echarts_stamp"
  fi

  # --- hls.js, the Watch tab's peer player, as npm ships it (pinned in
  # --- end2end/package.json), with brotli and gzip siblings; loaded on first use
  hls_src="$ROOT/end2end/node_modules/hls.js/dist/hls.min.js"
  hls_dst="$ROOT/public/vendor/hls.min.js"
  if [ ! -f "$hls_dst.br" ] || ! cmp -s "$hls_src" "$hls_dst"; then
    say "copying hls.js into public/vendor/"
    mkdir -p "$(dirname "$hls_dst")"
    cp "$hls_src" "$hls_dst"
    compressed_siblings "$hls_dst"
  fi

  # --- Chromium (browser tests), ffmpeg (HLS ingest tests), Caddy (the browser
  # --- suite through a TLS reverse proxy), openssl (its test certificate) and
  # --- python3 (sabre.py, run beside vstack's Sabre model) -------------------
  missing=()
  command -v python3 >/dev/null || missing+=(python3)
  command -v chromium >/dev/null || missing+=(chromium)
  command -v ffmpeg >/dev/null || missing+=(ffmpeg)
  command -v caddy >/dev/null || missing+=(caddy)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v nginx >/dev/null || missing+=(nginx)

  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # Prometheus and its promtool (metrics tests); without recommends, which
  # would add the node exporter.
  if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    say "installing Debian prometheus"
    [ ${#missing[@]} -gt 0 ] || as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
}
bg_log="$(mktemp)"
system_and_npm >"$bg_log" 2>&1 &
bg_pid=$!

# Called in an `||` list, where errexit is off: each step returns its failure.
rust_tools() {
  # The crates the two tools spend their running time in stay optimised.
  local optimised_crates=()
  local crate
  for crate in brotli brotli-decompressor alloc-no-stdlib alloc-stdlib walrus wasmparser \
    wasm-bindgen-cli-support; do
    optimised_crates+=(--config "profile.release.package.$crate.opt-level=3")
  done
  # --- cargo-leptos ------------------------------------------------------------
  have_leptos="$(cargo leptos --version 2>/dev/null | awk '{print $2}' || true)"
  if [ "$have_leptos" != "$CARGO_LEPTOS_VERSION" ]; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (found: ${have_leptos:-none}; ~7 min on 2 cores)"
    # Its release profile asks for fat LTO, one codegen unit and full
    # optimisation of its ~550 dependencies: 15.8 min cold on 2 cores, and
    # turning off LTO alone saved nothing. The install builds without
    # optimisation instead (7.4 min cold, with the registry download), except
    # for the crates doing its heavy work at build time (brotli for
    # --precompress, walrus for --split). A release build of the site then takes ~7 s longer
    # (1 min 41 s against 1 min 34 s).
    CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false \
      CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
      cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads --force \
        "${optimised_crates[@]}" || return
  fi

  # --- wasm-bindgen CLI at the Cargo.lock version -------------------------------
  want_wb="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' "$ROOT/Cargo.lock")"
  have_wb="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  if [ -z "$want_wb" ]; then say "no wasm-bindgen in Cargo.lock"; return 1; fi
  if [ "$have_wb" != "$want_wb" ]; then
    say "installing wasm-bindgen-cli $want_wb (found: ${have_wb:-none})"
    # Not --locked: the CLI's own lockfile names a crate version the registry
    # lacks. Unoptimised but for walrus and wasmparser, as above: 1.7 min
    # cold instead of 2.7, and ~10 s more per release build of the site.
    CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false \
      CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
      cargo install wasm-bindgen-cli --version "$want_wb" --force "${optimised_crates[@]}" || return
  fi
}
rust_status=0
rust_tools || rust_status=$?

# --- wait for the background part ------------------------------------------------
bg_status=0
wait "$bg_pid" || bg_status=$?
cat "$bg_log"; rm -f "$bg_log"
if [ "$rust_status" != 0 ]; then say "installing the Rust tools failed (exit $rust_status)"; exit "$rust_status"; fi
if [ "$bg_status" != 0 ]; then say "npm or Debian packages failed (exit $bg_status)"; exit "$bg_status"; fi

say "ready: cargo-leptos $(cargo leptos --version | awk '{print $2}'), wasm-bindgen $(wasm-bindgen --version | awk '{print $2}'), wasm-opt $(wasm-opt --version | awk '{print $3}'), $(chromium --version 2>/dev/null | head -1), $(ffmpeg -version 2>/dev/null | head -1 | awk '{print $1, $3}'), caddy $(caddy version 2>/dev/null | awk '{print $1}'), prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}')"
