#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, storage crash, simulator and end-to-end tests, the
# doc tests, and the dependency-direction check (part of the test run, in tests/).
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
source scripts/env.sh

# One build of each profile: `--all-targets` builds libs, bins, tests, benches (as tests) and examples in
# one go, so dev-dependency features never trigger a second RocksDB build.
cargo test --workspace --all-targets --no-fail-fast "$@"
cargo test --workspace --doc --no-fail-fast "$@"
