#!/usr/bin/env bash
# `cmake --install` into a staging root: the binary, the unit and the default config land in
# their places, the unit passes `systemd-analyze verify`, and the installed binary starts with
# the installed config.
#   tests/ops/install_test.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
build=${1:?usage: install_test.sh BUILD_DIR}

work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
root=$work/root

DESTDIR=$root cmake --install "$build" --prefix /usr >"$work/install.log" || fail "cmake --install: $(cat "$work/install.log")"
for f in usr/bin/wshub usr/lib/systemd/system/wshub.service usr/lib/sysusers.d/wshub.conf etc/wshub/wshub.json; do
  [[ -f "$root/$f" ]] || fail "/$f was not installed"
done
[[ -x "$root/usr/bin/wshub" ]] || fail "/usr/bin/wshub is not executable"
# Installed stripped without --strip: no symbol table, no debug information (the build tree keeps them).
sections=$(readelf -S --wide "$root/usr/bin/wshub") || fail "readelf cannot read the installed binary"
if grep -E '\.symtab|\.debug_' <<<"$sections"; then fail "the installed binary is not stripped (sections above)"; fi
unit=$root/usr/lib/systemd/system/wshub.service
grep -qx 'ExecStart=/usr/bin/wshub --config /etc/wshub/wshub.json' "$unit" || fail "ExecStart: $(grep ExecStart= "$unit")"
grep -q '"data_dir": "/var/lib/wshub"' "$root/etc/wshub/wshub.json" || fail "the config's data_dir is not the StateDirectory"

# Another prefix: the unit follows the binary.
DESTDIR=$work/local cmake --install "$build" --prefix /usr/local >/dev/null
grep -qx 'ExecStart=/usr/local/bin/wshub --config /etc/wshub/wshub.json' "$work/local/usr/local/lib/systemd/system/wshub.service" ||
  fail "ExecStart under /usr/local: $(grep ExecStart= "$work/local/usr/local/lib/systemd/system/wshub.service")"

# A second install keeps the administrator's config.
echo '{"log": {"level": "debug"}}' >"$root/etc/wshub/wshub.json"
DESTDIR=$root cmake --install "$build" --prefix /usr >/dev/null
grep -q debug "$root/etc/wshub/wshub.json" || fail "a reinstall overwrote /etc/wshub/wshub.json"
rm "$root/etc/wshub/wshub.json"
DESTDIR=$root cmake --install "$build" --prefix /usr >/dev/null

prepare_systemd_root "$root"
verify_unit "$root"

# The installed binary accepts the installed config (the data folder and port moved for the test).
mkfifo "$work/out"
"$root/usr/bin/wshub" --config "$root/etc/wshub/wshub.json" --listen.port 0 --data-dir "$work/data" >"$work/out" 2>&1 &
server_pid=$!
exec 3<"$work/out"
started=
while IFS= read -r -t 10 line <&3; do
  if [[ "$line" == *"listening on"* ]]; then started=1; break; fi
done
[[ -n "$started" ]] || fail "the installed binary did not start with the installed config"
kill -TERM "$server_pid"
wait "$server_pid" || fail "exit code $? after SIGTERM"
server_pid=
echo "install test passed"
