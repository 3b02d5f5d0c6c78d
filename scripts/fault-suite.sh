#!/usr/bin/env bash
# Runs the multi-host fault scenarios: four validators and four clients, each on a host of its own
# (a network namespace), through partitions, a flapping link, a bandwidth limit, a frozen process, a
# kill and restart, a clock step and a full disk, each checked by the Jepsen-style checker
# (tests/src/scenarios.rs, docs/reliability.md "Fault matrix"). Needs root.
# Usage: scripts/fault-suite.sh --out FILE [--scenario NAME ...]
# Writes one JSON object to FILE ({"passed": ..., "scenarios": [...]}); exits non-zero if any fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
source scripts/env.sh

# The same build as scripts/test.sh (all targets of the workspace), so nothing is built twice.
cargo test --workspace --all-targets --no-run --quiet
exec "$CARGO_TARGET_DIR/debug/fault-suite" "$@"
