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
# CJ_EVERY: seconds between periodic checkpoints (the wrapper's
# --checkpoint-every), empty for none. A node crash, an administrator's
# requeue or a preemption that gives no warning then costs at most that much
# work, and no output twice: a resume cuts what the lost run wrote after its
# checkpoint (criu-helper restore).
CJ_EVERY=
# CJ_PRIVATE_NETWORK: non-empty for the wrapper's --private-network: the job
# starts under `criu-helper run --private-network` (loopback only, out of
# other users' reach); a resume gets a private network again by itself (the
# generation records it).
CJ_PRIVATE_NETWORK=
# Set once a checkpoint of the wrapper's own ended the job.
CJ_CHECKPOINTED=
# A line about this start (e.g. "restart 2 of job 1234") that a resume says
# only once the job's output files were cut back to the checkpoint (before
# that it would be cut with them).
CJ_RESUME_NOTE=

# One line to the job's stderr and to criu-job.log next to the checkpoints.
cj_log() {
	local line
	line="$(date -u +%Y-%m-%dT%H:%M:%SZ) criu-job[$CJ_NAME]: $*"
	printf '%s\n' "$line" >&2
	if [ -d "$CJ_DIR" ]; then printf '%s\n' "$line" >>"$CJ_DIR/criu-job.log"; fi
}

# The same line in criu-job.log only (criu-helper already said it on stderr).
cj_note() {
	if [ -d "$CJ_DIR" ]; then
		printf '%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ) criu-job[$CJ_NAME]: $*" >>"$CJ_DIR/criu-job.log"
	fi
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
	local periodic=()
	if [ -n "$CJ_EVERY" ]; then periodic=(--checkpoint-every "$CJ_EVERY" ${CJ_KEEP:+--keep "$CJ_KEEP"}); fi
	if [ "$mode" = resume ] && cj_has_checkpoint; then
		cj_note "resuming from the latest good checkpoint in $CJ_DIR"
		rm -f -- "$CJ_DIR/criu-job.restored"
		"$CRIU_HELPER" restore --images-dir "$CJ_DIR" --wait "${periodic[@]}" >"$CJ_DIR/criu-job.restored" &
		CJ_PID=$!
		CJ_MODE=restore
		cj_report_resume
	else
		[ -n "$CJ_RESUME_NOTE" ] && cj_log "$CJ_RESUME_NOTE"
		if [ "$mode" = resume ]; then cj_log "no good checkpoint in $CJ_DIR: starting from the beginning"; fi
		"$CRIU_HELPER" run ${CJ_PRIVATE_NETWORK:+--private-network} --images-dir "$CJ_DIR" "${periodic[@]}" -- "$@" &
		CJ_PID=$!
		CJ_MODE=run
		cj_log "started${CJ_EVERY:+ (a checkpoint every $CJ_EVERY s)}: $*"
	fi
}

# Once the restore has cut the output files back and restored the job: the
# start's own line, and what the resume lost (criu-helper's line with the
# checkpoint's age and how long the previous run went on after it) in the
# wrapper's log too.
cj_report_resume() {
	local line='' tries=0
	while [ "$tries" -lt 600 ] && cj_running && [ ! -s "$CJ_DIR/criu-job.restored" ]; do
		sleep 0.1
		tries=$((tries + 1))
	done
	[ -n "$CJ_RESUME_NOTE" ] && cj_log "$CJ_RESUME_NOTE"
	line=$(sed -n 's/^[^ ]* restore generation=[^ ]*: \(resuming .*\)$/\1/p' "$CJ_DIR/criu-helper.log" 2>/dev/null | tail -n 1)
	[ -n "$line" ] && cj_note "$line"
	if [ -s "$CJ_DIR/criu-job.restored" ]; then cj_log "resumed from the latest good checkpoint in $CJ_DIR"; fi
	return 0
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
	elif [ -n "$CJ_CHECKPOINTED" ]; then
		cj_log "the job was ended by its checkpoint (status $status); it resumes from $CJ_DIR"
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
		CJ_CHECKPOINTED=1
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
