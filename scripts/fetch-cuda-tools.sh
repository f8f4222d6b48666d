#!/usr/bin/env bash
# Fetches NVIDIA's offline CUDA tools from PyPI (no GPU, driver or CUDA toolkit needed) so
# that the CUDA backend's kernels can be checked on any x86-64 Linux machine:
#   bin/ptxas     assembles the plugin's PTX to SASS exactly as for a GPU (-v: registers, spills)
#   bin/nvdisasm  disassembles the SASS (instruction counts per attempt)
#   lib/libnvrtc.so.12 (+ builtins)  the run-time compiler the plugin falls back to
# Usage: scripts/fetch-cuda-tools.sh [DIR]   (default ~/.cache/pow-host/cuda-tools)
# Then: export POW_CUDA_TOOLS=DIR and run `cargo test --release -p pow-backend-cuda`.
# Idempotent: a DIR that already holds every tool is left alone.
set -euo pipefail

dir="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/pow-host/cuda-tools}"
# Pinned: ptxas and NVRTC from CUDA 12.9 (PTX ISA 8.8, sm_70 to sm_120); nvdisasm ships
# only in the CUDA 13 wheels, and disassembles sm_90 cubins from ptxas 12.9.
wheels=(
  "nvidia-cuda-nvcc-cu12==12.9.86"
  "nvidia-cuda-nvrtc-cu12==12.9.86"
  "nvidia-cuda-nvdisasm==13.5.37"
)

have_all() {
  [ -x "$dir/bin/ptxas" ] && [ -x "$dir/bin/nvdisasm" ] && [ -e "$dir/lib/libnvrtc.so.12" ]
}
if have_all; then
  echo "CUDA tools already in $dir"
  exit 0
fi
case "$(uname -m)" in
  x86_64) ;;
  *) echo "fetch-cuda-tools: only x86-64 Linux wheels are fetched (this is $(uname -m))" >&2; exit 1 ;;
esac

download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux2010_x86_64 --platform manylinux_2_12_x86_64 \
  -d "$download/wheels" "${wheels[@]}"

mkdir -p "$download/x"
for wheel in "$download"/wheels/*.whl; do
  python3 -m zipfile -e "$wheel" "$download/x"
done

mkdir -p "$dir/bin" "$dir/lib"
install -m 0755 "$(find "$download/x" -path '*/bin/ptxas' | head -1)" "$dir/bin/ptxas"
install -m 0755 "$(find "$download/x" -path '*/bin/nvdisasm' | head -1)" "$dir/bin/nvdisasm"
for lib in $(find "$download/x" -path '*cuda_nvrtc/lib/*' -name 'libnvrtc*.so*' ! -name '*.alt.*'); do
  install -m 0755 "$lib" "$dir/lib/"
done
have_all || { echo "fetch-cuda-tools: the wheels did not hold every tool" >&2; exit 1; }
"$dir/bin/ptxas" --version | tail -1
echo "CUDA tools in $dir"
