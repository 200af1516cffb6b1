#!/usr/bin/env bash
# Smoke run of scripts/soak (30 s): the simulator, mosquitto and the agent start, the CSV gets
# rows with plausible values and the PNG is written. The real soak (≥ 10 min) is run by hand:
# see docs/budget.md. Uses the debug binary `cargo test` already built (dependencies are
# optimised in the dev profile), so this step costs no release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --bin chocoline
python3 -c "import matplotlib" 2>/dev/null || pip install -q -r scripts/requirements-soak.txt
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
scripts/soak --duration 30s --every 2 --warmup 6s --out "$out" --bin "$target/debug/chocoline"
python3 - "$out" <<'PY'
import csv, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = list(csv.DictReader(open(out / "soak.csv")))
assert len(rows) >= 10, f"only {len(rows)} rows"
last = rows[-1]
assert 1024 < int(last["rss_kib"]) < 1024 * 1024, last
assert 3 < int(last["fds"]) < 1000, last
assert int(last["samples_total"]) > 100, last
assert int(last["sled_kib"]) > 0, last
assert int(last["outbox_depth"]) >= 0, last
png = out / "soak.png"
assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "no PNG"
print(f"80-soak-smoke: {len(rows)} rows, last {dict(last)}")
PY
