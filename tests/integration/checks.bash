# checks.bash - what the scheduler suites share (sourced by slurm.sh and
# oar.sh): counted `ok - ...` / `not ok - ...` lines and bounded polling.
# The suite prints "$passed passed, $failed failed" when it ends.
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# wait_for SECONDS COMMAND...: polls COMMAND every 0.5 s (its stderr
# silenced), at most SECONDS; true once it succeeds.
wait_for() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@" 2>/dev/null; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.5
	done
}
