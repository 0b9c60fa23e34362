#!/usr/bin/env bash
# The players' table (README, "hls.js beside it"): vstack's browser players
# and hls.js (each node alone, static pathways, vstack's content steering)
# in 6 scenarios × 3 runs, in Chromium, on the same nodes. Needs what
# scripts/test.sh builds (target/debug/vstack, target/site with hls.js in
# vendor/), the test video (`vstack media`) and ../shared/traces. Prints
# the table and writes end2end/artifacts/players-table.{json,md}. About
# 6 × (20 s + 3 × 3 × 100 s) ≈ 92 minutes at the default 90 s window.
# VSTACK_PLAYERS_WINDOW_S (default 90), VSTACK_PLAYERS_RUNS (default 3) and
# VSTACK_PLAYERS_WARMUP_S (default 20) change the window, the runs and the
# warm-up; extra arguments go to Playwright (e.g. --grep killed).
set -euo pipefail
cd "$(dirname "$0")/.."
target/debug/vstack media --video-duration-s 120 >/dev/null
cd end2end
rm -f artifacts/players-table.partial.json
VSTACK_PLAYERS_TABLE=1 npx playwright test tests/players-table.spec.ts --reporter=list "$@"
