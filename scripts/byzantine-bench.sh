#!/usr/bin/env bash
# Measures what throughput the three honest validators keep while the fourth attacks them: a local
# 4-validator consortium (release build), validator 3 run as `covenant-byzantine --attacks all`
# (ADR 0015), and `covenant bench --target` loading validators 0 to 2 only. With --baseline, validator 3
# runs the honest `covenant node` instead; with --absent, it does not run at all (a crashed member), for
# the comparisons (measure them in the same hour).
# Usage: scripts/byzantine-bench.sh [--baseline | --absent] [covenant bench options, e.g. --saturate --rate 4000 --duration 15]
# Prints the bench's JSON on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=byzantine
case "${1:-}" in
  --baseline) mode=baseline; shift ;;
  --absent) mode=absent; shift ;;
esac
scripts/prereqs.sh
source scripts/env.sh
cargo build --release --workspace --bins --quiet
bin="$CARGO_TARGET_DIR/release"

dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

p2p=17100 api=17200 senders=256
"$bin/covenant" init --validators 4 --dir "$dir" --p2p-port-base $p2p --api-port-base $api --bench-senders $senders >/dev/null
for i in 0 1 2; do
  "$bin/covenant" node --config "$dir/validator-$i.toml" >"$dir/validator-$i.log" 2>&1 &
  pids+=($!)
done
case "$mode" in
  byzantine) "$bin/covenant-byzantine" node --config "$dir/validator-3.toml" --attacks all >"$dir/validator-3.log" 2>&1 & pids+=($!) ;;
  baseline) "$bin/covenant" node --config "$dir/validator-3.toml" >"$dir/validator-3.log" 2>&1 & pids+=($!) ;;
  absent) ;;
esac

for _ in $(seq 1 120); do
  if "$bin/covenant" query status --api 127.0.0.1:$api 2>/dev/null | grep -q '"height": [1-9]'; then break; fi
  sleep 0.5
done
echo "byzantine-bench: validator 3 runs as $mode; loading validators 0-2" >&2
"$bin/covenant" bench --target "127.0.0.1:$api,127.0.0.1:$((api + 1)),127.0.0.1:$((api + 2))" --keys "$dir" \
  --senders $senders --json "$@"
if [ "$mode" = byzantine ]; then
  grep "attacks sent so far" "$dir/validator-3.log" | tail -1 | sed 's/^/byzantine-bench: validator 3: /' >&2 || true
fi
