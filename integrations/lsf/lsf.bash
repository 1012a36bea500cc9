# lsf.bash - what the LSF scripts share (sourced; bash): the images
# directory, the overrun state file, and LSF's default TERMINATE.
#
# The images directory is the job's LSF checkpoint directory,
# $LSB_CHKPNT_DIR (checkpoint_dir/JOBID, renamed by brestart to the new job
# ID). The overrun policy keeps its state next to the checkpoints in
# $LSB_CHKPNT_DIR/orun.state, lines KEY=VALUE:
#   job=JOBID      the job the state below is about
#   state=started|ok|failed|killed   the overrun checkpoint of that job
#   since=EPOCH    when the overrun checkpoint was asked for
#   restarts=N     overrun restarts so far (kept across brestart)
here=$(dirname -- "$(readlink -f -- "$0")")
# shellcheck source=../lib/criu-job.bash
. "$here/../lib/criu-job.bash"
CJ_DIR=${LSB_CHKPNT_DIR:-}
ORUN_STATE=${CJ_DIR:+$CJ_DIR/orun.state}

st_get() {
	[ -n "$ORUN_STATE" ] && [ -f "$ORUN_STATE" ] || return 0
	sed -n "s/^$1=//p" "$ORUN_STATE" | tail -n 1
}

st_set() { # KEY=VALUE...: sets those keys, replacing the file atomically
	[ -n "$ORUN_STATE" ] || return 1
	local kv old
	old=$(cat -- "$ORUN_STATE" 2>/dev/null) || old=
	for kv in "$@"; do old=$(printf '%s\n' "$old" | grep -v "^${kv%%=*}=") || true; done
	printf '%s\n' "$old" "$@" | grep . >"$ORUN_STATE.tmp" && mv -f -- "$ORUN_STATE.tmp" "$ORUN_STATE"
}

# True while any of the job's process groups ($LSB_JOBPGIDS) has a live
# (not zombie) process.
job_alive() {
	ps -e -o pgid=,stat= | awk -v g=" ${LSB_JOBPGIDS:-} " \
		'index(g, " " $1 " ") && $2 !~ /^Z/ { alive = 1 } END { exit !alive }'
}

# LSF's default TERMINATE: SIGINT, SIGTERM, SIGKILL to the job's process
# groups, ORUN_KILL_INTERVAL seconds apart (LSF's JOB_TERMINATE_INTERVAL,
# default 10), stopping as soon as the job is gone. Returns 0 when it is.
terminate_job() {
	local sig g i pause=${ORUN_KILL_INTERVAL:-10}
	for sig in INT TERM KILL; do
		job_alive || break
		cj_log "sending SIG$sig to process group(s) ${LSB_JOBPGIDS:-}"
		for g in ${LSB_JOBPGIDS:-}; do kill "-$sig" -- "-$g" 2>/dev/null; done
		for ((i = 0; i < pause * 5; i++)); do job_alive || break; sleep 0.2; done
	done
	if job_alive; then cj_log "the job is still alive after SIGKILL"; return 1; fi
	cj_log "the job is gone"
}
