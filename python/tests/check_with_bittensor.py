"""Checks pow_host's solutions (from solutions_for_bittensor.py) with Bittensor's own code:
bittensor 11.3.0's ``pow_registration.registration_seal`` for v1, bittensor 10.2.1's
``_create_seal_hash`` (and ``_seal_meets_difficulty``) for legacy. Run in a virtualenv
holding one of them; it checks what that version covers.

    python check_with_bittensor.py SOLUTIONS.json
"""

import json
import sys

import bittensor


def check_v1(cases) -> int:
    from bittensor import pow_registration as pr

    for c in cases:
        prefix = pr.registration_prefix(c["netuid"], c["block_hash"], c["hotkey"], c["coldkey"])
        seal = pr.registration_seal(prefix, c["nonce"])
        assert seal.hex() == c["seal"], c
        target = ((1 << 256) - 1) // c["difficulty"]
        assert int.from_bytes(seal, "little") <= target, c
    return len(cases)


def check_legacy(cases) -> int:
    from bittensor.utils.registration import pow as p

    for c in cases:
        block_and_hotkey = p._hash_block_with_hotkey(bytes.fromhex(c["block_hash"][2:]), bytes.fromhex(c["hotkey"]))
        seal = p._create_seal_hash(block_and_hotkey, c["nonce"])
        assert seal.hex() == c["seal"], c
        if c["seal_order"] == "be":
            # bittensor 10.2.1's own test, which reads the seal big-endian (runtimes up to 277).
            assert p._seal_meets_difficulty(seal, c["difficulty"], (1 << 256) - 1), c
        else:
            # The little-endian runtimes (spec 283 on) read it the other way round.
            assert int.from_bytes(seal, "little") * c["difficulty"] <= (1 << 256) - 1, c
    return len(cases)


def main(path: str) -> None:
    with open(path) as f:
        sol = json.load(f)
    version = bittensor.__version__
    if version.startswith("11."):
        n = check_v1(sol["v1"])
        print(f"bittensor {version}: {n} v1 solutions verified by pow_registration.registration_seal")
    elif version.startswith("10."):
        n = check_legacy(sol["legacy"])
        print(f"bittensor {version}: {n} legacy solutions verified by _create_seal_hash")
    else:
        raise SystemExit(f"bittensor {version}: expected 11.3.0 or 10.2.1")


if __name__ == "__main__":
    main(sys.argv[1])
