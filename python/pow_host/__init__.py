"""pow_host: the Bittensor proof-of-work solver from Python.

Solves the three challenges Bittensor has used (``pow_register`` v1, legacy ``register``
and ``faucet``) on every device the bundled plugins offer (CPU SIMD paths, CUDA, OpenCL),
re-verifying every result with the seal library before it is returned.

    >>> import pow_host
    >>> sol = pow_host.solve_v1(1, "0x" + "00" * 32, HOTKEY_SS58, COLDKEY_SS58, 1_000_000)
    >>> sol.nonce, sol.seal.hex()

Mining runs with the GIL released; ``KeyboardInterrupt`` stops the devices within 100 ms.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import _native
from ._native import BackendError

__all__ = [
    "BackendError",
    "Solution",
    "Solver",
    "backends",
    "bench",
    "plugin_dirs",
    "solve_faucet",
    "solve_legacy",
    "solve_v1",
]

Key = Union[str, bytes, bytearray]
Hash = Union[str, bytes, bytearray]

#: Seconds between checks for Ctrl-C and progress while waiting for a solution.
_POLL_SECONDS = 0.05


def plugin_dirs(extra: Optional[str] = None) -> List[str]:
    """The folders searched for plugins besides ``POW_HOST_PLUGIN_PATH``: the package's own,
    then ``extra`` (a folder named by the caller)."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugins")
    dirs = [here] if os.path.isdir(here) else []
    if extra is not None:
        dirs.append(_plugin_folder(extra))
    return dirs


def _plugin_folder(folder: str) -> str:
    """Checks a plugin folder named by the caller: it exists, and every plugin file in it loads
    (a ``ValueError`` naming the first that does not)."""
    path = os.path.abspath(os.fspath(folder))
    if not os.path.isdir(path):
        raise ValueError(f"plugin folder {path}: not a folder")
    for file, reason in _native.skipped_plugins([path]):
        if os.path.dirname(os.path.abspath(file)) == path:
            raise ValueError(f"plugin {file}: {reason}")
    return path


@dataclass(frozen=True)
class Solution:
    """A verified solution of one challenge."""

    #: The nonce to submit.
    nonce: int
    #: ``keccak256(sha256(message))`` of that nonce, 32 bytes.
    seal: bytes
    #: Attempts made by every device on this challenge up to the solution.
    attempts: int
    #: Seconds from setting the challenge to the solution.
    seconds: float
    #: Attempts per second over that time.
    hashes_per_second: float
    #: ``backend:index`` of the device that found it.
    device: str


def _bytes32(value: Union[str, bytes, bytearray], name: str, what: str, parse: Callable[[str], bytes]) -> bytes:
    """32 bytes given as bytes, or as text that ``parse`` reads (a ``ValueError`` otherwise)."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 32:
            raise ValueError(f"{name}: {what} is 32 bytes, not {len(value)}")
        return bytes(value)
    if isinstance(value, str):
        return parse(value)
    raise TypeError(f"{name}: text or 32 bytes, not {type(value).__name__}")


def _key(value: Key, name: str) -> bytes:
    """A public key: an SS58 address, 0x-hex or 32 bytes."""
    return _bytes32(value, name, "a public key", _native.parse_key)


def _hash(value: Hash) -> bytes:
    """A block hash: 0x-hex or 32 bytes."""
    return _bytes32(value, "block_hash", "a block hash", _native.parse_hash)


def _difficulty(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"difficulty must be an integer, not {value!r}")
    if value < 0 or value >= 2**64:
        raise ValueError(f"difficulty must be between 0 and 2^64 - 1, not {value}")
    return value


def _netuid(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"netuid must be an integer, not {value!r}")
    if not 1 <= value <= 65535:
        raise ValueError(f"netuid {value}: subnets are 1 to 65535 (0 is the root subnet, not registered by proof of work)")
    return value


def _nonce(value: Optional[int]) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise ValueError(f"nonce_start must be an integer in [0, 2^64), not {value!r}")
    return value


class Solver:
    """Devices kept open for a long run: set a new challenge per block without restarting them.

    Use as a context manager (``with Solver() as s: ...``) or call :meth:`stop`.
    """

    def __init__(
        self,
        backends: str = "all",
        *,
        threads: Optional[int] = None,
        options: Sequence[str] = (),
        calibrate_seconds: float = 3.0,
        batch: Optional[int] = None,
        plugin_dir: Optional[str] = None,
    ) -> None:
        """Loads the plugins and opens the devices of ``backends`` (``"all"`` or ``"cpu,cuda"``).

        ``options`` are ``"BACKEND.KEY=VALUE"`` settings (``"cpu.path=portable"``);
        ``calibrate_seconds`` bounds the start-up calibration run on the first challenge
        (0: none; cached like the CLI's); ``plugin_dir`` adds a folder of plugins, every one of
        which must load (``ValueError`` otherwise).
        """
        dirs = plugin_dirs(plugin_dir)
        _warn_skipped()
        self._native = _native.Solver(
            dirs, backends, threads, list(options), float(calibrate_seconds), batch
        )

    @property
    def devices(self) -> List[str]:
        """``backend:index`` of every device opened."""
        return list(self._native.devices())

    def set_v1(self, netuid: int, block_hash: Hash, hotkey: Key, coldkey: Key, difficulty: int, *, nonce_start: Optional[int] = None, sequential: bool = False) -> int:
        """Switches to a ``pow_register`` (v1) challenge; returns its job id.

        Nonces are tried from ``nonce_start`` (default random) in the fastest order, or in
        plain ascending order with ``sequential=True``.
        """
        return self._native.set_challenge(
            "v1", _difficulty(difficulty), _hash(block_hash), _key(hotkey, "hotkey"),
            _key(coldkey, "coldkey"), _netuid(netuid), "le", _nonce(nonce_start), sequential,
        )

    def set_challenge(self, challenge: str, **kwargs: Any) -> int:
        """Switches to a new challenge: ``challenge`` is ``"v1"``, ``"legacy"`` or ``"faucet"``
        and ``kwargs`` are the arguments of :meth:`set_v1`, :meth:`set_legacy` or
        :meth:`set_faucet`."""
        setters = {"v1": self.set_v1, "legacy": self.set_legacy, "faucet": self.set_faucet}
        if challenge not in setters:
            raise ValueError(f"unknown challenge {challenge!r}: v1, legacy or faucet")
        return setters[challenge](**kwargs)

    def set_legacy(self, block_hash: Hash, hotkey: Key, difficulty: int, *, seal_order: str = "le", nonce_start: Optional[int] = None, sequential: bool = False) -> int:
        """Switches to a legacy ``register`` challenge (``seal_order`` ``"be"`` up to spec 277)."""
        if seal_order not in ("be", "le"):
            raise ValueError(f"seal_order must be 'be' or 'le', not {seal_order!r}")
        return self._native.set_challenge(
            "legacy", _difficulty(difficulty), _hash(block_hash), _key(hotkey, "hotkey"),
            None, 0, seal_order, _nonce(nonce_start), sequential,
        )

    def set_faucet(self, block_hash: Hash, coldkey: Key, difficulty: int = 1_000_000, *, nonce_start: Optional[int] = None, sequential: bool = False) -> int:
        """Switches to a ``faucet`` challenge (test and dev runtimes)."""
        return self._native.set_challenge(
            "faucet", _difficulty(difficulty), _hash(block_hash), None,
            _key(coldkey, "coldkey"), 0, "le", _nonce(nonce_start), sequential,
        )

    def wait(
        self,
        timeout: Optional[float] = None,
        progress: Optional[Callable[[Dict[str, Any]], None]] = None,
        progress_interval: float = 1.0,
    ) -> Optional[Solution]:
        """Waits for a solution of the current challenge; ``None`` after ``timeout`` seconds.

        ``progress`` gets :meth:`stats` every ``progress_interval`` seconds. Ctrl-C raises
        ``KeyboardInterrupt`` here within 100 ms and cancels the challenge.
        """
        end = None if timeout is None else time.monotonic() + max(0.0, timeout)
        next_progress = time.monotonic() + progress_interval
        try:
            while True:
                now = time.monotonic()
                if end is not None and now >= end:
                    return None
                step = _POLL_SECONDS if end is None else min(_POLL_SECONDS, end - now)
                found = self._native.poll(step)
                if found is not None:
                    _job, nonce, seal, attempts, seconds, device = found
                    return Solution(nonce, bytes(seal), attempts, seconds, attempts / max(seconds, 1e-9), device)
                if progress is not None and time.monotonic() >= next_progress:
                    next_progress += progress_interval
                    progress(self.stats())
        except KeyboardInterrupt:
            self._native.clear()
            raise

    def stats(self) -> Dict[str, Any]:
        """The CLI's statistics line as a dict: ``hash_rate`` (EWMA), attempts, per device."""
        return json.loads(self._native.stats_json())

    def stop(self) -> None:
        """Stops every device."""
        self._native.stop()

    def __enter__(self) -> "Solver":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _solve(set_challenge: Callable[[Solver], int], backends: str, timeout: Optional[float], progress: Optional[Callable[[Dict[str, Any]], None]], **solver: Any) -> Optional[Solution]:
    with Solver(backends, **solver) as s:
        set_challenge(s)
        return s.wait(timeout, progress)


def solve_v1(netuid: int, block_hash: Hash, hotkey: Key, coldkey: Key, difficulty: int, *, backends: str = "all", nonce_start: Optional[int] = None, timeout: Optional[float] = None, progress: Optional[Callable[[Dict[str, Any]], None]] = None, **solver: Any) -> Optional[Solution]:
    """Solves a ``pow_register`` (v1) challenge; ``None`` on timeout.

    Keys are SS58 addresses, 0x-hex or 32 bytes; the block hash is 0x-hex or 32 bytes.
    ``solver`` takes :class:`Solver`'s options (``threads``, ``options``, ``calibrate_seconds``).
    """
    return _solve(lambda s: s.set_v1(netuid, block_hash, hotkey, coldkey, difficulty, nonce_start=nonce_start), backends, timeout, progress, **solver)


def solve_legacy(block_hash: Hash, hotkey: Key, difficulty: int, seal_order: str = "le", *, backends: str = "all", nonce_start: Optional[int] = None, timeout: Optional[float] = None, progress: Optional[Callable[[Dict[str, Any]], None]] = None, **solver: Any) -> Optional[Solution]:
    """Solves a legacy ``register`` challenge (runtimes up to spec 394); ``None`` on timeout."""
    return _solve(lambda s: s.set_legacy(block_hash, hotkey, difficulty, seal_order=seal_order, nonce_start=nonce_start), backends, timeout, progress, **solver)


def solve_faucet(block_hash: Hash, coldkey: Key, difficulty: int = 1_000_000, *, backends: str = "all", nonce_start: Optional[int] = None, timeout: Optional[float] = None, progress: Optional[Callable[[Dict[str, Any]], None]] = None, **solver: Any) -> Optional[Solution]:
    """Solves a ``faucet`` challenge (test and dev runtimes); ``None`` on timeout."""
    return _solve(lambda s: s.set_faucet(block_hash, coldkey, difficulty, nonce_start=nonce_start), backends, timeout, progress, **solver)


def _warn_skipped() -> None:
    """A ``RuntimeWarning`` per plugin file that could not be loaded (the CLI's warning line)."""
    for path, reason in _native.skipped_plugins(plugin_dirs()):
        warnings.warn(f"skipped plugin {path}: {reason}", RuntimeWarning, stacklevel=3)


def backends(backends: str = "all") -> Dict[str, Any]:
    """``pow-host backends --json`` as a dict: plugins, their devices, refused files."""
    return json.loads(_native.backends_json(plugin_dirs(), backends))


def bench(challenge: str = "v1", seconds: float = 5.0, switches: int = 20, *, backends: str = "all", threads: Optional[int] = None, options: Sequence[str] = ()) -> Dict[str, Any]:
    """``pow-host bench --json`` as a dict: each device alone, the mixes, the chosen mix's
    dispatched rate (``mix_hashes_per_second``) and the challenge-switch latency, measured on
    the sample ``challenge`` (``"v1"``, ``"legacy"`` or ``"faucet"``) with phases of
    ``seconds``. The GIL is released while it runs."""
    _warn_skipped()
    return json.loads(
        _native.bench_json(plugin_dirs(), backends, threads, list(options), challenge, float(seconds), switches)
    )
