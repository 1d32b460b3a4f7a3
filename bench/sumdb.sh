#!/usr/bin/env bash
# The checksum-database benchmark (bench/sumdb.py): release binaries, then the run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p modgate -p testkit
./scripts/oracle.sh
exec python3 bench/sumdb.py "$@"
