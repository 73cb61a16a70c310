"""The raw memory-BIO references of the benchmarks (bench/bench_wan.py): the loop that keeps
its sessions holds every pair it made until it is timed, then frees them; the other holds none."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_wan import raw_baseline  # noqa: E402

from emulator.drivers.libssl import Session  # noqa: E402

HANDSHAKES = 4


def _sessions() -> int:
    gc.collect()
    return sum(isinstance(o, Session) for o in gc.get_objects())


def test_kept_pairs_live_until_timed_then_freed() -> None:
    before = _sessions()
    live: list[int] = []

    def timer() -> float:
        live.append(_sessions())
        return time.perf_counter()

    hs, rt = raw_baseline(HANDSHAKES, 3, timer=timer, keep=True)
    assert hs > 0 and rt > 0
    # timer: start and end of the handshakes, then of the round trips (one pair alive)
    assert live[1] - live[0] == 2 * HANDSHAKES
    assert live[2] - live[0] == 2
    assert _sessions() == before


@pytest.mark.parametrize("server", ["s1lab", "python"])
@pytest.mark.parametrize("keep", [False, True])
def test_raw_loops_complete(server: str, keep: bool) -> None:
    live: list[int] = []

    def timer() -> float:
        live.append(_sessions())
        return time.perf_counter()

    hs, rt = raw_baseline(HANDSHAKES, 3, server, timer=timer, keep=keep)
    assert hs > 0 and rt > 0
    if server == "s1lab":  # Python's SSLObjects are not s1lab Sessions
        assert live[1] - live[0] == (2 * HANDSHAKES if keep else 0)
