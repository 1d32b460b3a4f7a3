#!/usr/bin/env bash
# Builds release binaries and runs the soak (bench/soak.py): 30 minutes of mixed load by default.
#   bench/soak.sh [--minutes M] [--modules N] [--fault-every K]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p modgate -p testkit --bins
exec python3 bench/soak.py "$@"
