#!/usr/bin/env bash
# Cross-checks the CPU side of the workspace for 64-bit Arm Linux (aarch64-unknown-linux-gnu)
# on an x86-64 Linux machine, and runs its tests under qemu-user:
#   1. clippy (-D warnings) of pow-seal, pow-backend-api and pow-backend-cpu for aarch64;
#   2. the tests of pow-seal and pow-backend-cpu under qemu-aarch64 (default CPU model `max`,
#      which has the SHA-2 and SHA-3 instructions), then the CPU path tests again as a
#      Cortex-A53 (SHA-2 but no SHA-3, so Keccak takes its scalar fallback);
#   3. a cross build of the `pow-host` binary and the cpu plugin, then `pow-host backends` and
#      a low-difficulty `pow-host solve` on each Arm path under qemu, which prove the plugin
#      loads, offers `arm-sha2`, and solves (both paths must find the same nonce).
# Exits non-zero on the first failure. Safe to run again: nothing is installed twice and cargo
# reuses target/aarch64-unknown-linux-gnu.
#
# Needs: the rustup target aarch64-unknown-linux-gnu, Debian/Ubuntu packages
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user (installed with apt-get when run
# as root). Environment: JOBS (cargo -j, default 1), PROPTEST_CASES (proptest cases; the
# crates' own defaults when unset).
set -euo pipefail

TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu
JOBS=${JOBS:-1}
cd "$(dirname "$0")/.."

say() { printf '== %s\n' "$*"; }
fail() {
    printf 'check-aarch64: %s\n' "$*" >&2
    exit 1
}

# --- tools -----------------------------------------------------------------------------------
if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx "$TARGET"; then
        say "rustup target add $TARGET"
        rustup target add "$TARGET" || fail "could not add the rustup target $TARGET"
    fi
else
    rustc --print target-list | grep -qx "$TARGET" || fail "this rustc does not know $TARGET"
fi

missing=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
[ -e "$SYSROOT/lib/libc.so.6" ] || missing+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "apt-get install ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        fail "missing tools; install them with: sudo apt-get install ${missing[*]}"
    fi
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $SYSROOT"
# C code in dependencies (ring, via pow-host) is built by the cc crate, which picks
# aarch64-linux-gnu-gcc for this target by itself.
CPU_CRATES=(-p pow-seal -p pow-backend-api -p pow-backend-cpu)

# --- 1. lint ---------------------------------------------------------------------------------
if cargo clippy --version >/dev/null 2>&1; then
    say "cargo clippy --target $TARGET ${CPU_CRATES[*]} --all-targets -- -D warnings"
    cargo clippy -j"$JOBS" --target "$TARGET" "${CPU_CRATES[@]}" --all-targets -- -D warnings
else
    say "cargo check --target $TARGET ${CPU_CRATES[*]} --all-targets (clippy not installed)"
    cargo check -j"$JOBS" --target "$TARGET" "${CPU_CRATES[@]}" --all-targets
fi

# --- 2. tests under qemu ---------------------------------------------------------------------
say "cargo test --release --target $TARGET -p pow-seal -p pow-backend-cpu (qemu-aarch64, CPU max)"
cargo test --release -j"$JOBS" --target "$TARGET" -p pow-seal -p pow-backend-cpu

say "cargo test --release --target $TARGET -p pow-backend-cpu --test paths (qemu-aarch64, Cortex-A53)"
QEMU_CPU=cortex-a53 cargo test --release -j"$JOBS" --target "$TARGET" -p pow-backend-cpu --test paths

# --- 3. host binary and cpu plugin -----------------------------------------------------------
say "cargo build --release --target $TARGET -p pow-host -p pow-backend-cpu"
cargo build --release -j"$JOBS" --target "$TARGET" -p pow-host -p pow-backend-cpu
bin_dir="target/$TARGET/release"
[ -f "$bin_dir/libpow_backend_cpu.so" ] || fail "$bin_dir/libpow_backend_cpu.so was not built"
run_host() { qemu-aarch64 -L "$SYSROOT" "$bin_dir/pow-host" "$@"; }

say "pow-host -v backends (qemu-aarch64)"
backends=$(run_host --backends cpu -v backends)
printf '%s\n' "$backends"
# qemu's default CPU model (max) has the SHA-2 instructions, so the Arm path must be offered
# (and measured: which path wins under emulation says nothing about Arm CPUs).
grep -q "arm-sha2" <<<"$backends" || fail "the cpu backend does not offer path arm-sha2"

# The same solve on each Arm path, one thread, from nonce 0: both must find the same nonce
# (the host re-verifies every hit with pow-seal before printing it).
nonces=()
for path in arm-sha2 portable; do
    say "pow-host --backends cpu --backend-opt cpu.path=$path solve --sample --difficulty 20000 (qemu-aarch64)"
    solved=$(run_host --backends cpu --backend-opt "cpu.path=$path" --threads 1 \
        solve --sample --difficulty 20000 --nonce-start 0 --json)
    printf '%s\n' "$solved"
    nonce=$(sed -n 's/.*"nonce":\([0-9]*\).*/\1/p' <<<"$solved")
    [ -n "$nonce" ] || fail "pow-host solve on path $path printed no nonce"
    nonces+=("$nonce")
done
[ "${nonces[0]}" = "${nonces[1]}" ] || fail "paths disagree: arm-sha2 ${nonces[0]}, portable ${nonces[1]}"

say "aarch64 check passed"
