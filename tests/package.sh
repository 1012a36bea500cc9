#!/bin/sh
# The Debian package, end to end, as root (after scripts/setup.sh and
# tests/fixtures.sh): lint the man pages, build the package with lintian
# (packaging/build-deb.sh), install it with apt, check it as a user, run the
# end-to-end suite against /usr/bin/criu-helper (its upgrade test reinstalls
# the package), the group restriction through dpkg-statoverride, then remove
# and purge it and compare /etc and /usr with what they were before.
#
# usage: tests/package.sh [--scratch-path DIR]   (SwiftPM's, for swift test)
# Environment: DEB_OUT (default /tmp/criu-helper-deb), where the package is built.
# Exit status: 0 all passed, 1 something failed (FAIL lines say what), 64 usage, 77 not root.
set -eu
[ "$(id -u)" = 0 ] || { echo "tests/package.sh: must run as root" >&2; exit 77; }
cd "$(dirname "$0")/.."
PATH=/opt/swift/usr/bin:$PATH
export PATH DEBIAN_FRONTEND=noninteractive
scratch=
case ${1:-} in
--scratch-path) [ $# -eq 2 ] || { echo "tests/package.sh: --scratch-path needs a directory" >&2; exit 64; }; scratch=$2 ;;
'') ;;
*) echo "tests/package.sh: unknown argument: $1" >&2; exit 64 ;;
esac
out=${DEB_OUT:-/tmp/criu-helper-deb}
helper=/usr/bin/criu-helper
conf=/etc/criu-helper.conf
failures=0
start=$(date +%s)
step_start=$start
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
step() { now=$(date +%s); echo "== package: $* (at $((now - start)) s)"; step_start=$now; }
as_user() { u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups --reset-env sh -c "cd && $*"; }
snapshot() { find /etc /usr -xdev -path /usr/local -prune -o -print | sort; }
rules_loaded() { auditctl -l 2>/dev/null | grep -c 'criu-helper-' || true; }

step "build dependencies"
need=
for p in dpkg-dev debhelper lintian mandoc pkgconf libcap-dev libaudit-dev; do
	dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
	apt-get update -qq
	# shellcheck disable=SC2086 # a list of package names
	apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

step "man pages: mandoc -T lint"
for page in man/*.[1-8]; do
	mandoc -T lint -W warning "$page" || fail "mandoc -T lint $page"
done

step "build (packaging/build-deb.sh, with lintian)"
if ! packaging/build-deb.sh --out "$out" >"$out.log" 2>&1; then
	cat "$out.log"; fail "build-deb.sh"; exit 1
fi
deb=$(tail -n 1 "$out.log")
sed -n '/^build-deb.sh: lintian/,$p' "$out.log"
echo "built $deb in $(($(date +%s) - step_start)) s"

step "install (apt-get install ./$(basename "$deb"))"
if dpkg -s criu-helper >/dev/null 2>&1; then apt-get purge -y -qq criu-helper >/dev/null; fi
snapshot >"$out.before"
apt-get install -y -q "$deb" >"$out.apt" 2>&1 || { cat "$out.apt"; fail "apt-get install"; exit 1; }
sed -n '/^criu-helper check/,/^Processing/p' "$out.apt"
got=$(getcap "$helper" | sed 's/^[^ ]* //')
[ "$got" = cap_net_admin,cap_sys_chroot,cap_sys_admin,cap_audit_write,cap_checkpoint_restore=p ] || fail "getcap $helper: '$got'"
as_user chuser1 "$helper check" >"$out.check" 2>&1 || { cat "$out.check"; fail "criu-helper check as chuser1"; }
grep -q '^ok   configuration /etc/criu-helper.conf' "$out.check" || fail "check does not read $conf"
[ -x /usr/sbin/criu-helper-audit ] || fail "no /usr/sbin/criu-helper-audit"
for page in criu-helper criu-helper.conf criu-helper-audit; do
	man -w "$page" >/dev/null 2>&1 || fail "man $page: not found"
done
man criu-helper 2>/dev/null | grep -q 'criu-helper restore --images-dir DIR' || fail "man criu-helper does not render"
[ "$(rules_loaded)" -ge 5 ] || fail "postinst did not load the audit rules: $(auditctl -l 2>&1 | head -n 3)"
for f in $(dpkg -L criu-helper); do
	[ -d "$f" ] && continue
	[ "$(stat -c %u:%g "$f")" = 0:0 ] || fail "$f is not root's"
done

step "end-to-end suite against $helper"
# As tests/fixtures.sh sets up /usr/local: short lock waits. The comment must
# survive the upgrade test's reinstall (a conffile keeps the administrator's changes).
sed -i 's/^lock-timeout *=.*/lock-timeout = 3/' "$conf"
echo "# site setting kept across upgrades" >>"$conf"
e2e_log=$out.e2e
if env CRIU_HELPER_E2E=1 CRIU_HELPER_E2E_HELPER="$helper" CRIU_HELPER_E2E_REINSTALL="dpkg -i $deb" \
	swift test ${scratch:+--scratch-path "$scratch"} --no-parallel --filter EndToEndTests >"$e2e_log" 2>&1; then
	tail -n 2 "$e2e_log"
else
	cat "$e2e_log"; fail "end-to-end suite against the package"
fi
grep -qx '# site setting kept across upgrades' "$conf" || fail "the reinstall lost the administrator's change to $conf"
grep -qx 'lock-timeout = 3' "$conf" || fail "the reinstall lost lock-timeout = 3 in $conf"
echo "e2e against the package: $(($(date +%s) - step_start)) s"

step "group restriction (dpkg-statoverride, then dpkg-reconfigure)"
groupadd -f chpkg
usermod -a -G chpkg chuser1
dpkg-statoverride --update --add root chpkg 0750 "$helper"
dpkg-reconfigure criu-helper >"$out.reconf" 2>&1 || { cat "$out.reconf"; fail "dpkg-reconfigure"; }
[ "$(stat -c %a:%U:%G "$helper")" = 750:root:chpkg ] || fail "statoverride: $(stat -c %a:%U:%G "$helper")"
got=$(getcap "$helper" | sed 's/^[^ ]* //')
[ "$got" = cap_net_admin,cap_sys_chroot,cap_sys_admin,cap_audit_write,cap_checkpoint_restore=p ] || fail "after statoverride getcap: '$got'"
as_user chuser1 "$helper check" >/dev/null 2>&1 || fail "check as chuser1 (a member of chpkg)"
as_user chuser2 "$helper check" >/dev/null 2>&1 && fail "chuser2 (no member) ran the helper"
dpkg -i "$deb" >/dev/null 2>&1 || fail "reinstall with the statoverride"
if [ "$(stat -c %a:%G "$helper")" != 750:chpkg ] || ! getcap "$helper" | grep -q cap_checkpoint_restore; then
	fail "an upgrade lost the group restriction or the capabilities: $(stat -c %a:%G "$helper") $(getcap "$helper")"
fi
dpkg-statoverride --remove "$helper"
gpasswd -d chuser1 chpkg >/dev/null
groupdel chpkg
dpkg -i "$deb" >/dev/null 2>&1 || fail "reinstall without the statoverride"
[ "$(stat -c %a:%G "$helper")" = 755:root ] || fail "without the statoverride: $(stat -c %a:%G "$helper")"

step "remove, then purge"
files=$(dpkg -L criu-helper)
conffiles=$(dpkg-query -W -f='${Conffiles}\n' criu-helper | awk 'NF { print $1 }')
apt-get remove -y -qq criu-helper >/dev/null 2>&1 || fail "apt-get remove"
for f in $files; do
	[ -d "$f" ] && continue
	if [ -e "$f" ] && ! echo "$conffiles" | grep -qx "$f"; then fail "remove left $f"; fi
done
[ "$(rules_loaded)" = 0 ] || fail "remove left audit rules: $(auditctl -l | grep criu-helper-)"
apt-get purge -y -qq criu-helper >/dev/null 2>&1 || fail "apt-get purge"
snapshot >"$out.after"
if ! diff "$out.before" "$out.after" >"$out.diff"; then
	cat "$out.diff"; fail "purge left /etc or /usr different from before the install"
fi
dpkg -s criu-helper >/dev/null 2>&1 && fail "dpkg still knows criu-helper after purge"
dpkg-statoverride --list "$helper" >/dev/null && fail "a statoverride is left"

echo "== package suite done in $(($(date +%s) - start)) s, $failures failure(s)"
[ "$failures" = 0 ]
