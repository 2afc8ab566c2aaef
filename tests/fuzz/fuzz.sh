#!/usr/bin/env bash
# Runs each libFuzzer target of a fuzz build, starting from the seed corpus and the regression
# inputs in the repository; new inputs never go to the repository. Exits non-zero when a target
# finds a crash (the input is saved as <build>/fuzz-artifacts/<target>-crash-*: fix it, then add
# it to tests/fuzz/regressions/<target>/).
#
#   tests/fuzz/fuzz.sh BUILD_DIR SECONDS [TARGET...]
#       Exploration: SECONDS per target from a random seed; new inputs are kept in
#       BUILD_DIR/fuzz-corpus/ and the next exploration starts from them.
#   tests/fuzz/fuzz.sh --ci BUILD_DIR [TARGET...]
#       CI: a fixed number of runs per target (the budgets below) from a fixed seed
#       (WSHUB_FUZZ_SEED, 1 by default), starting from the repository's inputs only, so a given
#       tree explores the same inputs on every machine and every run: a crash found here is
#       reproducible and comes from the change under test, never from luck. Each target is also
#       capped at WSHUB_FUZZ_CAP seconds (30 by default), so the stage stays short on a slow machine;
#       a target stopped by the cap is reported, since it did not explore its whole budget.
#
# (cmake --preset fuzz && cmake --build --preset fuzz makes build/fuzz.)
set -euo pipefail
cd "$(dirname "$0")/../.."
usage="usage: tests/fuzz/fuzz.sh BUILD_DIR SECONDS [TARGET...] | tests/fuzz/fuzz.sh --ci BUILD_DIR [TARGET...]"
ci=0
if [[ "${1:-}" == --ci ]]; then
  ci=1
  shift
fi
build=${1:?$usage}
shift
if ((ci)); then
  seconds=${WSHUB_FUZZ_CAP:-30}
else
  seconds=${1:?$usage}
  shift
fi
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(fuzz_http_request fuzz_publish_body fuzz_query fuzz_config fuzz_ws_stream)
fi

# CI budgets: runs per target, about 5-10 s each under ASan on a 2-core machine (a parser runs tens
# of thousands of inputs a second; fuzz_ws_stream a few hundred, each a TCP session with a server).
ci_runs() {
  case "$1" in
    fuzz_http_request) echo 40000 ;;
    fuzz_publish_body) echo 250000 ;;
    fuzz_query) echo 150000 ;;
    fuzz_config) echo 120000 ;;
    fuzz_ws_stream) echo 1500 ;;
    *) echo 10000 ;;
  esac
}

failed=0
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
for t in "${targets[@]}"; do
  binary="$build/tests/fuzz/$t"
  [[ -x "$binary" ]] || { echo "fuzz: $binary is missing (cmake --preset fuzz && cmake --build --preset fuzz)"; exit 2; }
  options=(-max_total_time="$seconds")
  if ((ci)); then
    work="$build/fuzz-ci-corpus/$t"
    rm -rf "$work"  # the repository's inputs only: the same start everywhere
    budget=$(ci_runs "$t")
    options+=(-seed="${WSHUB_FUZZ_SEED:-1}" -runs="$budget" -reload=0)  # reload: a timed re-read of the corpus
  else
    work="$build/fuzz-corpus/$t"
  fi
  mkdir -p "$work"
  inputs=("$work" "tests/fuzz/corpus/$t")
  [[ -d "tests/fuzz/regressions/$t" ]] && inputs+=("tests/fuzz/regressions/$t")
  log="$build/fuzz-logs/$t.log"
  status=0
  # -timeout: one input taking longer is a hang; -rss_limit_mb: leaks or runaway memory.
  "$binary" "${options[@]}" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-artifacts/$t-" "${inputs[@]}" >"$log" 2>&1 || status=$?
  # (|| true: a target that died early has none of these lines)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  coverage=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true)
  corpus=$(find "$work" -type f | wc -l)
  if ((status != 0)); then
    failed=1
    echo "fuzz: $t FAILED (exit $status) after ${runs:-?} runs; log: $log"
    grep -E 'ERROR|fuzz check failed|SUMMARY|Test unit written' "$log" | head -20 || true
    if ((ci)); then
      echo "fuzz: the saved input replays it ($binary <input>); tests/fuzz/fuzz.sh --ci $build $t repeats this exploration"
    fi
  else
    echo "fuzz: $t ${runs:-0} runs in ${took:-$seconds} s, coverage ${coverage:-?} edges, ${corpus} new corpus inputs"
    if ((ci)) && [[ -n "$runs" ]] && ((runs < budget)); then
      echo "fuzz: $t stopped by the ${seconds} s cap after $runs of its $budget runs: this run explored less than the budget"
    fi
  fi
done
exit "$failed"
