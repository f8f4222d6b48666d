#!/usr/bin/env bash
# Side-by-side hash rate on the v1 challenge: bittensor-core's native miner
# (`bittensor_core.pow_mine_cpu`, PyPI bittensor-core 0.1.5) against `pow-host bench`.
#
#   scripts/compare-bittensor-core.sh            # RUNS=3 BATCH=1048576 SECONDS_PER_RUN=5
#
# pow_mine_cpu is timed the way /work/shared/vectors/python_hashrate.py times bittensor's
# `_mine_chunk`: one call of BATCH nonces at difficulty 2^64-1 (nothing passes) per run, on one
# thread and on two threads (ThreadPoolExecutor, one call each); the median of RUNS runs.
# pow-host runs `bench --backends cpu --challenge v1` with --threads 1 and with every core.
# The same sample challenge is used on both sides (netuid 1, the script's block and keys).
# Prints one JSON object; the machine's load average is included because the figures only
# mean something on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
BATCH=${BATCH:-1048576}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
VENV=${VENV:-target/bittensor-core-venv}

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >&2
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check bittensor-core==0.1.5 >&2
cargo build --quiet --release -p pow-host -p pow-backend-cpu >&2

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
py_json=$(RUNS=$RUNS BATCH=$BATCH "$VENV/bin/python" - <<'PY'
import importlib.metadata, json, os, statistics, time
from concurrent.futures import ThreadPoolExecutor
from bittensor_core import pow_mine_cpu

RUNS = int(os.environ["RUNS"]); BATCH = int(os.environ["BATCH"])
U64_MAX = (1 << 64) - 1
prefix = (b"subtensor-pow-register-v1" + (1).to_bytes(2, "little")
          + bytes.fromhex("5b4bb52cc2b35b226782dd0490e94d35ab06e888732ba9db72faef6ff89f1782")
          + bytes.fromhex("8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48")
          + bytes.fromhex("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"))
assert len(prefix) == 123
one, two = [], []
for r in range(RUNS):
    t = time.perf_counter()
    assert pow_mine_cpu(prefix, U64_MAX, r * BATCH, BATCH) is None
    one.append(BATCH / (time.perf_counter() - t))
with ThreadPoolExecutor(max_workers=2) as pool:
    for r in range(RUNS):
        t = time.perf_counter()
        futs = [pool.submit(pow_mine_cpu, prefix, U64_MAX, (2 * r + i) * BATCH, BATCH) for i in range(2)]
        assert all(f.result() is None for f in futs)
        two.append(2 * BATCH / (time.perf_counter() - t))
print(json.dumps({
    "bittensor_core_version": importlib.metadata.version("bittensor-core"),
    "one_thread_Hps": {"median": round(statistics.median(one)), "runs": [round(x) for x in one]},
    "two_threads_total_Hps": {"median": round(statistics.median(two)), "runs": [round(x) for x in two]},
}))
PY
)

bench() {
    target/release/pow-host bench --backends cpu --challenge v1 --seconds "$SECONDS_PER_RUN" --json "$@"
}
host_one=$(bench --threads 1)
host_all=$(bench)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

PY_JSON=$py_json HOST_ONE=$host_one HOST_ALL=$host_all LOAD_BEFORE=$load_before \
LOAD_AFTER=$load_after "$VENV/bin/python" - <<'PY'
import json, os, platform, subprocess, datetime
py = json.loads(os.environ["PY_JSON"])
one = json.loads(os.environ["HOST_ONE"]); every = json.loads(os.environ["HOST_ALL"])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
h1 = one["total_hashes_per_second"]; hall = every["total_hashes_per_second"]
b1 = py["one_thread_Hps"]["median"]; b2 = py["two_threads_total_Hps"]["median"]
print(json.dumps({
    "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
    "machine": {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release()},
    "load_average_before": os.environ["LOAD_BEFORE"], "load_average_after": os.environ["LOAD_AFTER"],
    "challenge": "v1",
    "bittensor_core_pow_mine_cpu": py,
    "pow_host_one_thread": {"hashes_per_second": h1, "path": one["devices"][0]["detail"]},
    "pow_host_all_cores": {"hashes_per_second": hall, "device": every["devices"][0]["name"]},
    "ratio_one_thread": round(h1 / b1, 2),
    "ratio_all_cores_vs_two_threads": round(hall / b2, 2),
}, indent=1))
PY
