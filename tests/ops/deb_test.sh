#!/usr/bin/env bash
# `cpack -G DEB` builds a package whose files, control data and maintainer scripts make wshub a
# service: the binary, the unit (verified by systemd-analyze) and the config as a conffile, and
# scripts that enable and start the unit.
#   tests/ops/deb_test.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
build=${1:?usage: deb_test.sh BUILD_DIR}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/out" >"$work/cpack.log" 2>&1 ||
  fail "cpack: $(cat "$work/cpack.log")"
debs=("$work"/out/*.deb)
[[ ${#debs[@]} -eq 1 && -f "${debs[0]}" ]] || fail "expected one .deb, got: ${debs[*]}"
deb=${debs[0]}
echo "built $(basename "$deb")"

dpkg-deb -c "$deb" >"$work/listing"
awk '{print $6}' "$work/listing" >"$work/files"
for f in ./usr/bin/wshub ./usr/lib/systemd/system/wshub.service ./usr/lib/sysusers.d/wshub.conf ./etc/wshub/wshub.json \
  ./usr/share/doc/wshub/copyright ./usr/share/doc/wshub/changelog.Debian.gz; do
  grep -qx -- "$f" "$work/files" || fail "$f is not in the package: $(cat "$work/files")"
done
if grep -v -e '/$' -e '^./usr/bin/wshub$' -e '^./usr/lib/systemd/system/wshub.service$' \
  -e '^./usr/lib/sysusers.d/wshub.conf$' -e '^./etc/wshub/wshub.json$' \
  -e '^./usr/share/doc/wshub/copyright$' -e '^./usr/share/doc/wshub/changelog.Debian.gz$' "$work/files"; then
  fail "unexpected files in the package (above)"
fi
grep -q -- '^-rwxr-xr-x root/root .* ./usr/bin/wshub$' "$work/listing" || fail "wshub is not an executable owned by root"

[[ $(dpkg-deb -f "$deb" Package) == wshub ]] || fail "Package: $(dpkg-deb -f "$deb" Package)"
[[ $(dpkg-deb -f "$deb" Maintainer) =~ ^[^\<]+\ \<[^@\>]+@[^@\>]+\>$ ]] || fail "Maintainer is not 'name <address>': $(dpkg-deb -f "$deb" Maintainer)"
depends=$(dpkg-deb -f "$deb" Depends)
for d in libc6 libsqlite3-0 procps; do
  [[ "$depends" == *"$d"* ]] || fail "Depends lacks $d: $depends"
done

dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/wshub/wshub.json "$work/control/conffiles" || fail "the config is not a conffile"
for s in postinst prerm postrm; do
  [[ -x "$work/control/$s" ]] || fail "$s is missing or not executable"
  sh -n "$work/control/$s" || fail "$s has a syntax error"
done
grep -q 'deb-systemd-helper enable wshub.service' "$work/control/postinst" || fail "postinst does not enable the unit"
grep -q 'systemd-sysusers wshub.conf' "$work/control/postinst" || fail "postinst does not create the user"
grep -q 'deb-systemd-invoke "$action" wshub.service' "$work/control/postinst" || fail "postinst does not start the unit"
grep -q 'deb-systemd-invoke stop wshub.service' "$work/control/prerm" || fail "prerm does not stop the unit"

# The packaged unit names the packaged binary and passes systemd-analyze.
dpkg-deb -x "$deb" "$work/root"
prepare_systemd_root "$work/root"
verify_unit "$work/root"
# Debian's own checker finds no error (warnings, such as the missing manual page, are allowed).
# lintian exits non-zero on an error tag (its default --fail-on error) or when it cannot run.
lintian --tag-display-limit 0 --fail-on error "$deb" >"$work/lintian.log" 2>&1 || fail "lintian: $(cat "$work/lintian.log")"
if grep -E '^E: ' "$work/lintian.log"; then fail "lintian reports errors (above)"; fi
echo "deb test passed"
