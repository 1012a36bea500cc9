#!/bin/bash
# .ci/slurm-up.sh - bring up a real one-node Slurm cluster on this machine.
#
# Run as root. Idempotent: on a machine where Slurm is already up it only
# re-checks it. No systemd: munged, slurmctld and slurmd are started directly.
#
# Steps: install Debian's munge, slurmctld, slurmd and slurm-client (without
# recommends); make a munge key if there is none; start munged; write
# /etc/slurm/slurm.conf for this host (proctrack/linuxproc, task/none, one
# partition "debug", requeue allowed, no accounting); start slurmctld and
# slurmd; wait until the node is idle and a job submitted by an unprivileged
# user has run. Prints "slurm up"; on failure prints the logs and exits 1.
#
# Optional environment:
#   SLURM_UP_TEST_USER  user that submits the smoke job (default: nobody)
#   SLURM_UP_TIMEOUT    seconds to wait for each step  (default: 60)
set -eu

TEST_USER=${SLURM_UP_TEST_USER:-nobody}
# SLURM_UP_PREEMPT_SIGNAL=1: the site setting that makes Slurm send a job's
# --signal at the start of a preemption's grace time (22.05:
# SlurmctldParameters=preempt_send_user_signal; 23.02 and later:
# PreemptParameters=send_user_signal, which 22.05 refuses).
PREEMPT_SIGNAL=${SLURM_UP_PREEMPT_SIGNAL:-0}
TIMEOUT=${SLURM_UP_TIMEOUT:-60}
CONF=/etc/slurm/slurm.conf
LOGDIR=/var/log/slurm
export LC_ALL=C
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

START=$(date +%s)
log() { echo "slurm-up: [$(($(date +%s) - START))s] $*"; }

fail() {
	echo "slurm-up: FAILED: $*" >&2
	for f in "$LOGDIR/slurmctld.log" "$LOGDIR/slurmd.log" /var/log/munge/munged.log; do
		[ -r "$f" ] && { echo "--- tail $f"; tail -n 40 "$f"; }
	done
	sinfo 2>&1 || true
	exit 1
}

# Waits until "$@" succeeds, at most TIMEOUT seconds.
wait_for() {
	local what=$1; shift
	local deadline=$(($(date +%s) + TIMEOUT))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for $what"
		sleep 0.5
	done
}

[ "$(id -u)" = 0 ] || { echo "slurm-up: must run as root" >&2; exit 1; }

# --- packages. policy-rc.d keeps the postinst scripts from starting daemons.
missing=
for p in munge slurmctld slurmd slurm-client; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	log "installing$missing"
	created_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		created_policy=1
	fi
	apt-get update -qq
	# shellcheck disable=SC2086 # a list of package names
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
	[ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
fi

# --- munge
if [ ! -s /etc/munge/munge.key ]; then
	log "creating a munge key"
	mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 755 /run/munge
install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
	log "starting munged"
	runuser -u munge -- /usr/sbin/munged --force
	wait_for "munge" sh -c 'munge -n </dev/null | unmunge'
fi

# --- configuration, from what slurmd sees of this node
host=$(hostname -s)
node=$(slurmd -C | head -n 1)
case "$node" in NodeName=*) ;; *) fail "slurmd -C printed: $node" ;; esac
install -d -o slurm -g slurm -m 755 /var/lib/slurm/slurmctld "$LOGDIR"
install -d -m 755 /var/lib/slurm/slurmd
conf=$(mktemp)
cat >"$conf" <<EOF
# Written by criu-helper's .ci/slurm-up.sh: a one-node test cluster.
ClusterName=criuci
SlurmctldHost=$host
AuthType=auth/munge
# A requeued job may start again cred_expire + 1 s later (default 120 s).
AuthInfo=cred_expire=10
CredType=cred/munge
SlurmUser=slurm
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
LaunchType=launch/slurm
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
JobRequeue=1
MinJobAge=300
KillWait=10
$node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
# Preemption: a job of "high" requeues a job of "low" after GraceTime. The
# backfill scheduler, which decides it, runs every 3 s (30 s by default).
SchedulerParameters=bf_interval=3
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
PartitionName=low Nodes=$host PriorityTier=1 PreemptMode=REQUEUE GraceTime=30 MaxTime=INFINITE State=UP
PartitionName=high Nodes=$host PriorityTier=2 PreemptMode=OFF MaxTime=INFINITE State=UP
EOF
if [ "$PREEMPT_SIGNAL" = 1 ]; then
	case $(sinfo --version | awk '{print $2}') in
	22.*) echo "SlurmctldParameters=preempt_send_user_signal" >>"$conf" ;;
	*) echo "PreemptParameters=send_user_signal" >>"$conf" ;;
	esac
fi
sed -i '/^UpTime=/d' "$conf"
restart=
if ! cmp -s "$conf" "$CONF"; then
	log "writing $CONF"
	install -m 644 "$conf" "$CONF"
	restart=1
fi
rm -f "$conf"

# --- daemons
if [ -n "$restart" ]; then
	pkill -x slurmctld || true
	pkill -x slurmd || true
	for _ in $(seq 50); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break; sleep 0.1; done
fi
if ! pgrep -x slurmctld >/dev/null; then
	log "starting slurmctld"
	slurmctld
fi
wait_for "slurmctld" scontrol ping
if ! pgrep -x slurmd >/dev/null; then
	log "starting slurmd"
	slurmd
fi
wait_for "node $host idle" sh -c "sinfo -h -n '$host' -o %T | grep -qx idle"

# --- smoke job as an unprivileged user
smoke_out=$(mktemp -d)
chmod 777 "$smoke_out"
# shellcheck disable=SC2016 # expanded by the job, not here
job=$(runuser -u "$TEST_USER" -- sbatch --parsable -o "$smoke_out/out" --wrap 'echo ran as $(id -un)') ||
	fail "sbatch refused the smoke job"
wait_for "smoke job $job" sh -c "grep -q 'ran as $TEST_USER' '$smoke_out/out'"
rm -rf "$smoke_out"
log "job $job ran"
echo "slurm up"
