#!/usr/bin/env bash
# systemd unit: `systemd-analyze verify` must be clean and the offline security exposure
# must stay ≤ 2.0 (the Operate issue's bar).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v systemd-analyze >/dev/null; then
    echo "70-systemd: systemd-analyze missing (apt-get install systemd)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# verify checks that ExecStart exists; the binary is not installed on a CI machine, so point
# a copy of the unit at an executable that is.
sed 's#^ExecStart=/usr/bin/chocoline #ExecStart=/bin/true #' systemd/chocoline.service \
    > "$tmp/chocoline.service"
out=$(systemd-analyze verify "$tmp/chocoline.service" 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
    echo "70-systemd: systemd-analyze verify is not clean:" >&2
    echo "$out" >&2
    exit 1
fi
line=$(systemd-analyze security --offline=true "$tmp/chocoline.service" 2>&1 | grep 'Overall exposure level')
exposure=$(echo "$line" | sed -E 's/.*: ([0-9.]+).*/\1/')
echo "70-systemd: verify clean; $line"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || {
    echo "70-systemd: exposure $exposure > 2.0" >&2
    exit 1
}
