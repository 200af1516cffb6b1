#!/usr/bin/env bash
# Alerts scored as events (issue #17): `chocoline evaluate` on a small set of seeds nobody
# tuned on, compared with the committed figures in docs/evaluation-ci.json — the step fails
# when any figure is worse (lower recall or precision, a later p95 detection delay, more false
# alerts per day of normal running, an inference failure). After an intended change, refresh
# the file with the command below and say why in the commit.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --bin chocoline
bin="${CARGO_TARGET_DIR:-target}/debug/chocoline"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bin" evaluate --config config/demo.toml --seeds 9001..9001 --days 0.5 --json \
    --baseline docs/evaluation-ci.json > "$out"
grep -o '"normal_false_per_day": [0-9.]*' "$out"
