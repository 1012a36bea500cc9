#!/bin/sh
# Installs CRIU 4.x into a private prefix, without touching the system's libc.
#
# Debian 12's criu 3.17 fails on kernels >= 6.13 ("vdso: Unexpected rt vDSO area
# bounds"). Debian 13 (trixie) ships 4.1.1, which works, but needs libc6 2.41.
# Rather than upgrading the system's libc, this fetches criu and every library it
# loads from trixie (a source pinned at priority 100, so nothing else is upgraded),
# unpacks them with dpkg -x into PREFIX, and points criu's ELF interpreter and
# RPATH at PREFIX with patchelf: PREFIX/usr/sbin/criu then runs like any binary.
#
# usage: install/get-criu.sh [--prefix DIR]     (default /opt/criu4)
set -eu

prefix=/opt/criu4
while [ $# -gt 0 ]; do
	case $1 in
	--prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
	-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
	*) echo "get-criu.sh: unknown argument: $1" >&2; exit 64 ;;
	esac
done
case $prefix in /*) ;; *) echo "get-criu.sh: --prefix must be absolute" >&2; exit 64 ;; esac
[ "$(id -u)" = 0 ] || { echo "get-criu.sh: must run as root (it installs into $prefix)" >&2; exit 77; }

criu=$prefix/usr/sbin/criu
if [ -x "$criu" ] && "$criu" --version 2>/dev/null | grep -q '^Version: 4\.'; then
	echo "get-criu.sh: $("$criu" --version | head -1) already in $prefix"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! grep -rqs 'trixie' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	cat >/etc/apt/sources.list.d/trixie.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
cat >/etc/apt/preferences.d/trixie-low <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
apt-get update -qq
command -v patchelf >/dev/null || apt-get install -y -qq patchelf >/dev/null

# criu 4.1.1 and the closure of the shared libraries it loads (checked below).
pkgs="criu libcompel1 libc6 libgcc-s1 libbsd0 libmd0 libgnutls30t64 libunistring5
libidn2-0 libtasn1-6 libnettle8t64 libhogweed6t64 libgmp10 libp11-kit0 libffi8
libnftables1 libjansson4 libmnl0 libnftnl11 libxtables12 libnet1 libnl-3-200
libprotobuf-c1 libuuid1 libbrotli1 libzstd1 zlib1g"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"   # apt's _apt user downloads into it
(
	cd "$work"
	for p in $pkgs; do set -- "$@" "$p/trixie"; done
	apt-get download -qq "$@"
)
stage=$work/root
mkdir "$stage"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$stage"; done

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

rm -rf "$prefix.new"
mkdir -p "$(dirname "$prefix")"
cp -a "$stage" "$prefix.new"
chown -R root:root "$prefix.new"
chmod -R go-w "$prefix.new"
chmod 755 "$prefix.new"
rm -rf "$prefix"
mv "$prefix.new" "$prefix"
"$criu" --version | head -1
