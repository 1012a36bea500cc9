#!/bin/bash
# shellcheck disable=SC2317 # functions called through check and wait_for
# End-to-end test of the Slurm integration on a real one-node Slurm
# (.ci/slurm-up.sh), as the unprivileged user chslurm, with the installed
# criu-helper and real criu. Run as root after tests/run.sh's set-up.
#
#   1. a counting job, signalled with `scancel --batch --signal=USR1`, is
#      checkpointed, requeues itself and resumes, twice: one uninterrupted count;
#   2. a job whose checkpoint is refused goes on to its normal end, with a
#      clear line, and is not requeued;
#   3. a requeue without a checkpoint starts the job from the beginning;
#   4. periodic checkpoints: a node crash (slurmd, slurmstepd and the job
#      killed -9, slurmd back) requeues the job, which resumes the latest
#      periodic checkpoint with every output line once, and says what it lost;
#   5. an administrator's `scontrol requeue` without a signal: the same;
#   6. a job array: only the signalled task requeues, each task has one
#      unbroken count, a task cancelled stays cancelled;
#   7. preemption (partitions low and high, GraceTime 30 s) without the site
#      setting: the wrapper sees its end time move earlier and checkpoints;
#   8. preemption with the site setting (preempt_send_user_signal on 22.05):
#      the job's --signal comes at once and the job resumes.
set -u
cd "$(dirname "$0")/../.." || exit 1
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
user=chslurm
wrapper=/usr/local/share/criu-helper/slurm/criu-job
start=$(date +%s)
# shellcheck source=checks.bash
. tests/integration/checks.bash
finish() {
	scancel -u "$user" 2>/dev/null
	pkill -9 -u "$user" 2>/dev/null
	echo "== slurm: $(($(date +%s) - start)) s"
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}

id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
SLURM_UP_TEST_USER=$user bash .ci/slurm-up.sh || { not_ok "a one-node Slurm comes up"; finish; }
[ -x "$wrapper" ] || { not_ok "the installed wrapper $wrapper exists"; finish; }
scancel -u "$user" 2>/dev/null
home=$(getent passwd "$user" | cut -d: -f6)
work=$home/slurm-test
rm -rf "$work"
install -d -o "$user" -g "$user" -m 0700 "$work"
as_user() { runuser -u "$user" -- env -C "$work" "$@"; }

# The job: counts to $1, one number every 0.1 s, its state only in memory;
# $2, if given, is one more process of the job's (one criu-helper refuses).
cat >"$work/count.sh" <<'EOF'
#!/bin/bash
if [ -n "${2:-}" ]; then "$2" & fi
i=0
while [ "$i" -le "$1" ]; do echo "$i"; i=$((i + 1)); sleep 0.1; done
EOF
# The partition has no time limit: the test sends the checkpoint signal
# itself (scancel --batch), as Slurm does --signal's lead before the limit.
cat >"$work/job.sbatch" <<EOF
#!/bin/bash
#SBATCH --requeue --open-mode=append
exec $wrapper -- ./count.sh "\$@"
EOF
# The same with a checkpoint every 3 s; and with the end-time watch too.
cat >"$work/periodic.sbatch" <<EOF
#!/bin/bash
#SBATCH --requeue --open-mode=append --signal=B:USR1@60
exec $wrapper --checkpoint-every 3 -- ./count.sh "\$@"
EOF
# The same in a private network (loopback only), for the administrator's requeue.
cat >"$work/private.sbatch" <<EOF
#!/bin/bash
#SBATCH --requeue --open-mode=append --signal=B:USR1@60
exec $wrapper --checkpoint-every 3 --private-network -- ./count.sh "\$@"
EOF
cat >"$work/watch.sbatch" <<EOF
#!/bin/bash
#SBATCH --requeue --open-mode=append --signal=B:USR1@60
exec $wrapper --checkpoint-every 3 --watch-end-time 2 -- ./count.sh "\$@"
EOF
chown "$user:" "$work"/*
chmod 0755 "$work"/*

last_number() { grep -E '^[0-9]+$' "$1" | tail -n 1; }
counted_past() { n=$(last_number "$1"); [ "${n:-0}" -ge "$2" ]; }
# The numbers in the output are exactly 0, 1, ..., $2, each once, in order.
one_count() { grep -E '^[0-9]+$' "$1" | awk -v n="$2" 'NR - 1 != $1 { bad = 1 } END { exit bad || NR != n + 1 }'; }

echo "== slurm: checkpoint on USR1, requeue, resume; twice"
out=$work/count.out
job=$(as_user sbatch --parsable -J ck -o "$out" job.sbatch 500)
check "job $job submitted as $user" test -n "$job"
check "job $job counts" wait_for 30 counted_past "$out" 20
before=$(date +%s)
for round in 1 2; do
	as_user scancel --batch --signal=USR1 "$job"
	check "checkpoint $round is written" wait_for 30 sh -c "[ \$(grep -c 'checkpoint written' '$out') -ge $round ]"
	check "the job requeues itself ($round)" wait_for 30 sh -c "[ \$(grep -c 'requeued job $job' '$out') -ge $round ]"
	check "Slurm starts the job again (restart $round)" wait_for 90 grep -q "restart $round of job" "$out"
	check "the restarted job resumes checkpoint $round" wait_for 30 sh -c "[ \$(grep -c 'criu-helper: restored ' '$out') -ge $round ]"
	if [ "$round" = 1 ]; then
		n=$(last_number "$out")
		check "the resumed job counts on (past $n)" wait_for 30 counted_past "$out" $((n + 10))
	fi
done
check "the resumed job ends with status 0" wait_for 90 grep -q 'job ended with status 0' "$out"
check "job $job completes, restarted twice" \
	wait_for 30 sh -c "scontrol show job $job | grep -q 'JobState=COMPLETED.*' && scontrol show job $job | grep -q 'Restarts=2'"
if one_count "$out" 500; then
	ok "the output holds one uninterrupted count 0..500, appended across both requeues"
else
	not_ok "the output holds one uninterrupted count 0..500"; cat "$out"
fi
dir=$work/.criu-jobs/slurm-$job
check "the wrapper's log is next to the checkpoint ($dir/criu-job.log)" grep -q 'resuming from the latest good checkpoint' "$dir/criu-job.log"
check "the checkpoints are the user's" test "$(stat -c %U "$dir/g000002/inventory.img")" = "$user"
echo "   (first signal to resumed end: $(($(date +%s) - before)) s; each requeue waits cred_expire + 1)"

echo "== slurm: a checkpoint that fails leaves the job to its normal end"
out=$work/refused.out
job=$(as_user sbatch --parsable -J refused -o "$out" job.sbatch 100 /opt/criu-helper-tests/bin/ch-nodump)
check "job $job counts" wait_for 30 counted_past "$out" 10
as_user scancel --batch --signal=USR1 "$job"
check "a clear line says the checkpoint failed and the job goes on" \
	wait_for 30 grep -q 'checkpoint FAILED (criu-helper exit status 77): the job goes on' "$out"
check "criu-helper's refusal is in the output" grep -q 'criu-helper: refused: task .* is not dumpable' "$out"
check "the job ends normally with status 0" wait_for 60 grep -q 'job ended with status 0' "$out"
check "the job was not requeued" sh -c "! grep -q 'requeued job' '$out' && scontrol show job $job | grep -q 'Restarts=0'"
check "its count is complete (0..100)" one_count "$out" 100

echo "== slurm: requeued without a checkpoint, the job starts from the beginning"
out=$work/fresh.out
job=$(as_user sbatch --parsable -J fresh -o "$out" job.sbatch 150)
check "job $job counts" wait_for 30 counted_past "$out" 10
scontrol requeue "$job"
check "the restart says there is no checkpoint" wait_for 90 grep -q 'no good checkpoint in .*: starting from the beginning' "$out"
check "the count starts again from 0" wait_for 30 sh -c "[ \$(grep -cx 0 '$out') = 2 ]"
check "the job then completes" wait_for 60 grep -q 'job ended with status 0' "$out"

# A job of periodic.sbatch counting to $2 into $1, once it has a periodic
# checkpoint and has counted on past it.
start_periodic() { # OUT N [SBATCH OPTIONS...] -> job id (SCRIPT: the job script, periodic.sbatch)
	local out=$1 n=$2
	shift 2
	as_user sbatch --parsable -o "$out" "$@" "${SCRIPT:-periodic.sbatch}" "$n"
}
has_periodic_checkpoint() { grep -q 'criu-helper: dumped .* frozen ' "$1"; }
# The resumed run said what was lost, in the output and in the wrapper's log.
said_what_was_lost() { # OUT DIR
	grep -q 'criu-helper: resuming g[0-9]*, checkpointed [0-9].* ago; the previous run ' "$1" &&
		grep -q 'criu-job\[slurm\]: resuming g[0-9]*, checkpointed ' "$2/criu-job.log"
}

echo "== slurm: periodic checkpoints; a node crash"
out=$work/crash.out
job=$(start_periodic "$out" 400 -J crash)
check "job $job counts, with a checkpoint every 3 s" wait_for 60 has_periodic_checkpoint "$out"
check "the frozen time of each periodic checkpoint is logged" grep -q 'frozen [0-9.]* [mµ]*s' "$out"
n=$(last_number "$out")
check "it counts on past $n" wait_for 30 counted_past "$out" $((n + 15))
# The node crashes: slurmd, the job's slurmstepd and every process of the job, SIGKILL.
pkill -9 -x slurmd
pkill -9 -x slurmstepd
pkill -9 -u "$user"
crashed=$(date +%s)
before=$(last_number "$out")
# slurmctld marks a node that stopped answering DOWN after SlurmdTimeout
# (300 s by default) and requeues its jobs (NODE_FAIL); the test does it at once.
scontrol update NodeName="$(hostname -s)" State=DOWN Reason=crash-test
slurmd
wait_for 60 sh -c "sinfo -h -n '$(hostname -s)' -o %T | grep -qx idle" ||
	scontrol update NodeName="$(hostname -s)" State=RESUME
check "Slurm requeues the job after the node failure and starts it again" wait_for 240 grep -q "restart 1 of job $job" "$out"
echo "   (crash to running again: $(($(date +%s) - crashed)) s)"
check "it resumes a periodic checkpoint and says what was lost" wait_for 30 said_what_was_lost "$out" "$work/.criu-jobs/slurm-$job"
check "it counts on past the crash ($before)" wait_for 60 counted_past "$out" $((before + 5))
check "job $job completes" wait_for 120 sh -c "scontrol show job $job | grep -q 'JobState=COMPLETED'"
if one_count "$out" 400; then ok "the output holds each number 0..400 once: what the crashed run wrote after its checkpoint was cut"
else not_ok "one count 0..400 once across the crash"; grep -E '^[0-9]+$' "$out" | uniq -c | awk '$1 > 1' | head; fi

echo "== slurm: scontrol requeue by the administrator, no signal (the job in a private network)"
out=$work/admin.out
job=$(SCRIPT=private.sbatch start_periodic "$out" 300 -J admin)
# The job's reaper (from the job record) is in a network namespace other than the node's.
in_private_network() { # DIR
	local reaper
	reaper=$(sed -n 's/^reaper-pid=//p' "$1/job" 2>/dev/null)
	[ -n "$reaper" ] && [ -e "/proc/$reaper/ns/net" ] && [ "$(readlink "/proc/$reaper/ns/net")" != "$(readlink /proc/self/ns/net)" ]
}
check "job $job has a periodic checkpoint" wait_for 60 has_periodic_checkpoint "$out"
check "it runs in a network namespace of its own (--private-network)" in_private_network "$work/.criu-jobs/slurm-$job"
check "its checkpoints record the private network" sh -c "cat '$work/.criu-jobs/slurm-$job'/g0*/network | grep -qx private"
n=$(last_number "$out")
check "it counts on past $n" wait_for 30 counted_past "$out" $((n + 15))
before=$(last_number "$out")
scontrol requeue "$job"
check "Slurm starts it again" wait_for 120 grep -q "restart 1 of job $job" "$out"
check "it resumes the latest periodic checkpoint and says what was lost" wait_for 30 said_what_was_lost "$out" "$work/.criu-jobs/slurm-$job"
check "the resumed job is in a private network again" wait_for 30 in_private_network "$work/.criu-jobs/slurm-$job"
check "job $job completes" wait_for 120 sh -c "scontrol show job $job | grep -q 'JobState=COMPLETED'"
check "the output holds each number 0..300 once (requeued at $before)" one_count "$out" 300

echo "== slurm: a job array"
cat >"$work/array.sbatch" <<EOF
#!/bin/bash
#SBATCH --requeue --open-mode=append
exec $wrapper --checkpoint-every 3 -- ./count.sh 400
EOF
chown "$user:" "$work/array.sbatch"
chmod 0755 "$work/array.sbatch"
array=$(as_user sbatch --parsable -J array --array=1-3 -o "$work/array-%a.out" array.sbatch)
# Two tasks run at once on the two CPUs; the third starts when one ends.
for t in 1 2; do check "task ${array}_$t counts" wait_for 90 counted_past "$work/array-$t.out" 10; done
as_user scancel "${array}_2"
check "task ${array}_3 starts once task 2 is cancelled, and counts" wait_for 90 counted_past "$work/array-3.out" 10
as_user scancel --batch --signal=USR1 "${array}_1"
check "task 1 is checkpointed and requeues itself alone" wait_for 60 grep -q "requeued job ${array}_1" "$work/array-1.out"
check "task 1 starts again" wait_for 120 grep -q "restart 1 of job ${array}_1" "$work/array-1.out"
check "task 3 was not requeued with it" sh -c "! grep -q 'restart' '$work/array-3.out'"
for t in 1 3; do
	check "task ${array}_$t completes" wait_for 180 sh -c "scontrol show job ${array}_$t | grep -q 'JobState=COMPLETED'"
	check "task ${array}_$t has one unbroken count 0..400" one_count "$work/array-$t.out" 400
done
check "the cancelled task stays cancelled" sh -c "scontrol show job ${array}_2 | grep -q 'JobState=CANCELLED' && ! grep -q 'restart' '$work/array-2.out'"
check "each task checkpoints into a directory of its own" \
	sh -c "ls -d '$work/.criu-jobs/slurm-${array}_1' '$work/.criu-jobs/slurm-${array}_3' >/dev/null"

# preempted OUT: a job of low counting, a job of high that needs the node.
preempt() { # OUT LABEL
	local out=$1
	job=$(start_periodic "$out" 900 -J "$2" -p low --exclusive)
	check "low job $job counts" wait_for 60 counted_past "$out" 10
	high=$(as_user sbatch --parsable -J high -p high --exclusive -o /dev/null --wrap 'sleep 15')
	preempted=$(date +%s)
	check "the high job $high runs" wait_for 120 sh -c "scontrol show job $high | grep -q 'JobState=\(RUNNING\|COMPLETED\)'"
	check "the low job is checkpointed and requeued" wait_for 60 grep -q "requeued job $job" "$out"
	echo "   (preemption to checkpoint: $(($(date +%s) - preempted)) s)"
	check "it starts again after the high job and resumes" wait_for 180 grep -q "restart 1 of job $job" "$out"
	echo "   (preemption to running again: $(($(date +%s) - preempted)) s)"
	check "job $job completes" wait_for 180 sh -c "scontrol show job $job | grep -q 'JobState=COMPLETED'"
	check "its output holds each number 0..900 once" one_count "$out" 900
}

echo "== slurm: preemption without the site setting: the end-time watch"
out=$work/preempt-watch.out
SCRIPT=watch.sbatch preempt "$out" watch
check "the wrapper saw its end time move earlier" grep -q 'moved from .* (a preemption): checkpointing' "$out"

echo "== slurm: preemption with the site setting"
SLURM_UP_TEST_USER=$user SLURM_UP_PREEMPT_SIGNAL=1 bash .ci/slurm-up.sh >/dev/null || not_ok "Slurm comes up with the preemption signal"
out=$work/preempt-signal.out
preempt "$out" signal
check "the checkpoint came with Slurm's signal" grep -q 'checkpoint signal (SIGUSR1)' "$out"
SLURM_UP_TEST_USER=$user bash .ci/slurm-up.sh >/dev/null || not_ok "Slurm comes back up without the preemption signal"
finish
