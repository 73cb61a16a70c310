"""An in-process medium as a radio (``memory://BUS``): radios of one process on one channel.

Every radio on the same bus name hears every other (delivered on the next loop turn, no
latency, no loss); the MAC duties are the soft MAC's, as on a ZEP bus. It puts the virtual RCP
and s1lab's radio backends under test without sockets, and is the baseline ``bench_rcp``
measures the pty path against.
"""

from __future__ import annotations

import asyncio

from hw.radio import Radio, TxStatus
from hw.softmac import SoftMac

_BUSES: dict[str, list[MemoryRadio]] = {}


class MemoryRadio(Radio):
    def __init__(self, bus: str) -> None:
        super().__init__()
        self.bus = bus
        self.url = f"memory://{bus}"
        self._mac = SoftMac(self._send, self._deliver)
        self._tx_lock = asyncio.Lock()
        self._open = False

    async def open(self) -> None:
        _BUSES.setdefault(self.bus, []).append(self)
        self._open = True
        await self.apply()
        self._state(True, "on the in-process bus")

    async def close(self) -> None:
        members = _BUSES.get(self.bus, [])
        if self in members:
            members.remove(self)
        self._open = False
        self._state(False, "closed")

    async def apply(self) -> None:
        self._mac.filter = self.config.filter
        self._mac.channel = self.config.channel

    async def transmit(self, psdu: bytes, *, max_retries: int = 3, csma: bool = True
                       ) -> TxStatus:
        if not self._open:
            return TxStatus.FAILURE
        async with self._tx_lock:
            status = await self._mac.transmit(psdu, max_retries)
            self.last_ack_pending = self._mac.last_ack_pending
            return status

    def _send(self, psdu: bytes) -> None:
        loop = asyncio.get_running_loop()
        channel = self.config.channel
        for other in _BUSES.get(self.bus, []):
            if other is not self:
                loop.call_soon(other._mac.incoming, psdu, channel)


__all__ = ["MemoryRadio"]
