#!/usr/bin/env bash
# Builds the differential harness's Go oracle (crates/gomod-diff/oracle, on golang.org/x/mod)
# into target/gomod-oracle. Set-up, like fetching crates: it may download golang.org/x/mod
# through the go command's own GOPROXY, checked against the committed go.sum.
set -euo pipefail
cd "$(dirname "$0")/.."
go="${MODGATE_TEST_GO:-go}"
mkdir -p target
(cd crates/gomod-diff/oracle && GOTOOLCHAIN=local GOFLAGS=-mod=readonly "$go" build -o ../../../target/gomod-oracle .)
echo "oracle.sh: built target/gomod-oracle with $("$go" version)"
