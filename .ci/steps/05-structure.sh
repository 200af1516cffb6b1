#!/usr/bin/env bash
# Where code sits (issue #24): the layering of src/ that reviews asked for, checked on every
# run so that it cannot erode one import at a time. Fails naming the file and line of each
# import that goes the wrong way. Comment lines (//, //!, ///) are not imports and are skipped.
#
# Floors, bottom to top:
#   ground   domain/ and the shared helpers beside it (units, key paths, wire formats)
#   stages   acquire features validate infer monitor alert store publish (+ simulate, clock,
#            logging, metrics, health, fleet: services the stages and the agent use)
#   top      config (assembles the sections), pipeline (builds and wires), cli, evaluate
# A stage never imports the top floor; the named pairs below never import each other.
set -euo pipefail
cd "$(dirname "$0")/../.."

failed=0

# forbid DIRS PATTERN WHY: no code line under DIRS (folders or files) matches PATTERN.
forbid() {
    local where=$1 pattern=$2 why=$3 hits
    # shellcheck disable=SC2086
    hits=$(grep -rnE "$pattern" $where --include='*.rs' 2>/dev/null |
        grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true)
    if [ -n "$hits" ]; then
        echo "structure: $why" >&2
        echo "$hits" | sed 's/^/    /' >&2
        failed=1
    fi
}

stages="src/acquire src/features src/validate src/infer src/monitor src/alert src/store \
src/publish src/simulate src/clock src/metrics src/logging.rs src/health.rs src/wire src/fleet src/signals \
src/capture src/labels"
existing=""
for d in $stages; do [ -e "$d" ] && existing="$existing $d"; done

forbid "$existing" 'crate::(config|pipeline|cli|evaluate)\b' \
    "a stage imports the top floor (config/pipeline/cli/evaluate); give it its own section or move the helper to the ground floor"
forbid "src/store" 'crate::publish\b' "store imports publish (both build on src/wire)"
forbid "src/alert" 'crate::features\b' "alert imports features (band inputs are resolved when the pipeline is built)"
forbid "src/infer" 'crate::(acquire|publish|store|simulate)\b' "models know nothing of Modbus, MQTT or the store"
forbid "src/simulate" 'crate::acquire::decode\b' "the simulator reaches into acquire's decoder"
forbid "src/infer" 'crate::fleet\b' "the registry reads the installed layout (infer::installed); it does not depend on the installer"
forbid "src/fleet" 'crate::(acquire|publish|store|simulate)\b' "bundles know model folders only: no Modbus, MQTT or store (the pipeline wires deployment)"
forbid "src/sparkplug" 'crate::(acquire|features|validate|infer|monitor|alert|store|publish|signals|fleet|simulate|pipeline|config|cli|evaluate)\b' "the Sparkplug encoding is a wire format (ground floor): the publisher builds on it, not the reverse"
forbid "src/capture src/labels" 'crate::(acquire|features|validate|infer|monitor|alert|store|publish|signals|sparkplug|fleet|simulate)\b' "capture and labels see samples and their own files only (the pipeline builds them; the store's budget stays the outbox's)"
forbid "src/export" 'crate::(acquire|features|validate|infer|monitor|alert|store|publish|signals|sparkplug|fleet|pipeline|config|cli|evaluate)\b' "export reads the capture and label files only (capture, labels, the simulator's CSV headers, domain); the CLI resolves the configuration into its options"
forbid "src/compare" 'crate::(acquire|features|validate|infer|monitor|alert|store|publish|signals|sparkplug|fleet|simulate|pipeline|config|cli|evaluate|export)\b' "model compare reads the capture, the labels and manifests' data cards only (the CLI resolves the configuration into folders)"
forbid "src/signals" 'crate::(acquire|publish|store|infer)\b' "the signal tap sees samples and the wire format only (the pipeline hands its ring to the publisher)"
forbid "src/pipeline" 'async fn [a-z_]+_task\b' "a stage loop in pipeline/ (each stage's loop lives in its own stage.rs)"

# The repository stands on its own: no references to files outside it.
refs=$(grep -rnE '(\.\./)?shared/(domain|anchors|style)\.md|CONTRACTS\.md' \
    src tests benches docs models config systemd README.md Cargo.toml .ci \
    --include='*.rs' --include='*.md' --include='*.py' --include='*.toml' --include='*.sh' \
    --include='*.service' 2>/dev/null | grep -v '^\.ci/steps/05-structure\.sh:' || true)
if [ -n "$refs" ]; then
    echo "structure: references to files outside the repository (move the facts into docs/)" >&2
    echo "$refs" | sed 's/^/    /' >&2
    failed=1
fi

if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "structure: layering holds (no upward imports, no stage loops in pipeline/, no outside references)"
