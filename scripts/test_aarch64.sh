#!/usr/bin/env bash
# Cross-builds the tests for aarch64 (64-bit ARM Linux) and runs the kernel
# conformance, layer and network tests under qemu-user. Needs the rustup
# target and Debian's gcc-aarch64-linux-gnu and qemu-user; with
# --install it installs what is missing (apt-get, as root).
#
#   scripts/test_aarch64.sh [--install]
#
# This checks results, not speed. The NEON backend is the default there:
# the kernel conformance tests hold it to the reference loops (bit for bit
# where the kernels promise it, within tolerance for the products), the
# portable backend too, and check that the reference backend declines;
# the layer and network tests
# run on it. qemu-user on an x86 host does not reproduce
# ARM's weaker memory ordering either: the parallel trainer's atomics want
# real hardware.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--install" ]; then
    rustup target add aarch64-unknown-linux-gnu
    if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y gcc-aarch64-linux-gnu qemu-user
    fi
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
cargo test --release --target aarch64-unknown-linux-gnu --lib \
    --test network --test train --test fused --test custom_layer \
    --test golden --test layers_golden --test checkpoint
