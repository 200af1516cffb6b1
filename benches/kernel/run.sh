#!/usr/bin/env bash
# Time the forest kernel before/after: benches/kernel/run.sh [OLD_REV] (default main; e.g. 7220afa,
# the last commit before the branch-free batch walk, or 3e38839, the last before the byte-offset
# walk). ROUNDS=n alternations (default 4).
# Needs python3 + onnx and rustc; benches/models/ (python3 benches/gen_bench_models.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
old=${1:-main}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$root/benches/kernel/forest_kernel.rs" "$work/main.rs"
cp "$root/benches/common/median.rs" "$work/median.rs"
# The kernel is src/infer/ops/forest/ (a folder since 2026-12-05; one file, forest.rs, before):
# each build gets its copy as forest_{new,old}/mod.rs and the files beside it.
mkdir -p "$work/forest_new" "$work/forest_old"
cp -r "$root/src/infer/ops/forest/." "$work/forest_new/"
if git -C "$root" cat-file -e "$old:src/infer/ops/forest.rs" 2>/dev/null; then
    git -C "$root" show "$old:src/infer/ops/forest.rs" > "$work/forest_old/mod.rs"
else
    git -C "$root" archive "$old" src/infer/ops/forest | tar -x -C "$work/forest_old" --strip-components=4
fi
cd "$work"
python3 "$root/benches/kernel/dump.py" "$root/"
export ROWS_CSV="$root/benches/models/rows.csv"
flags=(--edition 2024 -C opt-level=3 -C codegen-units=1 -C debuginfo=line-tables-only)
rustc "${flags[@]}" main.rs -o new
rustc "${flags[@]}" --cfg old main.rs -o old
./new dump > new.out
./old dump > old.out
cmp old.out new.out && echo "scores: working tree and $old agree bit for bit (4 forests x 1000 rows: the anchor and the committed tree models)"
uptime
# The dev VM's speed drifts by up to 1.7x over minutes (docs/infer.md): alternate the two builds
# for several rounds and compare the fastest round of each.
rounds=${ROUNDS:-4}
for mode in cpu cpuc cpu1 buildcpu; do
    for r in $(seq "$rounds"); do
        ./new "$mode" | sed "s/^/[$mode round $r] working tree: /"
        ./old "$mode" | sed "s/^/[$mode round $r] $old: /"
    done
done | tee rounds.out
echo "== fastest round of each (cpu mode: batch 1000 µs/row)"
for who in "working tree" "$old"; do
    grep -F "[cpu round" rounds.out | grep -F "] $who: " \
        | sed -E 's/.*CPU time: ([0-9.]+) .*/\1/' | sort -n | head -1 | sed "s/^/$who: /"
done
uptime
