#!/usr/bin/env bash
# The fill-memory benchmark (bench/memory.py): release binaries, then the run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p modgate -p testkit
exec python3 bench/memory.py "$@"
