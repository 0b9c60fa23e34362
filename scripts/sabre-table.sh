#!/usr/bin/env bash
# vstack's Sabre model beside sabre.py on the whole table: every trace of
# shared/traces/fcc and hsdpa-3g (40) x bola, bolae, throughput, dynamic with
# shared/videos/bbb.json. Prints every cell (both figures and the
# difference) and both tools' wall time on this machine; the JSON lands in
# target/sabre-table.json. Needs python3 and ../shared (SHARED=... to point
# elsewhere).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
cd "$ROOT"
cargo build --quiet --locked -p server --bin vstack
exec "$ROOT/target/debug/vstack" bench --only sabre --shared "$SHARED" \
  --output "$ROOT/target/sabre-table.json"
