#!/usr/bin/env bash
# Side-by-side hash rate on the v1 challenge: bittensor-core's native miner
# (`bittensor_core.pow_mine_cpu`, PyPI bittensor-core 0.1.5) against `pow-host bench`.
#
#   scripts/compare-bittensor-core.sh            # RUNS=3 BATCH=1048576 SECONDS_PER_RUN=5 PATHS=auto
#   PATHS="auto shani-avx2 avx2" scripts/compare-bittensor-core.sh   # also force CPU paths
#
# pow_mine_cpu is timed the way /work/shared/vectors/python_hashrate.py times bittensor's
# `_mine_chunk`: one call of BATCH nonces at difficulty 2^64-1 (nothing passes) per run, on one
# thread and on two threads (ThreadPoolExecutor, one call each); the median of RUNS runs.
# pow-host runs `bench --backends cpu --challenge v1` with --threads 1 and with every core, once
# per entry of PATHS (`auto`: the path the backend measures fastest; a name forces that path
# with --backend-opt cpu.path=NAME, e.g. the AVX2 paths on a CPU that also has AVX-512).
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
    target/release/pow-host bench --backends cpu --challenge v1 --seconds "$SECONDS_PER_RUN" \
        --calibrate-seconds 0 --json "$@"
}
host_runs="["
for path in ${PATHS:-auto}; do
    opt=()
    [ "$path" = auto ] || opt=(--backend-opt "cpu.path=$path")
    one=$(bench --threads 1 "${opt[@]}")
    every=$(bench "${opt[@]}")
    host_runs+="{\"asked\": \"$path\", \"one\": $one, \"every\": $every},"
done
host_runs="${host_runs%,}]"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

PY_JSON=$py_json HOST_RUNS=$host_runs LOAD_BEFORE=$load_before \
LOAD_AFTER=$load_after "$VENV/bin/python" - <<'PY'
import json, os, platform, datetime
py = json.loads(os.environ["PY_JSON"])
cpuinfo = open("/proc/cpuinfo").read().split("\n\n")[0]
field = lambda k: next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.split(":")[0].strip() == k), "?")
flags = field("flags").split()
b1 = py["one_thread_Hps"]["median"]; b2 = py["two_threads_total_Hps"]["median"]
runs = []
for r in json.loads(os.environ["HOST_RUNS"]):
    h1 = r["one"]["total_hashes_per_second"]; hall = r["every"]["total_hashes_per_second"]
    runs.append({
        "path_asked": r["asked"], "path": r["one"]["devices"][0]["detail"].split("\n")[0],
        "one_thread_Hps": h1, "all_cores_Hps": hall,
        "ratio_one_thread": round(h1 / b1, 2), "ratio_all_cores_vs_two_threads": round(hall / b2, 2),
    })
print(json.dumps({
    "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
    "machine": {"cpu": field("model name"), "family": field("cpu family"), "model": field("model"),
                "avx512f": "avx512f" in flags, "sha_ni": "sha_ni" in flags,
                "cores": os.cpu_count(), "kernel": platform.release()},
    "load_average_before": os.environ["LOAD_BEFORE"], "load_average_after": os.environ["LOAD_AFTER"],
    "challenge": "v1",
    "bittensor_core_pow_mine_cpu": py,
    "pow_host": runs,
}, indent=1))
PY
