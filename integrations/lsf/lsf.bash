# lsf.bash - what the LSF scripts share (sourced; bash): the images
# directory, the overrun state, the runs of a series, its summary, and LSF's
# default TERMINATE with the old integration's kill polling.
#
# The images directory is the job's LSF checkpoint directory,
# $LSB_CHKPNT_DIR (checkpoint_dir/JOBID, renamed by brestart to the new job
# ID), so everything kept there follows the job from run to run.
# $LSB_CHKPNT_DIR/orun.state holds the overrun policy's state, lines KEY=VALUE:
#   job=JOBID      the job the state below is about
#   state=started|ok|failed|killed|restarted   the overrun checkpoint of that job
#   since=EPOCH    when the overrun checkpoint was asked for
#   restart=yes|no whether that job is to be restarted (ENABLE_ORUN_RESTART=Y)
#   restarts=N     overrun restarts so far (kept across brestart)
# $LSB_CHKPNT_DIR/orun.runs has one line per run of the series (the first job
# and every restart): JOBID START END, epoch seconds, END "-" while it runs.
here=$(dirname -- "$(readlink -f -- "$0")")
# shellcheck source=../lib/criu-job.bash
. "$here/../lib/criu-job.bash"
CJ_DIR=${LSB_CHKPNT_DIR:-}
ORUN_STATE=${CJ_DIR:+$CJ_DIR/orun.state}
ORUN_RUNS=${CJ_DIR:+$CJ_DIR/orun.runs}

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

# run_begin JOBID: records that run JOBID of the series starts now (criu-run
# for the first job, erestart.criu for a restart); once per job ID.
run_begin() {
	[ -n "$ORUN_RUNS" ] && [ -d "$CJ_DIR" ] || return 0
	if [ -f "$ORUN_RUNS" ] && awk -v j="$1" '$1 == j { found = 1 } END { exit !found }' "$ORUN_RUNS"; then return 0; fi
	printf '%s %s -\n' "$1" "$(date +%s)" >>"$ORUN_RUNS" || cj_log "cannot record the start of job $1 in $ORUN_RUNS"
}

# run_end JOBID EPOCH: records that run JOBID ended at EPOCH (POST_EXEC); a
# run whose start was not recorded gets the start "?".
run_end() {
	[ -n "$ORUN_RUNS" ] && [ -d "$CJ_DIR" ] || return 0
	if ! { { [ -f "$ORUN_RUNS" ] && cat -- "$ORUN_RUNS"; } |
		awk -v j="$1" -v t="$2" '$1 == j { seen = 1; if ($3 == "-") $3 = t } { print } END { if (!seen) print j, "?", t }' \
			>"$ORUN_RUNS.tmp" && mv -f -- "$ORUN_RUNS.tmp" "$ORUN_RUNS"; }; then
		cj_log "cannot record the end of job $1 in $ORUN_RUNS"
	fi
}

hms() { printf '%d:%02d:%02d' $(($1 / 3600)) $(($1 % 3600 / 60)) $(($1 % 60)); }

# summary_text REASON: the series' summary, from orun.runs and orun.state.
summary_text() {
	local id start end started ran total=0 runs=0 unknown='' first
	first=$(awk 'NR == 1 { print $1 }' "$ORUN_RUNS")
	printf 'Overrun checkpoint/restart summary of job %s (the first job of the series)\n' "$first"
	printf 'The series ended: %s.\n\n' "$1"
	printf '%-10s  %-25s  %s\n' "job ID" "started" "ran"
	while read -r id start end; do
		runs=$((runs + 1))
		started="(not recorded)" ran="(not recorded)"
		if [[ $start =~ ^[0-9]+$ ]]; then started=$(date -d "@$start" '+%Y-%m-%d %H:%M:%S %z'); fi
		if [[ $start =~ ^[0-9]+$ && $end =~ ^[0-9]+$ ]] && ((end >= start)); then
			ran="$(hms $((end - start))) ($((end - start)) s)"
			total=$((total + end - start))
		else
			unknown=" (runs without a recorded start or end not counted)"
		fi
		printf '%-10s  %-25s  %s\n' "$id" "$started" "$ran"
	done <"$ORUN_RUNS"
	printf '\ntotal runtime: %s (%d s) in %d run(s)%s\n' "$(hms "$total")" "$total" "$runs" "$unknown"
	local restarts
	restarts=$(st_get restarts)
	printf 'overrun restarts: %d\n' "${restarts:-0}"
}

# write_summary REASON: the series ends without a further restart; writes
# overrun-summary-FIRSTJOBID.txt next to the job's output file
# ($LSB_OUTPUTFILE, relative to the working directory), unless that is
# /dev/null or unset.
write_summary() {
	local out=${LSB_OUTPUTFILE:-} dir first file tmp
	if [ -z "$out" ]; then cj_log "no overrun summary: LSB_OUTPUTFILE is unset (the job has no output file)"; return 0; fi
	if [ "$out" = /dev/null ]; then cj_log "no overrun summary: the job's output is /dev/null"; return 0; fi
	if [ -d "$out" ]; then dir=$out; else dir=$(dirname -- "$out"); fi
	case $dir in /*) ;; .) dir=$PWD ;; *) dir=$PWD/$dir ;; esac # the job's working directory
	first=$(awk 'NR == 1 { print $1 }' "$ORUN_RUNS" 2>/dev/null)
	if ! [[ $first =~ ^[0-9]+$ ]]; then cj_log "overrun summary FAILED: no run of the series is recorded in $ORUN_RUNS"; return 1; fi
	file=$dir/overrun-summary-$first.txt
	if ! tmp=$(mktemp -- "$dir/.overrun-summary-$first.XXXXXX" 2>/dev/null); then
		cj_log "overrun summary FAILED: cannot create a file in $dir"
		return 1
	fi
	if summary_text "$1" >"$tmp" && chmod "$(printf '%o' $((0666 & ~0$(umask))))" -- "$tmp" && mv -f -- "$tmp" "$file"; then
		cj_log "overrun summary written to $file (the series ended: $1)"
	else
		rm -f -- "$tmp"
		cj_log "overrun summary FAILED: cannot write $file"
		return 1
	fi
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
