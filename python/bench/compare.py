"""Speed from Python, side by side in one run on one machine: pow_host.Solver against
bittensor-core's pow_mine_cpu (bittensor 11.3.0's native miner) and bittensor 10.2.1's CPU
solver loop, and the Python layer's overhead against `pow-host bench` (same dispatcher, 100 ms
batches). Each solver runs alone, in its own virtualenv, one after another.

    python compare.py POW_HOST_VENV BITTENSOR_11_VENV BITTENSOR_10_VENV [SECONDS]
"""

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
POW_HOST_BIN = HERE.parents[1] / "target" / "release" / "pow-host"


def run(venv: str, *args: str) -> dict:
    out = subprocess.run([os.path.join(venv, "bin", "python"), str(HERE / "workloads.py"), *args],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cli_bench(seconds: float, threads: int) -> float:
    out = subprocess.run([str(POW_HOST_BIN), "--backends", "cpu", "--threads", str(threads), "bench",
                          "--challenge", "v1", "--seconds", str(seconds), "--switches", "2", "--json"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["mix_hashes_per_second"]


def main() -> None:
    pow_venv, bt11, bt10 = sys.argv[1:4]
    seconds = sys.argv[4] if len(sys.argv) > 4 else "10"
    cores = os.cpu_count() or 1
    rows = []
    for threads in sorted({1, cores}):
        rows.append(run(pow_venv, "pow_host", seconds, str(threads)))
        rows.append(run(bt11, "bittensor_core", seconds, str(threads)))
    rows.append(run(bt10, "bittensor_10", seconds))
    print("| solver | threads | attempts/s |")
    print("| --- | --- | --- |")
    for r in rows:
        print(f"| {r['solver']} | {r['threads']} | {r['rate'] / 1e6:.3f} M |")
    for threads in sorted({1, cores}):
        cli = cli_bench(float(seconds), threads)
        py = next(r["rate"] for r in rows if r["solver"].startswith("pow_host") and r["threads"] == threads)
        print(f"Python layer vs `pow-host bench` ({threads} thread(s)): {py / 1e6:.3f} M vs {cli / 1e6:.3f} M/s, "
              f"overhead {100 * (1 - py / cli):+.2f} %")


if __name__ == "__main__":
    main()
