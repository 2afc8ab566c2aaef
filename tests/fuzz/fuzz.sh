#!/usr/bin/env bash
# Runs each libFuzzer target of a fuzz build for a bounded time, starting from the seed corpus and
# the regression inputs in the repository; new inputs go to a corpus in the build folder, never
# to the repository. Exits non-zero when a target finds a crash (the input is saved as
# <build>/fuzz-artifacts/<target>-crash-*: add it to tests/fuzz/regressions/<target>/ once fixed).
#
#   tests/fuzz/fuzz.sh BUILD_DIR SECONDS [TARGET...]      (cmake --preset fuzz makes build/fuzz)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: tests/fuzz/fuzz.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: tests/fuzz/fuzz.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(fuzz_http_request fuzz_publish_body fuzz_query fuzz_config fuzz_ws_stream)
fi

failed=0
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
for t in "${targets[@]}"; do
  binary="$build/tests/fuzz/$t"
  [[ -x "$binary" ]] || { echo "fuzz: $binary is missing (cmake --preset fuzz && cmake --build --preset fuzz)"; exit 2; }
  work="$build/fuzz-corpus/$t"
  mkdir -p "$work"
  inputs=("$work" "tests/fuzz/corpus/$t")
  [[ -d "tests/fuzz/regressions/$t" ]] && inputs+=("tests/fuzz/regressions/$t")
  log="$build/fuzz-logs/$t.log"
  status=0
  # -timeout: one input taking longer is a hang; -rss_limit_mb: leaks or runaway memory.
  "$binary" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-artifacts/$t-" "${inputs[@]}" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  coverage=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  corpus=$(find "$work" -type f | wc -l)
  if ((status != 0)); then
    failed=1
    echo "fuzz: $t FAILED (exit $status) after ${runs:-?} runs; log: $log"
    grep -E 'ERROR|fuzz check failed|SUMMARY|Test unit written' "$log" | head -20 || true
  else
    echo "fuzz: $t ${runs:-0} runs in ${seconds}s, $(( ${runs:-0} / seconds ))/s, coverage ${coverage:-?} edges, ${corpus} new corpus inputs"
  fi
done
exit "$failed"
