#!/usr/bin/env bash
# Models: pytest suite of models/ and a full retraining that must reproduce the committed
# model.onnx / golden.csv / golden_features.jsonl byte for byte, and manifest.json exactly
# except for floats, which may differ by 1e-9 relative (see models/training/same.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

# The training data come from the simulator: build it (debug is fast enough).
cargo build --quiet --bin chocoline
export CHOCOLINE_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/chocoline"
export CHOCOLINE_INTEROP=1

cd models
# Every Python command below runs under coverage (parallel data files, combined and reported
# by 90-coverage.sh): each one checks its result (lock hash, tests, byte-identical retraining).
export COVERAGE_FILE="$root/models/.coverage"
rm -f "$root"/models/.coverage "$root"/models/.coverage.*
py=(python3 -m coverage run --parallel-mode --source=training)
echo "== models: generate the data set and check data/dataset.sha256"
"${py[@]}" -m training data

echo "== models: pytest"
"${py[@]}" -m pytest -q "$root/models"

echo "== models: retrain all four models and compare with the committed files"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${py[@]}" -m training train --all --out "$tmp"
status=0
for m in quality yield bloom anomaly; do
  for f in model.onnx manifest.json golden.csv; do
    want=$(sha256sum "$m/$f" | cut -d' ' -f1)
    got=$(sha256sum "$tmp/$m/$f" | cut -d' ' -f1)
    if [ "$want" = "$got" ]; then
      echo "ok   $m/$f $got"
    elif [ "$f" = manifest.json ] && "${py[@]}" -m training same "$m/$f" "$tmp/$m/$f"; then
      # Drift-reference floats may differ in their last bits between CPUs (numpy picks its
      # SIMD kernels at run time): training/same.py says why and what must still match.
      echo "ok   $m/$f agrees (floats to 1e-9), bytes differ: retrained $got"
    else
      echo "DIFF $m/$f committed $want retrained $got" >&2
      status=1
    fi
  done
done
if ! cmp -s golden_features.jsonl "$tmp/golden_features.jsonl"; then
  echo "DIFF golden_features.jsonl" >&2
  status=1
fi
exit $status
