#!/usr/bin/env bash
# Fuzzes every decoder that takes bytes from outside (fuzz/fuzz_targets/: transactions and batches,
# consensus messages, blocks, sync frames, the safety state and audit entries read from disk, backup
# manifests, genesis and node TOML, key files, the API's request bodies) with libFuzzer, each target
# for SECONDS, starting from a seed corpus of valid inputs (tests/src/bin/fuzz-seeds.rs) plus what
# earlier runs found. Exits non-zero on any crash, leaving the input under $CARGO_TARGET_DIR/fuzz-artifacts/.
# Usage: scripts/fuzz.sh SECONDS [TARGET ...]
#
# Stable Rust only: the targets are built with libfuzzer-sys and the coverage flags cargo-fuzz would
# pass (no sanitizer, which needs nightly; Rust's own checks and debug assertions catch the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET ...]}
shift
scripts/prereqs.sh
source scripts/env.sh

# The workspace's debug build: the seed generator, and RocksDB's C++ archive, which the fuzz build links
# instead of compiling RocksDB again.
cargo test --workspace --all-targets --no-run --quiet
rocksdb_archive=$(ls -t "$CARGO_TARGET_DIR"/debug/build/librocksdb-sys-*/out/librocksdb.a | head -1)
export ROCKSDB_LIB_DIR ROCKSDB_STATIC=1
ROCKSDB_LIB_DIR=$(dirname "$rocksdb_archive")

# The fuzz crate is a workspace of its own with its own lock file: bring its entries for the workspace's
# crates in line with their current dependencies (versions already locked stay as they are).
cargo update --workspace --quiet --manifest-path fuzz/Cargo.toml

host=$(rustc -vV | sed -n 's/^host: //p')
fuzz_dir="$CARGO_TARGET_DIR/fuzz"
# With --target, these flags reach the targets' code but not build scripts or proc macros.
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing" \
  cargo build --manifest-path fuzz/Cargo.toml --locked --release --bins --target "$host" --target-dir "$fuzz_dir" --quiet

seeds="$CARGO_TARGET_DIR/fuzz-seeds"
rm -rf "$seeds"
"$CARGO_TARGET_DIR/debug/fuzz-seeds" "$seeds"

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi
artifacts="$CARGO_TARGET_DIR/fuzz-artifacts"
mkdir -p "$artifacts"
failed=()
printf '%-18s %12s %8s %8s %s\n' target executions cov ft result
for target in "${targets[@]}"; do
  corpus="$CARGO_TARGET_DIR/fuzz-corpus/$target"
  mkdir -p "$corpus" "$seeds/$target"
  log="$artifacts/$target.log"
  status=0
  "$fuzz_dir/$host/release/$target" "$corpus" "$seeds/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$artifacts/$target-" -print_final_stats=1 >"$log" 2>&1 || status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  features=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ "$status" -eq 0 ]; then result=ok; else result="CRASH (exit $status; see $log)"; failed+=("$target"); fi
  printf '%-18s %12s %8s %8s %s\n' "$target" "${executions:-?}" "${coverage:-?}" "${features:-?}" "$result"
done
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: crashes in ${failed[*]}" >&2
  exit 1
fi
