#!/usr/bin/env bash
# scripts/pg-local.sh - a throwaway PostgreSQL 15 cluster for development and tests.
#
#   scripts/pg-local.sh start    create (first time) and start the cluster; idempotent
#   scripts/pg-local.sh stop     stop it (fast shutdown); idempotent
#   scripts/pg-local.sh status   exit 0 when running, 3 when not
#   scripts/pg-local.sh env      print the PG* / DATABASE_URL exports to use:  eval "$(scripts/pg-local.sh env)"
#   scripts/pg-local.sh wipe     stop and delete the cluster
#
# Loopback only (127.0.0.1 plus a private unix socket), wal_level=logical, replication
# slots, WAL senders and prepared transactions enabled. The data lives in .local/pg
# inside the repository (git-ignored).
#
# Settings (environment):
#   PG_LOCAL_DIR        cluster folder          (default: <repo>/.local/pg)
#   PG_LOCAL_PORT       TCP port on 127.0.0.1   (default: 54329, away from a system server's 5432)
#   PG_LOCAL_WAL_LEVEL  wal_level               (default: logical; tests use replica to see doctor fail)
#   PG_BINDIR           server binaries         (default: the newest of /usr/lib/postgresql/*/bin, 15 preferred)
#
# initdb refuses to run as root, so as root the server runs as the unprivileged
# "postgres" account (created by Debian's postgresql packages); as a normal user it
# runs as that user.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${PG_LOCAL_PORT:-54329}
wal_level=${PG_LOCAL_WAL_LEVEL:-logical}
dir=${PG_LOCAL_DIR:-$repo/.local/pg}
db_user=wal2edge
db_name=wal2edge
db_password=wal2edge-local   # a throwaway cluster on loopback: not a secret worth hiding

die() { echo "pg-local: $*" >&2; exit 1; }

find_bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then echo "$PG_BINDIR"; return; fi
    if [ -x /usr/lib/postgresql/15/bin/initdb ]; then echo /usr/lib/postgresql/15/bin; return; fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$d" ] && [ -x "$d/initdb" ] || die "no PostgreSQL server found; install it with: apt-get install postgresql-15"
    echo "$d"
}
bindir=$(find_bindir)

# Run a server-side command as the cluster's owner.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs the unprivileged 'postgres' account (apt-get install postgresql-15 creates it)"
    as_owner() { runuser -u postgres -- "$@"; }
    # The owner must be able to reach the folder; a repository under a private home
    # directory is not reachable, so fall back to a per-repository temp folder.
    mkdir -p "$dir"
    chown postgres: "$dir"
    if ! as_owner test -w "$dir" 2>/dev/null; then
        rmdir "$dir" 2>/dev/null || true
        dir=${TMPDIR:-/tmp}/wal2edge-pg-$(printf '%s' "$repo" | cksum | cut -d' ' -f1)-$port
        mkdir -p "$dir"
        chown postgres: "$dir"
    fi
else
    as_owner() { "$@"; }
    mkdir -p "$dir"
fi

data=$dir/data
sock=$dir/run
logfile=$dir/postgres.log

is_running() { [ -f "$data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

init_cluster() {
    local pwfile
    pwfile=$(mktemp)
    printf '%s\n' "$db_password" >"$pwfile"
    chmod 644 "$pwfile"
    as_owner mkdir -p "$sock"
    as_owner "$bindir/initdb" -D "$data" -U "$db_user" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { rm -f "$pwfile"; cat "$dir/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
    as_owner tee -a "$data/pg_hba.conf" >/dev/null <<HBA
# wal2edge local cluster: loopback only
host    replication     all     127.0.0.1/32    scram-sha-256
HBA
}

write_settings() {
    # Rewritten on every start so that a changed port or wal_level takes effect.
    as_owner tee "$data/postgresql.auto.conf" >/dev/null <<CONF
# written by scripts/pg-local.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
wal_level = $wal_level
max_wal_senders = 40
max_replication_slots = 64
max_prepared_transactions = 20
wal_sender_timeout = '60s'
# a throwaway cluster: durability against power loss is not needed, speed is
fsync = off
full_page_writes = off
synchronous_commit = off
log_min_messages = warning
CONF
}

start() {
    if is_running; then
        echo "pg-local: already running on 127.0.0.1:$port"
        return 0
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        as_owner mkdir -p "$data"
        init_cluster
    fi
    as_owner mkdir -p "$sock"
    write_settings
    if ! as_owner "$bindir/pg_ctl" -D "$data" -l "$logfile" -w -t 60 start >/dev/null; then
        tail -n 20 "$logfile" >&2 || true
        die "the server did not start (is port $port in use? set PG_LOCAL_PORT)"
    fi
    as_owner "$bindir/psql" -h "$sock" -p "$port" -U "$db_user" -d postgres -qAt \
        -c "SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1 ||
        as_owner "$bindir/createdb" -h "$sock" -p "$port" -U "$db_user" "$db_name"
    echo "pg-local: running on 127.0.0.1:$port (wal_level=$wal_level, data in $dir)"
}

stop() {
    if is_running; then
        as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
        echo "pg-local: stopped"
    else
        echo "pg-local: not running"
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status)
    if is_running; then echo "pg-local: running on 127.0.0.1:$port"; else echo "pg-local: not running"; exit 3; fi ;;
env)
    cat <<ENV
export PGHOST=127.0.0.1
export PGPORT=$port
export PGUSER=$db_user
export PGPASSWORD=$db_password
export PGDATABASE=$db_name
export DATABASE_URL=postgresql://$db_user:$db_password@127.0.0.1:$port/$db_name
export PG_BINDIR=$bindir
ENV
    ;;
wipe)
    stop
    rm -rf "$dir"
    echo "pg-local: wiped" ;;
*)
    echo "usage: scripts/pg-local.sh start|stop|status|env|wipe" >&2
    exit 2 ;;
esac
