"""Puts an installation's HAN on a radio: the driver between :class:`emulator.core.han.Han`
(sans-IO, :class:`emulator.core.han.Air`) and a :class:`hw.radio.Radio` (asyncio).

Frames the HAN transmits go to the radio; the radio's verdict (acked or not) comes back into
the HAN's queue at the time it is known; frames the radio hears go in the same way. The radio's
address filter follows the local nodes (the CHF's short address 0x0000, or each local device's
EUI-64 and, once it has joined, its short address). When the radio goes away or comes back,
that is a trace event (``RadioLost`` / ``RadioRestored``) and one line on stderr.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from emulator.core.han import UNASSIGNED_SHORT, Han, TxDone
from emulator.core.trace_sink import Emit
from emulator.installation import Installation
from emulator.wire.eui import eui_from_str
from hw.radio import AddressFilter, Radio, RxFrame, TxStatus


class RadioAir:
    """Implements the HAN's ``Air`` on one radio for one installation."""

    def __init__(self, inst: Installation, radio: Radio, *, emit: Emit,
                 command: str = "s1lab") -> None:
        if inst.han is None:
            raise ValueError("a radio needs the ZigBee HAN (not --han direct)")
        self.inst = inst
        self.han: Han = inst.han
        self.radio = radio
        self._emit = emit
        self._command = command
        self._clock = inst.scheduler_clock
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.received = 0
        self.failed = 0
        self._was_up = False
        radio.on_receive = self._received
        radio.on_state = self._state

    # ---- Air --------------------------------------------------------------------------------

    def transmit(self, frame: bytes, now: int, done: TxDone) -> None:
        self._spawn(self._transmit(frame, done))

    def readdress(self) -> None:
        self._spawn(self.radio.configure(filter=self.address_filter()))

    # ---- the driver ---------------------------------------------------------------------------

    def address_filter(self) -> AddressFilter:
        han = self.han
        nodes = [han.chf if eui == han.chf.name else han.nodes.get(eui) for eui in han.local]
        shorts = {n.short for n in nodes if n is not None and n.short != UNASSIGNED_SHORT}
        extended = {eui_from_str(eui) for eui in han.local}
        chf_here = han.chf.name in han.local
        pending_shorts, pending_euis = han.pending_addresses() if chf_here else (set(), set())
        # As the CHF, the radio sets frame pending only for devices it holds frames for.
        return AddressFilter(pan_id=han.pan_id, shorts=frozenset(shorts),
                             extended=frozenset(extended), src_match=chf_here,
                             pending_shorts=frozenset(pending_shorts),
                             pending_extended=frozenset(pending_euis))

    async def start(self) -> None:
        self.radio.config.filter = self.address_filter()
        self.han.air = self
        await self.radio.open()

    async def stop(self) -> None:
        self.han.air = None
        self.radio.on_state = None  # closing is not losing it
        for task in list(self._tasks):
            task.cancel()
        await self.radio.close()

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _transmit(self, frame: bytes, done: TxDone) -> None:
        status = await self.radio.transmit(frame)
        self.sent += 1
        ok = status is TxStatus.OK
        if not ok:
            self.failed += 1
        self._in_han(lambda at: done(ok, at))

    def _received(self, frame: RxFrame) -> None:
        self.received += 1
        self.han.air_frame(frame.psdu, self._clock.now_us())
        self.inst.sync_timer()

    def _in_han(self, action: Callable[[int], None]) -> None:
        self.han.schedule(self._clock.now_us(), action)
        self.inst.sync_timer()

    def _state(self, up: bool, why: str) -> None:
        now = self._clock.now_us()
        who = self.han.chf.name if self.han.chf.name in self.han.local else "radio"
        self._emit(now, who, "RadioRestored" if up else "RadioLost",
                   {"radio": self.radio.url, "detail": why})
        if up and not self._was_up:
            self._was_up = True
            return  # the first time up is the start, not news
        line = (f"{self._command}: radio {self.radio.url} is back ({why})" if up
                else f"{self._command}: error: radio {self.radio.url} lost: {why}")
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


__all__ = ["RadioAir"]
