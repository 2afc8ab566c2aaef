#!/usr/bin/env bash
# Soak test (not part of CI): wshub under steady publishing and connect/disconnect churn for a
# bounded time, 10 minutes by default, reporting the server's resident memory (RSS) and open file
# descriptors over time. Fails when either grows after the warm-up.
#
#   scripts/soak.sh [SECONDS]          e.g. scripts/soak.sh 600 (SOAK_BUILD_DIR: the build folder)
#
# Load (all on 127.0.0.1, every run of the load generator bounded in count and time):
#   - wshub-bench publish: 100 subscribers held open, 8 keep-alive publishers, 200 messages/s;
#   - wshub-bench idle, in a loop: 500 sockets opened, held 2 s, closed;
#   - wshub-bench connect, every third round: 1000 sockets opened as fast as accepted, closed.
# Samples every SOAK_INTERVAL seconds (10); the first SOAK_WARMUP seconds (a fifth of the run, at
# least 60) are warm-up. Memory may grow by at most SOAK_RSS_SLACK_KB (16384) or 10% after it;
# once the load stops and every socket is gone, the descriptors must be back to where they were
# before the load.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
interval=${SOAK_INTERVAL:-10}
warmup=${SOAK_WARMUP:-$(( seconds / 5 > 60 ? seconds / 5 : 60 ))}
slack_kb=${SOAK_RSS_SLACK_KB:-16384}
if (( warmup >= seconds )); then echo "soak: the run must be longer than the warm-up (${warmup}s)"; exit 2; fi

scripts/setup.sh
command -v curl >/dev/null || { echo "soak: needs curl (scripts/setup.sh --test installs it)"; exit 2; }
build=${SOAK_BUILD_DIR:-build/release}  # a release-preset build folder
cmake --preset release -B "$build" >/dev/null
cmake --build "$build" --target wshub wshub-bench -j"$(nproc)" >/dev/null
bin=$build/wshub
bench=$(find "$build" -name wshub-bench -type f -perm -u+x | head -1)
[[ -x "$bin" && -n "$bench" ]] || { echo "soak: wshub or wshub-bench is missing in $build"; exit 2; }

work=$(mktemp -d)
server_pid=""
publish_pid=""
churn_pid=""
cleanup() {
  for p in $churn_pid $publish_pid $server_pid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" --listen.port 0 --data-dir "$work/data" --http.max_connections 20000 >"$work/stdout" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$work/stdout" 2>/dev/null | head -1 | sed 's/.*://') || true
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || { echo "soak: wshub did not start"; cat "$work/stdout"; exit 1; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status"; }
fds() { ls "/proc/$server_pid/fd" | wc -l; }
stat_field() { curl -s "http://127.0.0.1:$port/api/tool/stats" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

# Prime what opens lazily (the log's read connection opens its WAL file on the first read), so
# that the baseline is the server's steady set of descriptors.
curl -s -o /dev/null -d message=prime "http://127.0.0.1:$port/api/tool/send_message"
curl -s -o /dev/null "http://127.0.0.1:$port/api/tool/messages?channel=system"
curl -s -o /dev/null "http://127.0.0.1:$port/api/tool/stats"
fd_list() { for f in /proc/"$server_pid"/fd/*; do readlink "$f"; done | sed 's/\[[0-9]*\]/[]/' | sort; }
fd_list >"$work/fds.before"
base_fds=$(fds)
base_rss=$(rss_kb)
echo "soak: wshub pid $server_pid on port $port for ${seconds}s (warm-up ${warmup}s, a sample every ${interval}s)"
echo "soak: before the load: RSS ${base_rss} KiB, ${base_fds} open descriptors"

"$bench" publish --port "$port" --sockets 100 --publishers 8 --rate 200 --duration "$seconds" \
  --timeout $(( seconds + 120 )) --json-only >"$work/publish.json" 2>"$work/publish.err" &
publish_pid=$!
(
  end=$(( SECONDS + seconds ))
  round=0
  failures=0
  while (( SECONDS < end && failures < 3 )); do
    round=$(( round + 1 ))
    if (( round % 3 == 0 )); then
      args=(connect --sockets 1000)
    else
      args=(idle --sockets 500 --duration 2)
    fi
    # The churn sockets also get the published messages, which the generator does not expect
    # (its "ok" is false for that): a round fails only when a connection failed or was closed.
    report=$("$bench" "${args[@]}" --port "$port" --timeout 60 --json-only 2>&1 | tail -1) || true
    echo "$report" >>"$work/churn.json"
    if grep -q '"connect_failed":0,"closed_by_server":0' <<<"$report" && grep -q '"timed_out":false' <<<"$report"; then
      failures=0
    else
      failures=$(( failures + 1 ))  # three failed rounds in a row end the churn (and fail the soak)
    fi
  done
  (( failures < 3 ))
) &
churn_pid=$!

printf '%8s %10s %6s %8s %12s\n' elapsed rss_kib fds sockets messages
samples="$work/samples"
start=$SECONDS
while kill -0 "$publish_pid" 2>/dev/null && (( SECONDS - start < seconds + 120 )); do
  sleep "$interval"
  kill -0 "$server_pid" 2>/dev/null || { echo "soak: wshub died"; exit 1; }
  line=$(printf '%8d %10d %6d %8s %12s' $(( SECONDS - start )) "$(rss_kb)" "$(fds)" "$(stat_field connections)" "$(stat_field messages_total)")
  echo "$line" | tee -a "$samples"
done
churn_status=0
wait "$churn_pid" || churn_status=$?
wait "$publish_pid" || true
churn_pid=""
publish_pid=""

# Quiet: every socket gone, then the descriptors are compared with the start.
for _ in $(seq 1 300); do
  [[ "$(stat_field connections)" == "0" ]] && break
  sleep 0.1
done
end_fds=$(fds)
end_rss=$(rss_kb)
churn_runs=$(grep -c '^{' "$work/churn.json" || true)
echo "soak: load generator (publish): $(cat "$work/publish.json" | tail -1)"
echo "soak: churn: ${churn_runs} rounds of 500-1000 sockets"

warm_rss=$(awk -v w="$warmup" '$1 >= w {print $2; exit}' "$samples")
max_after=$(awk -v w="$warmup" '$1 >= w && $2 > m {m = $2} END {print m + 0}' "$samples")
last_rss=$(tail -1 "$samples" | awk '{print $2}')
echo "soak: RSS ${base_rss} KiB before the load, ${warm_rss} KiB after the warm-up, at most ${max_after} KiB after it, ${last_rss} KiB at the end of the load, ${end_rss} KiB once quiet"
echo "soak: descriptors ${base_fds} before the load, ${end_fds} once quiet"

status=0
allowed=$(( warm_rss / 10 > slack_kb ? warm_rss / 10 : slack_kb ))
if (( max_after - warm_rss > allowed )); then
  echo "soak: FAIL: memory grew by $(( max_after - warm_rss )) KiB after the warm-up (allowed ${allowed} KiB)"
  status=1
fi
if (( end_fds > base_fds )); then
  echo "soak: FAIL: $(( end_fds - base_fds )) descriptors more than before the load:"
  fd_list | diff "$work/fds.before" - || true
  status=1
fi
if (( churn_status != 0 )); then
  echo "soak: FAIL: the churn load failed three rounds in a row: $(tail -1 "$work/churn.json")"
  status=1
fi
if grep -q '"lost":[1-9]' "$work/publish.json"; then
  echo "soak: FAIL: the load generator lost messages"
  status=1
fi
(( status == 0 )) && echo "soak: OK: no growth after the warm-up"
exit "$status"
