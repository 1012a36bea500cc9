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
#   3. a requeue without a checkpoint starts the job from the beginning.
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
finish
