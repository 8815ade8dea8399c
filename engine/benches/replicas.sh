#!/usr/bin/env bash
# Warden on PostgreSQL next to Warden on sled, in one run: random checks
# (the load test's uniform mix, benches/mix.lua) and acknowledged usage
# posts, on sled, on one PostgreSQL replica, and on two replicas of one
# database (the load split between them). For each: requests/s, and the CPU
# per request of Warden (all replicas) and of PostgreSQL (its server
# processes).
#
#   WARDEN_PG_FSYNC=on tests/postgres.sh engine/benches/replicas.sh [USERS=10000] [SECONDS=10] [CONNECTIONS=16]
#
# tests/postgres.sh starts the PostgreSQL cluster (WARDEN_TEST_POSTGRES,
# WARDEN_TEST_POSTGRES_PID); the seeded sled database is load.sh's
# (target/bench-data/users-USERS), copied into a new PostgreSQL database
# with `warden store copy`. Needs wrk, curl and psql.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
USERS=${1:-10000}
DURATION=${2:-10}
CONNECTIONS=${3:-16}
TOKEN=replica-bench-token-0123456789
: "${WARDEN_TEST_POSTGRES:?run through tests/postgres.sh (see the header)}"
command -v wrk >/dev/null || { echo "replicas.sh: wrk not found (apt-get install -y wrk)" >&2; exit 1; }

cd "$ROOT"
cargo build --quiet --release -p warden --bin warden --example seed
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WARDEN=$TARGET/release/warden
DATA=$TARGET/bench-data/users-$USERS
WORK=$(mktemp -d)
# No plugins, in a directory of their own: the plugin watcher would see
# every write of a data or log file under it.
mkdir "$WORK/plugins"
PIDS=()
trap 'kill ${PIDS[@]+"${PIDS[@]}"} 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$TARGET/release/examples/seed" "$DATA" "$USERS" >/dev/null
TENANTS=$DATA/population.tsv
TICKS=$(getconf CLK_TCK)

DATABASE=warden_bench_$$
psql "$WARDEN_TEST_POSTGRES" -qtAc "CREATE DATABASE $DATABASE"
PG_URL=${WARDEN_TEST_POSTGRES%/*}/$DATABASE
"$WARDEN" store copy --from "$DATA" --to "$PG_URL" >&2

# Starts `warden serve` with the flags given; sets URL once it listens.
serve() {
    local log=$WORK/server-${#PIDS[@]}.log
    WARDEN_ADMIN_TOKEN=$TOKEN WARDEN_LOG=warn "$WARDEN" serve --policies "$ROOT/policies" \
        --plugins "$WORK/plugins" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 300); do
        URL=$(grep -o 'http://[0-9.:]*' "$log" | head -1 || true)
        [ -n "$URL" ] && return
        sleep 0.1
    done
    echo "replicas.sh: a server did not start: $(cat "$log")" >&2
    exit 1
}
stop_all() { kill "${PIDS[@]}"; wait "${PIDS[@]}" 2>/dev/null || true; PIDS=(); }

# CPU ticks (user + system) of the given pids, and of their children.
cpu_ticks() {
    local total=0 pid
    for pid in "$@" $(for p in "$@"; do pgrep -P "$p" || true; done); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# Runs one wrk per URL at once (CONNECTIONS split between them) with the
# script and arguments after `--`; prints requests/s (summed), and Warden's
# and PostgreSQL's CPU µs per request.
measure() {
    local urls=() path=$1; shift
    while [ "$1" != -- ]; do urls+=("$1"); shift; done
    shift
    local conns=$((CONNECTIONS / ${#urls[@]})) warden_before pg_before
    warden_before=$(cpu_ticks "${PIDS[@]}")
    pg_before=$(cpu_ticks "$WARDEN_TEST_POSTGRES_PID")
    local clients=()
    for i in "${!urls[@]}"; do
        wrk -t1 -c"$conns" -d"${DURATION}s" "${urls[$i]}$path" "$@" >"$WORK/wrk-$i" 2>&1 &
        clients+=($!)
    done
    wait "${clients[@]}"
    local warden_cpu=$(($(cpu_ticks "${PIDS[@]}") - warden_before))
    local pg_cpu=$(($(cpu_ticks "$WARDEN_TEST_POSTGRES_PID") - pg_before))
    cat "$WORK"/wrk-* | awk -v w="$warden_cpu" -v p="$pg_cpu" -v hz="$TICKS" -v d="$DURATION" '
        /Requests\/sec/ {rps += $2}
        /Non-2xx/ {bad += $4}
        END {n = rps * d; printf "%8.0f %8.0f %8.0f %6d\n", rps, w / hz * 1e6 / n, p / hz * 1e6 / n, bad}'
    rm -f "$WORK"/wrk-*
}

# The mix's uniform random checks, after WARMUP seconds (default 10) of it.
checks() {
    local args=(-s "$ROOT/engine/benches/mix.lua" -- "$TENANTS" uniform 0 "$TOKEN")
    DURATION=${WARMUP:-10} measure /v1/authorize "$@" -- "${args[@]}" >/dev/null
    measure /v1/authorize "$@" -- "${args[@]}"
}

# A new org with a flow and 10^12 credits; writes the usage script posting
# to it, each request a new run id.
usage_script() {
    local url=$1 org ws flow
    org=$(curl -sf -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
        -d '{"name":"Bench","plan":"pro"}' "$url/v1/orgs")
    ws=$(echo "$org" | python3 -c 'import json,sys; print(json.load(sys.stdin)["default_workspace"])')
    org=$(echo "$org" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    flow=$(curl -sf -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
        -d '{"type":"Flow","attributes":{"name":"bench"}}' "$url/v1/workspaces/$ws/resources" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    curl -sf -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
        -d '{"credits":1000000000000,"source":"purchase"}' "$url/v1/orgs/$org/credits" >/dev/null
    cat >"$WORK/usage.lua" <<LUA
local counter = 0
local prefix = string.format("%08x", math.random(0, 0x7fffffff))
request = function()
    counter = counter + 1
    local run = string.format("%s-0000-4000-8000-%012x", prefix, counter)
    local body = '{"workspace":"$ws","flow":"$flow","run_id":"' .. run .. '","credits":1}'
    return wrk.format("POST", "/v1/orgs/$org/usage", {
        ["Content-Type"] = "application/json", ["Authorization"] = "Bearer $TOKEN"}, body)
end
init = function() math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16)) end
LUA
}

usage() {
    usage_script "$1"
    CONNECTIONS=32 measure / "$@" -- -s "$WORK/usage.lua"
}

printf "users %d, %ds per line, %d connections for checks, 32 for usage posts\n" "$USERS" "$DURATION" "$CONNECTIONS"
printf "%-34s %8s %12s %12s %6s\n" "" "req/s" "warden µs/req" "postgres µs/req" "non-2xx"
row() { printf "%-34s %8s %12s %12s %6s\n" "$1" $2 $3 $4 $5; }

serve --data "$DATA"; SLED=$URL
row "sled: random checks" $(checks "$SLED")
row "sled: usage posts" $(usage "$SLED")
stop_all
serve --data "$WORK/one" --store "$PG_URL"; ONE=$URL
row "postgres, 1 replica: random checks" $(checks "$ONE")
row "  the same, minimize_latency" $(WARDEN_CONSISTENCY=minimize_latency checks "$ONE")
row "postgres, 1 replica: usage posts" $(usage "$ONE")
serve --data "$WORK/two" --store "$PG_URL"; TWO=$URL
row "postgres, 2 replicas: random checks" $(checks "$ONE" "$TWO")
row "  the same, minimize_latency" $(WARDEN_CONSISTENCY=minimize_latency checks "$ONE" "$TWO")
row "postgres, 2 replicas: usage posts" $(usage "$ONE" "$TWO")
stop_all
"$WARDEN" ledger verify --store "$PG_URL" | tail -n 1
