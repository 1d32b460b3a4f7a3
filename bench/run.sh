#!/usr/bin/env bash
# Builds release binaries, installs the load tools if missing, runs every benchmark scenario
# side by side with its baseline on 127.0.0.1, and writes bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
cargo build --release --locked -p modgate -p testkit --bins
exec python3 bench/run.py "$@"
