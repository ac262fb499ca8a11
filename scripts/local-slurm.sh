#!/usr/bin/env bash
# A real single-node SLURM on this machine, to try profiles/slurm (tests/integration/test_slurm.py uses it
# too): munged, MariaDB + slurmdbd (so that sacct answers as on a real cluster), slurmctld and
# slurmd, started by hand (no systemd), from Debian's packages. One node, "localhost", with
# 8 CPUs, 64 GB and a GPU GRES of 2 fake devices, in two partitions: cpu (the default) and gpu.
#
#   scripts/local-slurm.sh install        install the Debian packages (as root), or print the command
#   scripts/local-slurm.sh start [DIR]    start the daemons; their state, logs and config live in DIR
#   scripts/local-slurm.sh stop [DIR]     cancel the jobs, stop the daemons (by PID), restore
#                                         /etc/slurm/slurm.conf, drop the accounting database
#   scripts/local-slurm.sh status [DIR]   the daemons' PIDs, sinfo and squeue
#
# DIR defaults to $LOCAL_SLURM_DIR, else /tmp/tinycnn-slurm. Needs root (slurmd starts jobs as
# their user). Everything lives in DIR except /etc/slurm/slurm.conf: SLURM's commands inside a
# job (the executor plugin's srun) read that path only, because the plugin drops SLURM_CONF. A
# previous /etc/slurm/slurm.conf is kept in DIR and put back by `stop`.
#
# One local cluster per machine: `start` waits up to $LOCAL_SLURM_WAIT seconds (default 0) for
# another one (say, a test run by a colleague) to stop. The daemons are not supervised: run
# `stop` when done; `start` after a crash takes over a dead cluster's leftovers.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)
# Ports of our own, so that a real SLURM or MySQL on this machine is never spoken to.
CTLD_PORT=16817
SLURMD_PORT=16818
DBD_PORT=16819
DB_PORT=16820
CLUSTER=tinycnn
ETC_CONF=/etc/slurm/slurm.conf
LOCKDIR=/run/lock
[ -d "$LOCKDIR" ] || LOCKDIR=/tmp
OWNER=$LOCKDIR/tinycnn-local-slurm.owner # DIR of the local cluster that runs
LOCK=$LOCKDIR/tinycnn-local-slurm.lock
MARK="# written by tinycnn scripts/local-slurm.sh"

say() { echo "local-slurm: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# --- install --------------------------------------------------------------------------------------
missing_packages() {
    local missing=() cmd pkg
    for pair in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client slurmdbd:slurmdbd \
        munged:munge mariadbd:mariadb-server; do
        cmd=${pair%%:*} pkg=${pair#*:}
        PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null || missing+=("$pkg")
    done
    echo "${missing[*]}"
}

install() {
    local missing
    missing=$(missing_packages)
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing system packages: $missing"
        export DEBIAN_FRONTEND=noninteractive
        # The packages' maintainer scripts would start the daemons through systemd or
        # invoke-rc.d; without those they only print a warning, and nothing is left running.
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        say "missing system packages for the real-SLURM test: $missing"
        say "install them, then run make again:"
        say "    sudo apt-get install -y --no-install-recommends $missing"
        say "or skip that test: make test SLURM=0 (pytest -m 'not slurm')"
        exit 1
    fi
}

# --- helpers --------------------------------------------------------------------------------------
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { [ -s "$DIR/run/$1.pid" ] && tr -dc 0-9 <"$DIR/run/$1.pid" || true; }

wait_for() { # wait_for SECONDS WHAT COMMAND...: run COMMAND until it succeeds
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq "$((seconds * 5))"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "$what did not come up within ${seconds}s; see the logs in $DIR/log"
}

conf_env() { export SLURM_CONF=$DIR/etc/slurm.conf; }

other_owner_alive() { # true when another DIR's slurmctld or slurmd still runs
    [ -s "$OWNER" ] || return 1
    local other
    other=$(cat "$OWNER")
    [ "$other" = "$DIR" ] && return 1
    for daemon in slurmctld slurmd slurmdbd munged mariadbd; do
        pid_alive "$(DIR=$other pid_of $daemon)" && return 0
    done
    return 1
}

# --- configuration --------------------------------------------------------------------------------
write_configs() {
    local host
    host=$(hostname -s)
    mkdir -p "$DIR"/{etc,log,run,ctld,spool,db,dev,munge}
    chmod 700 "$DIR/etc"
    # munged checks its socket folder: 755, owned by its user.
    chmod 755 "$DIR/munge"
    # GPU GRES: File= entries must be character devices, else the node is INVAL.
    ln -sfn /dev/null "$DIR/dev/nvidia0"
    ln -sfn /dev/null "$DIR/dev/nvidia1"

    cat >"$DIR/etc/slurm.conf" <<EOF
$MARK for $DIR
# A single-node cluster on localhost; see scripts/local-slurm.sh.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket.2
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
PlugStackConfig=$DIR/etc/plugstack.conf
# No cgroups here: track a job's processes through /proc, bind no CPUs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
# The node below claims more CPUs and memory than this machine has (see the node line).
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$DIR/munge/munge.socket.2
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
# Finished jobs stay visible to squeue for 5 minutes (the plugin may poll with squeue).
MinJobAge=300
KillWait=30
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
# 8 CPUs so that two train jobs (4 CPUs per GPU) run at once; 64 GB so that a train job's
# 24000 MB request fits (memory is not a consumable here: CR_Core).
NodeName=localhost NodeAddr=127.0.0.1 CPUs=8 RealMemory=64000 Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF
    cat >"$DIR/etc/gres.conf" <<EOF
$MARK
NodeName=localhost Name=gpu File=$DIR/dev/nvidia[0-1]
EOF
    : >"$DIR/etc/plugstack.conf"
    cat >"$DIR/etc/slurmdbd.conf" <<EOF
$MARK
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket.2
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=local-slurm
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$DIR/etc/slurmdbd.conf"
}

install_etc_conf() {
    mkdir -p /etc/slurm
    if [ -e "$ETC_CONF" ] && ! grep -qF "$MARK" "$ETC_CONF"; then
        # Someone else's slurm.conf: keep it, put it back on stop.
        cp -p "$ETC_CONF" "$DIR/etc/slurm.conf.orig"
        say "saved the existing $ETC_CONF to $DIR/etc/slurm.conf.orig (restored by stop)"
    fi
    cp "$DIR/etc/slurm.conf" "$ETC_CONF.tmp.$$"
    chmod 644 "$ETC_CONF.tmp.$$"
    mv "$ETC_CONF.tmp.$$" "$ETC_CONF"
}

restore_etc_conf() {
    if [ -e "$DIR/etc/slurm.conf.orig" ]; then
        mv "$DIR/etc/slurm.conf.orig" "$ETC_CONF"
    elif [ -e "$ETC_CONF" ] && grep -qF "$MARK for $DIR" "$ETC_CONF"; then
        rm -f "$ETC_CONF"
    fi
}

# --- daemons --------------------------------------------------------------------------------------
start_munged() {
    [ -s "$DIR/etc/munge.key" ] || {
        mungekey --create --keyfile="$DIR/etc/munge.key" 2>/dev/null ||
            dd if=/dev/urandom of="$DIR/etc/munge.key" bs=1024 count=1 status=none
    }
    chmod 400 "$DIR/etc/munge.key"
    munged --socket="$DIR/munge/munge.socket.2" --key-file="$DIR/etc/munge.key" \
        --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
        --seed-file="$DIR/run/munged.seed" --force </dev/null >>"$DIR/log/munged.log" 2>&1
    wait_for 20 munged sh -c "munge -n -S '$DIR/munge/munge.socket.2' | unmunge -S '$DIR/munge/munge.socket.2'"
}

start_mariadb() {
    if [ ! -d "$DIR/db/mysql" ]; then
        mariadb-install-db --no-defaults --datadir="$DIR/db" --user=root \
            --auth-root-authentication-method=socket --skip-test-db \
            --innodb-log-file-size=8M --innodb-buffer-pool-size=16M \
            >>"$DIR/log/mariadb-install.log" 2>&1 ||
            die "mariadb-install-db failed; see $DIR/log/mariadb-install.log"
    fi
    # Its own process group, stdio to a log: nothing ties it to the caller.
    setsid mariadbd --no-defaults --datadir="$DIR/db" --user=root \
        --socket="$DIR/run/mariadb.sock" --port=$DB_PORT --bind-address=127.0.0.1 \
        --skip-name-resolve --pid-file="$DIR/run/mariadbd.pid" \
        --log-error="$DIR/log/mariadbd.log" --innodb-buffer-pool-size=16M \
        --innodb-log-file-size=8M --innodb-lock-wait-timeout=900 --performance-schema=OFF \
        </dev/null >>"$DIR/log/mariadbd.log" 2>&1 &
    wait_for 60 mariadbd mariadb-admin --no-defaults --socket="$DIR/run/mariadb.sock" ping
    mariadb --no-defaults --socket="$DIR/run/mariadb.sock" -u root <<'SQL'
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'local-slurm';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL
}

start_slurm() {
    conf_env
    slurmdbd </dev/null >>"$DIR/log/slurmdbd.log" 2>&1
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i -Q add cluster "$CLUSTER" >/dev/null 2>&1 || true
    slurmctld -c </dev/null >>"$DIR/log/slurmctld.log" 2>&1
    wait_for 60 slurmctld scontrol ping
    slurmd -N localhost </dev/null >>"$DIR/log/slurmd.log" 2>&1
    # The node is up once it reports idle; a GRES or config problem shows as inval or down.
    local state
    for _ in $(seq 150); do
        state=$(sinfo -h -n localhost -p cpu -o %T 2>/dev/null || true)
        [ "$state" = idle ] && return 0
        sleep 0.2
    done
    die "node localhost is '${state:-not registered}', not idle; see $DIR/log/slurmd.log and slurmctld.log"
}

start() {
    [ "$(id -u)" = 0 ] || die "needs root (slurmd starts jobs as their user); try: sudo $0 start"
    local missing
    missing=$(missing_packages)
    [ -z "$missing" ] || die "missing packages: $missing; run: $0 install"
    export PATH=$PATH:/usr/sbin:/sbin
    mkdir -p /etc/slurm "$DIR"
    DIR=$(cd "$DIR" && pwd)
    # One local cluster per machine (ports, /etc/slurm/slurm.conf): take it, or wait for it.
    local waited=0 limit=${LOCAL_SLURM_WAIT:-0}
    exec 9>"$LOCK"
    while true; do
        flock 9
        if ! other_owner_alive; then
            if [ -s "$OWNER" ] && [ "$(cat "$OWNER")" != "$DIR" ]; then
                say "taking over from a stopped local cluster in $(cat "$OWNER")"
                DIR=$(cat "$OWNER") restore_etc_conf || true
            fi
            echo "$DIR" >"$OWNER"
            flock -u 9
            break
        fi
        flock -u 9
        if [ "$waited" -ge "$limit" ]; then
            die "another local SLURM runs (state in $(cat "$OWNER")); stop it with: $0 stop $(cat "$OWNER")"
        fi
        [ "$waited" = 0 ] && say "another local SLURM runs ($(cat "$OWNER")); waiting up to ${limit}s"
        sleep 5
        waited=$((waited + 5))
    done
    exec 9>&-
    for daemon in slurmctld slurmd slurmdbd munged mariadbd; do
        pid_alive "$(pid_of $daemon)" && die "$daemon already runs for $DIR (pid $(pid_of $daemon)); stop it first"
    done
    local t0=$SECONDS
    write_configs
    install_etc_conf
    start_munged
    start_mariadb
    start_slurm
    say "up in $((SECONDS - t0))s: state in $DIR; stop with: $0 stop $DIR"
    sinfo -o '%P %a %D %c %m %G %T' >&2
}

stop_pid() { # stop_pid NAME: SIGTERM, then SIGKILL after 20s
    local pid
    pid=$(pid_of "$1")
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        pid_alive "$pid" || return 0
        sleep 0.2
    done
    say "$1 (pid $pid) ignored SIGTERM for 20s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

stop() {
    [ -d "$DIR" ] || die "no local cluster state in $DIR"
    DIR=$(cd "$DIR" && pwd)
    export PATH=$PATH:/usr/sbin:/sbin
    conf_env
    # Jobs first, while slurmctld and slurmd still run, so that no job process outlives them.
    if pid_alive "$(pid_of slurmctld)"; then
        local jobs
        jobs=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
        if [ -n "$jobs" ]; then
            # shellcheck disable=SC2086
            timeout 10 scancel $jobs 2>/dev/null || true
            for _ in $(seq 200); do
                [ -z "$(timeout 10 squeue -h -t all -o '%i %T' 2>/dev/null | grep -vw -e COMPLETED -e CANCELLED -e FAILED -e TIMEOUT -e NODE_FAIL -e OUT_OF_MEMORY -e PREEMPTED || true)" ] && break
                sleep 0.2
            done
        fi
    fi
    for daemon in slurmd slurmctld slurmdbd mariadbd munged; do
        stop_pid $daemon
    done
    restore_etc_conf
    # The accounting database (about 100 MB) goes; the logs stay.
    pid_alive "$(pid_of mariadbd)" || rm -rf "$DIR/db"
    if [ -s "$OWNER" ] && [ "$(cat "$OWNER")" = "$DIR" ]; then
        rm -f "$OWNER"
    fi
    say "stopped the local cluster of $DIR"
}

status() {
    DIR=$(cd "$DIR" && pwd)
    export PATH=$PATH:/usr/sbin:/sbin
    for daemon in munged mariadbd slurmdbd slurmctld slurmd; do
        local pid
        pid=$(pid_of $daemon)
        if pid_alive "$pid"; then echo "$daemon: pid $pid"; else echo "$daemon: not running"; fi
    done
    if pid_alive "$(pid_of slurmctld)"; then
        sinfo -o '%P %a %D %c %m %G %T'
        squeue
    fi
}

cmd=${1:-}
DIR=${2:-${LOCAL_SLURM_DIR:-/tmp/tinycnn-slurm}}
case "$cmd" in
install) install ;;
start) start ;;
stop) stop ;;
status) status ;;
*)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
