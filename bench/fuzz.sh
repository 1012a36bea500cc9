#!/bin/sh
# Fuzzes the image validator with libFuzzer (the Swift toolchain's
# -sanitize=fuzzer), seeded from real dumps, as root after tests/fixtures.sh.
#
# usage: bench/fuzz.sh [RUNS]     (default 10000000 executions; CI runs a few)
#
# Seeds: real generations dumped as chuser1 (uid 1001, the uid the fuzz
# target's caller has): a counting job, a shell with a child and a pipe, a
# threaded job, a job with a pseudo-terminal of its own and one holding /proc
# files of its own tasks, each packed (criu-images-fuzzer pack) with every
# metadata image. FUZZ_HELPER names the helper that dumps them (default
# /usr/local/bin/criu-helper), FUZZ_WORK where they and the corpus go
# (default ~chuser1/fuzz). Prints libFuzzer's final statistics; exits non-zero on a crash.
set -eu
[ "$(id -u)" = 0 ] || { echo "bench/fuzz.sh: must run as root" >&2; exit 77; }
cd "$(dirname "$0")/.."
PATH=/opt/swift/usr/bin:$PATH
export PATH
runs=${1:-10000000}
user=chuser1
bin=/opt/criu-helper-tests/bin
home=$(getent passwd "$user" | cut -d: -f6)
[ "$(id -u "$user")" = 1001 ] || { echo "bench/fuzz.sh: $user must have uid 1001 (the fuzz target's caller)" >&2; exit 69; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift build -c release --product criu-images-fuzzer >"$log" 2>&1 || { cat "$log" >&2; exit 70; }
swift build -c release --product criu-images-fuzzer --scratch-path .build-fuzz \
	-Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -parse-as-library >"$log" 2>&1 || { cat "$log" >&2; exit 70; }

work=${FUZZ_WORK:-$home/fuzz}
rm -rf "$work"
install -d -o "$user" -g "$user" -m 0700 "$work" "$work/seeds" "$work/corpus"
as_user() { setpriv --reuid="$user" --regid="$user" --init-groups --reset-env sh -c "cd && $1"; }
n=0
# The multi-threaded seed comes from the fixtures' installation that allows
# it (multi-threaded = allow); the default refuses such a job.
# The terminal and /proc jobs print "step N" once what they hold is open.
for job in "$bin/ch-count" "sh -c 'sleep 600 | cat & exec $bin/ch-count'" "$bin/ch-many-threads 8" \
	"$bin/ch-pty 100000" "$bin/ch-procfile 100000"; do
	n=$((n + 1))
	helper=${FUZZ_HELPER:-/usr/local/bin/criu-helper}
	case $job in *many-threads*) helper=/opt/criu-helper-threads/bin/criu-helper ;; esac
	as_user "($helper run --images-dir $work/job$n -- $job >$work/job$n.out 2>&1 &)"
	case $job in *ch-pty* | *ch-procfile*)
		deadline=$(($(date +%s) + 60))
		until grep -q '^step 2' "$work/job$n.out" 2>/dev/null; do
			[ "$(date +%s)" -lt "$deadline" ] || { echo "bench/fuzz.sh: $job did not start: $(tail -n 1 "$work/job$n.out")" >&2; exit 70; }
			sleep 0.1
		done ;;
	esac
	tries=0
	until as_user "$helper dump --images-dir $work/job$n >/dev/null 2>&1"; do
		tries=$((tries + 1)); [ $tries -lt 50 ] || { echo "bench/fuzz.sh: no seed from $job" >&2; exit 70; }
		sleep 0.2
	done
	.build/release/criu-images-fuzzer pack "$work/job$n/g000001" >"$work/seeds/job$n"
done
echo "seeds: $(ls "$work/seeds" | wc -l), $(cat "$work"/seeds/* | wc -c) bytes"
status=0
.build-fuzz/release/criu-images-fuzzer -runs="$runs" -max_len=1048576 -timeout=10 -print_final_stats=1 \
	"$work/corpus" "$work/seeds" 2>"$work/fuzz.log" || status=$?
grep -E '^stat::|^#[0-9]+.*DONE|ERROR|crash|Done' "$work/fuzz.log" | tail -n 20
exit "$status"
