#!/bin/sh
# Installs CRIU 4.2.x into a private prefix, without touching the system's libc
# or the system's apt sources.
#
# Debian 12's criu 3.17 fails on kernels >= 6.13 ("vdso: Unexpected rt vDSO area
# bounds"); criu 4.1.1 (Debian 13) cannot dump an inet socket on kernels >= 6.16
# ("sockets: Can't get 1:16 opt"). criu 4.2.x is in Debian testing and unstable,
# built against a newer libc. Rather than upgrading the system's libc, this reads
# those suites through a private apt configuration (its own sources list, lists
# and cache under CACHE, pinned at priority 100, never seen by the system's apt),
# downloads criu and the closure of what it depends on, unpacks them with dpkg -x
# into PREFIX, and points criu's ELF interpreter and RPATH at PREFIX with
# patchelf: PREFIX/usr/sbin/criu then runs like any binary. Only a 4.2.x is
# accepted from testing or unstable; where neither has one (or it cannot be
# downloaded), criu 4.1.1 from Debian 13 is installed instead, and the script
# says so. PREFIX/share/criu-origin records the version and the suite.
#
# usage: install/get-criu.sh [--prefix DIR] [--force]   (default /opt/criu4)
#   --force   reinstall even when PREFIX already holds criu 4.2.x
#   CACHE (environment) the private apt state, default /var/cache/criu-helper/apt
set -eu

prefix=/opt/criu4
force=0
while [ $# -gt 0 ]; do
	case $1 in
	--prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
	--force) force=1; shift ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "get-criu.sh: unknown argument: $1" >&2; exit 64 ;;
	esac
done
case $prefix in /*) ;; *) echo "get-criu.sh: --prefix must be absolute" >&2; exit 64 ;; esac
[ "$(id -u)" = 0 ] || { echo "get-criu.sh: must run as root (it installs into $prefix)" >&2; exit 77; }

criu=$prefix/usr/sbin/criu
installed=
if [ -x "$criu" ]; then
	installed=$("$criu" --version 2>/dev/null | sed -n 's/^Version: //p' | head -1) || installed=
fi
case $installed in
4.2|4.2.*)
	if [ "$force" = 0 ]; then
		echo "get-criu.sh: criu $installed already in $prefix"
		exit 0
	fi ;;
esac

export DEBIAN_FRONTEND=noninteractive
command -v patchelf >/dev/null || { apt-get update -qq && apt-get install -y -qq patchelf >/dev/null; }

# The private apt configuration: one sources list and one lists directory per
# suite tried (an update drops the lists its sources list does not name), a
# cache, an empty dpkg status (the closure does not depend on what the system
# has installed), everything pinned low.
cache=${CACHE:-/var/cache/criu-helper/apt}
mkdir -p "$cache/archives/partial" "$cache/etc/sources.list.d" \
	"$cache/etc/preferences.d"
: >"$cache/status"
apt_opts() {
	echo "-o Dir::Etc::SourceList=$cache/etc/$1.list -o Dir::Etc::SourceParts=$cache/etc/sources.list.d" \
		"-o Dir::Etc::Preferences=$cache/etc/preferences -o Dir::Etc::PreferencesParts=$cache/etc/preferences.d" \
		"-o Dir::State::Lists=$cache/lists-$1 -o Dir::Cache=$cache -o Dir::State::status=$cache/status" \
		"-o APT::Architecture=amd64 -o APT::Architectures=amd64"
}
cat >"$cache/etc/preferences" <<'PIN'
Package: *
Pin: origin deb.debian.org
Pin-Priority: 100
PIN
for suite in forky sid trixie; do
	cat >"$cache/etc/$suite.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main
SRC
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"   # apt's _apt user downloads into it

# Downloads criu from SUITE into $work/SUITE if its upstream version is SERIES
# or SERIES.anything,
# with the closure of its Depends and Pre-Depends; returns non-zero (with the
# reason in $why) otherwise.
fetch() {
	suite=$1 series=$2
	mkdir -p "$cache/lists-$suite/partial"
	# shellcheck disable=SC2046
	if ! apt-get $(apt_opts "$suite") update -qq >"$work/update.log" 2>&1; then
		why="apt-get update of $suite failed: $(grep -m1 -E '^(E|W):' "$work/update.log" || tail -n1 "$work/update.log")"
		return 1
	fi
	# shellcheck disable=SC2046
	version=$(apt-cache $(apt_opts "$suite") show criu 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n1)
	[ -n "$version" ] || { why="$suite has no criu"; return 1; }
	upstream=${version%-*}
	upstream=${upstream#*:}
	case $upstream in
	"$series"|"$series".*) ;;
	*) why="$suite has criu $version, not $series.x"; return 1 ;;
	esac
	# shellcheck disable=SC2046
	pkgs=$(apt-cache $(apt_opts "$suite") depends --recurse --no-recommends --no-suggests \
		--no-conflicts --no-breaks --no-replaces --no-enhances "criu=$version" 2>/dev/null |
		grep -v '^[ <]' | sort -u)
	mkdir -p "$work/$suite"
	chmod 755 "$work/$suite"
	# shellcheck disable=SC2046,SC2086
	if ! (cd "$work/$suite" && apt-get $(apt_opts "$suite") download -qq $pkgs) >"$work/download.log" 2>&1; then
		why="downloading criu $version from $suite failed: $(grep -m1 -E '^(E|W):' "$work/download.log" || tail -n1 "$work/download.log")"
		return 1
	fi
	ls "$work/$suite"/criu_*.deb >/dev/null 2>&1 || { why="no criu package downloaded from $suite"; return 1; }
}

why=
got=
for suite in forky sid; do
	if fetch "$suite" 4.2; then got=$suite; break; fi
	echo "get-criu.sh: $why" >&2
done
if [ -z "$got" ]; then
	case $installed in
	4.1.*)
		echo "get-criu.sh: FALLBACK: criu 4.2 cannot be had from Debian testing or unstable; keeping criu $installed in $prefix"
		exit 0 ;;
	esac
	fetch trixie 4.1 || { echo "get-criu.sh: $why" >&2; exit 69; }
	got=trixie
	echo "get-criu.sh: FALLBACK: criu 4.2 cannot be had from Debian testing or unstable; installing criu $version from Debian 13 (trixie) instead"
fi

stage=$work/root
mkdir "$stage"
for deb in "$work/$got"/*.deb; do dpkg -x "$deb" "$stage"; done

lib=$prefix/usr/lib/x86_64-linux-gnu
patchelf --set-interpreter "$lib/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$lib" \
	"$stage/usr/sbin/criu"

# Every library criu needs must resolve inside the prefix, not from the system.
missing=$(for f in "$stage/usr/sbin/criu" "$stage"/usr/lib/x86_64-linux-gnu/*.so*; do
	readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
done | sort -u | while read -r so; do
	[ -e "$stage/usr/lib/x86_64-linux-gnu/$so" ] || echo "$so"
done)
[ -z "$missing" ] || { echo "get-criu.sh: libraries missing from the prefix: $missing" >&2; exit 69; }

# The staged binary must run and be the version chosen (a copy pointed at the
# stage: the RPATH of the real one names PREFIX, which may hold another libc).
slib=$stage/usr/lib/x86_64-linux-gnu
cp "$stage/usr/sbin/criu" "$work/criu-check"
patchelf --set-interpreter "$slib/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$slib" "$work/criu-check"
ran=$("$work/criu-check" --version 2>/dev/null | sed -n 's/^Version: //p' | head -1) || ran=
[ "$ran" = "$upstream" ] || { echo "get-criu.sh: the staged criu says version '$ran', expected $upstream" >&2; exit 69; }
mkdir -p "$stage/share"
printf 'criu %s %s\n' "$version" "$got" >"$stage/share/criu-origin"

rm -rf "$prefix.new"
mkdir -p "$(dirname "$prefix")"
cp -a "$stage" "$prefix.new"
chown -R root:root "$prefix.new"
chmod -R go-w "$prefix.new"
chmod 755 "$prefix.new"
rm -rf "$prefix"
mv "$prefix.new" "$prefix"
echo "get-criu.sh: criu $("$criu" --version | sed -n 's/^Version: //p') ($version from $got) in $prefix"
