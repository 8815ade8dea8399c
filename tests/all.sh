#!/usr/bin/env bash
# The README's test command: every test of the workspace, then the
# end-to-end suite again with each server on PostgreSQL instead of its
# embedded database, all against a throwaway PostgreSQL cluster
# (tests/postgres.sh installs and starts it, and stops it at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
exec tests/postgres.sh bash -c \
    'cargo test --workspace && WARDEN_E2E_STORE=postgres cargo test -p warden-e2e'
