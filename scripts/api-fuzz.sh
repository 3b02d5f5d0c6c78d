#!/usr/bin/env bash
# scripts/api-fuzz.sh [MAX_EXAMPLES]: runs schemathesis (from PyPI, in a virtualenv under the target
# dir) against a local consortium's API with the node's own OpenAPI document, every check on, a fixed
# seed: no 5xx, no answer that contradicts the document. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
examples="${1:-30}"

venv="$CARGO_TARGET_DIR/schemathesis-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'schemathesis==4.32.5'
fi

cargo test --workspace --all-targets --no-run --quiet
work=$(mktemp -d)
api_port=7650
"$CARGO_TARGET_DIR/debug/covenant" testnet --data-dir "$work/testnet" --duration 600 --demo-rate 1 \
  --api-port-base "$api_port" --p2p-port-base 7750 > "$work/testnet.log" 2>&1 &
testnet=$!
trap 'kill $testnet 2>/dev/null; wait $testnet 2>/dev/null; rm -rf "$work"' EXIT

for _ in $(seq 120); do
  if curl -sf "http://127.0.0.1:$api_port/v1/status" | grep -q '"height":[1-9]'; then break; fi
  sleep 1
done
curl -sf "http://127.0.0.1:$api_port/v1/status" >/dev/null || { cat "$work/testnet.log"; exit 1; }

# From the scratch directory: schemathesis keeps a cache in the directory it runs in.
config="$PWD/scripts/api-fuzz/schemathesis.toml"
cd "$work"
"$venv/bin/schemathesis" --config-file "$config" run \
  "http://127.0.0.1:$api_port/v1/openapi.json" --max-examples "$examples" --workers 1
