#!/bin/bash
# Benchmarks, as root, after tests/fixtures.sh (users, test programs):
#   1. criu-helper dump against bare criu run with the same ambient capability
#      (cap_checkpoint_restore, no_new_privs) on the same small job, PAIRS
#      pairs measured side by side (alternating), medians and their ratio;
#   2. the cost of the tree check for 1, 100 and 1,000 tasks, as the helper
#      measures it and against bench/proc-floor.c (the same /proc reads, in C);
#   3. dump throughput of the helper against bare criu on 1 GiB and 4 GiB jobs.
# Prints figures only; it asserts nothing.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: must run as root" >&2; exit 77; }
PAIRS=${PAIRS:-21}
BIG_PAIRS=${BIG_PAIRS:-4}
SIZES=${SIZES:-"1024 4096"}
user=chuser1
uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)
bin=/opt/criu-helper-tests/bin
criu=$(sed -n 's/^criu *= *//p' /usr/local/etc/criu-helper.conf)
work=$home/bench
umount "$work/mem" 2>/dev/null || true
rm -rf "$work"
install -d -o "$user" -g "$user" -m 0700 "$work"

now() { date +%s%N; }
as_user() { setpriv --reuid="$user" --regid="$user" --init-groups --reset-env sh -c "$1"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }
ms() { awk -v n="$1" 'BEGIN {printf "%.1f", n / 1e6}'; }

start_job() { # start_job MIB -> pid of a counting job holding MIB of memory
	local pidfile=$work/job.pid
	rm -f "$pidfile"
	setsid "$bin/ch-reaper" --pidfile "$pidfile" setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs \
		"$bin/ch-count" "$1" >>"$work/job.out" 2>&1 </dev/null &
	while [ ! -s "$pidfile" ]; do sleep 0.05; done
	local pid
	pid=$(cat "$pidfile")
	# wait until the memory is resident
	while [ "$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")" -lt $(( $1 * 1000 )) ]; do sleep 0.2; done
	echo "$pid"
}

bare_dump() { # bare_dump PID DIR: criu as the helper runs it (its options, the default ghost-limit), without the helper
	rm -rf "$2"
	install -d -o "$user" -g "$user" -m 0700 "$2"
	"$bin/ch-launch" --user "$uid:$uid" --caps 40 --nnp -- "$criu" dump --no-default-config --unprivileged \
		-t "$1" -D "$2" -o dump.log --file-locks --ext-unix-sk --ghost-limit $((64 << 20)) --shell-job --leave-running
}

helper_dump() { # helper_dump PID DIR: started by the same launcher as bare_dump
	"$bin/ch-launch" --user "$uid:$uid" -- /usr/local/bin/criu-helper dump --pid "$1" --images-dir "$2" \
		--leave-running --keep 1 2>/dev/null
}

frozen_ms() { # frozen time of the newest stats-dump under DIR (µs field 2 of the stats entry)
	python3 - "$1" <<'PY'
import glob, os, sys
files = sorted(glob.glob(os.path.join(sys.argv[1], "**", "stats-dump"), recursive=True), key=os.path.getmtime)
data = open(files[-1], "rb").read()[12:]
def varint(b, i):
    r = s = 0
    while True:
        x = b[i]; i += 1; r |= (x & 0x7f) << s; s += 7
        if x < 0x80: return r, i
# stats_entry { dump_stats_entry dump = 1 } ; dump_stats_entry.frozen_time = 2
i = 0
_, i = varint(data, i); n, i = varint(data, i); inner = data[i:i+n]
j = 0
while j < len(inner):
    k, j = varint(inner, j)
    v, j = varint(inner, j)
    if k >> 3 == 2: print("%.1f" % (v / 1000)); break
PY
}

echo "== 1. criu-helper dump vs bare criu, small job, $PAIRS pairs (alternating)"
pid=$(start_job 16)
h=() b=()
for _ in $(seq "$PAIRS"); do
	t0=$(now); bare_dump "$pid" "$work/bare" >/dev/null 2>&1; t1=$(now)
	helper_dump "$pid" "$work/helper"; t2=$(now)
	b+=($((t1 - t0))); h+=($((t2 - t1)))
done
hm=$(printf '%s\n' "${h[@]}" | median); bm=$(printf '%s\n' "${b[@]}" | median)
echo "bare criu median:   $(ms "$bm") ms"
echo "criu-helper median: $(ms "$hm") ms"
awk -v h="$hm" -v b="$bm" 'BEGIN {printf "ratio helper/bare: %.3f (overhead %.1f %%, %.1f ms)\n", h / b, (h / b - 1) * 100, (h - b) / 1e6}'
kill -9 "$pid"

echo "== 2. tree check: probe installation (its criu writes nothing: the request ends at the image check), median of 7"
echo "   check: the helper's own measure of ProcessTree.inspect (its job log); floor: bench/proc-floor.c, the same"
echo "   /proc files read by a C loop that parses and checks nothing; each pair measured side by side"
floor=$work/proc-floor
cc -O2 -o "$floor" "$(dirname "$0")/proc-floor.c"
echo ok >/etc/criu-probe.mode
for n in 1 100 1000; do
	pidfile=$work/tree.pid
	rm -f "$pidfile"
	setsid "$bin/ch-reaper" --pidfile "$pidfile" setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs \
		bash -c "for i in \$(seq $((n - 1))); do sleep 600 & done; exec sleep 600" >/dev/null 2>&1 </dev/null &
	while [ ! -s "$pidfile" ]; do sleep 0.05; done
	root=$(cat "$pidfile")
	while [ "$(pgrep -u "$uid" -x sleep | wc -l)" -lt "$n" ]; do sleep 0.1; done
	times=() checks=() floors=()
	for _ in 1 2 3 4 5 6 7; do
		t0=$(now); as_user "/opt/criu-helper-probe/bin/criu-helper dump --pid $root --images-dir $work/tree --leave-running >/dev/null 2>&1" || true; t1=$(now)
		times+=($((t1 - t0)))
		checks+=("$(sed -n 's/.*tree checked in \([0-9]*\) µs.*/\1/p' "$work/tree/criu-helper.log" | tail -n 1)")
		read -r us tasks < <(as_user "$floor $root")
		[ "$tasks" = "$n" ] || echo "   (the floor walked $tasks tasks, not $n)"
		floors+=("$us")
	done
	c=$(printf '%s\n' "${checks[@]}" | median) f=$(printf '%s\n' "${floors[@]}" | median)
	echo "$n tasks: request $(ms "$(printf '%s\n' "${times[@]}" | median)") ms (start-up, tree check, audit records);" \
		"check $(ms $((c * 1000))) ms; floor $(ms $((f * 1000))) ms; check/floor $(awk -v c="$c" -v f="$f" 'BEGIN {printf "%.2f", c / f}')"
	pkill -9 -u "$uid" -x sleep || true
	while pgrep -u "$uid" -x sleep >/dev/null; do sleep 0.1; done
done

echo "== 3. dump throughput, $BIG_PAIRS pairs per size, images in a tmpfs (DISK=1: on $work's disk)"
# On disk, page-cache writeback of the previous dump dominates and varies by
# seconds; a tmpfs shows what the helper itself costs. Both sides alike.
mem=$work
if [ "${DISK:-0}" != 1 ]; then
	mem=$work/mem
	install -d -o "$user" -g "$user" -m 0700 "$mem"
	mount -t tmpfs -o "size=10g,mode=0700,uid=$uid,gid=$uid" tmpfs "$mem"
fi
for mib in $SIZES; do
	pid=$(start_job "$mib")
	bt=() ht=()
	for n in $(seq "$BIG_PAIRS"); do
		# Written pages from the previous dump are flushed first (sync), and
		# the order alternates, so that neither side pays for the other's writeback.
		# Each side starts from an empty directory (at most two images in memory).
		rm -rf "$mem/helper"
		if [ $((n % 2)) = 1 ]; then
			sync; t0=$(now); bare_dump "$pid" "$mem/bare" >/dev/null 2>&1; t1=$(now)
			sync; t2=$(now); helper_dump "$pid" "$mem/helper"; t3=$(now)
		else
			sync; t2=$(now); helper_dump "$pid" "$mem/helper"; t3=$(now)
			sync; t0=$(now); bare_dump "$pid" "$mem/bare" >/dev/null 2>&1; t1=$(now)
		fi
		bf=$(frozen_ms "$mem/bare")
		hf=$(frozen_ms "$mem/helper")
		bytes=$(du -sb "$mem/bare" | cut -f1)
		rm -rf "$mem/bare"
		bt+=($((t1 - t0))); ht+=($((t3 - t2)))
		awk -v mib="$mib" -v b="$((t1 - t0))" -v h="$((t3 - t2))" -v bf="$bf" -v hf="$hf" -v bytes="$bytes" 'BEGIN {
			printf "%5d MiB: bare %.2f s (%.0f MiB/s, frozen %.0f ms)  helper %.2f s (%.0f MiB/s, frozen %.0f ms)  helper/bare throughput %.1f %%\n",
				mib, b / 1e9, bytes / 1048576 / (b / 1e9), bf, h / 1e9, bytes / 1048576 / (h / 1e9), hf, 100 * b / h }'
	done
	# This VM's memory is slow to touch at times (seconds for a GiB, either
	# side): the minimum is the cost without that, the median with it.
	bm=$(printf '%s\n' "${bt[@]}" | median); hm=$(printf '%s\n' "${ht[@]}" | median)
	bn=$(printf '%s\n' "${bt[@]}" | sort -n | head -n 1); hn=$(printf '%s\n' "${ht[@]}" | sort -n | head -n 1)
	awk -v mib="$mib" -v b="$bm" -v h="$hm" -v bn="$bn" -v hn="$hn" 'BEGIN {
		printf "%5d MiB, medians: bare %.2f s, helper %.2f s, helper/bare throughput %.1f %%\n", mib, b / 1e9, h / 1e9, 100 * b / h
		printf "%5d MiB, minimums: bare %.2f s, helper %.2f s, helper/bare throughput %.1f %%\n", mib, bn / 1e9, hn / 1e9, 100 * bn / hn }'
	kill -9 "$pid"
	rm -rf "$mem/helper"
	sleep 1
done
echo "== incremental: criu memory tracking needs CONFIG_MEM_SOFT_DIRTY; this kernel:"
"$bin/ch-launch" --user "$uid:$uid" --caps 40 --nnp -- "$criu" check --no-default-config --unprivileged --feature mem_dirty_track 2>&1 | tail -n 1 || true
umount "$work/mem" 2>/dev/null || true
rm -rf "$work"
