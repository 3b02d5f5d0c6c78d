# Sourced by the scripts: one cargo target directory outside the clone, so that a fresh clone on the same
# machine (CI) rebuilds in seconds instead of compiling RocksDB's C++ again.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/covenant/target}"
