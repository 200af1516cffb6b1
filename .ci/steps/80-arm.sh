#!/usr/bin/env bash
# aarch64: cross-build the release binary with Debian's cross toolchain (apt packages in
# .ci/apt-packages; the rustup target is added by scripts/arm-check), print its stripped size
# and highest GLIBC symbol version, and run the test set of scripts/arm-check under
# qemu-aarch64. armv7 is not run here (time budget): `scripts/arm-check armv7`, README "ARM".
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
scripts/arm-check aarch64
echo "80-arm: aarch64 step took $(($(date +%s) - start)) s"
