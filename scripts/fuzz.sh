#!/usr/bin/env bash
# Runs every coverage-guided fuzz target (fuzz/fuzz_targets) for SECONDS each (default 20),
# starting from the seeds in fuzz/seeds/<target> and a working corpus in
# target/fuzz-corpus/<target>. Needs a nightly toolchain and cargo-fuzz; installs them when
# missing. Prints one line per target; exits non-zero when a target crashes (the crashing input
# is left in fuzz/artifacts/<target>/ to become a regression test).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
shift || true
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing the nightly toolchain" >&2
  rustup toolchain install nightly --profile minimal >/dev/null
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi
(cd fuzz && cargo +nightly fuzz build -O)
status=0
for t in "${targets[@]}"; do
  corpus="target/fuzz-corpus/$t"
  mkdir -p "$corpus"
  log="target/fuzz-corpus/$t.log"
  if (cd fuzz && cargo +nightly fuzz run -O "$t" "../$corpus" "seeds/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"../$log" 2>&1); then
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
    echo "fuzz.sh: $t: ${execs:-?} executions in ${secs}s, no crash"
  else
    echo "fuzz.sh: $t: CRASH (see $log and fuzz/artifacts/$t/)" >&2
    tail -40 "$log" >&2
    status=1
  fi
done
exit "$status"
