#!/bin/sh
# Builds criu-helper's Debian package from this repository, then runs lintian.
#
# usage: packaging/build-deb.sh [--out DIR] [--criu PATH] [--scratch-path DIR] [--no-lintian]
#   --out DIR           where the .deb, .buildinfo and .changes go (default: dist)
#   --criu PATH         the criu the configuration names (default: by the suite:
#                       Debian 12 /opt/criu4/usr/sbin/criu, later /usr/sbin/criu)
#   --scratch-path DIR  SwiftPM's build directory, kept between builds
#                       (default: DIR/swift-build)
#   --no-lintian        do not run lintian
#
# The tree (tracked and untracked files, not ignored ones) is copied to
# DIR/src/criu-helper-VERSION and built there with dpkg-buildpackage -b, so
# that the build writes nothing into the repository. Needs the Build-Depends
# of debian/control (apt-get install debhelper libaudit-dev libcap-dev mandoc
# pkgconf), lintian, and the Swift toolchain (SWIFT, default
# /opt/swift/usr/bin/swift). Prints the path of the .deb on its last line.
# Exit status: 0 built (and lintian clean), 1 the build or lintian failed,
# 64 usage error, 69 a tool or build dependency is missing.
set -eu

out=dist
criu=
scratch=
lintian=yes
die() { echo "build-deb.sh: $1" >&2; exit "${2:-64}"; }

while [ $# -gt 0 ]; do
	case $1 in
	--out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
	--criu) [ $# -ge 2 ] || die "--criu needs a path"; criu=$2; shift 2 ;;
	--scratch-path) [ $# -ge 2 ] || die "--scratch-path needs a directory"; scratch=$2; shift 2 ;;
	--no-lintian) lintian=no; shift ;;
	-h|--help) sed -n '2,19p' "$0"; exit 0 ;;
	*) die "unknown argument: $1" ;;
	esac
done
case $criu in ''|/*) ;; *) die "--criu must be an absolute path" ;; esac

repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
case $out/ in "$repo"/*) [ "$out" = "$repo/dist" ] || die "--out must be outside the repository, or its dist/" ;; esac
scratch=${scratch:-$out/swift-build}
SWIFT=${SWIFT:-/opt/swift/usr/bin/swift}

for tool in dpkg-buildpackage dpkg-checkbuilddeps dh; do
	command -v "$tool" >/dev/null || die "$tool not found (apt-get install dpkg-dev debhelper)" 69
done
[ "$lintian" = no ] || command -v lintian >/dev/null || die "lintian not found (apt-get install lintian), or give --no-lintian" 69
[ -x "$SWIFT" ] || die "no Swift toolchain at $SWIFT (set SWIFT=/path/to/swift)" 69
if ! missing=$(cd "$repo" && dpkg-checkbuilddeps 2>&1); then
	die "missing build dependencies: $(echo "$missing" | sed -n 's/.*Unmet build dependencies: //p') (apt-get install them)" 69
fi

version=$(cd "$repo" && dpkg-parsechangelog -S Version)
src=$out/src/criu-helper-$version
rm -rf "$out/src"
mkdir -p "$src"
# The files of the tree as git sees them (with local changes), else all but builds.
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
		(cd "$repo" && xargs -0 cp --parents -P -t "$src" 2>/dev/null) || true
	# Files deleted in the work tree but still tracked are not copied (cp fails on them).
else
	(cd "$repo" && tar --exclude='./.build*' --exclude=./dist -cf - .) | (cd "$src" && tar -xf -)
fi
[ -f "$src/debian/rules" ] || die "copying the tree to $src failed" 1

echo "build-deb.sh: building criu-helper $version in $src"
rm -f "$out"/criu-helper_"$version"_*
(
	cd "$src"
	export SWIFT SWIFT_SCRATCH="$scratch"
	if [ -n "$criu" ]; then export CRIU="$criu"; fi
	dpkg-buildpackage -b -us -uc
) || die "dpkg-buildpackage failed (see above)" 1
# dpkg-buildpackage writes next to the source tree.
mv "$out/src/criu-helper_${version}_"* "$out/"

arch=$(dpkg --print-architecture)
deb=$out/criu-helper_${version}_$arch.deb
[ -f "$deb" ] || die "no $deb after the build" 1
if [ "$lintian" = yes ]; then
	echo "build-deb.sh: lintian $(lintian --version | sed 's/^Lintian v//')"
	lintian --fail-on error,warning --display-info "$out/criu-helper_${version}_$arch.changes" ||
		die "lintian found errors or warnings (see above)" 1
fi
echo "$deb"
