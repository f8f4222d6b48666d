"""Solves v1 and legacy challenges with pow_host and writes them as JSON, for
check_with_bittensor.py to verify with Bittensor's own code in its own virtualenv.

    python solutions_for_bittensor.py OUT.json
"""

import json
import sys

import pow_host
from pow_host import _native

HOTKEY = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
COLDKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def main(out_path: str) -> None:
    out = {"v1": [], "legacy": []}
    with pow_host.Solver("cpu", calibrate_seconds=0) as s:
        for i in range(8):
            block = "0x" + bytes([i] * 32).hex()
            netuid = 1 + i * 997
            difficulty = 10_000 * (i + 1)
            s.set_v1(netuid, block, HOTKEY, COLDKEY, difficulty)
            sol = s.wait(timeout=120)
            out["v1"].append(dict(netuid=netuid, block_hash=block, hotkey=HOTKEY, coldkey=COLDKEY,
                                  difficulty=difficulty, nonce=sol.nonce, seal=sol.seal.hex()))
        hot = _native.parse_key(HOTKEY)
        for i in range(8):
            block = "0x" + bytes([0x80 + i] * 32).hex()
            difficulty = 10_000 * (i + 1)
            order = "be" if i % 2 == 0 else "le"
            s.set_legacy(block, hot, difficulty, seal_order=order)
            sol = s.wait(timeout=120)
            out["legacy"].append(dict(block_hash=block, hotkey=hot.hex(), difficulty=difficulty,
                                      seal_order=order, nonce=sol.nonce, seal=sol.seal.hex()))
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
