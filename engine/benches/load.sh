#!/usr/bin/env bash
# Load test: POST /v1/authorize through the real server on loopback, with
# USERS users in its database, next to the ceiling server
# (benches/ceiling.rs: same JSON parsing, constant answer), in one run.
# The traffic is real traffic (benches/mix.lua): checks drawn at random over
# the whole population, Allow and Deny mixed, so the working set is larger
# than every cache:
#   uniform   every org alike
#   zipf      a few hot orgs (org rank drawn with probability ~ 1/rank)
#   writes    uniform, with WRITES % writes among the checks (a flow
#             registered, a member's role set), each acknowledged on disk
#   batches   uniform, BATCH checks per POST /v1/authorize/batch; its
#             ratio is checks/s against the uniform single checks
#   one body  the same check repeated: a reference line, not real traffic
# For each: checks/s, latency p50/p99 (of a request), and the server's CPU
# time per check; the ratio of uniform, zipf and one body is to the ceiling
# server on the same checks (no writes).
#
#   engine/benches/load.sh [USERS=1000000] [SECONDS=10] [CONNECTIONS=16] [WRITES=2] [BATCH=100]
#
# Both servers first serve WARMUP seconds (default 30) of uniform traffic
# unmeasured: a server that has run a while has its page cache filled as
# far as its size allows; a just-started one reads everything from disk.
#
# Needs wrk (Debian: apt-get install -y wrk). The seeded database is kept in
# target/bench-data/users-USERS (debug: debug-users-USERS) and reused by
# later runs, and by `cargo bench --bench check`; the writes grow it a
# little.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
USERS=${1:-1000000}
DURATION=${2:-10}
CONNECTIONS=${3:-16}
WRITES=${4:-2}
BATCH=${5:-100}
TOKEN=load-test-token-0123456789
command -v wrk >/dev/null || { echo "load.sh: wrk not found (apt-get install -y wrk)" >&2; exit 1; }

cd "$ROOT"
# PROFILE=debug runs the debug build (to try the script; its figures mean little).
PROFILE=${PROFILE:-release}
case $PROFILE in
    release) cargo build --quiet --release -p warden --bin warden --example seed --example ceiling ;;
    debug) cargo build --quiet -p warden --bin warden --example seed --example ceiling ;;
    *) echo "load.sh: PROFILE is release or debug" >&2; exit 1 ;;
esac
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DATA=$TARGET/bench-data/users-$USERS
[ "$PROFILE" = debug ] && DATA=$TARGET/bench-data/debug-users-$USERS
WORK=$(mktemp -d)
# No plugins, in a directory of their own: the plugin watcher would see
# every write of a data or log file under it.
mkdir "$WORK/plugins"
PIDS=()
trap 'kill ${PIDS[@]+"${PIDS[@]}"} 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "load.sh: seeding $USERS users into $DATA (reused when present)" >&2
BODY=$("$TARGET/$PROFILE/examples/seed" "$DATA" "$USERS")

# Starts a server in the background (in this shell, so its pid is kept).
start() {
    local name=$1; shift
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
}

# Prints the URL a started server listens on, once it does.
url_of() {
    for _ in $(seq 200); do
        local url; url=$(grep -o 'http://[0-9.:]*' "$WORK/$1.log" | head -1 || true)
        [ -n "$url" ] && { echo "$url"; return; }
        sleep 0.1
    done
    echo "load.sh: $1 did not start: $(cat "$WORK/$1.log")" >&2; exit 1
}

WARDEN_ADMIN_TOKEN=$TOKEN WARDEN_LOG=warn start warden "$TARGET/$PROFILE/warden" serve \
    --data "$DATA" --policies "$ROOT/policies" --plugins "$WORK/plugins" --listen 127.0.0.1:0
WARDEN_PID=${PIDS[0]}
start ceiling "$TARGET/$PROFILE/examples/ceiling" 127.0.0.1:0
WARDEN_URL=$(url_of warden)
CEILING_URL=$(url_of ceiling)

cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
TENANTS=$DATA/population.tsv
MIX=$ROOT/engine/benches/mix.lua
TICKS=$(getconf CLK_TCK)

# CPU time (user + system) of process $1 so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Runs wrk against $1 with the mix's MODE $2, WRITES $3 and BATCH $4 (no
# mode: the one body) and prints "checks checks/s p50 p99 cpu-µs-per-check"
# (CPU of pid $PID_OF; a batch request counts BATCH checks).
measure() {
    local url=$1 mode=${2:-} writes=${3:-0} batch=${4:-1}
    local script=("-s" "$WORK/post.lua")
    [ -n "$mode" ] && script=("-s" "$MIX" "--" "$TENANTS" "$mode" "$writes" "$TOKEN" "$batch")
    local before after out
    before=$(cpu_ticks "$PID_OF")
    out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url/v1/authorize" "${script[@]}" \
        2>"$WORK/statuses")
    after=$(cpu_ticks "$PID_OF")
    # Anything but a success is a failed request, named on stderr.
    [ -s "$WORK/statuses" ] && cat "$WORK/statuses" >&2
    echo "$out" | awk -v cpu=$((after - before)) -v hz="$TICKS" -v batch="$batch" '
        / 50%/ {p50 = $2} / 99%/ {p99 = $2}
        /requests in/ {n = $1 * batch}
        /Requests\/sec/ {rps = $2 * batch}
        END {printf "%d %.0f %s %s %.0f\n", n, rps, p50, p99, cpu / hz * 1e6 / n}'
}

# The sample check is allowed by both servers before anything is measured.
for url in "$WARDEN_URL" "$CEILING_URL"; do
    curl -sf -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d "$BODY" "$url/v1/authorize" \
        | grep -q '"decision":"Allow"' || { echo "load.sh: $url did not allow the sample check" >&2; exit 1; }
done

CEILING_PID=${PIDS[1]}
WARMUP=${WARMUP:-30}
for url in "$WARDEN_URL" "$CEILING_URL"; do
    wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$MIX" "$url/v1/authorize" -- "$TENANTS" uniform 0 "$TOKEN" >/dev/null 2>&1
done
printf "users %d, %ds per line after %ds of warm-up, %d connections, 1 wrk thread\n" \
    "$USERS" "$DURATION" "$WARMUP" "$CONNECTIONS"
printf "%-28s %10s %9s %9s %12s %8s\n" "traffic" "checks/s" "p50" "p99" "CPU µs/check" "ratio"
# Prints one line of the table: $1 its name, $2 what the ratio column
# compares with (ceiling: the ceiling server on the same traffic; a number:
# those checks/s), the rest measure's arguments. Sets RPS.
line() {
    local name=$1 versus=$2; shift 2
    PID_OF=$WARDEN_PID
    read -r _ RPS p50 p99 cpu < <(measure "$WARDEN_URL" "$@")
    local ratio="-" base=$versus
    if [ "$versus" = ceiling ]; then
        PID_OF=$CEILING_PID
        read -r _ base _ _ _ < <(measure "$CEILING_URL" "$@")
    fi
    [ -n "$versus" ] && ratio=$(awk -v w="$RPS" -v c="$base" 'BEGIN {printf "%.2f×", w / c}')
    printf "%-28s %10s %9s %9s %12s %8s\n" "$name" "$RPS" "$p50" "$p99" "$cpu" "$ratio"
}
line "uniform random checks" ceiling uniform 0
SINGLES=$RPS
line "zipf random checks" ceiling zipf 0
line "uniform, ${WRITES} % writes" "" uniform "$WRITES"
line "uniform, batches of ${BATCH}" "$SINGLES" uniform 0 "$BATCH"
line "one body (reference)" ceiling
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$WARDEN_PID/status")
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$WARDEN_PID/status")
printf "warden RSS %.0f MiB (peak %.0f MiB)\n" "$((RSS / 1024))" "$((HWM / 1024))"
