#!/bin/bash
# Real applications under criu-helper, as an unprivileged user (the README's
# "Real applications"). Each checkpointable one is started with
# `criu-helper run`, checkpointed midway with `dump` (which ends it), restored
# with `restore --wait`, and its whole output compared, byte for byte, with an
# uninterrupted run of the same program started beside it. Each one that
# cannot be checkpointed here must fail its dump with the documented reason
# and run on to the uninterrupted run's output. Prints one table row each.
# As root, after scripts/setup.sh and tests/fixtures.sh (it uses the fixtures'
# installation that allows multi-threaded tasks); installs what the
# applications need from Debian's archive.
#   HELPER          the default installation's helper (/usr/local/bin/criu-helper)
#   THREADS_HELPER  an installation with multi-threaded = allow
#                   (/opt/criu-helper-threads/bin/criu-helper)
#   APPS_ONLY       names of the applications to run (all by default)
#   APPS_RUN_FLAGS  more options for run (e.g. --private-network)
set -u
[ "$(id -u)" = 0 ] || { echo "apps/run.sh: must run as root" >&2; exit 77; }
cd "$(dirname "$0")" || exit 1
helper=${HELPER:-/usr/local/bin/criu-helper}
threads_helper=${THREADS_HELPER:-/opt/criu-helper-threads/bin/criu-helper}
user=${APPS_USER:-chapps}
bin=/opt/criu-helper-apps
deadline=${APPS_DEADLINE:-180} # seconds for any one wait
only=${APPS_ONLY:-}
flags=${APPS_RUN_FLAGS:-}

# What the applications need, from Debian's archive (Open MPI's mpirun
# looks for an ssh client even to start ranks on this node).
export DEBIAN_FRONTEND=noninteractive
need=""
for p in python3 python3-numpy gfortran r-base-core gcc libgomp1 openjdk-17-jdk-headless openmpi-bin libopenmpi-dev openssh-client mpich libmpich-dev; do
	dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need >/dev/null || { echo "apps: cannot install$need" >&2; exit 1; }
fi
install -d -m 0755 "$bin"
gcc -O2 -Wall -Wno-unknown-pragmas -o "$bin/heat" heat.c || exit 1
gcc -O2 -Wall -fopenmp -o "$bin/heat-openmp" heat.c || exit 1
gfortran -O2 -Wall -o "$bin/heat-fortran" heat.f90 || exit 1
mpicc.openmpi -O2 -Wall -o "$bin/mpi-pi-openmpi" mpi-pi.c || exit 1
mpicc.mpich -O2 -Wall -o "$bin/mpi-pi-mpich" mpi-pi.c || exit 1
javac -d "$bin" Collatz.java || exit 1
install -m 0644 montecarlo.py linalg.py walk.R counter-server.py "$bin/"
install -m 0755 pipeline.sh "$bin/"
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
home=$(getent passwd "$user" | cut -d: -f6)
work=$home/apps
rm -rf "$work"
install -d -o "$user" -g "$user" -m 0700 "$work"

as_user() { setpriv --reuid="$user" --regid="$user" --init-groups --reset-env sh -c "$1"; }
# Waits until the shell condition holds, polling; false after $deadline s.
wait_until() {
	end=$(($(date +%s) + deadline))
	until sh -c "$1" 2>/dev/null; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.1
	done
}
selected() { [ -z "$only" ] || case " $only " in *" $1 "*) true ;; *) false ;; esac; }
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }

passed=0
failed=0
rows=""
row() { rows="$rows| $1 | $2 | $3 |"$'\n'; }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); row "$1" "**failed**: $2" "$3"; }

# start_both HELPER PROGRESS-FILE (with name, d, cmd set): starts the
# uninterrupted run ($ref) in d/ref and the run under HELPER in d/ck, and
# waits until the latter's PROGRESS-FILE has 20 lines; false (and counted as
# failed) if it never has.
start_both() {
	as_user "mkdir -p $d/ref $d/ck"
	echo "== $name: $cmd"
	as_user "cd $d/ref && { $cmd >out 2>err; echo \$? >rc; }" &
	ref=$!
	as_user "cd $d/ck && { setsid $1 run $flags --images-dir images -- $cmd >out 2>err </dev/null; echo \$? >run.rc; } &"
	wait_until "[ \$(wc -l <$d/ck/$2) -ge 20 ]" && return 0
	fail "$name" "no progress under run ($(head -c 300 "$d/ck/err"))" "$cmd"
	wait "$ref"
	return 1
}

# app NAME HELPER PROGRESS-FILE COMMAND: the run → dump → restore cycle.
app() {
	name=$1 use=$2 progress=$3 cmd=$4
	selected "$name" || return 0
	d=$work/$name
	start_both "$use" "$progress" || return
	if ! as_user "cd $d/ck && $use dump --images-dir images" 2>"$d/dump.err"; then
		fail "$name" "dump: $(cat "$d/dump.err")" "$cmd"; wait "$ref"; return
	fi
	at=$(lines "$d/ck/$progress")
	wait_until "[ -f $d/ck/run.rc ]" || { fail "$name" "run did not end after dump" "$cmd"; wait "$ref"; return; }
	[ "$(cat "$d/ck/run.rc")" = 137 ] || { fail "$name" "run exited $(cat "$d/ck/run.rc"), not 137 (ended by the dump)" "$cmd"; wait "$ref"; return; }
	if ! as_user "cd $d/ck && $use restore --images-dir images --wait >restore.out 2>restore.err"; then
		fail "$name" "restore: $(tail -n 2 "$d/ck/restore.err")" "$cmd"; wait "$ref"; return
	fi
	wait "$ref"
	[ "$(cat "$d/ref/rc")" = 0 ] || { fail "$name" "the uninterrupted run failed: $(head -c 300 "$d/ref/err")" "$cmd"; return; }
	for f in out $([ "$progress" = out ] || echo "$progress"); do
		if ! cmp -s "$d/ref/$f" "$d/ck/$f"; then
			fail "$name" "$f differs from the uninterrupted run's" "$cmd"; diff "$d/ref/$f" "$d/ck/$f" | head -n 5; return
		fi
	done
	total=$(lines "$d/ref/$progress")
	dumped=$(sed -n 's/.*criu-helper: dumped \([^:]*\):.*frozen \([0-9]* ms\).*/\1, frozen \2/p' "$d/dump.err" | sed "s| into images/g[0-9]*||")
	echo "ok: checkpointed at line $at of $total ($dumped), restored, output identical"
	passed=$((passed + 1))
	row "$name" "same output (checkpointed at line $at of $total; $dumped)" "$cmd"
}

app c "$helper" out "$bin/heat"
app fortran "$helper" out "$bin/heat-fortran"
app python "$helper" out "python3 $bin/montecarlo.py"
app numpy "$helper" out "env OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python3 $bin/linalg.py"
app R "$helper" out "Rscript $bin/walk.R"
app pipeline "$helper" progress "$bin/pipeline.sh"
app openmp "$threads_helper" out "env OMP_NUM_THREADS=2 $bin/heat-openmp"
app java "$threads_helper" out "java -cp $bin Collatz"

# not_checkpointable NAME HELPER EXIT PATTERN COMMAND: a job that cannot be
# checkpointed here. The dump fails with EXIT and PATTERN in its message or
# in criu's log, and the job runs on: its output is still the uninterrupted
# run's.
not_checkpointable() {
	name=$1 use=$2 want=$3 pattern=$4 cmd=$5
	selected "$name" || return 0
	d=$work/$name
	start_both "$use" out || return
	as_user "cd $d/ck && $use dump --images-dir images" 2>"$d/dump.err"
	rc=$?
	why=$(cat "$d/dump.err" "$d"/ck/images/g*.failed/dump.log 2>/dev/null | grep -m 1 -e "$pattern")
	wait "$ref"
	if [ "$rc" != "$want" ] || [ -z "$why" ]; then
		fail "$name" "dump exited $rc, not $want with \"$pattern\": $(cat "$d/dump.err")" "$cmd"
	elif ! wait_until "[ -f $d/ck/run.rc ]" || [ "$(cat "$d/ck/run.rc")" != 0 ] || ! cmp -s "$d/ref/out" "$d/ck/out"; then
		fail "$name" "the job did not run on to the uninterrupted run's end after the failed dump" "$cmd"
	else
		why=$(echo "$why" | sed 's/^criu-helper: //; s/^Error ([^)]*): //')
		echo "ok: dump exited $rc ($why), the job ran on to its end"
		passed=$((passed + 1))
		row "$name" "not checkpointable: dump exits $rc (\`$why\`); the job runs on" "$cmd"
	fi
}
# OpenMP at a site with the default multi-threaded = refuse.
not_checkpointable openmp-default "$helper" 77 "threads" "env OMP_NUM_THREADS=2 $bin/heat-openmp"
# MPI on one node. Open MPI: mpirun and its ranks are joined by TCP
# connections on the loopback, which criu dumps only with --tcp-established
# (TCP repair, which needs cap_net_admin over the network's owner: README,
# "Still refused"). MPICH: its ranks share SysV shared memory, and the job
# has no IPC namespace of its own (same section).
not_checkpointable mpi-openmpi "$threads_helper" 1 "Connected TCP socket" "mpirun.openmpi -np 2 --oversubscribe $bin/mpi-pi-openmpi"
not_checkpointable mpi-mpich "$threads_helper" 1 "SysVIPC shmem" "mpirun.mpich -np 2 $bin/mpi-pi-mpich"

# A TCP server keeps its listening socket and its count across the
# checkpoint: clients 1 and 2 before, the port closed while it is on disk,
# client 3 after the restore.
tcp_server() {
	selected tcp-server || return 0
	name=tcp-server d=$work/$name
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cmd="python3 $bin/counter-server.py $port"
	client() { as_user "python3 -c 'import socket; c = socket.create_connection((\"127.0.0.1\", $port), timeout=30); c.sendall(b\"$1\n\"); print(c.makefile().readline().strip())'" 2>/dev/null; }
	echo "== $name: $cmd"
	as_user "mkdir -p $d && cd $d && { setsid $helper run $flags --images-dir images -- $cmd >out 2>err </dev/null; echo \$? >run.rc; } &"
	# shellcheck disable=SC2252 # each $(client …) is a new client
	if ! wait_until "grep -q listening $d/out"; then
		fail "$name" "it never listened: $(head -c 300 "$d/err")" "$cmd"
	elif [ "$(client hello)" != "client 1" ] || [ "$(client hello)" != "client 2" ]; then
		fail "$name" "clients before the checkpoint were not served in order" "$cmd"
	elif ! as_user "cd $d && $helper dump --images-dir images" 2>"$d/dump.err"; then
		fail "$name" "dump: $(cat "$d/dump.err")" "$cmd"
	elif ! wait_until "[ -f $d/run.rc ]" || [ -n "$(client hello)" ]; then
		fail "$name" "the server still answered after the dump" "$cmd"
	elif ! as_user "cd $d && { $helper restore --images-dir images --wait >restore.out 2>restore.err; echo \$? >restore.rc; } &" ||
		! wait_until "[ -s $d/restore.out ] || [ -f $d/restore.rc ]" || [ -f "$d/restore.rc" ]; then
		fail "$name" "restore: $(tail -n 2 "$d/restore.err")" "$cmd"
	elif [ "$(client hello)" != "client 3" ] || [ "$(client quit)" != "client 4" ]; then
		fail "$name" "after the restore the count did not go on (client 3, then 4)" "$cmd"
	elif ! wait_until "[ -f $d/restore.rc ]" || [ "$(cat "$d/restore.rc")" != 0 ] || [ "$(tail -n 1 "$d/out")" != "done" ]; then
		fail "$name" "the restored server did not end cleanly" "$cmd"
	else
		echo "ok: clients 1 and 2 before, the port closed while on disk, clients 3 and 4 after the restore"
		passed=$((passed + 1))
		row "$name" "listener and count kept: clients 1, 2 before the checkpoint, 3, 4 after" "$cmd"
	fi
}
tcp_server

echo
echo "| application | outcome | command |"
echo "|---|---|---|"
printf '%s' "$rows"
echo "apps: $passed passed, $failed failed"
[ "$failed" = 0 ]
