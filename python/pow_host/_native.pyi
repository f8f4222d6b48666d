"""Type stubs of the native module (``pow_host._native``); use the ``pow_host`` API instead."""

from os import PathLike
from typing import List, Optional, Sequence, Tuple, Union

_Path = Union[str, PathLike]

class BackendError(RuntimeError):
    """A backend or device failed (no device left, a plugin that cannot start)."""

def backends_json(plugin_dirs: Sequence[_Path], backends: str = "all") -> str: ...
def bench_json(
    plugin_dirs: Sequence[_Path],
    backends: str = "all",
    threads: Optional[int] = None,
    options: Sequence[str] = ...,
    challenge: str = "v1",
    seconds: float = 5.0,
    switches: int = 20,
) -> str: ...
def skipped_plugins(plugin_dirs: Sequence[_Path]) -> List[Tuple[str, str]]: ...
def parse_key(text: str) -> bytes: ...
def parse_hash(text: str) -> bytes: ...
def seal(
    kind: str,
    nonce: int,
    block_hash: bytes,
    hotkey: Optional[bytes] = None,
    coldkey: Optional[bytes] = None,
    netuid: int = 0,
    seal_order: str = "le",
) -> bytes: ...

class Solver:
    def __init__(
        self,
        plugin_dirs: Sequence[_Path],
        backends: str = "all",
        threads: Optional[int] = None,
        options: Sequence[str] = ...,
        calibrate_seconds: float = 3.0,
        batch: Optional[int] = None,
    ) -> None: ...
    def devices(self) -> List[str]: ...
    def set_challenge(
        self,
        kind: str,
        difficulty: int,
        block_hash: bytes,
        hotkey: Optional[bytes] = None,
        coldkey: Optional[bytes] = None,
        netuid: int = 0,
        seal_order: str = "le",
        nonce_start: Optional[int] = None,
        sequential: bool = False,
    ) -> int: ...
    def poll(self, seconds: float) -> Optional[Tuple[int, int, bytes, int, float, str]]: ...
    def stats_json(self) -> str: ...
    def clear(self) -> None: ...
    def stop(self) -> None: ...
