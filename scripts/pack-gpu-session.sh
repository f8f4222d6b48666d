#!/usr/bin/env bash
# Builds everything a GPU check needs and copies it into .gpu/ (ignored by git), so that a
# machine with an NVIDIA GPU but no Rust toolchain can run scripts/gpu-session.sh on it:
#   .gpu/release/pow-host, .gpu/release/libpow_backend_{cpu,cuda,opencl}.so
#   .gpu/release/deps/{conformance,gpu_crosscheck}-*   (test binaries; they find the plugins
#                                                      in the folder above their own)
# With the `device` tool: run this here, then run `scripts/gpu-session.sh` there with `.gpu`
# in `carry`; its report comes back under $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p pow-host -p pow-backend-cpu -p pow-backend-cuda -p pow-backend-opencl
json=$(cargo test --release --no-run --message-format=json \
  -p pow-integration-tests --test conformance -p pow-backend-cuda --test gpu_crosscheck)

rm -rf .gpu
mkdir -p .gpu/release/deps
cp target/release/pow-host .gpu/release/
for b in cpu cuda opencl; do cp "target/release/libpow_backend_$b.so" .gpu/release/; done
echo "$json" | python3 -c '
import json, shutil, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    exe = m.get("executable")
    if exe and m.get("target", {}).get("name") in ("conformance", "gpu_crosscheck"):
        shutil.copy(exe, ".gpu/release/deps/")
        print("packed", exe)
'
strip .gpu/release/pow-host .gpu/release/deps/* 2>/dev/null || true
du -sh .gpu
