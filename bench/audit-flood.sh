#!/bin/bash
# What a flood of refused requests costs the audit trail, as root after
# tests/fixtures.sh: LOOPS loops of `criu-helper list --images-dir /<1,000
# characters>` as one user for SECONDS seconds, then the records written and
# the bytes audit.log grew, per second, and the largest record. Prints figures
# only.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "bench/audit-flood.sh: must run as root" >&2; exit 77; }
LOOPS=${LOOPS:-8}
SECONDS_RUN=${SECONDS_RUN:-10}
user=chuser1
log=/var/log/audit/audit.log
long=/$(printf 'x%.0s' $(seq 1000))
before=$(stat -c %s "$log")
marker=$(date +%s%N)
pids=()
for _ in $(seq "$LOOPS"); do
	setpriv --reuid="$user" --regid="$user" --init-groups --reset-env \
		bash -c "end=\$((\$(date +%s) + $SECONDS_RUN)); while [ \$(date +%s) -lt \$end ]; do /usr/local/bin/criu-helper list --images-dir $long 2>/dev/null; done; exit 0" &
	pids+=($!)
done
wait "${pids[@]}"
# auditd writes behind the requests: read once the log has stopped growing
after=$(stat -c %s "$log")
while sleep 0.5; [ "$(stat -c %s "$log")" != "$after" ]; do after=$(stat -c %s "$log"); done
records=$(tail -c $((after - before)) "$log" | grep -c 'type=USER_CMD.*op=list' || true)
largest=$(tail -c $((after - before)) "$log" | grep 'type=USER_CMD.*op=list' | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')
awk -v r="$records" -v b="$((after - before))" -v s="$SECONDS_RUN" -v l="$LOOPS" -v m="$largest" 'BEGIN {
	printf "%d loops for %d s: %d records (%.0f/s), audit.log +%d bytes (%.0f KB/s), largest record %d bytes\n", l, s, r, r / s, b, b / s / 1000, m
	printf "at that rate, auditd defaults (5 x 8 MiB, ROTATE) keep %.1f minutes of records\n", 5 * 8 * 1048576 / (b / s) / 60 }'
