#!/usr/bin/env bash
# Load test: POST /v1/authorize throughput of Warden, with USERS users in its
# database, next to the ceiling server (benches/ceiling.rs: same JSON parsing,
# constant answer), both on loopback, in the same run. Prints both figures,
# their ratio (goal ≥ 0.5 with 1M users) and Warden's resident memory.
#
#   engine/benches/load.sh [USERS=1000000] [SECONDS=10] [CONNECTIONS=16]
#
# Needs wrk (Debian: apt-get install -y wrk). The seeded database is kept in
# target/bench-data/users-USERS and reused by later runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
USERS=${1:-1000000}
DURATION=${2:-10}
CONNECTIONS=${3:-16}
TOKEN=load-test-token-0123456789
command -v wrk >/dev/null || { echo "load.sh: wrk not found (apt-get install -y wrk)" >&2; exit 1; }

cd "$ROOT"
cargo build --quiet --release -p warden --bin warden --example seed --example ceiling
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DATA=$TARGET/bench-data/users-$USERS
WORK=$(mktemp -d)
PIDS=()
trap 'kill ${PIDS[@]+"${PIDS[@]}"} 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "load.sh: seeding $USERS users into $DATA (reused when present)" >&2
BODY=$("$TARGET/release/examples/seed" "$DATA" "$USERS")

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

WARDEN_ADMIN_TOKEN=$TOKEN WARDEN_LOG=warn start warden "$TARGET/release/warden" serve \
    --data "$DATA" --policies "$ROOT/policies" --plugins "$WORK" --listen 127.0.0.1:0
WARDEN_PID=${PIDS[0]}
start ceiling "$TARGET/release/examples/ceiling" 127.0.0.1:0
WARDEN_URL=$(url_of warden)
CEILING_URL=$(url_of ceiling)

cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA

# Checks the answer once, then prints requests/second under load.
measure() {
    local url=$1/v1/authorize
    curl -sf -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d "$BODY" "$url" \
        | grep -q '"decision":"Allow"' || { echo "load.sh: $url did not allow the sample check" >&2; exit 1; }
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/post.lua" "$url" | awk '/Requests\/sec/ {print $2}'
}

WARDEN_RPS=$(measure "$WARDEN_URL")
CEILING_RPS=$(measure "$CEILING_URL")
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$WARDEN_PID/status")
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$WARDEN_PID/status")
awk -v w="$WARDEN_RPS" -v c="$CEILING_RPS" -v u="$USERS" -v d="$DURATION" -v n="$CONNECTIONS" \
    -v rss="$RSS" -v hwm="$HWM" 'BEGIN {
    printf "users %d, %ds, %d connections, 1 wrk thread\n", u, d, n
    printf "warden   POST /v1/authorize  %10.0f req/s\n", w
    printf "ceiling  same body, constant %10.0f req/s\n", c
    printf "ratio                        %10.2f (goal >= 0.5)\n", w / c
    printf "warden RSS %.0f MiB (peak %.0f MiB)\n", rss / 1024, hwm / 1024
}'
