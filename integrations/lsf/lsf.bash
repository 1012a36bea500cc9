# lsf.bash - what the LSF scripts share (sourced; bash): the images
# directory, the overrun state file, and LSF's default TERMINATE with the old
# integration's kill polling.
#
# The images directory is the job's LSF checkpoint directory,
# $LSB_CHKPNT_DIR (checkpoint_dir/JOBID, renamed by brestart to the new job
# ID). The overrun policy keeps its state next to the checkpoints in
# $LSB_CHKPNT_DIR/orun.state, lines KEY=VALUE:
#   job=JOBID      the job the state below is about
#   state=started|ok|failed|killed|restarted   the overrun checkpoint of that job
#   since=EPOCH    when the overrun checkpoint was asked for
#   restart=yes|no whether that job is to be restarted (ENABLE_ORUN_RESTART=Y)
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

# int_setting NAME DEFAULT MIN: prints the job's whole-number setting NAME
# (an environment variable), DEFAULT when it is unset; a value that is not a
# whole number of at least MIN is logged and DEFAULT used instead.
int_setting() {
	local value=${!1:-}
	if [ -z "$value" ]; then echo "$2"; return; fi
	if [[ $value =~ ^[0-9]{1,9}$ ]] && ((10#$value >= $3)); then echo $((10#$value)); return; fi
	cj_log "$1=$value is not a whole number of at least $3: using the default, $2"
	echo "$2"
}

# True when the job is gone: no live (not zombie) process is left in any of
# its process groups ($LSB_JOBPGIDS), nor any of its processes ($LSB_JOBPIDS).
job_gone() {
	local table
	table=$(ps -e -o pid=,pgid=,stat=) || return 1
	awk -v groups="${LSB_JOBPGIDS:-}" -v pids="${LSB_JOBPIDS:-}" '
		BEGIN { n = split(groups, a); for (i = 1; i <= n; i++) g[a[i]] = 1
			n = split(pids, a); for (i = 1; i <= n; i++) p[a[i]] = 1 }
		$3 !~ /^Z/ && (($2 in g) || ($1 in p)) { alive = 1 }
		END { exit alive }' <<<"$table"
}

# LSF's default TERMINATE as the old integration emulated bkill: SIGINT,
# SIGTERM, SIGKILL to the job's process groups; after each, up to
# ORUN_KILL_POLL_TRIES (default 10) polls, one second apart (the first one
# second after the signal), whether the job is gone. Logs which signal ended
# it, or that it could not be killed (then returns 1).
terminate_job() {
	local sig g i tries
	tries=$(int_setting ORUN_KILL_POLL_TRIES 10 1)
	if job_gone; then cj_log "the job is already gone"; return 0; fi
	for sig in INT TERM KILL; do
		cj_log "sending SIG$sig to process group(s) ${LSB_JOBPGIDS:-}"
		for g in ${LSB_JOBPGIDS:-}; do kill "-$sig" -- "-$g" 2>/dev/null; done
		for ((i = 1; i <= tries; i++)); do
			sleep 1
			if job_gone; then
				cj_log "the job ended after SIG$sig (poll $i of $tries, 1 s apart)"
				return 0
			fi
		done
		cj_log "the job is still alive after SIG$sig and $tries poll(s) 1 s apart"
	done
	cj_log "the job could NOT be killed: processes of groups ${LSB_JOBPGIDS:-} or pids ${LSB_JOBPIDS:-} are alive after SIGINT, SIGTERM and SIGKILL"
	return 1
}
