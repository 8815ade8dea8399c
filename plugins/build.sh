#!/usr/bin/env bash
# Builds Warden's guest plugins into WebAssembly components.
#
#   plugins/build.sh                 build every plugin, write <dir>/<dir>.wasm
#   plugins/build.sh --check         build into a temp dir and compare with the
#                                    committed .wasm files (non-zero if any differ)
#   plugins/build.sh [--check] DIR…  only these plugin crate dirs
#
# A plugin crate dir is any plugins/*/ or tests/plugins/*/ holding both a
# Cargo.toml and a plugin.toml. Each is built for wasm32-unknown-unknown (into
# one shared CARGO_TARGET_DIR, plugins/target), then wrapped into a component
# by plugins/componentize. Builds are reproducible: the guests are built through
# a fixed path and source paths are remapped, so the same toolchain gives the
# same bytes on any machine and checkout path.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHECK=0
DIRS=()
for arg in "$@"; do
    case "$arg" in
        --check) CHECK=1 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

# --- the componentize tool (host toolchain, root workspace) -----------------
echo "build.sh: building plugins/componentize" >&2
(cd "$ROOT" && cargo build --quiet --release -p componentize)
componentize() {
    (cd "$ROOT" && cargo run --quiet --release -p componentize -- "$@")
}

# --- the wasm32 toolchain ------------------------------------------------------
GUEST_ENV=()
GUEST_ARGS=()
CARGO_HOME_DIR=${CARGO_HOME:-$HOME/.cargo}
# Flags are passed 0x1f-separated (CARGO_ENCODED_RUSTFLAGS), so paths may hold spaces.
US=$'\x1f'
FLAGS="--remap-path-prefix=$STABLE_ROOT=/warden$US--remap-path-prefix=$CARGO_HOME_DIR=/cargo"
if command -v rustup >/dev/null 2>&1 \
    && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    toolchain="rustup $(rustup which rustc)"
    GUEST_CARGO=$(rustup which cargo)
    GUEST_ENV+=("RUSTC=$(rustup which rustc)")
elif [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] \
    && /usr/bin/rustc --print target-list | grep -qx wasm32-unknown-unknown \
    && [ -d "$(/usr/bin/rustc --print sysroot)/lib/rustlib/src/rust/library/std" ] \
    && command -v wasm-ld >/dev/null 2>&1; then
    # Debian's rustc has the target but no prebuilt std for it: build std
    # from rust-web-src (unstable -Z build-std, hence RUSTC_BOOTSTRAP).
    toolchain="debian /usr/bin/rustc"
    GUEST_CARGO=/usr/bin/cargo
    SRC="$(/usr/bin/rustc --print sysroot)/lib/rustlib/src/rust"
    FLAGS="$FLAGS$US--remap-path-prefix=$SRC=/rustc/src"
    GUEST_ENV+=("PATH=/usr/bin:$PATH" "RUSTC=/usr/bin/rustc" "RUSTC_BOOTSTRAP=1"
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld")
    GUEST_ARGS+=("-Z" "build-std=std,panic_abort")
else
    cat >&2 <<'EOF'
build.sh: no Rust toolchain that can build wasm32-unknown-unknown was found.
Install one of:
  - rustup:  rustup target add wasm32-unknown-unknown
  - Debian:  apt-get install -y rustc-web cargo-web rust-web-src lld
             (builds std from source with -Z build-std; needs wasm-ld from lld)
EOF
    exit 1
fi
echo "build.sh: guest toolchain: $toolchain" >&2

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
    env -u RUSTFLAGS ${GUEST_ENV[@]+"${GUEST_ENV[@]}"} CARGO_ENCODED_RUSTFLAGS="$FLAGS" \
        "$GUEST_CARGO" build --quiet --release --target wasm32-unknown-unknown \
        --manifest-path "$STABLE_ROOT/$rel/Cargo.toml" ${LOCKED[@]+"${LOCKED[@]}"} ${GUEST_ARGS[@]+"${GUEST_ARGS[@]}"}
    core="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/${name//-/_}.wasm"
    componentize "$core" "$OUT/$name.wasm"
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
