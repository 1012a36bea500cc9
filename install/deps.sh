#!/bin/sh
# Installs what criu-helper needs to build and run on Debian 12, as root:
# the C libraries it links (libcap, libaudit), auditd, and CRIU 4.x in a
# private prefix (install/get-criu.sh). Idempotent.
set -eu
[ "$(id -u)" = 0 ] || { echo "deps.sh: must run as root" >&2; exit 77; }
export DEBIAN_FRONTEND=noninteractive
need=""
for p in libcap-dev libcap2-bin libaudit-dev auditd patchelf gcc shellcheck util-linux procps; do
	dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq $need >/dev/null
fi
"$(dirname "$0")/get-criu.sh"
