#!/bin/sh
# The main job on a fresh machine: set up (scripts/setup.sh), then, as an
# unprivileged user, start a counting job with `criu-helper run`, checkpoint
# it, restore it, and show that the count goes on where it stopped.
set -eu
[ "$(id -u)" = 0 ] || { echo "demo.sh: must run as root (sudo $0)" >&2; exit 77; }
cd "$(dirname "$0")/.."
scripts/setup.sh
user=${DEMO_USER:-chdemo}
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
home=$(getent passwd "$user" | cut -d: -f6)
cat >"$home/count.sh" <<'JOB'
#!/bin/sh
i=0
while :; do echo "$i"; i=$((i + 1)); sleep 1; done
JOB
chmod 755 "$home/count.sh"
as_user() { setpriv --reuid="$user" --regid="$user" --init-groups --reset-env sh -c "cd && $1"; }
as_user 'rm -rf ckpt count.out; (criu-helper run --images-dir ckpt -- ./count.sh >count.out 2>run.err &); sleep 4'
echo "--- the job counts:"; tail -n 2 "$home/count.out"
echo "--- checkpoint (the job is stopped and saved):"
as_user 'criu-helper dump --images-dir ckpt'
as_user 'criu-helper list --images-dir ckpt'
sleep 2
echo "--- no job is running now; output ends at $(tail -n 1 "$home/count.out")"
echo "--- restore:"
as_user '(criu-helper restore --images-dir ckpt >restore.out 2>restore.err &); sleep 4; cat restore.err'
echo "--- the job goes on where it stopped:"; tail -n 4 "$home/count.out"
# shellcheck disable=SC2016 # expanded by the user's shell
as_user 'pid=$(tail -n 1 restore.out); kill "$pid"'
echo "--- audit records of this demo:"
ausearch -m USER_CMD -ua "$(id -u "$user")" 2>/dev/null | grep -o "op=[a-z]* .*res=[a-z]*" | tail -n 4 || true
