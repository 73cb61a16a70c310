"""The virtual loop's time (drivers/virtual_time.py) keeps the loop's behaviour exactly.

Differential: the same seeded script of loop operations (timers armed at awkward float times,
cancellations, ready callbacks, loop turns, back-to-back jumps, a loop stop) runs on a
:class:`VirtualEventLoop` and on a copy of it keeping the time as the loop did before the time
moved out of it (the code below, verbatim from drivers/clock.py at 607ab9b), and every step's
outcome must match. This test patches nothing, so it also checks a build (tests/compiled).
"""

from __future__ import annotations

import asyncio
import heapq
import random
from typing import Any

import pytest

from emulator.core.timebase import SECOND
from emulator.drivers.clock import VirtualClock, VirtualEventLoop
from emulator.drivers.virtual_time import VirtualTime, seconds
from emulator.errors import WaitingOnNothing


class _OldTime:
    """The loop's time as drivers/clock.py kept it before (the reference)."""

    def __init__(self, loop: _OldLoop, epoch_us: int) -> None:
        self.loop = loop
        self._epoch_us = epoch_us
        self._elapsed_us = 0
        self._head: asyncio.TimerHandle | None = None
        self._head_us = 0

    @property
    def elapsed_us(self) -> int:
        return self._elapsed_us

    @property
    def epoch_us(self) -> int:
        return self._epoch_us

    def now_us(self) -> int:
        return self.epoch_us + self.elapsed_us

    def time(self) -> float:
        return self._elapsed_us / SECOND

    def jump_to_next_timer(self, timeout: float) -> None:
        scheduled: list[asyncio.TimerHandle] = self.loop._scheduled  # type: ignore[attr-defined]
        when = scheduled[0].when() if scheduled else self.time() + timeout
        self._elapsed_us = max(round(when * SECOND), self._elapsed_us)

    def advance_if_idle(self, at_us: int) -> bool:
        loop: Any = self.loop
        if loop._ready or loop._stopping or len(loop._io_fds) > 1:
            return False
        scheduled: list[asyncio.TimerHandle] = loop._scheduled
        target = at_us - self._epoch_us
        if scheduled:
            while scheduled and scheduled[0]._cancelled:
                loop._timer_cancelled_count -= 1
                handle = heapq.heappop(scheduled)
                handle._scheduled = False  # type: ignore[attr-defined]
            if scheduled:
                head = scheduled[0]
                if head is not self._head:
                    self._head = head
                    self._head_us = round(head._when * SECOND)  # type: ignore[attr-defined]
                if self._head_us <= target + 1:
                    return False
        if target > self._elapsed_us:
            self._elapsed_us = target
        return True


class _OldLoop(VirtualEventLoop):
    """A virtual loop on the reference time (the selector jumps through ``virtual_time``)."""

    def __init__(self) -> None:
        super().__init__()
        self._io_fds = self._selector.registered  # type: ignore[attr-defined]
        self.old = _OldTime(self, self.virtual_time.epoch_us)
        self.virtual_time = self.old  # type: ignore[assignment]

    def time(self) -> float:
        return self.old.time()

    def advance_if_idle(self, at_us: int) -> bool:
        return self.old.advance_if_idle(at_us)


def _script(seed: int, loop: VirtualEventLoop) -> list[object]:
    """Seeded operations on ``loop``; what each one saw."""
    rng = random.Random(seed)
    clock = VirtualClock(loop) if not isinstance(loop, _OldLoop) else loop.old
    handles: list[asyncio.TimerHandle] = []
    seen: list[object] = []
    for _ in range(400):
        op = rng.random()
        now = clock.now_us() - loop.virtual_time.epoch_us
        if op < 0.35:
            # a timer at a float time: whole µs, a half µs (round half to even), a hair off
            base = now + rng.choice((0, 1, 2, rng.randrange(1, 10 * SECOND)))
            when = rng.choice((base / SECOND, (base + 0.5) / SECOND, (base + 0.49999) / SECOND,
                               (base - 0.5) / SECOND, base / SECOND + 1e-9))
            handles.append(loop.call_at(when, lambda: None))
        elif op < 0.45 and handles:
            handles.pop(rng.randrange(len(handles))).cancel()
        elif op < 0.5:
            loop.call_soon(lambda: None)
        elif op < 0.8:
            at = clock.now_us() + rng.choice((0, 1, 2, rng.randrange(SECOND), 20 * SECOND))
            seen.append(("advance", loop.advance_if_idle(at)))
        elif op < 0.82:
            loop.stop()  # _stopping until the next turn ends
        else:
            try:
                loop._run_once()  # type: ignore[attr-defined]
                seen.append("turn")
            except WaitingOnNothing:
                seen.append("nothing")
            loop._stopping = False  # type: ignore[attr-defined]
        seen.append((clock.now_us(), loop.time(), len(loop._scheduled),  # type: ignore[attr-defined]
                     loop._timer_cancelled_count))  # type: ignore[attr-defined]
    return seen


@pytest.mark.parametrize("seed", range(12))
def test_the_time_steps_as_the_loop_did(seed: int) -> None:
    new, old = VirtualEventLoop(), _OldLoop()
    try:
        assert _script(seed, new) == _script(seed, old)
    finally:
        new.close()
        old.close()


def test_many_cancelled_timers_replace_the_loops_list() -> None:
    """``_run_once`` swaps ``_scheduled`` for a new list when most handles are cancelled: the
    jump reads the list it has now."""
    loop = VirtualEventLoop()
    try:
        t = loop.virtual_time
        first = loop._scheduled  # type: ignore[attr-defined]
        handles = [loop.call_at(1 + k, lambda: None) for k in range(200)]
        for h in handles[1:]:
            h.cancel()
        loop._run_once()  # type: ignore[attr-defined]
        assert loop._scheduled is not first  # type: ignore[attr-defined]
        assert t.elapsed_us == SECOND  # the jump went to the first timer
        late = loop.call_at(5.0000005, lambda: None)
        assert not t.advance_if_idle(t.now_us() + 4 * SECOND)  # 5.0000005 s: 5 s, to even
        late.cancel()
        assert t.advance_if_idle(t.now_us() + 4 * SECOND)
        assert loop.time() == 5.0
        assert loop._scheduled == []  # type: ignore[attr-defined]
    finally:
        loop.close()


def test_seconds_divides_as_python_does() -> None:
    rng = random.Random(7)
    for us in [0, 1, -1, 2**53 - 1, 2**53, 2**53 + 1, -(2**53), 2**63 + 1, 10**30,
               *(rng.randrange(-(2**70), 2**70) for _ in range(2000))]:
        assert seconds(us) == us / SECOND


def test_the_clock_reads_the_loops_time() -> None:
    loop = VirtualEventLoop()
    try:
        t = loop.virtual_time
        assert isinstance(t, VirtualTime)
        clock = VirtualClock(loop)
        t0 = clock.now_us()
        assert t0 == loop.epoch_us and loop.elapsed_us == 0
        assert t.advance_if_idle(t0 + 1_500_001)
        assert (clock.now_us() - t0, loop.elapsed_us, loop.time()) == (1_500_001, 1_500_001,
                                                                        1.500001)
        assert clock.loop_time(t0 + 3 * SECOND) == 3.0 == t.loop_time(t0 + 3 * SECOND)
        assert loop.advance_if_idle(t0 + SECOND)  # never backwards
        assert clock.now_us() - t0 == 1_500_001
    finally:
        loop.close()
