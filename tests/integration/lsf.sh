#!/bin/bash
# tests/integration/lsf.sh - the LSF integration (integrations/lsf) against a
# stand-in of LSF's side, as root: LSF itself cannot run here.
#
# The stand-in does what LSF documents, as the job's user (chlsf, created if
# absent; no other user is touched): it starts the job command in its own
# process group with the job's environment (LSB_JOBID, LSB_CHKPNT_DIR =
# checkpoint_dir/JOBID, LSB_ECHKPNT_METHOD=criu, LSB_OUTPUTFILE), calls
# $LSF_SERVERDIR/echkpnt.criu [-k] -d DIR PGID and erestart.criu DIR, runs
# the job command from .restart_cmd after moving the checkpoint directory to
# the new job ID (with a symbolic link from the old one), and calls the
# queue's TERMINATE action (with LSB_JOBPGIDS, LSB_JOBPIDS and, for a run
# limit, LSB_SUSP_REASONS=0x20000 / LSB_SUSP_SUBREASONS=0x1) again while it
# answers "not done", and POST_EXEC in the job's working directory, before
# or after the next TERMINATE and echkpnt.criu's outcome. bchkpnt, brestart,
# bkill and bjobs are fakes that record their calls. criu-helper and criu are
# the real ones: CRIU_HELPER names the installed helper to test (default:
# criu-helper on PATH, normally /usr/local/bin/criu-helper).
#
# Nothing waits a fixed time for something to happen: every step waits for
# its condition, with deadlines generous enough for a loaded machine. The
# kill polls are one second apart, so the jobs get ORUN_KILL_POLL_TRIES=1
# except one, started first and checked last, which shows the default (10).
#
# Environment: CRIU_HELPER (above); LSF_IT_KEEP=1 keeps the work directory.
set -u
[ "$(id -u)" = 0 ] || { echo "tests/integration/lsf.sh: must run as root" >&2; exit 77; }
cd "$(dirname -- "$0")/../.." || exit 70
if ! HELPER=$(command -v -- "${CRIU_HELPER:-criu-helper}") || [ ! -x "$HELPER" ]; then
	echo "tests/integration/lsf.sh: no criu-helper at ${CRIU_HELPER:-criu-helper} (set CRIU_HELPER to an installed one)" >&2
	exit 69
fi
U=chlsf
id "$U" >/dev/null 2>&1 || useradd -m -s /bin/bash "$U"
UHOME=$(getent passwd "$U" | cut -d: -f6)
began=$(date +%s)
passed=0 failed=0
STARTED=() # process groups this test started, for the clean-up

# The installation, root-owned as an administrator would make it.
S=$(mktemp -d /tmp/lsf-it.XXXXXX)
trap 'rm -rf -- "$S"' EXIT
chmod 0755 "$S"
mkdir -p "$S/share/integrations" "$S/serverdir" "$S/fakebin" "$S/jobs"
cp -r integrations/lib integrations/lsf "$S/share/integrations/"
ln -s "$S/share/integrations/lsf/echkpnt.criu" "$S/share/integrations/lsf/erestart.criu" "$S/serverdir/"
L=$S/share/integrations/lsf
for cmd in bchkpnt brestart bkill bjobs; do
	cat >"$S/fakebin/$cmd" <<'EOF'
#!/bin/sh
echo "$(basename "$0") $*" >>"$LSF_FAKE_CALLS"
case $(basename "$0") in brestart) echo "Job <9999> is submitted to queue <normal>." ;; esac
EOF
done
# The jobs: a count (exits 7 once ./stop exists; ./nodump makes it
# uncheckpointable: tail -f holds an inotify watch); one that records
# SIGINT and SIGTERM and goes on, so that only SIGKILL ends it; one that
# records when SIGINT and SIGTERM came and ends on SIGTERM.
cat >"$S/jobs/count.sh" <<'EOF'
#!/bin/bash
i=0
while :; do
	echo "$i"
	i=$((i + 1))
	[ -e stop ] && exit 7
	if [ -e nodump ] && [ -z "${t:-}" ]; then tail -f "$0" >/dev/null & t=$!; fi
	sleep 0.2
done
EOF
cat >"$S/jobs/stubborn.sh" <<'EOF'
#!/bin/bash
trap 'echo INT >>sigs' INT
trap 'echo TERM >>sigs' TERM
while :; do echo tick; sleep 0.2; done
EOF
cat >"$S/jobs/term-ends.sh" <<'EOF'
#!/bin/bash
trap 'echo "INT $(date +%s%N)" >>sigs' INT
trap 'echo "TERM $(date +%s%N)" >>sigs; exit 0' TERM
while :; do echo tick; sleep 0.2; done
EOF
chmod -R a+rX "$S"
chmod 0755 "$S"/fakebin/* "$S"/jobs/*

T=$UHOME/lsf-it
rm -rf -- "$T"
runuser -u "$U" -- mkdir -m 0700 "$T" "$T/ck"
CALLS=$T/calls
runuser -u "$U" -- touch "$CALLS"

ok() { echo "ok - $1"; passed=$((passed + 1)); }
notok() { echo "not ok - $1"; failed=$((failed + 1)); }
# COMMAND; check DESCRIPTION: ok when COMMAND (the one just before) succeeded.
check() {
	if [ $? = 0 ]; then ok "$1"; else notok "$1"; fi
}
wait_until() { # SECONDS COMMAND...: polls every 0.1 s
	local end=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@"; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# As the job's user, with LSF's environment for job $J (set by the callers).
J=0 PG=0
KILLPOLL=(ORUN_KILL_POLL_TRIES=1)
as_job() {
	runuser -u "$U" -- env -i --default-signal=INT,QUIT,TERM HOME="$UHOME" USER="$U" LOGNAME="$U" SHELL=/bin/bash \
		PATH="$S/fakebin:${HELPER%/*}:/usr/local/bin:/usr/bin:/bin" LSF_SERVERDIR="$S/serverdir" \
		LSF_FAKE_CALLS="$CALLS" LSB_JOBID="$J" LSB_CHKPNT_DIR="$T/ck/$J" LSB_OUTPUTFILE="$T/w$W/out" \
		LSB_ECHKPNT_METHOD=criu LSB_JOBINDEX=0 "${KILLPOLL[@]}" "${JOBENV[@]}" "$@"
}
JOBENV=()

# Starts job $J: COMMAND in its own session and process group, in the work
# directory $T/w$W, output appended to out and err there; its status in rc.
W=0
start_job() {
	local w=$T/w$W
	[ -d "$w" ] || runuser -u "$U" -- mkdir -p "$w"
	[ -d "$T/ck/$J" ] || runuser -u "$U" -- mkdir -m 0775 "$T/ck/$J" # LSF's, with a lax umask
	rm -f "$w/pgid" "$w/rc"
	(cd "$w" && as_job setsid bash -c 'echo $$ >pgid; "$@" >>out 2>>err; echo $? >rc' job "$@" </dev/null >/dev/null 2>&1 &)
	(cd "$w" && wait_until 30 test -s pgid) || { notok "job $J starts"; return 1; }
	PG=$(cat "$w/pgid")
	STARTED+=("$PG")
}
in_w() { (cd "$T/w$W" && "$@"); }
lines() { { wc -l <"$T/w$W/out"; } 2>/dev/null || echo 0; }
more_lines() { [ "$(lines)" -ge "$1" ]; }
goes_on() { wait_until 30 more_lines $(($(lines) + 2)); } # the job still counts
user_idle() { ! pgrep -u "$U" -r D,I,R,S,T,t,W >/dev/null; } # no process but zombies
rc_is() { [ "$(cat "$T/w$W/rc" 2>/dev/null)" = "$1" ]; }
group_alive() { # a live (not zombie) process in process group $1
	ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { alive = 1 } END { exit !alive }'
}
group_gone() { ! group_alive "$1"; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
consecutive() { awk '$1 != NR - 1 { exit 1 }' "$T/w$W/out"; }
good_gens() { as_job criu-helper list --images-dir "$T/ck/$J" 2>/dev/null | grep -c '^g[0-9]* *good '; }
has_good() { as_job criu-helper list --images-dir "$T/ck/$J" 2>/dev/null | grep -q "^$1 *good "; }
calls() { grep -c -e "^$1" "$CALLS"; }
logged() { grep -q -e "$1" "$T/ck/$J/criu-job.log"; }
state_is() { [ "$(sed -n "s/^$1=//p" "$T/ck/$J/orun.state" | tail -n 1)" = "$2" ]; }
# LSF's view of the job's processes: every process group and PID under $PG.
job_pids() {
	ps -e -o pid=,ppid= | awk -v root="$PG" '{ parent[$1] = $2 }
		END { for (p in parent) { q = p; while (q in parent && q != root) q = parent[q]; if (q == root) print p } }'
}
EXTRA_PIDS= # pids that LSF would list beside the job's own (one check)
job_env_pgids() {
	local pids
	pids=$(job_pids)
	LSB_JOBPIDS=$(xargs <<<"$pids $EXTRA_PIDS")
	LSB_JOBPGIDS=
	[ -z "$pids" ] || LSB_JOBPGIDS=$(ps -o pgid= -p "$(xargs <<<"$pids" | tr ' ' ,)" | sort -u | xargs)
}
OVERRUN=(LSB_SUSP_REASONS=131072 LSB_SUSP_SUBREASONS=1)
terminate() { # [VAR=VALUE...]: the TERMINATE action, as LSF runs it (sh -c)
	job_env_pgids
	as_job LSB_JOBPGIDS="$LSB_JOBPGIDS" LSB_JOBPIDS="$LSB_JOBPIDS" "$@" sh -c "$L/orun-terminate.criu" </dev/null >/dev/null 2>&1
}
# POST_EXEC, as LSF runs it: in the job's working directory, with its environment.
post_exec() { in_w as_job "$@" sh -c "$L/orun-post-exec.criu" </dev/null >/dev/null 2>&1; }
echkpnt() { in_w as_job "$S/serverdir/echkpnt.criu" "$@"; }
# brestart as LSF does it: new job ID, the directory moved, a link from the old one.
lsf_restart() { # NEWJOB
	mv -- "$T/ck/$J" "$T/ck/$1" && ln -s "$1" "$T/ck/$J"
	local old=$J
	J=$1
	in_w as_job LSB_RESTART=Y LSB_OLD_JOBID="$old" "$S/serverdir/erestart.criu" "$T/ck/$J" </dev/null >/dev/null 2>&1
}
restart_cmd() { sed -n 's/^LSB_RESTART_CMD=//p' "$T/ck/$J/.restart_cmd"; }

# The overrun summary of the series whose first job is FIRST, next to the
# output in $T/w$W. summary_runs FIRST prints its runs as "ID START END"
# (epoch seconds, from the start time shown and the seconds it ran).
summary_file() { echo "$T/w$W/overrun-summary-$1.txt"; }
summary_runs() {
	local id d t z secs rest s
	awk '$1 ~ /^[0-9]+$/' "$(summary_file "$1")" | while read -r id d t z _ secs rest; do
		s=$(date -d "$d $t $z" +%s) || return 1
		secs=${secs#"("}
		echo "$id $s $((s + secs))"
	done
}
# summary_is FIRST RESTARTS REASON "ID SMIN SMAX EMIN EMAX"...: the summary
# names FIRST and REASON (a grep pattern), lists exactly these runs in this
# order, each started within [SMIN, SMAX] and ended within [EMIN, EMAX], and
# their total, and RESTARTS overrun restarts.
summary_is() {
	local first=$1 restarts=$2 reason=$3 f got want total=0 i id s e
	f=$(summary_file "$first")
	shift 3
	[ -f "$f" ] || { echo "# no $f" >&2; return 1; }
	if ! grep -q "^Overrun checkpoint/restart summary of job $first " "$f" ||
		! grep -q "^The series ended: .*$reason" "$f" || ! grep -q "^overrun restarts: $restarts\$" "$f"; then
		sed 's/^/# /' "$f" >&2
		return 1
	fi
	mapfile -t got < <(summary_runs "$first")
	[ "${#got[@]}" = $# ] || { sed 's/^/# /' "$f" >&2; return 1; }
	for ((i = 0; i < $#; i++)); do
		read -ra want <<<"${*:i+1:1}"
		read -r id s e <<<"${got[i]}"
		if [ "$id" != "${want[0]}" ] || [ "$s" -lt "${want[1]}" ] || [ "$s" -gt "${want[2]}" ] ||
			[ "$e" -lt "${want[3]}" ] || [ "$e" -gt "${want[4]}" ]; then
			echo "# run ${got[i]} is not within ${want[*]}" >&2
			return 1
		fi
		total=$((total + e - s))
	done
	grep -q "^total runtime: .* ($total s) in $# run(s)\$" "$f" || { sed 's/^/# /' "$f" >&2; return 1; }
}
now() { date +%s; }
reached() { [ "$(now)" -ge "$1" ]; } # EPOCH has come

echo "# LSF contract test as $U in $T with $HELPER"

# 0. Kill polling with the default ORUN_KILL_POLL_TRIES: a plain bkill of a
# job that ends on SIGTERM only, in the background; checked at the end.
J=701 W=7
start_job "$S/jobs/term-ends.sh"
wait_until 30 more_lines 3
(
	KILLPOLL=()
	terminate
	echo $? >"$T/w7/terminate.rc"
) &

# 1. echkpnt and erestart: checkpoint, kill, restart, resume the count.
J=101 W=1
start_job "$L/criu-run" -- "$S/jobs/count.sh"
wait_until 30 more_lines 5
test -s "$T/ck/101/job" -a "$(stat -c %a "$T/ck/101")" = 755
check "criu-run starts the job under criu-helper run, recorded in LSB_CHKPNT_DIR (made private)"
runuser -u "$U" -- setsid sleep 60 </dev/null >/dev/null 2>&1 &
other=$!
STARTED+=("$other")
echkpnt -k -d "$T/ck/101" "$other" >/dev/null 2>&1
rc=$?
test "$rc" != 0 && goes_on && test "$(good_gens)" = 0
check "echkpnt.criu refuses a process group that is not the recorded job (exit $rc)"
kill -KILL "$other" 2>/dev/null
echkpnt -d "$T/ck/101" "$PG" >/dev/null 2>&1
rc=$?
test "$rc" = 0 && goes_on && test "$(good_gens)" = 1
check "echkpnt.criu without -k writes a good generation and leaves the job running (exit $rc)"
echkpnt -k -d "$T/ck/101" "$PG" >/dev/null 2>&1
rc=$?
test "$rc" = 0 && wait_until 30 group_gone "$PG" && has_good g000002
check "echkpnt.criu -k checkpoints and kills the job (exit $rc)"
last=$(tail -n 1 "$T/w1/out")
lsf_restart 102
rc=$?
test "$rc" = 0 -a "$(wc -l <"$T/ck/102/.restart_cmd")" = 1 && restart_cmd | grep -q -e " restore --images-dir .* --wait"
check "erestart.criu writes LSB_RESTART_CMD (criu-helper restore --wait) into .restart_cmd (exit $rc)"
start_job sh -c "$(restart_cmd)"
wait_until 60 more_lines $((last + 10))
test "$(lines)" -gt $((last + 5)) && consecutive
check "the restarted job continues the count past $last, appended to the same output"
in_w runuser -u "$U" -- touch stop
wait_until 30 rc_is 7
check "the restarted job is waitable and exits with the job's own status (7)"

# 2. Run-limit overrun with ENABLE_ORUN_RESTART=Y: checkpoint + brestart, at
# most ORUN_RESTART_LIMIT times; echkpnt, TERMINATE, then POST_EXEC.
J=201 W=2
JOBENV=(ENABLE_ORUN_CHKPNT=Y ENABLE_ORUN_RESTART=Y ORUN_RESTART_LIMIT=1)
s0=$(now)
start_job "$L/criu-run" -- "$S/jobs/count.sh"
wait_until 30 more_lines 5
s1=$(now)
terminate "${OVERRUN[@]}"
rc=$?
test "$rc" = 2 -a "$(calls "bchkpnt -k 201")" = 1 && state_is restart yes
check "TERMINATE on a run limit asks LSF for bchkpnt -k, records that a restart is wanted, answers not done (exit $rc)"
echkpnt -k -d "$T/ck/201" "$PG" >/dev/null 2>&1
rc=$?
wait_until 30 group_gone "$PG"
terminate "${OVERRUN[@]}"
rc2=$?
test "$rc" = 0 -a "$rc2" = 0 -a "$(good_gens)" = 1
check "LSF's echkpnt.criu -k succeeds, the next TERMINATE is done (exit $rc, $rc2)"
e0=$(now)
post_exec
e1=$(now)
test "$(calls "brestart $T/ck 201")" = 1 && state_is restarts 1 && test ! -e "$(summary_file 201)"
check "POST_EXEC restarts the checkpointed job (brestart $T/ck 201), counts it, writes no summary yet"
last=$(tail -n 1 "$T/w2/out")
r0=$(now)
lsf_restart 202
r1=$(now)
start_job sh -c "$(restart_cmd)"
wait_until 60 more_lines $((last + 10))
test "$(lines)" -gt $((last + 5)) && consecutive
check "the restarted job resumes the count past $last"
terminate "${OVERRUN[@]}"
rc=$?
test "$rc" = 0 -a "$(calls bchkpnt)" = 1 && group_gone "$PG" && logged "ORUN_RESTART_LIMIT=1: not checkpointed"
check "after ORUN_RESTART_LIMIT=1 restart the next overrun just kills the job (exit $rc)"
f0=$(now)
post_exec
f1=$(now)
test "$(calls brestart)" = 1
check "POST_EXEC does not restart it again"
summary_is 201 1 "overran again after 1 overrun restart" "201 $s0 $s1 $e0 $e1" "202 $r0 $r1 $f0 $f1"
check "at the limit POST_EXEC writes overrun-summary-201.txt next to the output: both runs (start, time run), total, 1 overrun restart"

# 2b. The other order: POST_EXEC runs before echkpnt.criu has recorded its
# outcome (it waits for it), the next TERMINATE after POST_EXEC; then the
# restarted job finishes by itself.
J=251 W=2b
JOBENV=(ENABLE_ORUN_CHKPNT=Y ENABLE_ORUN_RESTART=Y)
s0=$(now)
start_job "$L/criu-run" -- "$S/jobs/count.sh"
wait_until 30 more_lines 5
s1=$(now)
terminate "${OVERRUN[@]}"
rc=$?
e0=$(now)
post_exec &
pe=$!
wait_until 30 logged "still being written: waiting for its outcome"
rc2=$?
echkpnt -k -d "$T/ck/251" "$PG" >/dev/null 2>&1
rc3=$?
wait_until 60 pid_gone "$pe"
wait "$pe"
rc4=$?
e1=$(now)
test "$rc" = 2 -a "$rc2" = 0 -a "$rc3" = 0 -a "$rc4" = 0 -a "$(calls "brestart $T/ck 251")" = 1 && state_is restarts 1
check "POST_EXEC run before echkpnt.criu's outcome waits for it, then restarts the job and counts it (exit $rc4)"
terminate "${OVERRUN[@]}"
rc=$?
test "$rc" = 0 && logged "POST_EXEC has submitted its restart" && ! logged "sending SIG"
check "a TERMINATE after POST_EXEC is done at once, without a signal (exit $rc)"
last=$(tail -n 1 "$T/w2b/out")
r0=$(now)
lsf_restart 252
r1=$(now)
start_job sh -c "$(restart_cmd)"
wait_until 60 more_lines $((last + 5))
in_w runuser -u "$U" -- touch stop
wait_until 30 rc_is 7
f0=$(now)
post_exec
f1=$(now)
test "$(calls "brestart $T/ck 252")" = 0 &&
	summary_is 251 1 "job 252 ended without an overrun checkpoint" "251 $s0 $s1 $e0 $e1" "252 $r0 $r1 $f0 $f1"
check "the restarted job finishes by itself: POST_EXEC writes the summary (2 runs, 1 overrun restart)"

# 2c. ENABLE_ORUN_CHKPNT=Y without ENABLE_ORUN_RESTART: checkpointed, not
# restarted, the counter stays; brestart by hand; both orders again. The
# output file is given relative to the working directory.
J=271 W=2c
JOBENV=(ENABLE_ORUN_CHKPNT=Y ORUN_RESTART_LIMIT=1 LSB_OUTPUTFILE=out)
s0=$(now)
start_job "$L/criu-run" -- "$S/jobs/count.sh"
wait_until 30 more_lines 5
s1=$(now)
terminate "${OVERRUN[@]}"
rc=$?
test "$rc" = 2 -a "$(calls "bchkpnt -k 271")" = 1 && state_is restart no && logged "ENABLE_ORUN_RESTART is not Y, so it will not be restarted"
check "without ENABLE_ORUN_RESTART=Y TERMINATE still checkpoints at the run limit, recording no restart (exit $rc)"
echkpnt -k -d "$T/ck/271" "$PG" >/dev/null 2>&1
rc=$?
wait_until 30 group_gone "$PG"
terminate "${OVERRUN[@]}"
rc2=$?
e0=$(now)
post_exec
e1=$(now)
test "$rc" = 0 -a "$rc2" = 0 -a "$(calls "brestart $T/ck 271")" = 0 && state_is restarts "" && has_good g000001 &&
	logged "not restarted: ENABLE_ORUN_RESTART is not Y (restart it with: brestart $T/ck 271)" &&
	summary_is 271 0 "job 271 was checkpointed and not restarted" "271 $s0 $s1 $e0 $e1"
check "POST_EXEC does not restart it, does not count a restart, says how to restart it, writes the summary"
last=$(tail -n 1 "$T/w2c/out")
r0=$(now)
lsf_restart 272
r1=$(now)
start_job sh -c "$(restart_cmd)"
wait_until 60 more_lines $((last + 10))
terminate "${OVERRUN[@]}"
rc=$?
test "$rc" = 2 -a "$(calls "bchkpnt -k 272")" = 1
check "restarted by hand, its next overrun is checkpointed again: no restart was counted against ORUN_RESTART_LIMIT=1 (exit $rc)"
echkpnt -k -d "$T/ck/272" "$PG" >/dev/null 2>&1
rc=$?
wait_until 30 group_gone "$PG"
f0=$(now)
post_exec
f1=$(now)
terminate "${OVERRUN[@]}"
rc2=$?
test "$rc" = 0 -a "$rc2" = 0 -a "$(calls "brestart $T/ck 272")" = 0 && ! logged "sending SIG" &&
	summary_is 271 0 "job 272 was checkpointed and not restarted" "271 $s0 $s1 $e0 $e1" "272 $r0 $r1 $f0 $f1"
check "POST_EXEC before the next TERMINATE: no restart, the summary now lists both runs, 0 overrun restarts (exit $rc2)"

# 3. A checkpoint that never completes: killed after ORUN_TIMEOUT_SECONDS.
J=301 W=3
JOBENV=(ENABLE_ORUN_CHKPNT=Y ENABLE_ORUN_RESTART=Y)
start_job "$L/criu-run" -- "$S/jobs/stubborn.sh"
wait_until 30 more_lines 3
terminate "${OVERRUN[@]}"
rc=$?
terminate "${OVERRUN[@]}"
rc2=$?
test "$rc" = 2 -a "$rc2" = 2 -a "$(calls "bchkpnt -k 301")" = 1
check "while LSF's checkpoint hangs, TERMINATE answers not done (default ORUN_TIMEOUT_SECONDS=180; exit $rc, $rc2)"
since=$(sed -n 's/^since=//p' "$T/ck/301/orun.state")
wait_until 30 reached $((since + 2))
terminate "${OVERRUN[@]}" ORUN_TIMEOUT_SECONDS=2
rc=$?
test "$rc" = 0 -a "$(sort -u "$T/w3/sigs" 2>/dev/null | xargs)" = "INT TERM" && group_gone "$PG"
check "2 s after bchkpnt, with ORUN_TIMEOUT_SECONDS=2, SIGINT, SIGTERM and SIGKILL reach the job's process group (exit $rc)"
logged "checkpoint FAILED (not done after ORUN_TIMEOUT_SECONDS=2"
check "the timeout is logged as a failed checkpoint"
post_exec LSB_OUTPUTFILE=/dev/null
test "$(calls "brestart $T/ck 301")" = 0 && logged "no overrun summary: the job's output is /dev/null" &&
	test -z "$(find "$T" -name 'overrun-summary-301*')"
check "POST_EXEC does not restart a job whose checkpoint failed, and writes no summary when the output is /dev/null"

# 4. A failed checkpoint keeps the previous good one; the job ends as without.
J=401 W=4
JOBENV=(ENABLE_ORUN_CHKPNT=Y ENABLE_ORUN_RESTART=Y)
s0=$(now)
start_job "$L/criu-run" -- "$S/jobs/count.sh"
wait_until 30 more_lines 5
s1=$(now)
echkpnt -d "$T/ck/401" "$PG" >/dev/null 2>&1
in_w runuser -u "$U" -- touch nodump
wait_until 30 pgrep -u "$U" -x tail >/dev/null
terminate "${OVERRUN[@]}"
out=$(echkpnt -k -d "$T/ck/401" "$PG" 2>&1)
rc=$?
test "$rc" != 0 && goes_on && grep -q "checkpoint FAILED" <<<"$out"
check "a failed echkpnt.criu -k says so, the job goes on (exit $rc)"
has_good g000001
check "the previous good generation is kept"
terminate "${OVERRUN[@]}"
rc=$?
test "$rc" = 0 && group_gone "$PG" && logged "overrun checkpoint FAILED.*ends as without checkpointing"
check "the next TERMINATE kills the job, with a clear line (exit $rc)"
e0=$(now)
post_exec
e1=$(now)
test "$(calls "brestart $T/ck 401")" = 0 && has_good g000001 && summary_is 401 0 "overrun checkpoint of job 401 failed" "401 $s0 $s1 $e0 $e1"
check "no restart after a failed checkpoint, g000001 still good; the summary says the checkpoint failed"

# 5. Array elements, interactive jobs, other terminations, ENABLE_ORUN_RESTART
# alone: LSF's default, INT, TERM, KILL with kill polls; a job that ends on
# SIGINT; a process of LSB_JOBPIDS outside the job's process groups. The
# jobs are terminated side by side (each takes a few one-second polls).
n=$(calls bchkpnt)
kinds=(array interactive bkill restart-only int-ends extra-pid)
declare -A JOB_OF PG_OF
J=500
for kind in "${kinds[@]}"; do
	J=$((J + 1)) W=5$kind
	JOBENV=(ENABLE_ORUN_CHKPNT=Y ENABLE_ORUN_RESTART=Y)
	if [ "$kind" = int-ends ]; then start_job "$S/jobs/count.sh"; else start_job "$S/jobs/stubborn.sh"; fi
	JOB_OF[$kind]=$J PG_OF[$kind]=$PG
done
for kind in "${kinds[@]}"; do
	J=${JOB_OF[$kind]} PG=${PG_OF[$kind]} W=5$kind
	wait_until 30 more_lines 3
	args=() tries=2
	case $kind in
	int-ends) tries=5 ;;
	extra-pid) tries=1 ;;
	esac
	case $kind in
	array) args=("${OVERRUN[@]}" LSB_JOBINDEX=3) ;;
	interactive) args=("${OVERRUN[@]}" LSB_INTERACTIVE=Y) ;;
	restart-only) JOBENV=(ENABLE_ORUN_RESTART=Y) args=("${OVERRUN[@]}") ;;
	extra-pid)
		# shellcheck disable=SC2016 # expanded by the job's shell
		runuser -u "$U" -- setsid bash -c 'echo $$ >"$1"; exec sleep 300' sh "$T/w$W/extra.pid" </dev/null >/dev/null 2>&1 &
		wait_until 30 test -s "$T/w$W/extra.pid"
		EXTRA_PIDS=$(cat "$T/w$W/extra.pid")
		STARTED+=("$EXTRA_PIDS")
		;;
	esac
	(
		KILLPOLL=("ORUN_KILL_POLL_TRIES=$tries")
		terminate "${args[@]}"
		echo $? >"$T/w$W/terminate.rc"
	) &
	EXTRA_PIDS=
done
for kind in "${kinds[@]}"; do
	J=${JOB_OF[$kind]} PG=${PG_OF[$kind]} W=5$kind
	wait_until 60 test -s "$T/w$W/terminate.rc"
	rc=$(cat "$T/w$W/terminate.rc")
	case $kind in
	int-ends)
		test "$rc" = 0 && group_gone "$PG" && logged "the job ended after SIGINT (poll [1-5] of 5, 1 s apart)" && ! logged "sending SIGTERM"
		check "a job that ends on SIGINT, ORUN_KILL_POLL_TRIES=5: a poll sees it gone, no SIGTERM follows (exit $rc)"
		;;
	extra-pid)
		extra=$(cat "$T/w$W/extra.pid")
		test "$rc" = 1 && group_gone "$PG" && kill -0 "$extra" && logged "the job could NOT be killed: .* pids .*$extra"
		check "a pid of LSB_JOBPIDS that outlives SIGKILL to the job's groups: logged as 'could NOT be killed' after 1 poll per signal (exit $rc)"
		kill -KILL "$extra"
		;;
	*)
		test "$rc" = 0 -a "$(sort -u "$T/w$W/sigs" 2>/dev/null | xargs)" = "INT TERM" -a "$(calls bchkpnt)" = "$n" && group_gone "$PG" &&
			logged "the job is still alive after SIGTERM and 2 poll(s) 1 s apart" && logged "the job ended after SIGKILL (poll [12] of 2, 1 s apart)"
		check "$kind job: INT, TERM, KILL to its process group, ORUN_KILL_POLL_TRIES=2 polls after each, no checkpoint, SIGKILL logged as the end (exit $rc)"
		;;
	esac
done
J=${JOB_OF[restart-only]} W=5restart-only JOBENV=(ENABLE_ORUN_RESTART=Y)
logged "ENABLE_ORUN_RESTART=Y alone does not checkpoint" && post_exec && test "$(calls "brestart $T/ck $J")" = 0 -a ! -e "$T/ck/$J/orun.state" &&
	test -z "$(find "$T" -name "overrun-summary-$J*")"
check "ENABLE_ORUN_RESTART=Y without ENABLE_ORUN_CHKPNT=Y: not checkpointed, not restarted, no summary"

# 6. erestart.criu without a good checkpoint writes nothing.
J=801
runuser -u "$U" -- mkdir -m 0700 "$T/ck/$J"
as_job "$S/serverdir/erestart.criu" "$T/ck/$J" >/dev/null 2>&1
rc=$?
test "$rc" != 0 -a ! -e "$T/ck/$J/.restart_cmd"
check "erestart.criu without a good checkpoint fails and writes no .restart_cmd (exit $rc)"

# 0, checked: with ORUN_KILL_POLL_TRIES unset, SIGTERM came after 10 polls
# one second apart following SIGINT.
J=701 W=7
wait_until 60 test -s "$T/w7/terminate.rc"
int=$(awk '$1 == "INT" { print $2; exit }' "$T/w7/sigs" 2>/dev/null)
term=$(awk '$1 == "TERM" { print $2; exit }' "$T/w7/sigs" 2>/dev/null)
gap=$(((${term:-0} - ${int:-0}) / 1000000))
test "$(cat "$T/w7/terminate.rc")" = 0 -a -n "$int" -a -n "$term" -a "$gap" -ge 9500 && group_gone "$PG" &&
	logged "the job is still alive after SIGINT and 10 poll(s) 1 s apart" && logged "the job ended after SIGTERM (poll [0-9]* of 10, 1 s apart)" &&
	! logged "sending SIGKILL"
check "by default (ORUN_KILL_POLL_TRIES=10) SIGTERM follows SIGINT after 10 polls one second apart (${gap} ms), SIGTERM logged as the end"

# Clean-up: the process groups started here, then any process left of $U.
for g in "${STARTED[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
for p in $(ps -u "$U" -o pid=); do kill -KILL "$p" 2>/dev/null; done
wait_until 30 user_idle
if [ "$failed" = 0 ] && [ "${LSF_IT_KEEP:-}" != 1 ]; then rm -rf -- "$T"; else echo "# kept for inspection: $T"; fi
echo "# $(($(date +%s) - began)) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
