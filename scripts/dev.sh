#!/usr/bin/env bash
# Quick start, command 1: set up whatever is missing, then serve the live
# dashboard at http://127.0.0.1:8888 with `cargo leptos watch` (rebuilds and
# reloads on every change). Extra arguments go to cargo leptos watch.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
# History (samples, alerts, runs) and the cluster's chunks persist across restarts.
export VSTACK_DATA_DIR="${VSTACK_DATA_DIR:-$ROOT/target/dev-data}"
exec cargo leptos watch --split "$@"
