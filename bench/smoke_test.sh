#!/usr/bin/env bash
# Smoke test of wshub-bench against the real wshub (ctest label `bench`): a small fan-out and one
# second of publishing, each also in batches (send_messages), in which nothing may be lost,
# reordered, refused or fail.
#   bench/smoke_test.sh WSHUB_BIN WSHUB_BENCH_BIN
set -euo pipefail
trap 'echo "smoke: failed at line $LINENO (exit $?)"' ERR
wshub=$1
bench=$2

dir=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

# Port 0: wshub picks a free port and says which on its "listening on" line (an info line).
# The file exists before wshub starts: the background job opens it only once it runs.
: >"$dir/wshub.out"
"$wshub" --listen.port 0 --io_threads 1 --data_dir "$dir/data" --log.level info >"$dir/wshub.out" 2>&1 &
pid=$!
port=
for _ in $(seq 200); do  # 20 s at most (a sanitizer build starts slowly)
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$dir/wshub.out" | head -n1)
  [[ -n $port ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $port ]]; then
  echo "wshub did not report its port:"
  cat "$dir/wshub.out"
  exit 1
fi

check() {  # runs wshub-bench; fails unless it exits 0 and its JSON line says nothing was lost or reordered
  local out rc=0
  out=$("$bench" "$@" --port "$port" --server-pid "$pid" --timeout 60 --label smoke) || rc=$?
  echo "$out"
  [[ $rc -eq 0 ]] || { echo "smoke: wshub-bench exited $rc"; return 1; }
  grep -q '"lost":0,' <<<"$out" || { echo "smoke: messages were lost"; return 1; }
  grep -q '"out_of_order":0,' <<<"$out" || { echo "smoke: messages were reordered"; return 1; }
  grep -q '"ok":true' <<<"$out" || { echo "smoke: the run was not clean"; return 1; }
}

check fanout --sockets 20 --messages 50 --sample 0
check publish --publishers 2 --duration 1 --sockets 5
check fanout --sockets 20 --messages 100 --batch 10 --sample 0
check publish --publishers 2 --duration 1 --sockets 5 --batch 50
echo "smoke: passed"
