#!/usr/bin/env bash
# Builds Warden's guest plugins into WebAssembly components.
#
#   plugins/build.sh                 build every plugin, write <dir>/<dir>.wasm
#   plugins/build.sh --check         build into a temp dir and compare with the
#                                    committed .wasm files (non-zero if any differ)
#   plugins/build.sh [--check] DIR…  only these plugin crate dirs
#
# A plugin crate dir is any plugins/*/ or tests/plugins/*/ holding both a
# Cargo.toml and a plugin.toml. Each is built by `warden plugin build` (the
# warden binary is built once, into target/debug): for wasm32-unknown-unknown,
# into one shared CARGO_TARGET_DIR (plugins/target), then wrapped into a
# component. Builds are reproducible: the guests are built through a fixed
# path and source paths are remapped, so the same toolchain gives the same
# bytes on any machine and checkout path.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHECK=0
DIRS=()
for arg in "$@"; do
    case "$arg" in
        --check) CHECK=1 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
        *) DIRS+=("$(cd "$arg" && pwd)") ;;
    esac
done
if [ ${#DIRS[@]} -eq 0 ]; then
    for d in "$ROOT"/plugins/*/ "$ROOT"/tests/plugins/*/; do
        [ -f "$d/Cargo.toml" ] && [ -f "$d/plugin.toml" ] && DIRS+=("${d%/}")
    done
fi

start=$SECONDS

# Cargo hashes the absolute path of a path dependency outside the building
# crate's workspace (the SDK, for every plugin) into symbol names, and symbol
# names decide code layout: guests are built through a symlink with the same
# path on every machine, taken under a lock.
STABLE_ROOT=/tmp/warden-plugin-build
exec 9>"$STABLE_ROOT.lock"
flock 9
ln -sfn "$ROOT" "$STABLE_ROOT"

# --- the host tool: warden (root workspace, host toolchain) ------------------
# `warden plugin build` finds the wasm32 toolchain (rustup's, else Debian's
# rustc-web, or says what to install), runs cargo and componentizes.
echo "build.sh: building warden" >&2
(cd "$ROOT" && cargo build --quiet -p warden --bin warden)
WARDEN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/warden
[[ $WARDEN = /* ]] || WARDEN="$ROOT/$WARDEN"

export CARGO_TARGET_DIR="$ROOT/plugins/target"
LOCKED=()
[ $CHECK -eq 1 ] && LOCKED=(--locked)   # a stale Cargo.lock fails the check
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# --- every plugin ------------------------------------------------------------
differ=()
for dir in ${DIRS[@]+"${DIRS[@]}"}; do
    name=$(basename "$dir")
    rel=${dir#"$ROOT"/}
    grep -q "^component = \"$name.wasm\"" "$dir/plugin.toml" \
        || echo "build.sh: warning: $rel/plugin.toml does not name component = \"$name.wasm\"" >&2
    # A new plugin gets the SDK's pinned dependency versions.
    [ -f "$dir/Cargo.lock" ] || [ $CHECK -eq 1 ] || cp "$ROOT/plugins/sdk/Cargo.lock" "$dir/Cargo.lock"
    echo "build.sh: building $rel" >&2
    "$WARDEN" plugin build "$STABLE_ROOT/$rel" --out "$OUT/$name.wasm" --quiet \
        --remap-path-prefix "$STABLE_ROOT=/warden" ${LOCKED[@]+"${LOCKED[@]}"} >/dev/null
    if [ $CHECK -eq 1 ]; then
        if ! cmp -s "$OUT/$name.wasm" "$dir/$name.wasm"; then
            differ+=("$rel/$name.wasm")
        fi
    else
        cp "$OUT/$name.wasm" "$dir/$name.wasm"
        printf '%8d  %s\n' "$(wc -c < "$dir/$name.wasm")" "$rel/$name.wasm"
    fi
done

echo "build.sh: ${#DIRS[@]} plugins in $((SECONDS - start)) s" >&2
if [ ${#differ[@]} -gt 0 ]; then
    echo "build.sh --check: these components differ from a fresh build (run plugins/build.sh):" >&2
    printf '  %s\n' ${differ[@]+"${differ[@]}"} >&2
    exit 1
fi
[ $CHECK -eq 1 ] && echo "build.sh --check: all ${#DIRS[@]} components match a fresh build" >&2
exit 0
