#!/usr/bin/env bash
# Quick start, command 1: set up whatever is missing, then serve the live
# dashboard at http://127.0.0.1:8888 with `cargo leptos watch` (rebuilds and
# reloads on every change). Extra arguments go to cargo leptos watch.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec cargo leptos watch "$@"
