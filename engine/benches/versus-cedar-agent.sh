#!/usr/bin/env bash
# Warden next to permitio/cedar-agent on the same population and questions:
# the load test's 1 000-user population (orgs of 10: an Admin and 9
# Members, a default workspace, a flow), exported as cedar-agent data
# (cedar-agent/export.py: 2 000 entities) with Warden's default policies
# (`resource is T`, which cedar-agent's Cedar 2.4 lacks, becomes a
# condition only T meets here). First both answer the same 3 000 random
# questions, which must all agree (cedar-agent/agree.py); then ROUNDS
# rounds of SECONDS each, cedar-agent then Warden, of mix.lua's uniform
# traffic (cedar-agent/mix.lua: the same draws in cedar-agent's format).
#
#   engine/benches/versus-cedar-agent.sh CEDAR_AGENT_BINARY [SECONDS=10] [ROUNDS=3]
#
# cedar-agent is not built here: check out github.com/permitio/cedar-agent
# (measured: aec5db9) and run `cargo build --release` in it. Needs wrk,
# curl and python3.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AGENT=${1:?usage: versus-cedar-agent.sh CEDAR_AGENT_BINARY [SECONDS] [ROUNDS]}
DURATION=${2:-10}
ROUNDS=${3:-3}
TOKEN=versus-token-0123456789
HERE=$ROOT/engine/benches/cedar-agent
command -v wrk >/dev/null || { echo "versus-cedar-agent.sh: wrk not found (apt-get install -y wrk)" >&2; exit 1; }

cd "$ROOT"
cargo build --quiet --release -p warden --bin warden --example seed
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DATA=$TARGET/bench-data/users-1000
WORK=$(mktemp -d)
mkdir "$WORK/plugins"
PIDS=()
trap 'kill ${PIDS[@]+"${PIDS[@]}"} 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$TARGET/release/examples/seed" "$DATA" 1000 >/dev/null
python3 "$HERE/export.py" "$DATA/population.tsv" "$WORK" "$ROOT/policies"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
AGENT_PORT=$(free_port)
"$AGENT" --addr 127.0.0.1 --port "$AGENT_PORT" --log-level error >"$WORK/agent.log" 2>&1 &
PIDS+=($!)
WARDEN_PORT=$(free_port)
WARDEN_ADMIN_TOKEN=$TOKEN WARDEN_LOG=warn "$TARGET/release/warden" serve --data "$DATA" \
    --policies "$ROOT/policies" --plugins "$WORK/plugins" --listen "127.0.0.1:$WARDEN_PORT" >"$WORK/warden.log" 2>&1 &
PIDS+=($!)
up() {
    curl -sf "http://127.0.0.1:$WARDEN_PORT/healthz" >/dev/null \
        && curl -s -o /dev/null "http://127.0.0.1:$AGENT_PORT/v1/policies"
}
for _ in $(seq 100); do up && break; sleep 0.1; done
up || { echo "versus-cedar-agent.sh: a server did not start:" \
    "$(cat "$WORK/warden.log" "$WORK/agent.log")" >&2; exit 1; }
for what in policies data; do
    curl -sf -o /dev/null -X PUT -H "Content-Type: application/json" \
        -d @"$WORK/$what.json" "http://127.0.0.1:$AGENT_PORT/v1/$what"
done
python3 "$HERE/agree.py" "$DATA/population.tsv" "$WARDEN_PORT" "$AGENT_PORT" "$TOKEN" 3000

rate() { wrk -t1 -c16 -d"${DURATION}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
warden() { rate -s "$ROOT/engine/benches/mix.lua" "http://127.0.0.1:$WARDEN_PORT/v1/authorize" -- "$DATA/population.tsv" uniform 0 "$TOKEN"; }
agent() { rate -s "$HERE/mix.lua" "http://127.0.0.1:$AGENT_PORT" -- "$DATA/population.tsv"; }
warden >/dev/null # warm-up
printf "%-6s %14s %12s %8s\n" round "cedar-agent/s" "warden/s" ratio
for round in $(seq "$ROUNDS"); do
    a=$(agent)
    w=$(warden)
    printf "%-6s %14s %12s %7s×\n" "$round" "$a" "$w" "$(awk -v a="$a" -v w="$w" 'BEGIN {printf "%.1f", w / a}')"
done
