"""The virtual loop's time and its per-fire steps, in a module mypyc can compile.

:class:`~emulator.drivers.clock.VirtualEventLoop` subclasses asyncio's loop, so it stays
Python; what a fleet runs on every device deadline does not have to. A :class:`VirtualTime`
holds the run's time (the epoch and the virtual microseconds since it) and does the steps the
scheduler and the clock take per fire: reading the time, and jumping it to the next device
deadline when the loop would do nothing else before it (:meth:`VirtualTime.advance_if_idle`).
It reads the loop's own state as plain attributes, as asyncio's ``_run_once`` does: the ready
deque (created once, never replaced), ``_stopping``, ``_scheduled`` (read on every call:
``_run_once`` replaces that list when many of its handles are cancelled) and the real
selector's fd map (cleared on close, never replaced).

:class:`VirtualClock`, the :class:`~emulator.drivers.clock.Clock` of a virtual loop, reads it.
"""

from __future__ import annotations

import heapq
import operator
from collections import deque
from datetime import datetime
from typing import Any, Final, Protocol

from emulator.core.timebase import SECOND, to_datetime

#: Microseconds up to which ``us / SECOND`` is one exact int-to-float conversion and one
#: division (2**53, 285 years): Python's own fast path, and mypyc's for every int it holds.
_EXACT: Final = 1 << 53


def seconds(us: int) -> float:
    """``us / SECOND`` exactly as Python divides (correctly rounded at any size)."""
    if -_EXACT < us < _EXACT:
        return us / SECOND
    return float(operator.truediv(us, SECOND))  # Python's division, not one rounded twice


class VirtualTime:
    """A virtual loop's time: ``epoch_us`` + ``elapsed_us`` is now, in µs since the epoch."""

    def __init__(self, loop: Any, ready: deque[Any], io_fds: dict[int, Any],
                 epoch_us: int) -> None:
        self.epoch_us = epoch_us
        self.elapsed_us = 0  # virtual microseconds since start; loop.time() = this / 1e6
        self._loop = loop
        self._ready = ready  # the loop's ready deque
        self._io_fds = io_fds  # what is registered with the real selector (its own dict)
        # advance_if_idle's memo of the loop's next timer (a handle's time never changes)
        self._head: object = None
        self._head_us = 0

    def now_us(self) -> int:
        return self.epoch_us + self.elapsed_us

    def time(self) -> float:
        """The loop's ``time()``: seconds since start."""
        return seconds(self.elapsed_us)

    def loop_time(self, at_us: int) -> float:
        """The loop's ``time()`` value at which ``at_us`` (µs since the epoch) falls."""
        return seconds(at_us - self.epoch_us)

    def jump_to_next_timer(self, timeout: float) -> None:
        """Nothing is ready and no I/O is pending: time jumps to the loop's next timer (else
        ``timeout`` seconds on)."""
        scheduled: list[Any] = self._loop._scheduled
        when: Any = scheduled[0].when() if scheduled else self.time() + timeout
        # Nearest microsecond: with a clock resolution of 1 µs asyncio treats a handle due
        # within half a microsecond as ready, so rounding down never stalls and rounding up
        # never accumulates float error into the virtual time.
        self.elapsed_us = max(round(when * SECOND), self.elapsed_us)

    def advance_if_idle(self, at_us: int) -> bool:
        """Jump the clock to ``at_us`` now if the loop would do nothing else before it.

        True when no callback is ready, no real file descriptor (beyond the loop's own wake-up
        pipe) is registered, and no timer falls at or before ``at_us``: exactly the turns the
        loop would spend jumping to a timer armed at ``at_us``. The scheduler uses this to run
        device deadlines back to back without a loop turn each (a large share of fleet time).
        """
        if self._ready or len(self._io_fds) > 1:
            return False  # a callback is ready, or real I/O could be pending: the ordinary path
        loop = self._loop
        if loop._stopping:
            return False
        scheduled: list[Any] = loop._scheduled  # read each time: _run_once may replace it
        target = at_us - self.epoch_us
        if scheduled:
            while scheduled and scheduled[0]._cancelled:  # as the loop drops them
                loop._timer_cancelled_count -= 1
                handle = heapq.heappop(scheduled)
                handle._scheduled = False
            if scheduled:
                head = scheduled[0]
                if head is not self._head:  # the loop's next timer, in µs, worked out once
                    self._head = head
                    self._head_us = round(head._when * SECOND)
                # A timer within a microsecond of ``at_us`` may be due with it: let the loop
                # order them.
                if self._head_us <= target + 1:
                    return False
        if target > self.elapsed_us:
            self.elapsed_us = target
        return True


class HasVirtualTime(Protocol):
    """A loop that keeps a :class:`VirtualTime` (the virtual loop)."""

    @property
    def virtual_time(self) -> VirtualTime: ...


class VirtualClock:
    """The clock of a :class:`~emulator.drivers.clock.VirtualEventLoop`."""

    def __init__(self, loop: HasVirtualTime) -> None:
        self._time: VirtualTime = loop.virtual_time

    def now_us(self) -> int:
        return self._time.now_us()

    def wall(self) -> datetime:
        return to_datetime(self._time.now_us())

    def loop_time(self, at_us: int) -> float:
        return self._time.loop_time(at_us)


__all__ = ["HasVirtualTime", "VirtualClock", "VirtualTime", "seconds"]
