"""One heap of device deadlines behind one event-loop timer.

Cores report deadlines (``get_timer()``); they are not tasks. A fleet of ten thousand devices
would otherwise be ten thousand sleeping tasks (measured here: ~75k wake-ups/s) instead of one
heap (~1.4M/s). Each device owns a :class:`Slot`; setting a slot's deadline pushes a heap entry
and bumps the slot's generation, so superseded entries are skipped when they surface (lazy
deletion: no searching the heap).

A callback that raises breaks the run, never one device: the scheduler stops every timer, keeps
the exception, and :meth:`Scheduler.guard` (which the runs await their work under) ends the
work and raises it: an s1lab error as it is (a full disk while tracing), anything else as a
:class:`~emulator.errors.DeviceCallbackError` naming the time and the cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mypy_extensions import mypyc_attr

from emulator.core.timebase import isoformat
from emulator.drivers.clock import Clock, VirtualEventLoop
from emulator.drivers.virtual_time import VirtualTime
from emulator.errors import DeviceCallbackError, S1labError

_T = TypeVar("_T")


class Slot:
    """One device's single pending deadline."""

    __slots__ = ("_callback", "_deadline", "_generation", "_scheduler")

    def __init__(self, scheduler: Scheduler, callback: Callable[[int], None]) -> None:
        self._scheduler = scheduler
        self._callback = callback
        self._generation = 0
        self._deadline: int | None = None

    @property
    def deadline(self) -> int | None:
        return self._deadline

    def set(self, deadline: int | None) -> None:
        """Arm at ``deadline`` (µs, run clock), replacing any earlier setting; None disarms."""
        if deadline == self._deadline:
            return
        generation = self._generation = self._generation + 1
        self._deadline = deadline
        if deadline is not None:
            # push; arm the loop's timer unless firing (a fleet re-arms a slot on every fire)
            scheduler = self._scheduler
            heap = scheduler._heap
            entry = (deadline, next(scheduler._seq), self, generation)
            if heap and heap[0][2] is self:
                # The head is this slot's, stale now (the generation moved on; the usual case: a
                # slot re-armed by its own callback, which _fire leaves at the head): replace it
                # (one sift; the heap holds the same entries as after a pop and a push)
                heapq.heapreplace(heap, entry)
            else:
                heapq.heappush(heap, entry)
            if not scheduler._firing and (scheduler._armed_at is None
                                          or deadline < scheduler._armed_at):
                scheduler._arm(deadline)

    def cancel(self) -> None:
        self.set(None)


# Compiled (scripts/compile_core.py), it may still be subclassed from Python (a benchmark
# times its slots' callbacks so).
@mypyc_attr(allow_interpreted_subclasses=True)
class Scheduler:
    """Runs device callbacks at their deadlines, in deadline order, ties in arming order."""

    def __init__(self, clock: Clock, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._clock = clock
        self._loop = loop or asyncio.get_running_loop()
        self._heap: list[tuple[int, int, Slot, int]] = []
        self._seq = itertools.count()
        self._armed_at: int | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._firing = False  # inside _fire: arm once at the end, not on every push
        # On the virtual loop, deadlines with nothing else in between run back to back (its
        # time's own advance_if_idle: a native call in a build).
        self._vtime: VirtualTime | None = (
            self._loop.virtual_time if isinstance(self._loop, VirtualEventLoop) else None)
        self.fired = 0  # callbacks run, for benchmarks
        self.failure: S1labError | None = None  # set when a callback raised: the run is over
        self._broken: asyncio.Future[None] = self._loop.create_future()

    @property
    def clock(self) -> Clock:
        return self._clock

    def slot(self, callback: Callable[[int], None]) -> Slot:
        """A new slot whose callback receives ``now`` when its deadline comes."""
        return Slot(self, callback)

    def call_at(self, deadline: int, callback: Callable[[int], None]) -> Slot:
        """One-shot convenience: a fresh slot armed at ``deadline``."""
        slot = Slot(self, callback)
        slot.set(deadline)
        return slot

    def _arm(self, deadline: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = deadline
        self._handle = self._loop.call_at(self._clock.loop_time(deadline), self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = None
        now = self._clock.now_us()
        heap = self._heap
        pop = heapq.heappop
        vtime = self._vtime
        fired = self.fired
        self._firing = True
        try:
            while heap:
                deadline, _, slot, generation = heap[0]
                if generation != slot._generation:
                    pop(heap)  # superseded or cancelled (dropped at the head: no wake for it)
                    continue
                if deadline > now:
                    if vtime is None or not vtime.advance_if_idle(deadline):
                        break
                    now = deadline  # the clock jumped there: every earlier entry has run
                # Left at the head, stale (the slot's next set replaces it, else it is popped
                # as it surfaces).
                slot._generation = generation + 1
                slot._deadline = None
                fired += 1
                try:
                    slot._callback(now)
                except Exception as exc:  # noqa: BLE001 - the run fails, not one device's
                    self._fail(exc, now)
                    return
        finally:
            self._firing = False
            self.fired = fired  # counted locally: read by benchmarks, between fires
        if heap and self._handle is None:
            self._arm(heap[0][0])

    def _fail(self, exc: Exception, now: int) -> None:
        failure = (exc if isinstance(exc, S1labError) else DeviceCallbackError(
            f"a device callback failed at {isoformat(now)}: {type(exc).__name__}: {exc}"))
        self.failure = failure
        self.close()
        if not self._broken.done():
            self._broken.set_exception(failure)
            self._broken.exception()  # retrieved here: guard() raises it, not the loop's logger

    async def guard(self, work: Awaitable[_T]) -> _T:
        """Await ``work``; if a device callback fails first, cancel it and raise the failure."""
        task = asyncio.ensure_future(work)
        waiters: set[asyncio.Future[Any]] = {task, self._broken}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if self.failure is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.failure is not None:
            raise self.failure
        return task.result()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._heap.clear()
        self._armed_at = None

    def __len__(self) -> int:
        return len(self._heap)
