"""One heap of device deadlines behind one event-loop timer.

Cores report deadlines (``get_timer()``); they are not tasks. A fleet of ten thousand devices
would otherwise be ten thousand sleeping tasks (measured here: ~75k wake-ups/s) instead of one
heap (~1.4M/s). Each device owns a :class:`Slot`; setting a slot's deadline pushes a heap entry
and bumps the slot's generation, so superseded entries are skipped when they surface (lazy
deletion: no searching the heap).

The heap has two forms, one order: run as Python it is heapq over ``(deadline, seq, slot,
generation)`` tuples (C sifts, fast in CPython); compiled (scripts/compile_core.py) it is a
list of native :class:`_Entry` objects sifted by this module's own heapq-equivalent functions
(:func:`_entry_push`, :func:`_entry_pop`, :func:`_entry_sift`), which compare (deadline, seq)
as unboxed ints instead of boxing them into tuples and comparing those generically. The
functions mirror heapq's step for step, so both forms hold their entries in the same places,
and fire in the same order: by deadline, ties by seq (arming order; seqs are unique).

A callback that raises breaks the run, never one device: the scheduler stops every timer, keeps
the exception, and :meth:`Scheduler.guard` (which the runs await their work under) ends the
work and raises it: an s1lab error as it is (a full disk while tracing), anything else as a
:class:`~emulator.errors.DeviceCallbackError` naming the time and the cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar, final

from mypy_extensions import i64, mypyc_attr

from emulator.core.timebase import isoformat
from emulator.drivers.clock import Clock, VirtualEventLoop
from emulator.drivers.virtual_time import VirtualTime
from emulator.errors import DeviceCallbackError, S1labError

_T = TypeVar("_T")

#: Is this module compiled (an extension module, not a ``.py`` file)? It picks the heap's
#: form (see the module's docstring), once.
_COMPILED: Final = not __file__.endswith(".py")


@final
class _Entry:
    """One heap entry of the compiled form: a (deadline, seq, slot, generation) tuple's
    fields, held unboxed by mypyc (a native class). mypyc: ``i64`` fields and indices are
    plain C integers (``int`` ones are tagged: a check and a call per operation); a deadline
    is µs since 1970 (2**63 µs is 292,000 years on), a seq or a generation a count."""

    __slots__ = ("deadline", "generation", "seq", "slot")

    def __init__(self, deadline: i64, seq: i64, slot: Slot, generation: i64) -> None:
        self.deadline = deadline
        self.seq = seq
        self.slot = slot
        self.generation = generation


# heapq's sifts over _Entry (Lib/heapq.py's _siftdown and _siftup, whose C twins order the
# tuple form): the same moves, with (deadline, seq) compared as two native ints.

def _entry_sift_down(heap: list[_Entry], startpos: i64, pos: i64) -> None:
    """heapq._siftdown: move the entry at ``pos`` up towards ``startpos`` to its place."""
    entry = heap[pos]
    deadline = entry.deadline
    seq = entry.seq
    while pos > startpos:
        parentpos = (pos - 1) >> 1
        parent = heap[parentpos]
        if deadline < parent.deadline or (deadline == parent.deadline and seq < parent.seq):
            heap[pos] = parent
            pos = parentpos
            continue
        break
    heap[pos] = entry


def _entry_sift_up(heap: list[_Entry], pos: i64) -> None:
    """heapq._siftup: move the smaller child up until a leaf, then the entry that was at
    ``pos`` back up to its place."""
    endpos: i64 = len(heap)
    startpos = pos
    entry = heap[pos]
    childpos = 2 * pos + 1
    while childpos < endpos:
        child = heap[childpos]
        rightpos = childpos + 1
        if rightpos < endpos:
            right = heap[rightpos]
            # not child < right (seqs are unique: never equal)
            if child.deadline > right.deadline or (child.deadline == right.deadline
                                                   and child.seq > right.seq):
                childpos = rightpos
                child = right
        heap[pos] = child
        pos = childpos
        childpos = 2 * pos + 1
    heap[pos] = entry
    _entry_sift_down(heap, startpos, pos)


def _entry_push(heap: list[_Entry], entry: _Entry) -> None:
    """heapq.heappush."""
    heap.append(entry)
    _entry_sift_down(heap, 0, len(heap) - 1)


def _entry_pop(heap: list[_Entry]) -> _Entry:
    """heapq.heappop."""
    last = heap.pop()
    if heap:
        head = heap[0]
        heap[0] = last
        _entry_sift_up(heap, 0)
        return head
    return last


def _entry_sift(heap: list[_Entry]) -> None:
    """The head's (deadline, seq) changed in place: heapq.heapreplace's sift."""
    _entry_sift_up(heap, 0)


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
            seq = scheduler._seq
            scheduler._seq = seq + 1
            # If the head is this slot's, it is stale now (the generation moved on; the usual
            # case: a slot re-armed by its own callback, which _fire leaves at the head):
            # replace it (one sift; the heap holds the same entries as after a pop and a push).
            if _COMPILED:
                entries = scheduler._entries
                if entries and (head := entries[0]).slot is self:
                    # mypyc: the stale head entry is reused (nothing else refers to it)
                    head.deadline = deadline
                    head.seq = seq
                    head.generation = generation
                    _entry_sift(entries)
                else:
                    _entry_push(entries, _Entry(deadline, seq, self, generation))
            else:
                heap = scheduler._heap
                entry = (deadline, seq, self, generation)
                if heap and heap[0][2] is self:
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
        # The heap, in this module's form (the other stays empty; see the module's docstring)
        self._heap: list[tuple[int, int, Slot, int]] = []
        self._entries: list[_Entry] = []
        self._seq = 0  # the next entry's seq (arming order, for ties)
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
        entries = self._entries
        pop = heapq.heappop
        vtime = self._vtime
        fired = self.fired
        self._firing = True
        try:
            while True:
                if _COMPILED:
                    if not entries:
                        break
                    entry = entries[0]
                    deadline = entry.deadline
                    slot = entry.slot
                    generation = entry.generation
                else:
                    if not heap:
                        break
                    deadline, _, slot, generation = heap[0]
                if generation != slot._generation:
                    # superseded or cancelled (dropped at the head: no wake for it)
                    if _COMPILED:
                        _entry_pop(entries)
                    else:
                        pop(heap)
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
        if self._handle is None:
            if entries:
                self._arm(entries[0].deadline)
            elif heap:
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
        self._entries.clear()
        self._armed_at = None

    def __len__(self) -> int:
        return len(self._heap) + len(self._entries)  # one of them is empty
