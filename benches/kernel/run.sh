#!/usr/bin/env bash
# Time the forest kernel before/after: benches/kernel/run.sh [OLD_REV] (default main; e.g. 7220afa,
# the last commit before the branch-free batch walk).
# Needs python3 + onnx and rustc; benches/models/ (python3 benches/gen_bench_models.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
old=${1:-main}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$root/benches/kernel/forest_kernel.rs" "$work/main.rs"
cp "$root/src/infer/ops/forest.rs" "$work/forest_new.rs"
cp "$root/benches/common/median.rs" "$work/median.rs"
git -C "$root" show "$old:src/infer/ops/forest.rs" > "$work/forest_old.rs"
cd "$work"
python3 "$root/benches/kernel/dump.py" "$root/"
export ROWS_CSV="$root/benches/models/rows.csv"
flags=(--edition 2024 -C opt-level=3 -C codegen-units=1 -C debuginfo=line-tables-only)
rustc "${flags[@]}" main.rs -o new
rustc "${flags[@]}" --cfg old main.rs -o old
./new dump > new.out
./old dump > old.out
cmp old.out new.out && echo "scores: working tree and $old agree bit for bit (5 forests x 1000 rows)"
uptime
for mode in cpu cpu1 buildcpu; do
    echo "== $mode: working tree"; ./new "$mode"
    echo "== $mode: $old"; ./old "$mode"
done
uptime
