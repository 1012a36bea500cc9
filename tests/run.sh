#!/bin/sh
# Runs every test of criu-helper, as root, on a fresh Debian 12 machine:
#   1. set-up (scripts/setup.sh): dependencies, criu 4.x, build, setcap install, auditd;
#   2. fixtures: two unprivileged users, test programs, a second installation
#      whose "criu" is a probe that records what the helper hands it;
#   3. unit tests (Swift Testing);
#   4. the end-to-end suite: the real setcap'd helper, run as the test users,
#      against real criu and real auditd;
#   5. the scheduler integrations (Slurm and OAR for real, LSF by contract),
#      unless SKIP_SCHEDULERS=1.
set -eu
[ "$(id -u)" = 0 ] || { echo "tests/run.sh: must run as root (sudo $0)" >&2; exit 77; }
cd "$(dirname "$0")/.."
PATH=/opt/swift/usr/bin:$PATH
export PATH
start=$(date +%s)

scripts/setup.sh
tests/fixtures.sh

echo "== unit tests"
swift test --filter UnitTests 2>&1 | tail -n 5
echo "== end-to-end tests"
CRIU_HELPER_E2E=1 swift test --no-parallel --filter EndToEndTests 2>&1 | tail -n 40

status=0
if [ "${SKIP_SCHEDULERS:-0}" != 1 ]; then
	for t in lsf slurm oar; do
		if [ -x "tests/integration/$t.sh" ]; then
			echo "== integration: $t"
			if ! "tests/integration/$t.sh"; then status=1; echo "FAIL integration $t"; fi
		fi
	done
fi
echo "== all tests done in $(( $(date +%s) - start )) s"
exit "$status"
