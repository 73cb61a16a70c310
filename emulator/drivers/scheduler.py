"""One heap of device deadlines behind one event-loop timer.

Cores report deadlines (``get_timer()``); they are not tasks. A fleet of ten thousand devices
would otherwise be ten thousand sleeping tasks (measured here: ~75k wake-ups/s) instead of one
heap (~1.4M/s). Each device owns a :class:`Slot`; setting a slot's deadline pushes a heap entry
and bumps the slot's generation, so superseded entries are skipped when they surface (lazy
deletion: no searching the heap).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

from emulator.drivers.clock import Clock, VirtualEventLoop


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
        self._generation += 1
        self._deadline = deadline
        if deadline is not None:
            self._scheduler._push(deadline, self, self._generation)

    def cancel(self) -> None:
        self.set(None)


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
        # On the virtual loop, deadlines with nothing else in between run back to back.
        self._advance: Callable[[int], bool] | None = (
            self._loop.advance_if_idle if isinstance(self._loop, VirtualEventLoop) else None)
        self.fired = 0  # callbacks run, for benchmarks

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

    def _push(self, deadline: int, slot: Slot, generation: int) -> None:
        heapq.heappush(self._heap, (deadline, next(self._seq), slot, generation))
        if not self._firing and (self._armed_at is None or deadline < self._armed_at):
            self._arm(deadline)

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
        advance = self._advance
        self._firing = True
        try:
            while True:
                while heap and heap[0][0] <= now:
                    _, _, slot, generation = heapq.heappop(heap)
                    if generation != slot._generation:
                        continue  # superseded or cancelled
                    slot._deadline = None
                    self.fired += 1
                    slot._callback(now)
                # Drop stale entries at the head so we do not wake for nothing.
                while heap and heap[0][3] != heap[0][2]._generation:
                    heapq.heappop(heap)
                if not heap or advance is None or not advance(heap[0][0]):
                    break
                now = self._clock.now_us()
        finally:
            self._firing = False
        if heap and self._handle is None:
            self._arm(heap[0][0])

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._heap.clear()
        self._armed_at = None

    def __len__(self) -> int:
        return len(self._heap)
