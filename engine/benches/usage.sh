#!/usr/bin/env bash
# Load test: acknowledged (flushed before the 201) usage posts per second,
# POST /v1/orgs/{org}/usage through the real server on loopback, with 1 and
# with 32 concurrent clients. Every post has a fresh run id, so every one is
# a new ledger transaction; all spend one org's credits (the worst case: one
# hot account), or, with ORGS=N, the credits of N orgs in turn.
#
#   engine/benches/usage.sh [SECONDS=10]
#
# PROFILE=debug measures the debug build instead of the release one.
#
# Needs wrk and curl (Debian: apt-get install -y wrk curl).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DURATION=${1:-10}
ORGS=${ORGS:-1}
TOKEN=usage-bench-token-0123456789
command -v wrk >/dev/null || { echo "usage.sh: wrk not found (apt-get install -y wrk)" >&2; exit 1; }

cd "$ROOT"
PROFILE=${PROFILE:-release}
case $PROFILE in
    release) cargo build --quiet --release -p warden --bin warden ;;
    debug) cargo build --quiet -p warden --bin warden ;;
    *) echo "usage.sh: PROFILE is release or debug" >&2; exit 1 ;;
esac
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d)
# No plugins, in a directory of their own: the plugin watcher would see
# every write of a data or log file under it.
mkdir "$WORK/plugins"
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT

WARDEN_ADMIN_TOKEN=$TOKEN WARDEN_LOG=warn "$TARGET/$PROFILE/warden" serve \
    --data "$WORK/data" --policies "$ROOT/policies" --plugins "$WORK/plugins" --listen 127.0.0.1:0 >"$WORK/log" 2>&1 &
PID=$!
URL=
for _ in $(seq 200); do
    URL=$(grep -o 'http://[0-9.:]*' "$WORK/log" | head -1 || true)
    [ -n "$URL" ] && break
    sleep 0.1
done
[ -n "$URL" ] || { echo "usage.sh: server did not start: $(cat "$WORK/log")" >&2; exit 1; }

# Prints field $1 of the JSON answer to a POST of $3 to $2.
post() {
    curl -sf -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d "$3" "$URL/v1$2" \
        | python3 -c "import json,sys; print(json.load(sys.stdin)$1)"
}
# Each org with its flow and 10^12 credits, as a Lua table row {org, workspace, flow}.
TENANTS=
for _ in $(seq "$ORGS"); do
    ORG_JSON=$(curl -sf -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
        -d '{"name":"Bench","plan":"pro"}' "$URL/v1/orgs")
    ORG=$(echo "$ORG_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    WS=$(echo "$ORG_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["default_workspace"])')
    FLOW=$(post '["id"]' "/workspaces/$WS/resources" '{"type":"Flow","attributes":{"name":"bench"}}')
    post '["balance_after"]' "/orgs/$ORG/credits" '{"credits":1000000000000,"source":"purchase"}' >/dev/null
    TENANTS="$TENANTS{\"$ORG\", \"$WS\", \"$FLOW\"},"
done

# Each connection numbers its own runs; the prefix keeps runs unique across the two measurements.
cat >"$WORK/usage.lua" <<LUA
local tenants = {$TENANTS}
local counter = 0
local prefix = os.getenv("RUN_PREFIX")
request = function()
    counter = counter + 1
    local t = tenants[counter % #tenants + 1]
    local run = string.format("%s-4000-8000-%012x", prefix, counter)
    local body = '{"workspace":"' .. t[2] .. '","flow":"' .. t[3] .. '","run_id":"' .. run .. '","credits":1}'
    return wrk.format("POST", "/v1/orgs/" .. t[1] .. "/usage", {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer $TOKEN",
    }, body)
end
done = function(summary, latency, requests)
    io.write(string.format("non-2xx %d\n", summary.errors.status))
    io.write(string.format("p50 %.1f ms p99 %.1f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

measure() {
    local clients=$1 prefix=$2
    RUN_PREFIX=$prefix wrk -t1 -c"$clients" -d"${DURATION}s" -s "$WORK/usage.lua" "$URL" \
        | awk -v c="$clients" '/Requests\/sec/ {rps=$2} /non-2xx/ {bad=$2} /^p50/ {lat=$0}
              END {printf "%2d clients: %8.0f acknowledged usage posts/s (%s), non-2xx %d\n", c, rps, lat, bad}'
}
echo "usage.sh: $PROFILE build, ${DURATION}s each, $ORGS org(s), 1 credit per post, flush before every 201"
measure 1 00000001-0000
measure 32 00000032-0000
curl -sf -H "Authorization: Bearer $TOKEN" "$URL/v1/ledger/verify" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print("verify: %d transactions, %d violations" % (r["transactions"], r["violation_count"]))'
