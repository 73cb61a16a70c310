"""Clocks: one interface, a virtual-time asyncio loop for CI and fleets, real time for the bench.

Everything in s1lab reads time through a :class:`Clock`. ``now_us()`` is an int of microseconds
since the Unix epoch. On the virtual clock it starts at a configurable date and jumps; on the real
clock it is the loop's monotonic time anchored to the wall clock once, at start, so it never steps.

The virtual loop is a ``SelectorEventLoop`` whose ``time()`` is an integer count of microseconds.
Each turn it polls real I/O without blocking; if nothing is ready and a timer is armed, time jumps
to that timer; if nothing is ready and no timer is armed, nothing can ever happen again and the run
fails with :class:`~emulator.errors.WaitingOnNothing` instead of hanging.
"""

from __future__ import annotations

import asyncio
import selectors
import time as _time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from emulator.core.timebase import SECOND, from_datetime, to_datetime
from emulator.drivers.virtual_time import VirtualClock, VirtualTime
from emulator.errors import ClockError, WaitingOnNothing

T = TypeVar("T")

#: The default start of virtual wall time: a Monday, so calendar weeks line up with day 0.
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)


class Clock(Protocol):
    """What drivers and the harness read time from."""

    def now_us(self) -> int:
        """Microseconds since the Unix epoch on this run's clock (monotonic within a run)."""
        ...

    def wall(self) -> datetime:
        """The same instant as an aware UTC datetime."""
        ...

    def loop_time(self, at_us: int) -> float:
        """The event loop's ``time()`` value at which ``at_us`` falls (for ``call_at``)."""
        ...


class _VirtualSelector(selectors.BaseSelector):
    """Wraps a real selector: never blocks; advances the owning loop's virtual time instead."""

    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        # The real selector's fd -> key dict (kept, never replaced: close() clears it), so
        # counting what is registered is a C-level len, not the mapping view's Python one.
        self.registered: dict[int, selectors.SelectorKey] = self._real._fd_to_key  # type: ignore[attr-defined]
        self.loop: VirtualEventLoop | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout == 0 and len(self.registered) <= 1:
            # Callbacks are ready and only the loop's own wake-up pipe is registered: nothing
            # to poll (a thread's call_soon_threadsafe is in the ready queue already; the pipe
            # is drained on the next turn that polls).
            return []
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        loop = self.loop
        assert loop is not None
        if timeout is None:
            raise WaitingOnNothing(
                "virtual-time run is waiting on nothing: no callback is ready, no timer is "
                "armed and no I/O is pending, so it would wait forever"
            )
        loop.virtual_time.jump_to_next_timer(timeout)
        return []


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose time jumps to the next timer when nothing is ready.

    Its time and the steps taken on every device deadline live in :attr:`virtual_time`
    (:mod:`emulator.drivers.virtual_time`, compiled in a build: this class, a subclass of
    asyncio's loop, cannot be)."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        # What is registered goes as the real selector's own dict: its ``get_map()`` view's
        # ``len`` is a Python-level call, and the scheduler asks on every back-to-back jump.
        self.virtual_time = VirtualTime(self, self._ready,  # type: ignore[attr-defined]
                                        selector.registered, from_datetime(start))
        self._clock_resolution = 1e-6

    def time(self) -> float:
        return self.virtual_time.time()

    @property
    def elapsed_us(self) -> int:
        return self.virtual_time.elapsed_us

    @property
    def epoch_us(self) -> int:
        return self.virtual_time.epoch_us

    def advance_if_idle(self, at_us: int) -> bool:
        """Jump the clock to ``at_us`` now if the loop would do nothing else before it (see
        :meth:`~emulator.drivers.virtual_time.VirtualTime.advance_if_idle`, which the
        scheduler calls directly)."""
        return self.virtual_time.advance_if_idle(at_us)


class RealClock:
    """Real time: the loop's monotonic clock, anchored to the machine's wall clock once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # The one place in s1lab that reads the machine's wall clock.
        wall_us = _time.time_ns() // 1_000
        self._offset_us = wall_us - round(loop.time() * SECOND)

    def now_us(self) -> int:
        return self._offset_us + round(self._loop.time() * SECOND)

    def wall(self) -> datetime:
        return to_datetime(self.now_us())

    def loop_time(self, at_us: int) -> float:
        return (at_us - self._offset_us) / SECOND


def clock_for(loop: asyncio.AbstractEventLoop) -> Clock:
    """The clock that goes with ``loop``: virtual for a :class:`VirtualEventLoop`, else real."""
    if isinstance(loop, VirtualEventLoop):
        return VirtualClock(loop)
    return RealClock(loop)


def current_clock() -> Clock:
    """The clock of the running loop (call from inside a coroutine or callback)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError as exc:
        raise ClockError(
            "no running event loop: start one with run_virtual() or asyncio.run()"
        ) from exc
    clock = getattr(loop, "_s1lab_clock", None)
    if clock is None:
        clock = clock_for(loop)
        loop._s1lab_clock = clock  # type: ignore[attr-defined]
    return clock


def run_virtual(main: Coroutine[Any, Any, T], start: datetime = DEFAULT_START) -> T:
    """Run ``main`` to completion on a fresh virtual-time loop starting at ``start``."""
    with asyncio.Runner(loop_factory=lambda: VirtualEventLoop(start)) as runner:
        return runner.run(main)


async def sleep_until(at_us: int) -> None:
    """Sleep until the run's clock reads ``at_us`` (works on both clocks)."""
    clock = current_clock()
    delay = (at_us - clock.now_us()) / SECOND
    if delay > 0:
        await asyncio.sleep(delay)


async def sleep_us(duration_us: int) -> None:
    """Sleep for ``duration_us`` microseconds of the run's clock (``asyncio.sleep`` takes
    seconds; s1lab's constants are microseconds, so use this with ``DAY``, ``HOUR``...)."""
    await sleep_until(current_clock().now_us() + duration_us)


def call_at_us(at_us: int, callback: Callable[[], object]) -> asyncio.TimerHandle:
    """Arm ``callback`` at run time ``at_us`` on the running loop."""
    loop = asyncio.get_running_loop()
    return loop.call_at(current_clock().loop_time(at_us), callback)


__all__ = [
    "DEFAULT_START",
    "Awaitable",
    "Clock",
    "RealClock",
    "VirtualClock",
    "VirtualEventLoop",
    "call_at_us",
    "clock_for",
    "current_clock",
    "run_virtual",
    "sleep_until",
    "sleep_us",
]
