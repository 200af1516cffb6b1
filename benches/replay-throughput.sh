#!/usr/bin/env bash
# Release replay throughput on one core (issue #6 target: >= 50,000 samples/s).
#
#   benches/replay-throughput.sh [HOURS] [SEED]     (defaults: 24 h, seed 7)
#
# Builds the release binary, exports HOURS of the `normal` scenario at 1 s from the
# simulator (cached under $TMPDIR/chocoline-replay-bench), then runs `chocoline replay`
# pinned to CPU 0 with `taskset -c 0` (when available) and prints samples/s and the ratio
# to the target. The figure includes CSV parsing and writing every prediction, drift
# window and alert as JSONL (what `replay` does), not the simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
hours=${1:-24}
seed=${2:-7}
target=50000
cargo build --release --quiet --bin chocoline
bin="${CARGO_TARGET_DIR:-target}/release/chocoline"
work="${TMPDIR:-/tmp}/chocoline-replay-bench"
csv="$work/normal-s$seed-${hours}h"
if [ ! -f "$csv/samples.csv" ]; then
  "$bin" simulate --export-csv "$csv" --scenario normal --seed "$seed" \
    --duration "${hours}h" --interval 1s >/dev/null
fi
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c 0); fi
line=$("${pin[@]}" "$bin" replay --config config/demo.toml --input "$csv/samples.csv" \
  --output "$work/out" 2>/dev/null | tail -1)
echo "$line"
rate=$(echo "$line" | sed -n 's/.*: \([0-9]*\) samples\/s.*/\1/p')
awk -v r="$rate" -v t="$target" 'BEGIN { printf "replay throughput %d samples/s on one core; target %d; ratio %.2f\n", r, t, r / t }'
