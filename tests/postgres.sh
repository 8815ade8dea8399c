#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: initialised in a
# temporary directory, listening on a free loopback port, and stopped (and
# deleted) when the command ends, whatever its outcome. The command finds it
# in WARDEN_TEST_POSTGRES, a URL whose user may create databases; tests make
# one database each. Installs Debian's postgresql when no server is found.
#
#   tests/postgres.sh cargo test --workspace
set -euo pipefail

server_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}
if [ -z "$(server_bin)" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi
bin="$(server_bin)"

dir="$(mktemp -d "${TMPDIR:-/tmp}/warden-postgres.XXXXXX")"
# PostgreSQL refuses to run as root: then the cluster is the postgres user's.
as=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    as=(runuser -u postgres --)
fi
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

stop() {
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT

"${as[@]}" "$bin/initdb" -D "$dir/data" -U warden -A trust -E UTF8 --no-sync >/dev/null
# fsync off by default: the tests kill Warden, never PostgreSQL, and a
# commit PostgreSQL acknowledged survives a client's crash either way.
# Benchmarks set WARDEN_PG_FSYNC=on.
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o \
    "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=1000 -c fsync=${WARDEN_PG_FSYNC:-off} -c shared_buffers=128MB" \
    start >/dev/null

export WARDEN_TEST_POSTGRES="postgres://warden@127.0.0.1:$port/postgres"
# The postmaster's pid, for benchmarks that count PostgreSQL's CPU time.
WARDEN_TEST_POSTGRES_PID="$(head -n 1 "$dir/data/postmaster.pid")"
export WARDEN_TEST_POSTGRES_PID
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port for: $*" >&2
"$@"
