#!/usr/bin/env bash
# Fuzzes the real server against its own OpenAPI document with Schemathesis:
# every check, the stateful phase on, once as the system actor (the vendor:
# no X-Warden-Actor) and once as a seeded tenant user (an org's Admin).
# Exits non-zero on any failure.
#
#   tests/schemathesis.sh                 # build the binary first: cargo build -p warden --bin warden
#   ST_MAX_EXAMPLES=200 tests/schemathesis.sh
#
# Installs the pinned Schemathesis into a virtualenv (ST_VENV, default
# ~/.cache/warden-schemathesis-venv) when it is not there yet.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

SCHEMATHESIS_VERSION=4.32.5
# Test cases per operation and phase: keeps both runs within a few minutes
# on two cores.
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-25}
SEED=${ST_SEED:-1}
VENV=${ST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/warden-schemathesis-venv}
case $VENV in /*) ;; *) VENV=$repo/$VENV ;; esac
WARDEN=${WARDEN_BIN:-target/debug/warden}
TOKEN=schemathesis-admin-token

if [ ! -x "$VENV/bin/schemathesis" ] \
    || [ "$("$VENV/bin/schemathesis" --version)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
[ -x "$WARDEN" ] || { echo "no $WARDEN: run cargo build -p warden --bin warden" >&2; exit 1; }

work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The default policies and plugins, copied: the server watches both.
cp -r policies "$work/policies"
mkdir -p "$work/plugins"
for plugin in domain-autojoin seat-billing usage-pricing; do
    mkdir -p "$work/plugins/$plugin"
    cp "plugins/$plugin/plugin.toml" "plugins/$plugin/$plugin.wasm" "$work/plugins/$plugin/"
done

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# A small max_batch: the fuzzer sends one item over the limit, and drawing
# 101 check requests (the default's) overruns Hypothesis's draw budget, a
# "flaky" error of the tool rather than a finding.
WARDEN_ADMIN_TOKEN=$TOKEN WARDEN_LOG=warn "$WARDEN" serve --data "$work/data" --max-batch 8 \
    --policies "$work/policies" --plugins "$work/plugins" --listen "127.0.0.1:$port" \
    --dns-resolver 127.0.0.1:9 >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null

# A populated org to fuzz (ids the fuzzer draws from) and its Admin to act as.
cp tests/schemathesis.toml "$work/schemathesis.toml"
user=$(python3 tests/schemathesis_seed.py "$base" "$TOKEN" "$work/schemathesis.toml")

# The document without X-Warden-Actor: each run sets it (or not) itself, so
# the fuzzer never names a user who does not exist.
curl -fsS "$base/openapi.json" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
for item in doc["paths"].values():
    for operation in item.values():
        operation["parameters"] = [p for p in operation.get("parameters", []) if p["name"] != "X-Warden-Actor"]
json.dump(doc, sys.stdout)
' >"$work/openapi.json"

# One worker: with two, Hypothesis's lambda-source cache (not thread-safe)
# now and then raises a KeyError that Schemathesis reports as a flaky error.
# Every check runs: Schemathesis enables all by default, and naming them on
# the command line (`--checks all`) would override the per-operation
# settings of tests/schemathesis.toml.
run() {
    local who=$1
    shift
    echo "== schemathesis as $who"
    # From the temp dir, where Schemathesis leaves its cache.
    (cd "$work" && "$VENV/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$work/openapi.json" \
        --url "$base" \
        --phases examples,coverage,fuzzing,stateful \
        --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" \
        --workers 1 \
        --request-timeout 10 \
        --no-color \
        -H "Authorization: Bearer $TOKEN" \
        "$@")
}

status=0
# Commands that act for a user refuse the system actor (400: "acts for a
# user"); they run as the user below.
run "the system actor (vendor)" \
    --exclude-name "POST /v1/workspaces/{id}/access-requests" \
    --exclude-name "POST /v1/orgs/{id}/invitations/{invitation}/accept" \
    || status=1
run "user $user (Admin of the seeded org)" -H "X-Warden-Actor: $user" || status=1
if [ "$status" -ne 0 ]; then
    echo "schemathesis found failures; server log:" >&2
    tail -n 50 "$work/server.log" >&2
fi
exit "$status"
