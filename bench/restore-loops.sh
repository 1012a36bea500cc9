#!/bin/bash
# Restore loops, as the unprivileged user chloop, with bench/ticker (a tick
# every 20 ms; threads that compute without pause):
#   single   CYCLES dumps and restores of one single-threaded job: every
#            restore must succeed and the restored job must go on ticking
#            (none may die a moment after a good restore);
#   threads  the same with an 8-thread job, at the installation that allows
#            multi-threaded tasks: no restore may be refused by the
#            restored-tree check while threads settle;
#   timerfd  FINISH jobs of 40 ticks from a timerfd waited on with epoll,
#            each dumped at tick 10 and restored, alternately through the
#            helper and by bare criu (ambient cap_sys_ptrace,cap_sys_admin,
#            as in CRIU's own tests): each must finish with every tick once.
#            A job that stops ticking is reported with its timer's state
#            (/proc/PID/fdinfo: it_value (0, 0) is a disarmed timer).
# Prints the counts and the time per cycle; exits 1 if anything failed.
# As root, after scripts/setup.sh and tests/fixtures.sh.
#   bench/restore-loops.sh [CYCLES [FINISH]]     (defaults 200 and 50)
#   HELPER, THREADS_HELPER as in tests/apps/run.sh; CRIU (the helper's
#   configured criu); RUN_FLAGS: more options of run; LOOPS: which of
#   "single threads timerfd" to run
set -u
[ "$(id -u)" = 0 ] || { echo "restore-loops.sh: must run as root" >&2; exit 77; }
cd "$(dirname "$0")" || exit 1
cycles=${1:-200}
finish=${2:-50}
helper=${HELPER:-/usr/local/bin/criu-helper}
threads_helper=${THREADS_HELPER:-/opt/criu-helper-threads/bin/criu-helper}
conf=$(dirname "$(dirname "$helper")")/etc/criu-helper.conf
criu=${CRIU:-$(sed -n 's/^criu *= *//p' "$conf")}
launch=/opt/criu-helper-tests/bin/ch-launch
flags=${RUN_FLAGS:-}
loops=${LOOPS:-single threads timerfd}
user=chloop
ticker=/opt/criu-helper-bench/ticker
install -d -m 0755 /opt/criu-helper-bench
gcc -O2 -Wall -o "$ticker" ticker.c -lpthread || exit 1
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
uid=$(id -u "$user") gid=$(id -g "$user")
home=$(getent passwd "$user" | cut -d: -f6)
as_user() { setpriv --reuid="$user" --regid="$user" --init-groups --reset-env sh -c "cd && $1"; }
# Waits until the shell condition holds (polling); false after $2 s (60).
wait_until() {
	end=$(($(date +%s) + ${2:-60}))
	until sh -c "$1" 2>/dev/null; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.02
	done
}
lines() { wc -l <"$1"; }
timer() { grep -h -E '^(ticks|it_value|it_interval)' "/proc/$1/fdinfo/3" 2>/dev/null | tr '\n' ' '; }
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
status=0

# loop NAME HELPER THREADS: one job, dumped and restored CYCLES times.
loop() {
	name=$1 use=$2 threads=$3
	d=$home/loop-$name
	rm -rf "$d"
	as_user "mkdir $d && cd $d && { setsid $use run $flags --images-dir images -- $ticker $threads 0 sleep >out 2>err </dev/null & }"
	wait_until "[ \$(wc -l <$d/out) -ge 10 ]" || { echo "$name: the job never ticked: $(cat "$d/err")"; status=1; return; }
	good=0 dumpfail=0 restorefail=0 died=0 stuck=0
	reasons=$(mktemp)
	start=$(date +%s%N)
	for i in $(seq "$cycles"); do
		if ! as_user "cd $d && $use dump --images-dir images" 2>"$d/dump.err"; then
			dumpfail=$((dumpfail + 1)); echo "cycle $i dump: $(cat "$d/dump.err")" >>"$reasons"; break
		fi
		n=$(lines "$d/out")
		if ! as_user "cd $d && $use restore --images-dir images >restore.out" 2>"$d/restore.err"; then
			restorefail=$((restorefail + 1)); echo "cycle $i restore: $(tail -n 1 "$d/restore.err")" >>"$reasons"; break
		fi
		pid=$(tail -n 1 "$d/restore.out")
		# Alive and ticking: ten more ticks (200 ms) after restore returned.
		if ! wait_until "[ \$(wc -l <$d/out) -ge $((n + 10)) ]"; then
			if [ -d "/proc/$pid" ]; then
				stuck=$((stuck + 1)); echo "cycle $i: the restored job (PID $pid) is alive and no longer ticks" >>"$reasons"
			else
				died=$((died + 1)); echo "cycle $i: the restored job (PID $pid) died after a good restore" >>"$reasons"
			fi
			break
		fi
		good=$((good + 1))
	done
	elapsed=$(ms "$start")
	[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null
	echo "$name ($threads thread(s)): $good of $cycles cycles good; dump failed $dumpfail, restore failed or refused $restorefail, died after a good restore $died, alive but not ticking $stuck; $((elapsed / (good + dumpfail + restorefail + died + stuck))) ms per cycle"
	sed 's/^/  /' "$reasons"
	[ "$good" = "$cycles" ] || status=1
	rm -f "$reasons"
}

case " $loops " in *" single "*) loop single "$helper" 1 ;; esac
case " $loops " in *" threads "*) loop threads "$threads_helper" 8 ;; esac

# finished WAY DIR PID JOB: waits for the restored job to print every tick
# once and end; counts it, or says why not.
expected=$( (seq 1 40 | sed 's/^/tick /'; echo 'done 40'))
finished() {
	way=$1 d=$2 pid=$3 job=$4
	if wait_until "[ \"\$(tail -n 1 $d/out)\" = 'done 40' ]" 20 && [ "$(cat "$d/out")" = "$expected" ]; then
		eval "good_$way=\$((good_$way + 1))"
	elif [ -d "/proc/$pid" ]; then
		echo "  $way job $job: alive, stopped at '$(tail -n 1 "$d/out")'; timer: $(timer "$pid")"
		kill "$pid"
	else
		echo "  $way job $job: ended at '$(tail -n 1 "$d/out")'"
	fi
}

if case " $loops " in *" timerfd "*) true ;; *) false ;; esac; then
	good_helper=0 good_bare=0
	d=$home/finish
	for i in $(seq "$finish"); do
		# Through the helper.
		rm -rf "$d"
		as_user "mkdir $d && cd $d && { setsid $helper run $flags --images-dir images -- $ticker 1 40 >out 2>err </dev/null; echo \$? >run.rc; } &"
		if wait_until "[ \$(wc -l <$d/out) -ge 10 ]" && as_user "cd $d && $helper dump --images-dir images" 2>"$d/dump.err" &&
			wait_until "[ -f $d/run.rc ]" && as_user "cd $d && $helper restore --images-dir images >restore.out" 2>"$d/restore.err"; then
			finished helper "$d" "$(tail -n 1 "$d/restore.out")" "$i"
		else
			echo "  helper job $i: $(cat "$d/err" "$d/dump.err" "$d/restore.err" 2>/dev/null | tail -n 1)"
		fi
		# Bare criu, the same way.
		rm -rf "$d"
		as_user "mkdir -p $d/images && touch $d/out"
		setsid setpriv --reuid="$uid" --regid="$gid" --init-groups --no-new-privs -- "$ticker" 1 40 >>"$d/out" 2>/dev/null </dev/null &
		pid=$!
		disown "$pid" # criu's dump ends it: no "Killed" from this shell
		bare="$launch --user $uid:$gid --caps 19,21 --nnp -- $criu"
		if wait_until "[ \$(wc -l <$d/out) -ge 10 ]" && $bare dump -t "$pid" -D "$d/images" -o dump.log --unprivileged >/dev/null 2>&1 &&
			wait_until "[ ! -d /proc/$pid ]" && $bare restore -D "$d/images" -o restore.log --unprivileged -d --pidfile "$d/images/pid" >/dev/null 2>&1; then
			finished bare "$d" "$(cat "$d/images/pid")" "$i"
		else
			echo "  bare job $i: $(grep -h Error "$d"/images/*.log 2>/dev/null | head -n 1)"
			kill "$pid" 2>/dev/null
		fi
	done
	echo "timerfd: of $finish jobs each, dumped at tick 10 and restored, finished with every tick once: $good_helper through the helper, $good_bare by bare criu"
	[ "$good_helper" = "$finish" ] || status=1
fi
exit "$status"
