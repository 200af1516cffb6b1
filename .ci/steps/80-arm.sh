#!/usr/bin/env bash
# aarch64: cross-build with Debian's cross toolchain (apt packages in .ci/apt-packages; the
# rustup target is added by scripts/arm-check), print the highest
# GLIBC symbol version the binary needs, and run scripts/arm-check's default test set under
# qemu-aarch64.
# One dependency build only (ARM_CHECK_BINARY=test-build): the tests are built in the test
# profile, the GLIBC check and smoke run use that build's binary; the release binary's size
# and the qemu inference timing come from `scripts/arm-check aarch64` run by hand. armv7 is not
# run here (time budget): `scripts/arm-check armv7`, README "ARM".
set -euo pipefail
cd "$(dirname "$0")/../.."
# Opt-in until it has run to completion once (issue #9 is open: the aarch64 test build never
# finished on the shared 2-core machine, so its duration against the 90-minute CI budget is
# unknown). The skip is loud, never silent: CI's log says so on every run.
if [ "${CHOCOLINE_ARM:-0}" != 1 ]; then
    echo "80-arm: NOT RUN (opt-in while issue #9 is open; CHOCOLINE_ARM=1 bash .ci/run runs it)" >&2
    exit 0
fi
start=$(date +%s)
ARM_CHECK_BINARY=test-build scripts/arm-check aarch64
echo "80-arm: aarch64 step took $(($(date +%s) - start)) s"
