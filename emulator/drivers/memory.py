"""An in-memory duplex byte link with one-way latency, driven by the scheduler.

Bytes written at ``now`` arrive at the peer at ``now + latency``, in order. There is no task and
no loop timer per link: each direction is a queue with one scheduler slot. ``set_down`` models a
WAN outage: the link closes both ends (TCP would time out the same way).
"""

from __future__ import annotations

from collections import deque

from emulator.drivers.link import OnClosed, OnData
from emulator.drivers.scheduler import Scheduler, Slot


def _drop_data(data: bytes) -> None:
    pass


def _drop_close(reason: str) -> None:
    pass


class MemoryLinkEnd:
    __slots__ = (
        "_clock",
        "_closed",
        "_latency",
        "_name",
        "_on_closed",
        "_on_data",
        "_peer",
        "_queue",
        "_scheduler",
        "_slot",
    )

    def __init__(self, scheduler: Scheduler, latency_us: int, name: str) -> None:
        self._scheduler = scheduler
        self._clock = scheduler.clock
        self._latency = latency_us
        self._name = name
        self._on_data: OnData = _drop_data
        self._on_closed: OnClosed = _drop_close
        self._peer: MemoryLinkEnd | None = None
        # Outgoing items: (deliver_at, data) where data None means "close".
        self._queue: deque[tuple[int, bytes | None]] = deque()
        self._slot: Slot = scheduler.slot(self._deliver)
        self._closed = False

    def attach(self, on_data: OnData, on_closed: OnClosed) -> None:
        self._on_data = on_data
        self._on_closed = on_closed

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def peer_name(self) -> str:
        return f"memory:{self._name}"

    def write(self, data: bytes) -> None:
        if self._closed or not data:
            return
        self._enqueue(data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._enqueue(None)

    def _enqueue(self, item: bytes | None) -> None:
        at = self._clock.now_us() + self._latency
        self._queue.append((at, item))
        slot = self._slot
        if slot._deadline is None:  # noqa: SLF001 - Slot.deadline, without the property call
            slot.set(at)

    def _deliver(self, now: int) -> None:
        peer = self._peer
        queue = self._queue
        while queue and queue[0][0] <= now:
            _, item = queue.popleft()
            if peer is None or peer._closed and item is not None:
                continue
            if item is None:
                peer._closed = True
                peer._queue.clear()
                peer._slot.cancel()
                peer._on_closed("closed by peer")
                queue.clear()
                return
            peer._on_data(item)
        if queue:
            self._slot.set(queue[0][0])

    def _drop(self, reason: str) -> None:
        self._queue.clear()
        self._slot.cancel()
        if not self._closed:
            self._closed = True
            self._on_closed(reason)


class MemoryLink:
    """A pair of connected ends: ``a`` (the dialling side) and ``b``."""

    def __init__(self, scheduler: Scheduler, latency_us: int, name: str = "link") -> None:
        self.a = MemoryLinkEnd(scheduler, latency_us, f"{name}/a")
        self.b = MemoryLinkEnd(scheduler, latency_us, f"{name}/b")
        self.a._peer = self.b
        self.b._peer = self.a

    def set_down(self, reason: str = "link down") -> None:
        """Break the link now: both ends see it closed, in-flight bytes are lost."""
        self.a._drop(reason)
        self.b._drop(reason)
