#!/usr/bin/env bash
# Every check that needs an NVIDIA GPU, in one run, on binaries packed by
# scripts/pack-gpu-session.sh (no Rust toolchain needed here). Writes report.txt to $OUT, or
# to the folder given as the first argument.
# Run from the repository root (the tests read tests/data/vectors).
set -uo pipefail
out="${1:-${OUT:-gpu-report}}"
mkdir -p "$out"
report="$out/report.txt"
bin=.gpu/release
step() { echo; echo "== $*"; }
{
  step "machine"; date -u; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.sm,power.limit --format=csv
  nvcc --version 2>/dev/null | tail -1
  step "plugins"; "$bin/pow-host" backends
  step "conformance: every vector on every device (CUDA included)"
  "$bin"/deps/conformance-* 2>&1 | tail -15
  step "gpu_crosscheck: 10^6 random seals per challenge and random searches vs the seal library"
  "$bin"/deps/gpu_crosscheck-* --nocapture 2>&1 | tail -15
  for c in v1 legacy faucet; do
    step "bench cuda $c (unrolled Keccak, prebuilt PTX)"
    "$bin/pow-host" --backends cuda bench --challenge "$c" --seconds 10 --switches 5 2>&1 | tail -6
  done
  for c in v1 legacy; do
    step "bench cuda $c, keccak=loop (NVRTC)"
    "$bin/pow-host" --backends cuda --backend-opt cuda.keccak=loop bench --challenge "$c" --seconds 10 --switches 2 2>&1 | tail -4
  done
  step "bench cuda v1, NVRTC unrolled (ptx=off)"
  "$bin/pow-host" --backends cuda --backend-opt cuda.ptx=off bench --challenge v1 --seconds 10 --switches 2 2>&1 | tail -4
  step "bench opencl (NVIDIA OpenCL if the driver ships it)"
  "$bin/pow-host" --backends opencl bench --challenge v1 --seconds 10 --switches 2 2>&1 | tail -6
  step "bench all devices together (cuda + cpu)"
  "$bin/pow-host" --backends cuda,cpu bench --challenge v1 --seconds 10 --switches 5 2>&1 | tail -8
} 2>&1 | tee "$report"
