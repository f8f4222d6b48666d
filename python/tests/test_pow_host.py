"""The Python API against the shared reference vectors, the Solver's switching, Ctrl-C,
timeouts, progress and bad input. Run by python/run-tests.sh (a fresh virtualenv)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import pow_host
from pow_host import _native

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "data" / "vectors"
HOTKEY = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
COLDKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
ZERO_HASH = "0x" + "00" * 32
#: One CPU thread, no calibration, small fixed batches: the lowest passing nonce comes first.
SEQUENTIAL = dict(threads=1, calibrate_seconds=0, batch=4096)


def vectors(name):
    return json.loads((VECTORS / name).read_text())


def as_int(seal: bytes, order: str) -> int:
    return int.from_bytes(seal, "big" if order == "be" else "little")


def passes(seal: bytes, difficulty: int, order: str = "le") -> bool:
    return as_int(seal, order) <= (2**256 - 1) // max(difficulty, 1)


def test_backends_lists_the_bundled_cpu_plugin():
    b = pow_host.backends()
    names = [x["name"] for x in b["backends"]]
    assert "cpu" in names
    cpu = next(x for x in b["backends"] if x["name"] == "cpu")
    assert cpu["devices"] and cpu["file"].endswith("libpow_backend_cpu.so")


def test_the_cpu_path_is_measured_and_cached_in_the_hosts_cache_folder(tmp_path):
    # A fresh process (the cpu plugin measures once per process) with its own cache folder:
    # the host library passes it to the plugin as `cache-dir`, as the CLI does.
    script = "import json, pow_host; print(json.dumps(pow_host.backends('cpu')))"
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    for source in ("measured now", "from the cache"):
        out = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True)
        listed = json.loads(out.stdout)["backends"]
        device = next(b for b in listed if b["name"] == "cpu")["devices"][0]
        assert device["detail"].startswith("path "), device
        assert device["more_detail"].startswith(f"rates on 1 thread, {source}: "), device
        assert (tmp_path / "pow-host" / "cpu-paths.json").is_file()


@pytest.mark.parametrize("case", vectors("seal_vectors.json"))
def test_legacy_seal_vectors(case):
    block, hotkey, nonce = bytes.fromhex(case["block_hash"][2:]), bytes.fromhex(case["hotkey_pubkey"][2:]), case["nonce"]
    assert "0x" + _native.seal("legacy", nonce, block, hotkey).hex() == case["seal"]


@pytest.mark.parametrize("case", vectors("pow_register_v1_seal_vectors.json"))
def test_v1_seal_vectors(case):
    seal = _native.seal(
        "v1",
        case["nonce"],
        bytes.fromhex(case["block_hash"][2:]),
        bytes.fromhex(case["hotkey_pubkey"][2:]),
        bytes.fromhex(case["coldkey_pubkey"][2:]),
        case["netuid"],
    )
    assert "0x" + seal.hex() == case["seal"]


@pytest.fixture(scope="module")
def solver():
    with pow_host.Solver("cpu", **SEQUENTIAL) as s:
        yield s


@pytest.mark.parametrize("case", vectors("solve_vectors.json"))
@pytest.mark.parametrize("order", ["be", "le"])
def test_legacy_solve_vectors(solver, case, order):
    solver.set_legacy(
        case["block_hash"], case["hotkey_pubkey"], case["difficulty"],
        seal_order=order, nonce_start=case["nonce_start"], sequential=True,
    )
    sol = solver.wait(timeout=120)
    nonce = case["first_nonce"] if order == "be" else case["first_nonce_runtime_le"]
    seal = case["seal"] if order == "be" else case["seal_runtime_le"]
    assert sol is not None
    assert (sol.nonce, "0x" + sol.seal.hex()) == (nonce, seal)


@pytest.mark.parametrize("case", vectors("pow_register_v1_solve_vectors.json"))
def test_v1_solve_vectors(solver, case):
    solver.set_v1(
        case["netuid"], case["block_hash"], case["hotkey_pubkey"], case["coldkey_pubkey"],
        case["difficulty"], nonce_start=case["nonce_start"], sequential=True,
    )
    sol = solver.wait(timeout=120)
    assert sol is not None
    assert (sol.nonce, "0x" + sol.seal.hex()) == (case["first_nonce"], case["seal"])


def test_solve_v1_with_ss58_keys_returns_a_checked_solution():
    sol = pow_host.solve_v1(1, ZERO_HASH, HOTKEY, COLDKEY, 100_000, backends="cpu", calibrate_seconds=0)
    assert sol is not None and sol.attempts > 0 and sol.device.startswith("cpu:")
    hot, cold = _native.parse_key(HOTKEY), _native.parse_key(COLDKEY)
    assert _native.seal("v1", sol.nonce, bytes(32), hot, cold, 1) == sol.seal
    assert passes(sol.seal, 100_000)


def test_solve_faucet_and_legacy_bytes_keys():
    key = bytes(range(32))
    sol = pow_host.solve_faucet(bytes(32), key, 50_000, backends="cpu", calibrate_seconds=0)
    assert sol is not None and passes(sol.seal, 50_000)
    assert _native.seal("faucet", sol.nonce, bytes(32), None, key) == sol.seal
    sol = pow_host.solve_legacy(bytes(32), key, 50_000, "be", backends="cpu", calibrate_seconds=0)
    assert sol is not None and passes(sol.seal, 50_000, "be")


def test_a_solver_switches_challenges_100_times_without_a_stale_result(solver):
    hot, cold = _native.parse_key(HOTKEY), _native.parse_key(COLDKEY)
    for i in range(100):
        block = i.to_bytes(32, "little")
        solver.set_v1(1, block, hot, cold, 500)
        sol = solver.wait(timeout=60)
        assert sol is not None, f"no solution for challenge {i}"
        # The solution belongs to the challenge just set, not to an earlier one.
        assert _native.seal("v1", sol.nonce, block, hot, cold, 1) == sol.seal
        assert passes(sol.seal, 500)


def test_timeout_returns_none_and_progress_gets_stats(solver):
    seen = []
    solver.set_v1(1, ZERO_HASH, HOTKEY, COLDKEY, 2**64 - 1)
    assert solver.wait(timeout=1.3, progress=seen.append, progress_interval=0.3) is None
    assert len(seen) >= 2
    assert seen[-1]["event"] == "stats" and seen[-1]["hash_rate"] > 0


@pytest.fixture
def ctrl_c_raises():
    """Python's own Ctrl-C handler for the test: a process started with SIGINT ignored (a
    background job of a non-interactive shell) gets no KeyboardInterrupt otherwise."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_keyboard_interrupt_stops_the_wait_quickly(solver, ctrl_c_raises):
    solver.set_v1(1, ZERO_HASH, HOTKEY, COLDKEY, 2**64 - 1)
    sent = []

    def interrupt():
        time.sleep(0.3)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt).start()
    with pytest.raises(KeyboardInterrupt):
        solver.wait(timeout=30)
    delay = time.monotonic() - sent[0]
    # The wait checks for signals every 50 ms; a loaded CI machine gets a generous bound.
    assert delay < 1.0, delay
    # The challenge was cancelled: the solver takes a new one at once.
    solver.set_v1(1, ZERO_HASH, HOTKEY, COLDKEY, 1000)
    assert solver.wait(timeout=30) is not None


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: pow_host.solve_v1(1, ZERO_HASH, b"short", COLDKEY, 1), "32 bytes"),
        (lambda: pow_host.solve_v1(1, "0x1234", HOTKEY, COLDKEY, 1), "block hash"),
        (lambda: pow_host.solve_v1(1, ZERO_HASH, HOTKEY[:-1] + "z", COLDKEY, 1), "checksum"),
        (lambda: pow_host.solve_v1(0, ZERO_HASH, HOTKEY, COLDKEY, 1), "root subnet"),
        (lambda: pow_host.solve_v1(65536, ZERO_HASH, HOTKEY, COLDKEY, 1), "65535"),
        (lambda: pow_host.solve_v1(1, ZERO_HASH, HOTKEY, COLDKEY, -5), "difficulty"),
        (lambda: pow_host.solve_v1(1, ZERO_HASH, HOTKEY, COLDKEY, 1.5), "difficulty"),
        (lambda: pow_host.solve_legacy(ZERO_HASH, HOTKEY, 1, "middle"), "seal_order"),
        (lambda: pow_host.Solver("nosuch"), "unknown backend"),
        (lambda: pow_host.Solver("cpu", options=["cpu.path=warp"]), "path"),
        (lambda: pow_host.Solver("cpu", threads=0), "threads"),
    ],
)
def test_bad_input_is_a_value_error_with_one_line(call, message):
    with pytest.raises(ValueError) as e:
        call()
    text = str(e.value)
    assert message in text and "\n" not in text, text


def test_a_stopped_solver_refuses_work_without_crashing():
    s = pow_host.Solver("cpu", **SEQUENTIAL)
    s.stop()
    with pytest.raises(ValueError, match="stopped"):
        s.set_v1(1, ZERO_HASH, HOTKEY, COLDKEY, 1)


def test_bench_mirrors_the_cli_json():
    b = pow_host.bench("legacy", seconds=0.3, switches=2, backends="cpu", threads=1)
    assert b["challenge"] == "legacy"
    assert b["mix"] == ["cpu:0"] and b["mix_hashes_per_second"] > 0
    assert b["switches"] == 2 and b["switch_latency_ms"]["max"] >= b["switch_latency_ms"]["median"]
    with pytest.raises(ValueError, match="seconds"):
        pow_host.bench(seconds=0)
    with pytest.raises(ValueError, match="unknown challenge"):
        pow_host.bench("v2", seconds=0.1)


def test_a_broken_plugin_file_is_a_one_line_warning_and_the_rest_works(tmp_path, monkeypatch):
    (tmp_path / "libbroken.so").write_bytes(b"this is not a shared library")
    os.chmod(tmp_path, 0o755)
    monkeypatch.setenv("POW_HOST_PLUGIN_PATH", str(tmp_path))
    with pytest.warns(RuntimeWarning) as w:
        s = pow_host.Solver("cpu", **SEQUENTIAL)
    s.stop()
    text = str(w[0].message)
    assert "libbroken.so" in text and "\n" not in text, text
    # Asking for it by name is a ValueError naming what is there.
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="unknown backend"):
        pow_host.Solver("broken")


def test_the_gil_is_free_while_waiting(solver):
    """Other Python threads run at full speed while one thread waits for a solution."""
    solver.set_v1(1, ZERO_HASH, HOTKEY, COLDKEY, 2**64 - 1)

    def count(seconds):
        n, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            n += 1
        return n

    alone = count(0.5)  # the devices mine meanwhile, nobody waits
    waiter = threading.Thread(target=solver.wait, kwargs={"timeout": 1.0})
    waiter.start()
    beside = count(0.5)
    waiter.join()
    assert beside > 0.5 * alone, (beside, alone)


def test_a_named_plugin_folder_with_a_broken_file_is_a_value_error(tmp_path):
    (tmp_path / "libbroken.so").write_bytes(b"not a shared library")
    os.chmod(tmp_path, 0o755)
    with pytest.raises(ValueError) as e:
        pow_host.Solver("cpu", plugin_dir=str(tmp_path))
    text = str(e.value)
    assert "libbroken.so" in text and "\n" not in text, text
    with pytest.raises(ValueError, match="not a folder"):
        pow_host.Solver("cpu", plugin_dir=str(tmp_path / "nowhere"))


def test_set_challenge_by_name(solver):
    solver.set_challenge("faucet", block_hash=ZERO_HASH, coldkey=COLDKEY, difficulty=1000)
    sol = solver.wait(timeout=30)
    assert sol is not None
    assert _native.seal("faucet", sol.nonce, bytes(32), None, _native.parse_key(COLDKEY)) == sol.seal
    with pytest.raises(ValueError, match="unknown challenge"):
        solver.set_challenge("v9")
