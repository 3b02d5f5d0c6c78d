#!/usr/bin/env bash
# Installs the system packages Covenant needs to build: libclang (bindgen for RocksDB's bindings),
# a C++ compiler (RocksDB itself), faketime (clock-skew end-to-end tests), iproute2 and nftables
# (the multi-host fault suite's hosts and partitions), e2fsprogs and xfsprogs (the power-cut test: an
# ext4 data disk shut down with xfs_io, losing what was not synced).
# Runs on every build and test so that a warm machine never hides a missing step.
set -euo pipefail

packages=(libclang-dev clang g++ make faketime iproute2 nftables e2fsprogs xfsprogs)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "prereqs: missing packages ${missing[*]} and not root (no sudo): install them and retry" >&2
    exit 1
  fi
fi

echo "prereqs: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
