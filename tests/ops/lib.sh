# Helpers for the packaging tests (sourced).

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# A root for `systemd-analyze --root`: the system's own units, so that the targets wshub.service
# names resolve, plus whatever the test installs into it.
prepare_systemd_root() {
  local root=$1
  mkdir -p "$root/lib/systemd/system" "$root/bin"
  cp -a /lib/systemd/system/. "$root/lib/systemd/system/"
  cp "$(type -P kill)" "$root/bin/kill"  # ExecReload runs /bin/kill
}

# systemd-analyze verify, then an exposure level of at most 2.0 ("OK") from its offline
# security review.
verify_unit() {
  local root=$1
  local errors
  errors=$(systemd-analyze verify --man=no --root="$root" wshub.service 2>&1) ||
    fail "systemd-analyze verify: $errors"
  [[ -z "$errors" ]] || fail "systemd-analyze verify printed: $errors"
  local security
  security=$(systemd-analyze security --offline=yes --root="$root" --threshold=20 wshub.service 2>&1) ||
    fail "exposure level above 2.0: $(tail -n 1 <<<"$security")"
  echo "$(grep -a 'Overall exposure level' <<<"$security")"
}
