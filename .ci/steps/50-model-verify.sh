#!/usr/bin/env bash
# The four committed models: every golden row (sklearn's own outputs) through chocoline's tract
# ops; `model verify` exits 1 on any difference above the manifest's tolerance.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --bin chocoline
"${CARGO_TARGET_DIR:-target}/debug/chocoline" model verify models/
