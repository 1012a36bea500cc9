#!/bin/sh
# Sets up a fresh Debian 12 machine for criu-helper, as root: dependencies
# (install/deps.sh), a release build with the Swift standard library linked
# statically, the installation with file capabilities (install/setcap.sh),
# and a running auditd. Idempotent.
set -eu
[ "$(id -u)" = 0 ] || { echo "setup.sh: must run as root (sudo $0)" >&2; exit 77; }
cd "$(dirname "$0")/.."
PATH=/opt/swift/usr/bin:$PATH
export PATH
install/deps.sh
swift build -c release --static-swift-stdlib -Xlinker -s 2>&1 | tail -1
pgrep -x auditd >/dev/null || auditd
install/setcap.sh --prefix "${PREFIX:-/usr/local}"
