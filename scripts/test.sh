#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, storage crash, simulator and end-to-end tests, the
# doc tests, the dependency-direction check (part of the test run, in tests/), the multi-host fault
# suite (scripts/fault-suite.sh; needs root for its network namespaces), and a short run of every fuzz
# target (scripts/fuzz.sh) and of the schema-driven API fuzzer (scripts/api-fuzz.sh).
# The results are kept in $CARGO_TARGET_DIR/test-record with the conformance report made from them.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
source scripts/env.sh

# One build of each profile: `--all-targets` builds libs, bins, tests, benches (as tests) and examples in
# one go, so dev-dependency features never trigger a second RocksDB build.
cargo test --workspace --all-targets --no-run "$@"

# The run is recorded (libtest's JSON events, through the test-recorder runner) for the conformance
# report: which test of which rule passed, at which commit.
record="$CARGO_TARGET_DIR/test-record"
rm -rf "$record"
mkdir -p "$record"
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  commit="$commit-modified"
fi
printf '{"commit": "%s", "started_at": "%s"}\n' "$commit" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$record/run.json"
host=$(rustc -vV | sed -n 's/^host: //p')
runner="CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUNNER"
env "$runner=$CARGO_TARGET_DIR/debug/test-recorder" COVENANT_TEST_RECORD_DIR="$record" \
  cargo test --workspace --all-targets --no-fail-fast "$@"
cargo test --workspace --doc --no-fail-fast "$@"

# The conformance report of this run, as evidence: every enforced rule needs a test that exercises it
# and passed, or this fails.
covenant="$CARGO_TARGET_DIR/debug/covenant"
"$covenant" report --results "$record" --json --out "$record/conformance.json"
"$covenant" report --results "$record" --html --out "$record/conformance.html"
"$covenant" report --results "$record" --require-evidence --out "$record/conformance.md"

# Last, alone on the machine: its scenarios measure how soon commits resume.
scripts/fault-suite.sh --out "$CARGO_TARGET_DIR/fault-suite.json"

# Every decoder fuzzed briefly (docs/reliability.md records a longer run).
scripts/fuzz.sh 10

# The API against its own OpenAPI document (schemathesis).
scripts/api-fuzz.sh 30
