#!/usr/bin/env bash
# Builds the Go programs the tests stand on, both on golang.org/x/mod:
# - the differential harness's oracle (crates/gomod-diff/oracle) into target/gomod-oracle;
# - an independent checksum database (crates/testkit/gosumdb) into target/testkit-sumdb.
# Set-up, like fetching crates: it may download golang.org/x/mod through the go command's own
# GOPROXY, checked against the committed go.sum files.
set -euo pipefail
cd "$(dirname "$0")/.."
go="${MODGATE_TEST_GO:-go}"
mkdir -p target
(cd crates/gomod-diff/oracle && GOTOOLCHAIN=local GOFLAGS=-mod=readonly "$go" build -o ../../../target/gomod-oracle .)
(cd crates/testkit/gosumdb && GOTOOLCHAIN=local GOFLAGS=-mod=readonly "$go" build -o ../../../target/testkit-sumdb .)
echo "oracle.sh: built target/gomod-oracle and target/testkit-sumdb with $("$go" version)"
