#!/usr/bin/env bash
# Quick start, command 2: set up whatever is missing, then run every check:
# formatting, clippy for the server and the WASM build, the Rust tests, a release
# build of the site (split, precompressed) and a debug server, and the browser
# tests in headless Chromium (directly, then the one-file binary behind Caddy
# with TLS). Ends with one summary line
# "tests: N passed, M failed". Screenshots land in end2end/artifacts/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
# Incremental caches only help a rebuild; a clean run would write ~3 GB of
# them. Export CARGO_INCREMENTAL=1 to keep them between local runs.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
logs="$ROOT/target/test-logs"
mkdir -p "$logs"
# A clean run writes about 6 GB under target/; one CI run failed when its
# disk filled (the linker died with a bus error). Say up front how much is
# free, so such a failure reads as what it is.
free_mb=$(( $(df -Pk "$ROOT/target" | awk 'NR==2 {print $4}') / 1024 ))
echo "disk: $free_mb MB free where target/ lives (a clean run needs about 6,000)"
if [ "$free_mb" -lt 8192 ]; then
  echo "disk: WARNING: under 8 GB free; the build may fail for want of space" >&2
fi

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "the core stays pure (no runtime, web or I/O crates)"
forbidden='^(tokio|axum|hyper|reqwest|leptos|leptos_axum|tower|tower-http|mio|socket2) '
if cargo tree -p vstack-core -e normal --prefix none --locked | grep -E "$forbidden"; then
  echo "vstack-core depends on the crates above; see ARCHITECTURE.md" >&2
  exit 1
fi

step "clippy: server build (host)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "clippy: WASM build (hydrate)"
cargo clippy -p frontend -p app --target wasm32-unknown-unknown --locked -- -D warnings

step "Rust tests (cargo nextest, four at a time across binaries; .config/nextest.toml)"
# Tests that need promtool or prometheus fail instead of skipping when it is
# missing (setup installs both).
export VSTACK_REQUIRE_TOOLS=1
rust_status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast 2>&1 | tee "$logs/cargo-test.log" || rust_status=$?
  # "Summary [ 138.182s] 269 tests run: 269 passed (1 slow), 0 skipped"
  summary="$(grep -E '^ *Summary \[' "$logs/cargo-test.log" | tail -1 || true)"
  rust_run=$(sed -nE 's/.* ([0-9]+) tests? run: .*/\1/p' <<<"$summary")
  rust_passed=$(sed -nE 's/.* tests? run: ([0-9]+) passed.*/\1/p' <<<"$summary")
  rust_passed=${rust_passed:-0}
  rust_failed=$(( ${rust_run:-0} - rust_passed ))
else
  # Without cargo-nextest: the same tests, one binary after another.
  cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$logs/cargo-test.log" || rust_status=$?
  rust_passed=$(awk '/^test result:/ {for (i=1;i<=NF;i++) if ($i ~ /^passed;?$/) s+=$(i-1)} END {print s+0}' "$logs/cargo-test.log")
  rust_failed=$(awk '/^test result:/ {for (i=1;i<=NF;i++) if ($i ~ /^failed;?$/) s+=$(i-1)} END {print s+0}' "$logs/cargo-test.log")
fi
# A build that failed ran no test: count it as a failure, never as 0 of 0.
if [ "$rust_status" != 0 ] && [ "$rust_failed" = 0 ]; then rust_failed=1; fi

step "cargo leptos build: the release front-end (WASM split by route, brotli and gzip siblings), then the server"
# The browser suite runs on what users download; the first-load test measures it.
cargo leptos build --release --frontend-only --split --precompress
cargo leptos build --server-only
export VSTACK_REQUIRE_RELEASE_SITE=1

step "test-video-001's media: the test pattern the browser suite's servers play (encoded once, cached)"
"$ROOT/target/debug/vstack" media --video-duration-s 120

step "browser tests (Playwright + Debian chromium)"
mkdir -p "$ROOT/end2end/artifacts"
e2e_status=0
(cd "$ROOT/end2end" && PLAYWRIGHT_JSON_OUTPUT_NAME="artifacts/results.json" \
  npx playwright test --reporter=list,json) || e2e_status=$?

step "the one-file binary (site embedded) through Caddy with TLS: the browser suite again"
# A copy run from another folder with no --site-root: it must carry the site.
onefile="$ROOT/target/e2e-onefile/vstack"
mkdir -p "$(dirname "$onefile")"
cp "$ROOT/target/debug/vstack" "$onefile"
(cd "$ROOT/end2end" && VSTACK_E2E_PROXY=caddy VSTACK_BIN="$onefile" VSTACK_SITE_ROOT= \
  PLAYWRIGHT_JSON_OUTPUT_NAME="artifacts/results-proxy.json" \
  npx playwright test --reporter=list,json) || e2e_status=$?

read -r e2e_passed e2e_failed < <(node -e '
  let p = 0, f = 0;
  for (const file of process.argv.slice(1)) {
    try {
      const r = require(file);
      p += r.stats.expected || 0;
      f += (r.stats.unexpected || 0) + (r.stats.flaky || 0);
    } catch { f += 1; }
  }
  console.log(p + " " + f);
' "$ROOT/end2end/artifacts/results.json" "$ROOT/end2end/artifacts/results-proxy.json" 2>/dev/null || echo "0 1")

# Name every browser test that failed, with its error's first lines, here
# at the end: CI keeps only the tail of this log, and one failure in the
# direct pass once scrolled out of it unnamed.
node -e '
  const walk = (s, pass) => {
    for (const spec of s.specs || []) for (const t of spec.tests || []) {
      if (t.status === "expected" || t.status === "skipped") continue;
      const r = (t.results || []).at(-1) || {};
      const msg = ((r.error && r.error.message) || r.status || t.status)
        .replace(/\x1b\[[0-9;]*m/g, "").split("\n").filter((l) => l.trim()).slice(0, 3).join(" / ");
      console.log(`FAILED (${pass}) ${spec.file}:${spec.line} ${spec.title}: ${msg.trim().slice(0, 300)}`);
    }
    for (const c of s.suites || []) walk(c, pass);
  };
  const passes = [["direct", process.argv[1]], ["through Caddy", process.argv[2]]];
  for (const [pass, file] of passes) {
    try { for (const s of require(file).suites || []) walk(s, pass); }
    catch { console.log(`FAILED (${pass}) no results in ${file}`); }
  }
' "$ROOT/end2end/artifacts/results.json" "$ROOT/end2end/artifacts/results-proxy.json" || true

# Disk: a clean run once filled its machine's disk while building (14 GB of
# target/ then; about 5 GB since debug builds carry no debuginfo). Fail when
# it grows past 8 GB (VSTACK_TARGET_MAX_MB), so a regression shows here
# before a CI machine runs out.
target_mb=$(( $(du -sk "$ROOT/target" | cut -f1) / 1024 ))
target_max_mb="${VSTACK_TARGET_MAX_MB:-8192}"
disk_status=0
echo
if [ "$target_mb" -gt "$target_max_mb" ]; then
  echo "disk: target/ holds $target_mb MB, over its bar of $target_max_mb MB" >&2
  disk_status=1
else
  echo "disk: target/ holds $target_mb MB (bar $target_max_mb MB)"
fi
echo "rust: $rust_passed passed, $rust_failed failed"
echo "browser: $e2e_passed passed, $e2e_failed failed (screenshots in end2end/artifacts/)"
echo "tests: $((rust_passed + e2e_passed)) passed, $((rust_failed + e2e_failed)) failed"
[ "$e2e_status" = 0 ] && [ "$rust_status" = 0 ] && [ "$rust_failed" = 0 ] && [ "$disk_status" = 0 ]
