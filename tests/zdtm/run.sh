#!/bin/sh
# CRIU's own test suite (zdtm, its static tests) against the installed criu,
# as an unprivileged user, bare and through criu-helper. As root.
#
#   1. fetches the source of the installed criu's version from Debian's source
#      archive (a private apt configuration with deb-src lines; the system's
#      apt is not touched), checks its SHA-256 against the signed index, and
#      builds zdtm's lib and the listed static tests as the zdtm user (cached:
#      a re-run only runs make, which has nothing to do);
#   2. runs every test of tests/zdtm/tests.txt three ways (tests/zdtm/runner.py):
#      bare criu with ambient cap_sys_ptrace,cap_sys_admin; criu-helper
#      dump --pid / restore; criu-helper run / dump / restore;
#   3. writes the results table (per test: each way's result, the reasons),
#      and exits 1 when a test passed bare and failed under the helper without
#      being a documented refusal of tests/zdtm/refusals.txt.
#
# usage: tests/zdtm/run.sh [TEST...]         (default: every test of tests.txt)
#   HELPER   the criu-helper to test (default /usr/local/bin/criu-helper)
#   CRIU     the criu (default: the one in HELPER's configuration)
#   ZDTM_USER  the unprivileged user, created if absent (default chzdtm; this
#            suite's alone: its processes are killed)
#   JOBS     tests run at once (default 2)
#   WAYS     default bare,helper,run
#   RESULTS  the results table (default /var/cache/criu-helper/zdtm/results-VERSION.tsv)
set -eu
[ "$(id -u)" = 0 ] || { echo "zdtm/run.sh: must run as root" >&2; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
helper=${HELPER:-/usr/local/bin/criu-helper}
zuser=${ZDTM_USER:-chzdtm}
jobs=${JOBS:-2}
ways=${WAYS:-bare,helper,run}
cache=/var/cache/criu-helper/zdtm
start=$(date +%s)

[ -x "$helper" ] || { echo "zdtm/run.sh: no criu-helper at $helper" >&2; exit 69; }
conf=$(dirname "$(dirname "$helper")")/etc/criu-helper.conf
criu=${CRIU:-$(sed -n 's/^criu *= *//p' "$conf" 2>/dev/null | head -1)}
[ -x "$criu" ] || { echo "zdtm/run.sh: no criu (set CRIU, or configure $conf)" >&2; exit 69; }
version=$("$criu" --version | sed -n 's/^Version: //p' | head -1)
[ -n "$version" ] || { echo "zdtm/run.sh: $criu --version says no version" >&2; exit 69; }
pgrep -x auditd >/dev/null || auditd

export DEBIAN_FRONTEND=noninteractive
need=
for p in make gcc pkg-config libaio-dev libcap-dev python3 xz-utils util-linux procps; do
	dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq $need >/dev/null
fi
id "$zuser" >/dev/null 2>&1 || useradd -m -s /bin/sh "$zuser"
home=$(getent passwd "$zuser" | cut -d: -f6)
[ -d "$home" ] || { echo "zdtm/run.sh: $zuser has no home directory $home" >&2; exit 69; }
pkill -KILL -u "$zuser" 2>/dev/null || true

# Programs of the suite, root-owned: the launcher of bare criu and zdtm-hold.
install -d -m 0755 "$cache" "$cache/bin" "$cache/src"
gcc -O2 -Wall -o "$cache/bin/ch-launch" "$repo/tests/support/ch-launch.c" -lcap
gcc -O2 -Wall -Werror -o "$cache/bin/zdtm-hold" "$here/zdtm-hold.c"

# 1. The source: criu_VERSION.orig.tar.xz from Debian's source archive.
apt=$cache/apt
aptopts() {
	"$@" -o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=$apt/etc/sources.list.d" \
		-o "Dir::Etc::Preferences=$apt/etc/preferences" -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d" \
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::State::status=$apt/status"
}
tarball=$cache/src/criu_$version.orig.tar.xz
if ! [ -f "$tarball.verified" ]; then
	mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc/sources.list.d" "$apt/etc/preferences.d"
	: >"$apt/status"
	for suite in forky sid trixie; do
		echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main"
	done >"$apt/etc/sources.list"
	aptopts apt-get update -qq >/dev/null 2>&1 || aptopts apt-get update
	debver=$(aptopts apt-cache showsrc criu 2>/dev/null | sed -n 's/^Version: //p' | sort -uV |
		while read -r v; do u=${v%-*}; [ "${u#*:}" = "$version" ] && echo "$v"; done | tail -n1)
	[ -n "$debver" ] || { echo "zdtm/run.sh: no criu $version source in Debian testing, unstable or 13" >&2; exit 69; }
	dl=$(mktemp -d)
	chmod 755 "$dl"
	# Only the upstream tarball is needed (test/zdtm); another file of the
	# source package that cannot be had does not matter.
	(cd "$dl" && aptopts apt-get source --download-only -qq "criu=$debver" >/dev/null 2>&1) || true
	want=$(aptopts apt-cache showsrc criu | awk -v v="$debver" -v f="criu_$version.orig.tar.xz" '
		/^$/ { mine = 0; sums = 0 }
		/^Version: / { mine = ($2 == v) }
		/^[^ ]/ { sums = ($1 == "Checksums-Sha256:") }
		mine && sums && $3 == f { print $1; exit }')
	got=$(sha256sum "$dl/criu_$version.orig.tar.xz" 2>/dev/null | cut -d' ' -f1) || got=
	if [ -z "$want" ] || [ "$want" != "$got" ]; then
		echo "zdtm/run.sh: criu_$version.orig.tar.xz: SHA-256 '${got:-no file}' is not the index's '$want'" >&2
		rm -rf "$dl"; exit 69
	fi
	mv "$dl/criu_$version.orig.tar.xz" "$tarball"
	rm -rf "$dl"
	echo "$want  criu $debver" >"$tarball.verified"
fi

# Build, as the zdtm user, in its home (cached: make does nothing the second time).
build=$home/zdtm/criu-$version
zdtm=$build/test/zdtm
asuser() { setpriv --reuid="$zuser" --regid="$zuser" --init-groups --no-new-privs -- env -i PATH=/usr/bin:/bin HOME="$home" "$@"; }
if ! [ -f "$zdtm/static/Makefile" ]; then
	install -d -o "$zuser" -g "$zuser" -m 0755 "$home/zdtm" "$build"
	asuser tar -xJf "$tarball" -C "$build" --strip-components=1 "criu-$version/test/zdtm" \
		"criu-$version/test/zdtm.py" "criu-$version/test/zdtm.desc"
fi
list=$here/tests.txt
names=$(sed 's/#.*//' "$list")
[ $# -eq 0 ] || names=$*
# The listed tests this source has (a list made from a newer criu names more).
have=
for n in $names; do
	if [ -f "$zdtm/static/$n.c" ]; then have="$have $n"; fi
done
t0=$(date +%s)
asuser make -s -C "$zdtm/lib" -j2 >"$cache/build.log" 2>&1 || { cat "$cache/build.log"; exit 70; }
# shellcheck disable=SC2086
asuser make -s -k -C "$zdtm/static" -j2 $have >>"$cache/build.log" 2>&1 ||
	echo "zdtm/run.sh: some tests did not build (see $cache/build.log); they are reported as absent"
# What make NAME.pid runs, for criu-helper run.
commands=$cache/commands-$version.tsv
touch "$commands"
for n in $names; do
	[ -x "$zdtm/static/$n" ] || continue
	grep -q "^$n	./$n " "$commands" && continue
	printf '%s\t%s\n' "$n" "$(cd "$zdtm/static" && asuser make -s -n -W "$n" --no-print-directory "$n.pid" | grep "^\./$n " | tail -n1)"
done >"$commands.new"
cat "$commands.new" >>"$commands"
rm -f "$commands.new"
echo "zdtm: criu $version ($criu), helper $helper; source and build ready in $(( $(date +%s) - t0 )) s"

tests=$cache/tests-run.txt
echo "$names" | tr ' ' '\n' >"$tests"
results=${RESULTS:-$cache/results-$version.tsv}
work=$home/zdtm/work
install -d -o "$zuser" -g "$zuser" -m 0700 "$work"
status=0
/usr/bin/python3 "$here/runner.py" --static "$zdtm/static" --criu "$criu" --helper "$helper" \
	--ch-launch "$cache/bin/ch-launch" --hold "$cache/bin/zdtm-hold" --user "$zuser" --work "$work" \
	--tests "$tests" --commands "$commands" --refusals "$here/refusals.txt" --known "$here/known-failures.txt" --results "$results" \
	--jobs "$jobs" --ways "$ways" --version "$version" || status=$?
pkill -KILL -u "$zuser" 2>/dev/null || true
echo "zdtm: done in $(( $(date +%s) - start )) s"
exit "$status"
