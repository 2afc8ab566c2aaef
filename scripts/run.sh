#!/usr/bin/env bash
# Installs what is missing, builds the release binary and starts wshub on the embedded default
# (127.0.0.1:9999, SQLite log in ./var, in-process cache). Extra arguments go to wshub.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target wshub -j"$(nproc)"
exec ./build/release/wshub --config config/wshub.json "$@"
