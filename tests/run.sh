#!/bin/sh
# Runs every test of criu-helper, as root, on a fresh Debian 12 machine:
#   1. set-up (scripts/setup.sh): dependencies, criu 4.x, build, setcap install, auditd;
#   2. fixtures: two unprivileged users, test programs, a second installation
#      whose "criu" is a probe that records what the helper hands it;
#   3. unit tests (Swift Testing);
#   4. the end-to-end suite: the real setcap'd helper, run as the test users,
#      against real criu and real auditd; a short fuzzing run of the image
#      validator;
#   5. CRIU's own static tests (zdtm) as an unprivileged user, bare criu and
#      through criu-helper (tests/zdtm/run.sh, about 3 minutes), unless SKIP_ZDTM=1;
#   6. real applications (C, Fortran, Python, NumPy, R, Java, OpenMP, a shell
#      pipeline, a TCP server, Open MPI, MPICH) run, dumped, restored and their output
#      compared with an uninterrupted run (tests/apps/run.sh, about 4 minutes),
#      unless SKIP_APPS=1;
#   7. the scheduler integrations (Slurm and OAR for real, LSF by contract),
#      unless SKIP_SCHEDULERS=1;
#   8. the Debian package (tests/package.sh): man pages linted, built with
#      lintian, installed, the end-to-end suite against it, removed and purged,
#      unless SKIP_PACKAGE=1.
set -eu
[ "$(id -u)" = 0 ] || { echo "tests/run.sh: must run as root (sudo $0)" >&2; exit 77; }
cd "$(dirname "$0")/.."
PATH=/opt/swift/usr/bin:$PATH
export PATH
start=$(date +%s)

scripts/setup.sh
tests/fixtures.sh

status=0
passed=0
failed=0
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# Runs one suite with its output in a file: a short tail when it passes, the
# whole output when it fails (a pipe into tail would hide the exit status).
suite() {
	name=$1; shift
	echo "== $name"
	if "$@" >"$logs/out" 2>&1; then
		tail -n 3 "$logs/out"; passed=$((passed + 1))
	else
		cat "$logs/out"; echo "FAIL $name"; status=1; failed=$((failed + 1))
	fi
}
suite "unit tests" swift test --filter UnitTests
suite "end-to-end tests" env CRIU_HELPER_E2E=1 swift test --no-parallel --filter EndToEndTests
# A short libFuzzer run of the image validator, seeded from real dumps (a
# long one: bench/fuzz.sh 10000000).
suite "fuzzing the image validator" bench/fuzz.sh "${FUZZ_RUNS:-200000}"
if [ "${SKIP_ZDTM:-0}" != 1 ]; then
	suite "zdtm: CRIU's static tests, bare and through criu-helper" tests/zdtm/run.sh
fi
if [ "${SKIP_APPS:-0}" != 1 ]; then
	suite "real applications: run, dump, restore, output compared" tests/apps/run.sh
fi
if [ "${SKIP_SCHEDULERS:-0}" != 1 ]; then
	for t in lsf slurm oar; do
		echo "== integration: $t"
		if "tests/integration/$t.sh"; then
			passed=$((passed + 1))
		else
			echo "FAIL integration: $t"; status=1; failed=$((failed + 1))
		fi
	done
fi
if [ "${SKIP_PACKAGE:-0}" != 1 ]; then
	echo "== package"
	package_start=$(date +%s)
	if tests/package.sh; then
		passed=$((passed + 1))
	else
		echo "FAIL package"; status=1; failed=$((failed + 1))
	fi
	echo "== package suite took $(( $(date +%s) - package_start )) s"
fi
echo "== all tests done in $(( $(date +%s) - start )) s"
echo "suites: $passed passed, $failed failed"
exit "$status"
