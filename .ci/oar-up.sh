#!/bin/bash
# .ci/oar-up.sh - bring up a real single-node OAR 2.5 batch cluster (Debian 12).
#
# Run as root. Idempotent: running it again on a machine where OAR is already
# up only re-checks it. No systemd is needed: PostgreSQL, the OAR node sshd
# (port 6667) and the OAR server (Almighty) are started directly.
#
# Steps: install Debian's OAR 2.5.9 packages (server, node, user, PostgreSQL
# backend); start PostgreSQL; create the OAR database if absent; start the node
# sshd; check that the oar user can ssh to the node with its key (the job
# launch path); define one node with OAR_UP_CORES core resources (host, cpu,
# core, cpuset properties); start oar-server; wait until the resources are
# Alive and a smoke-test job submitted by an unprivileged user has run and
# exited 0. Prints "oar up" on success; on failure prints the relevant logs
# and exits non-zero.
#
# Optional environment:
#   OAR_UP_NODE       network_address of the node           (default: localhost)
#   OAR_UP_CORES      number of core resources               (default: nproc, at most 4)
#   OAR_UP_TEST_USER  user that submits the smoke-test job; created with a
#                     bash login shell if absent (OAR refuses jobs from root
#                     and oar, and runs the job with the user's login shell)
#                                                            (default: oarci)
#   OAR_UP_TIMEOUT    seconds to wait for each readiness step (default: 90)
set -eu

NODE=${OAR_UP_NODE:-localhost}
TEST_USER=${OAR_UP_TEST_USER:-oarci}
TIMEOUT=${OAR_UP_TIMEOUT:-90}
if [ -n "${OAR_UP_CORES:-}" ]; then
    CORES=$OAR_UP_CORES
else
    CORES=$(nproc)
    [ "$CORES" -gt 4 ] && CORES=4
fi

OAR_CONF=/etc/oar/oar.conf
OAR_LOG=/var/log/oar.log
NODE_SSHD_PIDFILE=/var/run/oar-node_sshd.pid
SERVER_PIDFILE=/var/run/oar-server.pid
OAR_HOME=/var/lib/oar
PACKAGES="postgresql oar-server oar-server-pgsql oar-node oar-user oar-user-pgsql
libyaml-perl libxml-dumper-perl libjson-perl openssh-client openssh-server"

export LC_ALL=C
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

START=$(date +%s)
POLICY_RC_D_CREATED=
SMOKE_JOB=

log() { echo "oar-up: [$(($(date +%s) - START))s] $*"; }

dump_logs() {
    echo "===== oar-up: FAILED, diagnostics follow ====="
    echo "--- processes"
    pgrep -a -f 'Almighty|sshd|postgres|OAREXEC' || true
    if [ -r "$OAR_LOG" ]; then
        echo "--- tail $OAR_LOG"
        tail -n 80 "$OAR_LOG" || true
    fi
    for f in /var/log/postgresql/postgresql-*-main.log; do
        [ -r "$f" ] || continue
        echo "--- tail $f"
        tail -n 30 "$f" || true
    done
    if command -v oarnodes >/dev/null 2>&1; then
        echo "--- oarnodes"
        timeout 20 oarnodes 2>&1 || true
        echo "--- oarnodes -e (events)"
        timeout 20 oarnodes -e "$NODE" 2>&1 | tail -n 20 || true
        echo "--- oarstat"
        timeout 20 oarstat 2>&1 || true
    fi
    if [ -n "$SMOKE_JOB" ]; then
        echo "--- oarstat -fj $SMOKE_JOB"
        timeout 20 oarstat -fj "$SMOKE_JOB" 2>&1 || true
    fi
    echo "--- job cpusets under /sys/fs/cgroup/cpuset/oar"
    for d in /sys/fs/cgroup/cpuset/oar/*/; do
        [ -d "$d" ] && echo "$d"
    done
    true
}

on_exit() {
    rc=$?
    if [ -n "$POLICY_RC_D_CREATED" ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
    if [ "$rc" -ne 0 ]; then
        dump_logs
        echo "oar-up: FAILED (exit $rc) after $(($(date +%s) - START))s" >&2
    fi
}
trap on_exit EXIT

die() {
    echo "oar-up: ERROR: $*" >&2
    exit 1
}

# Read KEY="value" from oar.conf (last uncommented occurrence).
conf_get() {
    sed -n "s/^$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*\$/\1/p" "$OAR_CONF" | tail -n 1
}

# Set KEY="value" in oar.conf (replacing an uncommented line, else appending).
conf_set() {
    if grep -q "^$1=" "$OAR_CONF"; then
        sed -i "s|^$1=.*|$1=\"$2\"|" "$OAR_CONF"
    else
        printf '%s="%s"\n' "$1" "$2" >>"$OAR_CONF"
    fi
}

pid_alive() { # pidfile pattern
    [ -r "$1" ] || return 1
    p=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] &&
        tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "$2"
}

[ "$(id -u)" -eq 0 ] || die "must be run as root"

# --------------------------------------------------------------- packages
missing=
for p in $PACKAGES; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    log "installing:$missing"
    # Keep package scripts from starting daemons (this script starts them,
    # once configured); removed again by the exit trap.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        POLICY_RC_D_CREATED=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086 # word splitting of the package list is wanted
    apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        $PACKAGES >/tmp/oar-up-apt.log 2>&1 ||
        { tail -n 40 /tmp/oar-up-apt.log; die "apt-get install failed"; }
    if [ -n "$POLICY_RC_D_CREATED" ]; then
        rm -f /usr/sbin/policy-rc.d
        POLICY_RC_D_CREATED=
    fi
fi
PKG_DONE=$(date +%s)
log "packages ok ($(dpkg-query -W -f='${Version}' oar-server))"

[ -r "$OAR_CONF" ] || die "$OAR_CONF missing"
if [ ! -r /sys/fs/cgroup/cpuset/tasks ]; then
    log "WARNING: no cgroup v1 cpuset at /sys/fs/cgroup/cpuset; OAR's job" \
        "resource manager will try to mount its own under /dev/oar_cgroups"
fi

# ------------------------------------------------------------- PostgreSQL
# The first cluster of the newest installed PostgreSQL (Debian 12: 15/main).
pg_line=$(pg_lsclusters -h 2>/dev/null | sort -k1,1V | tail -n 1)
if [ -z "$pg_line" ]; then
    pg_ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
    [ -n "$pg_ver" ] || die "no PostgreSQL server installed"
    log "creating PostgreSQL cluster $pg_ver/main"
    pg_createcluster "$pg_ver" main >/dev/null
    pg_line=$(pg_lsclusters -h | sort -k1,1V | tail -n 1)
fi
read -r pg_ver pg_cluster pg_port pg_status _ <<EOF
$pg_line
EOF
if [ "$pg_status" != online ]; then
    log "starting PostgreSQL $pg_ver/$pg_cluster"
    pg_ctlcluster "$pg_ver" "$pg_cluster" start
fi
i=0
until pg_isready -q -h 127.0.0.1 -p "$pg_port"; do
    i=$((i + 1))
    [ "$i" -le "$TIMEOUT" ] || die "PostgreSQL not ready on port $pg_port"
    sleep 1
done
log "PostgreSQL $pg_ver/$pg_cluster up on port $pg_port"

# ------------------------------------------------------------ OAR database
# Debian's oar.conf ships empty DB passwords, which oar-database refuses.
[ -n "$(conf_get DB_BASE_PASSWD)" ] || conf_set DB_BASE_PASSWD oar
[ -n "$(conf_get DB_BASE_PASSWD_RO)" ] || conf_set DB_BASE_PASSWD_RO oar_ro
[ "$(conf_get DB_PORT)" = "$pg_port" ] || conf_set DB_PORT "$pg_port"
db_name=$(conf_get DB_BASE_NAME)
db_user=$(conf_get DB_BASE_LOGIN)
db_user_ro=$(conf_get DB_BASE_LOGIN_RO)

psql_admin() {
    runuser -u postgres -- env PGOPTIONS='-c client_min_messages=warning' \
        psql -p "$pg_port" -v ON_ERROR_STOP=1 -qtAc "$1"
}

DB_CREATED=
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname='$db_name'")" != 1 ]; then
    log "creating OAR database '$db_name'"
    # Roles left over from a half-done earlier attempt would make --create fail.
    psql_admin "DROP ROLE IF EXISTS \"$db_user_ro\"; DROP ROLE IF EXISTS \"$db_user\";"
    oar-database --create --db-is-local -y >/tmp/oar-up-db.log 2>&1 ||
        { cat /tmp/oar-up-db.log; die "oar-database --create failed"; }
    DB_CREATED=1
fi
if ! oar-database --check >/dev/null 2>&1; then
    # Database exists but the passwords in oar.conf do not match the roles.
    log "resetting OAR database role passwords from $OAR_CONF"
    psql_admin "ALTER ROLE \"$db_user\" PASSWORD '$(conf_get DB_BASE_PASSWD)';
                ALTER ROLE \"$db_user_ro\" PASSWORD '$(conf_get DB_BASE_PASSWD_RO)';"
    oar-database --check || die "OAR database not accessible"
fi
log "OAR database ok"

# ------------------------------------------------ oar user's ssh keys (job launch path)
if [ ! -s "$OAR_HOME/.ssh/id_rsa" ] || [ ! -s "$OAR_HOME/.ssh/id_rsa.pub" ]; then
    log "generating ssh key of the oar user"
    mkdir -p "$OAR_HOME/.ssh"
    rm -f "$OAR_HOME/.ssh/id_rsa" "$OAR_HOME/.ssh/id_rsa.pub"
    ssh-keygen -q -t rsa -N '' -f "$OAR_HOME/.ssh/id_rsa"
fi
pubkey=$(cut -d' ' -f1,2 "$OAR_HOME/.ssh/id_rsa.pub")
if ! grep -qF "$pubkey" "$OAR_HOME/.ssh/authorized_keys" 2>/dev/null; then
    log "authorizing the oar user's key"
    printf 'environment="OAR_KEY=1" %s\n' "$(cat "$OAR_HOME/.ssh/id_rsa.pub")" \
        >>"$OAR_HOME/.ssh/authorized_keys"
fi
if [ ! -e "$OAR_HOME/.ssh/config" ]; then
    printf 'Host *\nForwardX11 no\nStrictHostKeyChecking no\nPasswordAuthentication no\nAddressFamily inet\n' \
        >"$OAR_HOME/.ssh/config"
fi
chown -R oar:oar "$OAR_HOME/.ssh"
chmod 600 "$OAR_HOME/.ssh/id_rsa"
chmod go-w "$OAR_HOME" "$OAR_HOME/.ssh" "$OAR_HOME/.ssh/authorized_keys"

# ------------------------------------------------------------- node sshd
if [ ! -s /etc/oar/oar_ssh_host_rsa_key ]; then
    log "generating the OAR node sshd host key"
    rm -f /etc/oar/oar_ssh_host_rsa_key /etc/oar/oar_ssh_host_rsa_key.pub
    ssh-keygen -q -t rsa -N '' -f /etc/oar/oar_ssh_host_rsa_key
fi
if ! pid_alive "$NODE_SSHD_PIDFILE" sshd; then
    log "starting the OAR node sshd (port 6667)"
    mkdir -p /run/sshd
    chmod 755 /run/sshd
    /usr/sbin/sshd -t -f /etc/oar/sshd_config 2>&1 | grep -v 'Deprecated option' || true
    /usr/sbin/sshd -f /etc/oar/sshd_config -o PidFile="$NODE_SSHD_PIDFILE" 2>&1 |
        grep -v 'Deprecated option' || true
fi
# The job launch path: Almighty (as oar) runs $OPENSSH_CMD to the node.
i=0
until runuser -u oar -- /usr/bin/ssh -p 6667 -e none -o BatchMode=yes \
    -o StrictHostKeyChecking=no -o ConnectTimeout=5 "$NODE" true >/tmp/oar-up-ssh.log 2>&1; do
    i=$((i + 1))
    if [ "$i" -ge 10 ]; then
        cat /tmp/oar-up-ssh.log
        die "the oar user cannot ssh to $NODE on port 6667"
    fi
    sleep 1
done
log "oar user ssh to $NODE:6667 ok"

# ------------------------------------------------------- resources (one node)
for prop in host cpu core; do
    if ! oarproperty -l | grep -qx "$prop"; then
        if [ "$prop" = host ]; then oarproperty -a host -c >/dev/null; else oarproperty -a "$prop" >/dev/null; fi
    fi
done
c=0
while [ "$c" -lt "$CORES" ]; do
    if ! oarnodes --sql "network_address='$NODE' AND core=$c" | grep -q resource_id; then
        log "adding resource $NODE core=$c cpuset=$c"
        oarnodesetting -a -h "$NODE" -p host="$NODE" -p cpu=0 -p core="$c" -p cpuset="$c" >/dev/null
    fi
    c=$((c + 1))
done

# ------------------------------------------------------------- oar-server
server_pids() {
    pgrep -u oar -f '^/usr/bin/perl /usr/lib/oar/Almighty|^Almighty: ' | tr '\n' ' '
}
stop_server() {
    /etc/init.d/oar-server stop >/dev/null 2>&1 || true
    # Almighty only stops at its next main-loop turn, and sometimes (e.g. after
    # its database went away) not at all: SIGKILL it after 5 s.
    i=0
    while pids=$(server_pids) && [ -n "$pids" ]; do
        i=$((i + 1))
        if [ "$i" -eq 10 ]; then
            log "oar-server did not stop on SIGTERM, killing it"
            # shellcheck disable=SC2086 # one pid per word
            kill -9 $pids 2>/dev/null || true
        fi
        [ "$i" -le 20 ] || die "oar-server (Almighty) did not stop"
        sleep 0.5
    done
    rm -f "$SERVER_PIDFILE"
}
if [ -n "$(server_pids)" ]; then
    if [ -n "$DB_CREATED" ]; then
        log "restarting oar-server (database was just created)"
        stop_server
    elif ! pid_alive "$SERVER_PIDFILE" Almighty; then
        log "restarting oar-server (running without a valid $SERVER_PIDFILE)"
        stop_server
    fi
fi
if [ -z "$(server_pids)" ]; then
    log "starting oar-server"
    rm -f "$SERVER_PIDFILE"
    /etc/init.d/oar-server start >/tmp/oar-up-server.log 2>&1 ||
        { cat /tmp/oar-up-server.log; die "oar-server start failed"; }
    sleep 1
    i=0
    until pid_alive "$SERVER_PIDFILE" Almighty; do
        i=$((i + 1))
        [ "$i" -le 20 ] || die "oar-server (Almighty) did not start"
        sleep 0.5
    done
fi
log "oar-server running (pids $(server_pids))"

# Resources left Suspected/Absent/Dead by an earlier run are put back.
if oarnodes -s "$NODE" | grep -qE ': (Suspected|Absent|Dead)'; then
    log "setting $NODE Alive"
    oarnodesetting -h "$NODE" -s Alive >/dev/null
fi
i=0
while :; do
    alive=$(oarnodes -s "$NODE" | grep -c ': Alive$' || true)
    [ "$alive" -ge "$CORES" ] && break
    i=$((i + 1))
    [ "$i" -le "$TIMEOUT" ] || die "resources of $NODE not Alive ($alive/$CORES)"
    sleep 1
done
log "$alive resources Alive on $NODE"

# ------------------------------------------------------------ smoke job
if ! id "$TEST_USER" >/dev/null 2>&1; then
    log "creating test user $TEST_USER"
    useradd -m -s /bin/bash "$TEST_USER"
fi
out=$(cd /tmp && runuser -u "$TEST_USER" -- env HOME=/tmp oarsub -d /tmp -O /dev/null -E /dev/null \
    -n oar-up-smoke -l core=1,walltime=0:01:00 "true" 2>&1) ||
    { echo "$out"; die "oarsub failed"; }
SMOKE_JOB=$(echo "$out" | sed -n 's/^OAR_JOB_ID=\([0-9][0-9]*\).*/\1/p')
[ -n "$SMOKE_JOB" ] || { echo "$out"; die "no job id from oarsub"; }
SUBMITTED=$(date +%s)
i=0
while :; do
    state=$(oarstat -s -j "$SMOKE_JOB" | sed -n "s/^$SMOKE_JOB: //p")
    case $state in
    Terminated) break ;;
    Error) die "smoke job $SMOKE_JOB ended in Error" ;;
    esac
    i=$((i + 1))
    [ "$i" -le "$((TIMEOUT * 2))" ] || die "smoke job $SMOKE_JOB still '$state' after ${TIMEOUT}s"
    sleep 0.5
done
exit_code=$(oarstat -fj "$SMOKE_JOB" | sed -n 's/^ *exit_code = \([0-9-]*\).*/\1/p')
[ "$exit_code" = 0 ] || die "smoke job $SMOKE_JOB exit_code=$exit_code"
log "smoke job $SMOKE_JOB ran and exited 0 in $(($(date +%s) - SUBMITTED))s"

log "ready in $(($(date +%s) - PKG_DONE))s after packages"
echo "oar up"
