#!/usr/bin/env bash
# Installs what is missing, then builds and runs the whole test suite: unit, integration and
# browser tests on a debug build, then unit and integration tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test

# ccache in the home folder, with paths relative to the checkout, so a fresh clone elsewhere
# reuses what earlier builds compiled.
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
jobs=$(nproc)

# Browser test dependencies (playwright-core only; it drives Debian's chromium).
if [[ ! -d tests/e2e/node_modules/playwright-core ]] || [[ tests/e2e/package-lock.json -nt tests/e2e/node_modules ]]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== debug build: unit, integration and browser tests"
cmake --preset dev >/dev/null
cmake --build --preset dev -j"$jobs"
ctest --preset dev -j"$jobs"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer: unit and integration tests"
cmake --preset asan >/dev/null
cmake --build --preset asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --preset asan -j"$jobs" --label-exclude browser
