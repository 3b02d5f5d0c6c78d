#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, storage crash, simulator and end-to-end tests, the
# doc tests, the dependency-direction check (part of the test run, in tests/), the multi-host fault
# suite (scripts/fault-suite.sh; needs root for its network namespaces), and a short run of every fuzz
# target (scripts/fuzz.sh) and of the schema-driven API fuzzer (scripts/api-fuzz.sh).
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
source scripts/env.sh

# One build of each profile: `--all-targets` builds libs, bins, tests, benches (as tests) and examples in
# one go, so dev-dependency features never trigger a second RocksDB build.
cargo test --workspace --all-targets --no-fail-fast "$@"
cargo test --workspace --doc --no-fail-fast "$@"

# Last, alone on the machine: its scenarios measure how soon commits resume.
scripts/fault-suite.sh --out "$CARGO_TARGET_DIR/fault-suite.json"

# Every decoder fuzzed briefly (docs/reliability.md records a longer run).
scripts/fuzz.sh 10

# The API against its own OpenAPI document (schemathesis).
scripts/api-fuzz.sh 30
