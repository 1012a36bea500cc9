#!/bin/bash
# tests/integration/oar.sh - the OAR integration (integrations/oar/criu-job)
# end to end on a real one-node OAR 2.5 (.ci/oar-up.sh brings it up).
#
# Run as root, after criu-helper is installed. As the unprivileged user oarci
# only: submits a counting job through the wrapper with -t idempotent, lets it
# run more than 60 s, checkpoints it with `oardel -c`, and checks that it
# exits 99, that OAR resubmits it, that the new job resumes the count (one
# uninterrupted sequence in the original output file) inside its own new
# cpuset; then makes a checkpoint of the resumed job fail (its images
# directory made group-writable: criu-helper refuses it) and checks that the
# job goes on to its normal end with a clear line and that the good
# checkpoint is kept. Then a job with periodic checkpoints (--checkpoint-every)
# is killed with `oardel` and resubmitted by hand (`oarsub --resubmit`): it
# resumes the latest periodic checkpoint, says what was lost, and its output
# holds every number once. Prints "ok - ..." / "not ok - ..." and "N passed, M failed".
#
# Environment: OAR_IT_KEEP=1 keeps the work directory.
set -u
export LC_ALL=C
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd "$(dirname -- "$0")/../.." || exit 70
repo=$PWD
[ "$(id -u)" = 0 ] || { echo "tests/integration/oar.sh: must run as root" >&2; exit 77; }

USER_=oarci
START=$(date +%s)
phase_start=$START
jobs_=()
work=
bin=
where=
# shellcheck source=checks.bash
. tests/integration/checks.bash

phase() {
	local now
	now=$(date +%s)
	echo "# [$((now - START))s] $* (previous phase $((now - phase_start))s)"
	phase_start=$now
}
as_user() { (cd "$work" && runuser -u "$USER_" -- env HOME="$home" "$@"); }

finish() {
	local j r
	for j in "${jobs_[@]}"; do
		r=$(resubmitted_as "$j")
		if [ -n "$r" ] && ! printf '%s\n' "${jobs_[@]}" | grep -qx "$r"; then jobs_+=("$r"); fi
	done
	for j in "${jobs_[@]}"; do
		case $(job_state "$j") in Terminated | Error | '') ;; *) as_user oardel "$j" >/dev/null 2>&1 || true ;; esac
	done
	if [ "$failed" -gt 0 ] && [ -n "$work" ]; then
		echo "# --- diagnostics"
		for f in "$work/count.err" "$work"/.criu-jobs/*/criu-job.log "$work"/.criu-jobs/*/criu-helper.log; do
			[ -r "$f" ] && { echo "# $f:"; sed 's/^/#   /' "$f"; }
		done
		echo "# count.out: $(tr '\n' ' ' <"$work/count.out" 2>/dev/null | tail -c 600)"
		for j in "${jobs_[@]}"; do oarstat -fj "$j" 2>&1 | grep -E 'state|exit_code|events|>' | sed 's/^/#   /'; done
		tail -n 30 /var/log/oar.log 2>/dev/null | sed 's/^/#   oar.log: /'
	fi
	if [ -n "$work" ] && [ "${OAR_IT_KEEP:-0}" != 1 ] && [ "$failed" = 0 ]; then rm -rf -- "$work"; fi
	[ -n "$bin" ] && rm -rf -- "$bin"
	phase "done"
	echo "# total $(($(date +%s) - START))s"
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
}
trap 'finish; exit $?' EXIT
trap 'exit 130' INT TERM

job_state() { oarstat -s -j "$1" 2>/dev/null | sed -n "s/^$1: //p"; }
job_field() { oarstat -fj "$1" 2>/dev/null | sed -n "s/^ *$2 = //p"; }
job_running() { [ "$(job_state "$1")" = Running ]; }
job_ended() { case $(job_state "$1") in Terminated | Error) return 0 ;; esac; return 1; }
# The job OAR resubmitted JOB as (from JOB's RESUBMIT_JOB_AUTOMATICALLY event).
resubmitted_as() { oarstat -fj "$1" 2>/dev/null | sed -n "s/.*Resubmiting job $1 => \([0-9][0-9]*\).*/\1/p" | head -n 1; }
# The last number printed by the count.
last_count() { grep -E '^[0-9]+$' "$work/count.out" 2>/dev/null | tail -n 1; }
count_beyond() { local n; n=$(last_count); [ -n "$n" ] && [ "$n" -gt "$1" ]; }
err_has() { grep -q -- "$1" "$work/count.err" 2>/dev/null; }
# True when the numbers in count.out are exactly 1..N, each once, in order.
count_uninterrupted() {
	grep -E '^[0-9]+$' "$work/count.out" | awk '$1 != NR { bad = 1 } END { exit bad || NR == 0 }'
}
count_pids() { pgrep -u "$USER_" -f '^/bin/bash \./oar-it-count$' || true; }
# The cpuset (cgroup v1) of a process, e.g. /oar/oarci_12.
cpuset_of() { sed -n 's/^[0-9]*:cpuset:\(.*\)$/\1/p' "/proc/$1/cgroup" 2>/dev/null; }
# Every counting process is in the cpuset /oar/USER_JOB (and there is one);
# says where each one is in $where.
count_in_cpuset() {
	local p n=0 bad=
	where=
	for p in $(count_pids); do
		where="$where pid $p: cpuset $(cpuset_of "$p");"
		[ "$(cpuset_of "$p")" = "/oar/${USER_}_$1" ] || bad=1
		grep -qx "$p" "/sys/fs/cgroup/cpuset/oar/${USER_}_$1/tasks" || bad=1
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] && [ -z "$bad" ]
}
# check, with the outcome of count_in_cpuset in the description.
check_cpuset() { # description job
	if count_in_cpuset "$2"; then ok "$1 ($where )"; else not_ok "$1 (${where:- no counting process} )"; fi
}
generations() { as_user criu-helper list --images-dir "$images" 2>&1; }
has_good_g1() { generations | grep -q '^g000001 *good '; }
has_resubmission() { [ -n "$(resubmitted_as "$1")" ]; }
count_done_at() { count_uninterrupted && [ "$(tail -n 1 "$work/count.out")" = "count done at $1" ]; }
log_tells_story() {
	grep -q "checkpoint written" "$images/criu-job.log" &&
		grep -q "checkpoint FAILED" "$images/criu-job.log" &&
		grep -q "job ended with status 0" "$images/criu-job.log"
}

# ------------------------------------------------------------ OAR up
echo "# bringing up OAR (.ci/oar-up.sh)"
uplog=$(mktemp)
if ! .ci/oar-up.sh >"$uplog" 2>&1; then
	cat "$uplog"
	rm -f -- "$uplog"
	not_ok "OAR is up (.ci/oar-up.sh)"
	exit 1
fi
sed 's/^/#   /' "$uplog"
rm -f -- "$uplog"
ok "OAR is up (.ci/oar-up.sh)"
phase "OAR up"

home=$(getent passwd "$USER_" | cut -d: -f6)
[ -d "$home" ] || { not_ok "test user $USER_ has a home directory"; exit 1; }
# The wrapper as install/setcap.sh lays it out (PREFIX/share/criu-helper), in
# a root-owned copy the test user can read; PREFIX/bin has no helper, so the
# wrapper uses the installed one on PATH.
bin=$(mktemp -d /tmp/criu-oar-it.XXXXXX)
chmod 755 "$bin"
mkdir -p "$bin/share/criu-helper"
cp -r "$repo/integrations/lib" "$repo/integrations/oar" "$bin/share/criu-helper/"
chmod -R a+rX,go-w "$bin"
work=$(runuser -u "$USER_" -- mktemp -d "$home/criu-oar-it.XXXXXX")
chmod 755 "$work"
cat >"$work/oar-it-count" <<'EOF'
#!/bin/bash
# Counts until a file "stop" appears in the working directory.
i=0
while [ "$i" -lt 3000 ] && [ ! -e stop ]; do
	i=$((i + 1))
	echo "$i"
	sleep 0.25
done
echo "count done at $i"
EOF
cat >"$work/job.oar" <<EOF
#!/bin/bash
exec $bin/share/criu-helper/oar/criu-job -- ./oar-it-count
EOF
cat >"$work/periodic.oar" <<EOF
#!/bin/bash
exec $bin/share/criu-helper/oar/criu-job --checkpoint-every 3 -- ./oar-it-count
EOF
chmod 755 "$work/oar-it-count" "$work/job.oar" "$work/periodic.oar"
chown "$USER_:" "$work/oar-it-count" "$work/job.oar" "$work/periodic.oar"

# ------------------------------------------------------------ first job
out=$(as_user oarsub -t idempotent -n criu-oar-it -d "$work" -O "$work/count.out" -E "$work/count.err" \
	-l core=1,walltime=0:08:00 "exec ./job.oar" 2>&1)
job1=$(printf '%s\n' "$out" | sed -n 's/^OAR_JOB_ID=\([0-9][0-9]*\).*/\1/p')
if [ -z "$job1" ]; then
	printf '%s\n' "$out"
	not_ok "oarsub -t idempotent accepted the job"
	exit 1
fi
jobs_+=("$job1")
ok "oarsub -t idempotent accepted the job ($job1)"
images=$work/.criu-jobs/oar-$job1
if wait_for 90 count_beyond 0; then
	ok "job $job1 runs and counts under criu-job"
else
	not_ok "job $job1 runs and counts under criu-job (state $(job_state "$job1"))"
	exit 1
fi
check_cpuset "the count of job $job1 runs in its cpuset /oar/${USER_}_$job1" "$job1"
first_seen=$(date +%s)
phase "first job running"

# OAR resubmits an idempotent job only if it ran more than 60 s.
while [ $(($(date +%s) - first_seen)) -lt 62 ] && job_running "$job1"; do sleep 1; done
check "job $job1 still running after 62 s" job_running "$job1"
phase "ran 62 s"

# ------------------------------------------------------------ checkpoint
before=$(last_count)
as_user oardel -c "$job1" >/dev/null 2>&1 || true
if wait_for 60 job_ended "$job1"; then
	ok "job $job1 ended after oardel -c"
else
	not_ok "job $job1 ended after oardel -c (state $(job_state "$job1"))"
fi
at_ckpt=$(last_count)
exit1=$(job_field "$job1" exit_code)
check "job $job1 exited 99 (exit_code $exit1)" test "${exit1#* }" = "(99,0,0)"
check "a good checkpoint g000001 is in $images" has_good_g1
check "the checkpointed count is gone (stopped at $at_ckpt, $before when signalled)" test -z "$(count_pids)"
phase "checkpointed"

# ------------------------------------------------------------ resubmission
wait_for 90 has_resubmission "$job1"
job2=$(resubmitted_as "$job1")
if [ -n "$job2" ]; then
	jobs_+=("$job2")
	ok "OAR resubmitted job $job1 as job $job2"
else
	not_ok "OAR resubmitted job $job1"
	exit 1
fi
if wait_for 90 count_beyond "$((at_ckpt + 4))"; then
	ok "job $job2 counts on past the checkpoint ($at_ckpt -> $(last_count))"
else
	not_ok "job $job2 counts on past the checkpoint (state $(job_state "$job2"), last $(last_count))"
fi
check "job $job2 says it resumed from the checkpoint" err_has "resumed from the latest good checkpoint in $images"
check "count.out is one uninterrupted count 1..$(last_count) (no restart from 1)" count_uninterrupted
check_cpuset "the restored count is in job $job2's cpuset /oar/${USER_}_$job2, not $job1's" "$job2"
phase "resumed"

# ------------------------------------------------------------ failed checkpoint
chmod g+w "$images"
before=$(last_count)
as_user oardel -c "$job2" >/dev/null 2>&1 || true
wait_for 30 err_has "checkpoint FAILED"
chmod g-w "$images"
check "a refused checkpoint of job $job2 prints a clear line" \
	err_has "checkpoint FAILED (criu-helper exit status 77): the job goes on"
check "job $job2 goes on counting after the failed checkpoint" wait_for 20 count_beyond "$((before + 4))"
check "job $job2 is still Running" job_running "$job2"
check "the good checkpoint g000001 is kept" has_good_g1
phase "failed checkpoint"

# ------------------------------------------------------------ normal end
as_user touch "$work/stop"
if wait_for 60 job_ended "$job2"; then
	ok "job $job2 ended by itself"
else
	not_ok "job $job2 ended by itself (state $(job_state "$job2"))"
fi
exit2=$(job_field "$job2" exit_code)
check "job $job2 exited 0 (exit_code $exit2)" test "${exit2#* }" = "(0,0,0)"
final=$(last_count)
check "count.out ends with 'count done at $final' after one count 1..$final" \
	count_done_at "$final"
sleep 3
check "job $job2 was not resubmitted" test -z "$(resubmitted_as "$job2")"
check "criu-job.log next to the checkpoint tells the story" \
	log_tells_story
phase "normal end"

# ------------------------------------------------------------ oardel, then oarsub --resubmit
rm -f -- "$work/stop"
out=$(as_user oarsub -n criu-oar-kill -d "$work" -O "$work/kill.out" -E "$work/kill.err" \
	-l core=1,walltime=0:08:00 "exec ./periodic.oar" 2>&1)
job3=$(printf '%s\n' "$out" | sed -n 's/^OAR_JOB_ID=\([0-9][0-9]*\).*/\1/p')
[ -n "$job3" ] && jobs_+=("$job3")
kill_count() { grep -E '^[0-9]+$' "$work/kill.out" 2>/dev/null | tail -n 1; }
kill_beyond() { local n; n=$(kill_count); [ -n "$n" ] && [ "$n" -gt "$1" ]; }
kill_once() { grep -E '^[0-9]+$' "$work/kill.out" | awk '$1 != NR { bad = 1 } END { exit bad || NR == 0 }'; }
periodic_done() { grep -q 'criu-helper: dumped .* frozen ' "$work/kill.err" 2>/dev/null; }
check "job $job3 (a checkpoint every 3 s) counts and checkpoints" wait_for 120 periodic_done
n=$(kill_count)
check "job $job3 counts on past its checkpoint ($n)" wait_for 30 kill_beyond "$((n + 12))"
as_user oardel "$job3" >/dev/null 2>&1 || true
check "oardel kills job $job3, no checkpoint" wait_for 60 job_ended "$job3"
killed_at=$(kill_count)
out=$(as_user oarsub --resubmit "$job3" 2>&1)
job4=$(printf '%s\n' "$out" | sed -n 's/^OAR_JOB_ID=\([0-9][0-9]*\).*/\1/p')
[ -n "$job4" ] && jobs_+=("$job4")
check "oarsub --resubmit $job3 makes job $job4" test -n "$job4"
check "job $job4 resumes the latest periodic checkpoint of job $job3" wait_for 90 grep -q "resumed from the latest good checkpoint in $work/.criu-jobs/oar-$job3" "$work/kill.err"
# The kill lands anywhere in the 3 s between checkpoints: the run went on
# after the latest one (and what it wrote then is cut), or, killed before
# its next line, wrote nothing after it. Either way the line must agree
# with what was cut.
says_what_was_lost() {
	local line
	line=$(grep -m 1 'criu-helper: resuming g[0-9]*, checkpointed .* ago; ' "$work/kill.err") || return 1
	case $line in
	*"; the previous run went on for "*" s after it"*) ;;
	*"; the previous run wrote nothing after it"*) case $line in *" were cut from "*) return 1 ;; esac ;;
	*) return 1 ;;
	esac
}
check "it says what was lost, and that agrees with what was cut" says_what_was_lost
check "job $job4 counts on past the kill ($killed_at)" wait_for 60 kill_beyond "$((killed_at + 4))"
as_user touch "$work/stop"
check "job $job4 ends by itself" wait_for 60 job_ended "$job4"
check "kill.out holds every number once: what the killed run wrote after its checkpoint was cut" kill_once
phase "killed and resubmitted"
