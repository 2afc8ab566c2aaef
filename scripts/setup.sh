#!/usr/bin/env bash
# Installs what wshub needs on Debian 12 when it is missing. Idempotent; quiet when all is there.
#   scripts/setup.sh            build and run dependencies
#   scripts/setup.sh --test     also what the test suite needs (Redis, Chromium, Node.js)
#   scripts/setup.sh --bench    also what bench/compare.py needs (Go, gorilla/websocket, Node.js)
set -euo pipefail

build_packages=(
  g++ cmake make pkg-config ccache
  libboost1.81-dev libboost-url1.81-dev libspdlog-dev libsqlite3-dev libhiredis-dev liburing-dev
  nlohmann-json3-dev libsystemd-dev libssl-dev libcpp-jwt-dev prometheus-cpp-dev libgtest-dev libgmock-dev
)
# systemd: systemd-analyze for the unit; dpkg-dev, file: cpack -G DEB with shlibdeps; lintian: the
# package test checks the .deb with it. prometheus: promtool, for the dashboard and alert rules test.
# python3-websocket: the README's client example (tests/docs); python3-websockets: a client of the
# compression test (tests/e2e).
# clang, libclang-rt-14-dev (libFuzzer and the sanitizer runtimes), llvm (llvm-symbolizer for
# readable sanitizer reports): the fuzz preset.
test_packages=(redis-server sqlite3 chromium nodejs npm curl python3 python3-websocket python3-websockets systemd dpkg-dev file lintian clang libclang-rt-14-dev llvm prometheus)
# Optional, not for the build: bench/compare.py and the peer servers it runs (docs/BENCHMARKS.md).
bench_packages=(python3 golang-go golang-github-gorilla-websocket-dev nodejs npm)

wanted=("${build_packages[@]}")
if [[ "${1:-}" == "--test" ]]; then wanted+=("${test_packages[@]}"); fi
if [[ "${1:-}" == "--bench" ]]; then wanted+=("${bench_packages[@]}"); fi

# Node.js and npm count as present when their commands are, whatever installed them (a machine
# may carry a newer Node.js than Debian's, whose npm package would then conflict).
present() {
  case "$1" in
    nodejs) command -v node >/dev/null 2>&1 && return 0 ;;
    npm) command -v npm >/dev/null 2>&1 && return 0 ;;
  esac
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for p in "${wanted[@]}"; do
  if ! present "$p" && [[ " ${missing[*]} " != *" $p "* ]]; then missing+=("$p"); fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
