#!/usr/bin/env bash
# Long SIGKILL soak: chocoline (`__outbox-feed`) is killed with SIGKILL while publishing and
# restarted ROUNDS times (default 200) against rumqttd and, if installed, mosquitto; prints
# generated / received / duplicates / lost. Usage: benches/kill-loop.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-200}"
CHOCOLINE_KILL_ROUNDS="$ROUNDS" cargo test --test mqtt -- --nocapture sigkill 2>&1 | grep -E "sigkill|SKIPPED|test result"
