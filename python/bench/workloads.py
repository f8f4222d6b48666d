"""One solver's speed on the v1 (or legacy) sample challenge, printed as one JSON line.
Run by compare.py inside the virtualenv that has that solver:

    python workloads.py pow_host SECONDS THREADS
    python workloads.py bittensor_core SECONDS THREADS     # bittensor 11.3.0's pow_mine_cpu
    python workloads.py bittensor_10 SECONDS               # bittensor 10.2.1's CPU solver loop
"""

import json
import sys
import time

# The sample challenge of `pow-host bench` (bittensor's own hash-rate script's block and keys).
BLOCK = bytes.fromhex("5b4bb52cc2b35b226782dd0490e94d35ab06e888732ba9db72faef6ff89f1782")
HOTKEY = bytes.fromhex("8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48")
COLDKEY = bytes.fromhex("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
PREFIX = b"subtensor-pow-register-v1" + (1).to_bytes(2, "little") + BLOCK + HOTKEY + COLDKEY
NEVER = 2**64 - 1


def pow_host_rate(seconds: float, threads: int) -> dict:
    import pow_host

    with pow_host.Solver("cpu", threads=threads, calibrate_seconds=3) as s:
        s.set_v1(1, BLOCK, HOTKEY, COLDKEY, NEVER)
        s.wait(timeout=2)  # warm up (after the calibration)
        a0, t0 = s.stats()["attempts"], time.monotonic()
        s.wait(timeout=seconds)  # the Python layer's own loop: 50 ms waits, GIL released
        a1, t1 = s.stats()["attempts"], time.monotonic()
    return {"solver": "pow_host.Solver (v1)", "threads": threads, "rate": (a1 - a0) / (t1 - t0)}


def bittensor_core_rate(seconds: float, threads: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    import bittensor_core

    chunk = 1 << 20  # the most one call takes
    done, start = 0, 0
    t0 = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        while time.monotonic() - t0 < seconds:
            futures = [pool.submit(bittensor_core.pow_mine_cpu, PREFIX, NEVER, start + i * chunk, chunk) for i in range(threads)]
            for f in futures:
                assert f.result() is None
            done += threads * chunk
            start += threads * chunk
    version = getattr(bittensor_core, "__version__", "0.1.5")
    return {"solver": f"bittensor_core {version} pow_mine_cpu (v1)", "threads": threads, "rate": done / (time.monotonic() - t0)}


def bittensor_10_rate(seconds: float) -> dict:
    import bittensor
    from bittensor.utils.registration import pow as p

    block_and_hotkey = p._hash_block_with_hotkey(BLOCK, HOTKEY)
    done, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        assert p._solve_for_nonce_block(done, done + 20_000, block_and_hotkey, NEVER, 2**256 - 1, 0) is None
        done += 20_000
    return {"solver": f"bittensor {bittensor.__version__} _solve_for_nonce_block (legacy)", "threads": 1, "rate": done / (time.monotonic() - t0)}


if __name__ == "__main__":
    kind, seconds = sys.argv[1], float(sys.argv[2])
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    result = {
        "pow_host": lambda: pow_host_rate(seconds, threads),
        "bittensor_core": lambda: bittensor_core_rate(seconds, threads),
        "bittensor_10": lambda: bittensor_10_rate(seconds),
    }[kind]()
    print(json.dumps(result))
