#!/usr/bin/env bash
# Coverage (issue #9): line coverage of the Rust crate and of models/training, printed with
# the per-file tables; exits non-zero when either total is below CHOCOLINE_COVERAGE_MIN (90).
#
# Rust: `cargo llvm-cov` runs the whole suite (CHOCOLINE_INTEROP=1: mosquitto, socat and
# Python are mandatory) on an instrumented build. The integration tests spawn the instrumented
# `chocoline` binary (CARGO_BIN_EXE_chocoline); it inherits LLVM_PROFILE_FILE, so what the
# subcommands run counts too. Counted: src/ only. Not counted: tests/, benches/ (cargo-llvm-cov
# leaves them out by default) and the test-only files inside src/ (`tests.rs`, `*_tests.rs`,
# `tests_*.rs`, `config/testing.rs`): test code covering itself would only inflate the figure.
#
# Python: 40-models.sh runs data generation, pytest and the retraining check under
# `coverage run --parallel-mode`; this step combines and reports that data.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
min="${CHOCOLINE_COVERAGE_MIN:-90}"
ignore='(^|/)src/(.*/)?(tests|[a-z_]+_tests|tests_[a-z_]+|testing)\.rs$'

echo "== coverage: tools"
if ! rustup component list --installed 2>/dev/null | grep -q '^llvm-tools'; then
    rustup component add llvm-tools-preview
fi
if ! cargo llvm-cov --version >/dev/null 2>&1; then
    # No prebuilt download: CI reaches only the Rust package registry. About 2 min on 2 cores.
    cargo install cargo-llvm-cov --locked --version 0.9.1
fi
cargo llvm-cov --version

start=$(date +%s)
# cargo-llvm-cov builds in <target>/llvm-cov-target and instruments only this workspace's
# crates (through its rustc wrapper): the dependencies are the very artifacts of the plain
# debug build above. Seed them from there instead of compiling them all a second time; the
# chocoline fingerprints are left out so every workspace target is rebuilt instrumented.
target="${CARGO_TARGET_DIR:-$root/target}"
if [ -d "$target/debug/.fingerprint" ] && [ ! -d "$target/llvm-cov-target/debug" ]; then
    echo "== coverage: seeding $target/llvm-cov-target/debug with the plain build's dependencies"
    mkdir -p "$target/llvm-cov-target"
    cp -a "$target/debug" "$target/llvm-cov-target/debug"
    rm -rf "$target/llvm-cov-target/debug/incremental" \
        "$target/llvm-cov-target/debug/.fingerprint"/chocoline-*
fi
# CHOCOLINE_COVERAGE_RAN=1: .ci/run already ran the suite as `cargo llvm-cov --no-report`;
# only report its profiles here.
if [ "${CHOCOLINE_COVERAGE_RAN:-0}" != 1 ]; then
    echo "== coverage: CHOCOLINE_INTEROP=1 cargo llvm-cov (whole suite, instrumented)"
    CHOCOLINE_INTEROP=1 cargo llvm-cov --no-report
    echo "   tests under instrumentation took $(($(date +%s) - start)) s"
fi

echo "== coverage: Rust per file (lines)"
rust_status=0
cargo llvm-cov report --ignore-filename-regex "$ignore" --fail-under-lines "$min" \
    | tee "${TMPDIR:-/tmp}/chocoline-rust-coverage.txt" || rust_status=$?
rust_total=$(awk '/^TOTAL/ {print $10}' "${TMPDIR:-/tmp}/chocoline-rust-coverage.txt")

echo "== coverage: Python models/training (lines; data + pytest + retraining in 40-models.sh)"
py_status=0
export COVERAGE_FILE="$root/models/.coverage"
if ls "$root"/models/.coverage.* >/dev/null 2>&1; then
    python3 -m coverage combine --quiet
fi
if [ -f "$COVERAGE_FILE" ]; then
    py_report=$(python3 -m coverage report -m --fail-under="$min") || py_status=$?
    echo "$py_report"
    py_total=$(echo "$py_report" | awk '/^TOTAL/ {print $NF}')
else
    echo "no Python coverage data: 40-models.sh did not run under coverage" >&2
    py_status=1
    py_total="missing"
fi

echo "== coverage totals: Rust ${rust_total:-?} lines, Python ${py_total} lines (minimum ${min} %)"
[ "$rust_status" -eq 0 ] && [ "$py_status" -eq 0 ]
