#!/usr/bin/env bash
# The README's shell examples that talk to the server (```sh blocks naming 127.0.0.1:9999), run as
# written against a live wshub on a free port: each block must exit 0 within its time limit, every
# HTTP answer must be a success (a DELETE of a connection that is not there may answer 404), and a
# block that starts a WebSocket client must show a message frame. Blocks that present a publish key
# run against a server configured with the README's own publish_keys example.
#   tests/docs/readme_test.sh WSHUB_BINARY
set -euo pipefail
bin=${1:?usage: readme_test.sh WSHUB_BINARY}
readme=$(cd "$(dirname "$0")/../.." && pwd)/README.md
# Debian's interpreter first: the README's client is Debian's python3-websocket.
export PATH=/usr/bin:/bin:$PATH

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Starts wshub with the given config file; sets `port`.
start_server() {
  local name=$1 config=$2
  mkfifo "$work/$name.fifo"
  "$bin" --config "$config" --listen.port 0 --data-dir "$work/$name-data" --store.synchronous normal \
    >"$work/$name.fifo" 2>&1 &
  pids+=($!)
  disown  # no job notice when the cleanup kills it
  exec {fd}<"$work/$name.fifo"
  port=
  local line
  while IFS= read -r -t 20 line <&"$fd"; do
    echo "$line" >>"$work/$name.log"
    if [[ "$line" =~ listening\ on\ 127\.0\.0\.1:([0-9]+) ]]; then port=${BASH_REMATCH[1]}; break; fi
  done
  [[ -n "$port" ]] || fail "$name server did not start: $(cat "$work/$name.log" 2>/dev/null)"
  cat <&"$fd" >>"$work/$name.log" &  # keep draining its output
}

# The ```sh blocks, one file each, and the ```json block that holds the publish keys.
awk -v dir="$work" '
  /^```sh$/ { n++; file = sprintf("%s/block_%02d.sh", dir, n); inside = 1; next }
  /^```json$/ { json = 1; buf = ""; next }
  /^```/ {
    if (json && !found && buf ~ /publish_keys/) { printf "%s", buf > (dir "/keys.json.part"); found = 1 }
    inside = 0; json = 0; next
  }
  inside { print > file }
  json { buf = buf $0 "\n" }
' "$readme"
[[ -f "$work/keys.json.part" ]] || fail "the README has no publish_keys example"
{ echo "{"; cat "$work/keys.json.part"; echo "}"; } >"$work/keys.json"
echo '{}' >"$work/open.json"

start_server open "$work/open.json"
open_port=$port
start_server keyed "$work/keys.json"
keyed_port=$port

# curl as the README runs it, failing on an HTTP error.
cat >"$work/prelude.sh" <<'PRELUDE'
set -euo pipefail
curl() {
  local out status
  out=$(command curl -sS --max-time 10 -w '\n%{http_code}' "$@") || return 1
  status=${out##*$'\n'}
  printf '%s\n' "${out%$'\n'*}"
  if ((status >= 400)); then
    [[ " $* " == *" -X DELETE "* && $status == 404 ]] && return 0
    echo "HTTP $status from: curl $*" >&2
    return 1
  fi
}
PRELUDE

ran=0
for block in "$work"/block_*.sh; do
  grep -q '127\.0\.0\.1:9999' "$block" || continue
  if grep -qE 'Authorization:|X-API-Key:' "$block"; then p=$keyed_port; else p=$open_port; fi
  sed "s/127\.0\.0\.1:9999/127.0.0.1:$p/g" "$block" >"$block.run"
  echo "== README block $(basename "$block") on port $p:"
  sed 's/^/   | /' "$block"
  if ! output=$(cd "$work" && timeout 30 bash -c "source '$work/prelude.sh'; source '$block.run'" 2>&1); then
    fail "$(basename "$block") failed:"$'\n'"$output"
  fi
  printf '%s\n' "$output" | sed 's/^/   > /'
  if grep -q 'python3 -c' "$block"; then
    grep -q '"username":' <<<"$output" || fail "$(basename "$block"): the WebSocket client printed no message frame"
  fi
  ran=$((ran + 1))
done
((ran >= 4)) || fail "only $ran README blocks talk to the server: the extraction is broken"
echo "README examples test passed ($ran blocks)"
