#!/usr/bin/env bash
# The Watch tab's measurement table (README, "Watch it play"): both browser
# players and the headless twins in 4 scenarios × 3 runs, in Chromium.
# Needs what scripts/test.sh builds (target/debug/vstack, target/site) and
# the test video (`vstack media`). Prints the table and writes
# end2end/artifacts/watch-table.{json,md}. About 15 minutes.
# VSTACK_WATCH_WINDOW_S (default 60) and VSTACK_WATCH_RUNS (default 3) change
# the window and the number of runs.
set -euo pipefail
cd "$(dirname "$0")/.."
target/debug/vstack media --video-duration-s 120 >/dev/null
cd end2end
VSTACK_WATCH_TABLE=1 npx playwright test tests/watch-table.spec.ts --reporter=list
