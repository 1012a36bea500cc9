# criu-job.bash - the part of the batch-job wrappers that every scheduler
# shares (sourced by slurm/criu-job and oar/criu-job; bash).
#
# A wrapper sets CJ_DIR (the job's images directory) and CJ_NAME (a label for
# its messages), then calls cj_start, traps its scheduler's checkpoint signal
# with a handler that calls cj_checkpoint, and ends with cj_wait. Every
# privileged step is criu-helper's; this file only decides which verb to call.

# The helper of the installation these scripts belong to
# (PREFIX/share/criu-helper/lib -> PREFIX/bin), else the one on PATH.
if [ -z "${CRIU_HELPER:-}" ]; then
	CRIU_HELPER=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/../../../bin/criu-helper
	[ -x "$CRIU_HELPER" ] || CRIU_HELPER=criu-helper
fi
CJ_PID=
CJ_TRAPPED=

# One line to the job's stderr and to criu-job.log next to the checkpoints.
cj_log() {
	local line
	line="$(date -u +%Y-%m-%dT%H:%M:%SZ) criu-job[$CJ_NAME]: $*"
	printf '%s\n' "$line" >&2
	if [ -d "$CJ_DIR" ]; then printf '%s\n' "$line" >>"$CJ_DIR/criu-job.log"; fi
}

# Creates the images directory's parents private to the caller (criu-helper
# refuses a directory that others can write).
cj_prepare() {
	(umask 077 && mkdir -p -- "$CJ_DIR") || { cj_log "cannot create $CJ_DIR"; return 1; }
}

cj_has_checkpoint() {
	"$CRIU_HELPER" list --images-dir "$CJ_DIR" 2>/dev/null | grep -q '^g[0-9]* *good '
}

# cj_start resume|fresh COMMAND [ARG...]: starts the job in the background.
# With "resume" and a good checkpoint, it is restored (`restore --wait`);
# otherwise COMMAND starts from the beginning under `criu-helper run`.
cj_start() {
	local mode=$1
	shift
	if [ "$mode" = resume ] && cj_has_checkpoint; then
		cj_log "resuming from the latest good checkpoint in $CJ_DIR"
		rm -f -- "$CJ_DIR/criu-job.restored"
		"$CRIU_HELPER" restore --images-dir "$CJ_DIR" --wait >"$CJ_DIR/criu-job.restored" &
		CJ_PID=$!
		CJ_MODE=restore
	else
		if [ "$mode" = resume ]; then cj_log "no good checkpoint in $CJ_DIR: starting from the beginning"; fi
		"$CRIU_HELPER" run --images-dir "$CJ_DIR" -- "$@" &
		CJ_PID=$!
		CJ_MODE=run
		cj_log "started: $*"
	fi
}

# Waits for the job; a trapped signal interrupts `wait`, so it waits again
# until the job itself has ended. Returns the job's exit status.
cj_wait() {
	local status
	while :; do
		CJ_TRAPPED=
		wait "$CJ_PID"
		status=$?
		[ -n "$CJ_TRAPPED" ] || break
		# A handler ran: the job may have ended meanwhile (then this wait
		# collects its status) or still run (then it waits on).
	done
	if [ "$CJ_MODE" = restore ] && [ ! -s "$CJ_DIR/criu-job.restored" ]; then
		cj_log "restore failed (criu-helper exit status $status, see $CJ_DIR/criu-helper.log): the job cannot go on"
	else
		cj_log "job ended with status $status"
	fi
	return "$status"
}

# True while the job (criu-helper run or restore --wait) is alive.
cj_running() {
	kill -0 "$CJ_PID" 2>/dev/null
}

# Checkpoints the job and stops it. Returns 0 when a new good checkpoint was
# made and the job is gone; 2 when it failed but the job is gone anyway and
# an older good checkpoint can resume it; 1 when it failed and the job goes on
# (it then ends as it would have without checkpointing).
cj_checkpoint() {
	CJ_TRAPPED=1
	cj_log "checkpoint requested"
	local status=0
	"$CRIU_HELPER" dump --images-dir "$CJ_DIR" ${CJ_KEEP:+--keep "$CJ_KEEP"} || status=$?
	if [ "$status" = 0 ]; then
		cj_log "checkpoint written; the job is stopped"
		return 0
	fi
	for _ in 1 2 3 4 5 6 7 8 9 10; do cj_running || break; sleep 0.2; done
	if cj_running; then
		local kept="there is no earlier checkpoint"
		if cj_has_checkpoint; then kept="the previous good checkpoint is kept"; fi
		cj_log "checkpoint FAILED (criu-helper exit status $status): the job goes on and ends as it would have without checkpointing; $kept"
		return 1
	fi
	if cj_has_checkpoint; then
		cj_log "checkpoint FAILED (criu-helper exit status $status) and the job is gone: it will resume from the previous good checkpoint"
		return 2
	fi
	cj_log "checkpoint FAILED (criu-helper exit status $status), the job is gone and there is no earlier checkpoint"
	return 1
}
