#!/usr/bin/env bash
# Installs what is missing, then builds and runs the whole test suite: unit, integration,
# browser, JS client and API contract tests on a debug build, then unit and integration tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, the concurrency-heavy tests under
# ThreadSanitizer, and a short, fixed-seed run of every fuzz target (docs/RELIABILITY.md). Exits
# non-zero on any failure, sanitizer report or crash found by fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test

# ccache in the home folder, with paths relative to the checkout, so a fresh clone elsewhere
# reuses what earlier builds compiled.
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
jobs=$(nproc)

# Node test dependencies, each folder from its package-lock.json: the browser test
# (playwright-core only; it drives Debian's chromium), the JS client (ws, typescript) and the API
# contract test (swagger-parser, ajv, @asyncapi/parser, ws).
for dir in tests/e2e clients/js tests/contract; do
  if [[ ! -d $dir/node_modules ]] || [[ $dir/package-lock.json -nt $dir/node_modules ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

echo "== debug build: unit, integration, browser, JS client and API contract tests"
cmake --preset dev >/dev/null
cmake --build --preset dev -j"$jobs"
ctest --preset dev -j"$jobs"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer: unit and integration tests"
cmake --preset asan >/dev/null
cmake --build --preset asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --preset asan -j"$jobs" --label-exclude browser

# All of them: under two minutes, so no subset is needed (docs/RELIABILITY.md). A report in the
# server child processes shows as its exit code 66, which those tests check.
echo "== ThreadSanitizer: unit, integration and reliability tests"
cmake --preset tsan >/dev/null
# The JavaScript client and contract tests check the protocol, not threads: they run in the debug
# and ASan stages.
cmake --build --preset tsan -j"$jobs" --target wshub wshub_unit_tests wshub_integration_tests wshub_reliability_tests \
  wshub_cluster_tests wshub_monitoring_tests
ctest --preset tsan -j"$jobs" --label-exclude "browser|ops|bench|fuzz|client|contract"

echo "== fuzzing: the seed corpora and regression inputs, then a fixed-seed exploration of each fuzz target"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$jobs"
ctest --preset fuzz -j"$jobs"
# A crash found by the exploration fails the run: a crash is a bug. The exploration is a fixed
# number of runs from a fixed seed, starting from the repository's inputs only, so the same tree
# gives the same result on every run (docs/RELIABILITY.md); longer random exploration is
# tests/fuzz/fuzz.sh BUILD_DIR SECONDS, outside CI.
tests/fuzz/fuzz.sh --ci build/fuzz
