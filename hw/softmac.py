"""The MAC duties of a radio done in software, for radios on a virtual medium (a ZEP bus).

What an RCP's hardware MAC does, on the real clock: drop frames with a bad FCS or not for us
(unless promiscuous), acknowledge at once the acknowledged frames addressed to us (with the
frame-pending bit for Data Requests from the source-match table), and on transmit wait for the
peer's ack and retry up to ``max_retries`` times. There is no CSMA: a ZEP bus has no channel to
sense, so every transmission gets the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from emulator.errors import MalformedFrame
from emulator.wire.ieee802154 import MacCommand, MacFrameType, build_mac, mac_ack, parse_mac
from hw.radio import AddressFilter, RxFrame, TxStatus

#: How long a sender waits for an ack before retrying. 802.15.4 says 864 µs on air; a ZEP
#: bus over UDP and a pty to a virtual RCP add milliseconds, so the soft MAC waits longer.
ACK_WAIT_S = 0.03
_FRAME_TYPE = 0x07
_ACK_REQUEST = 0x20

SendFn = Callable[[bytes], None]


def wall_us() -> int:
    """The radio's time stamp: the wall clock in µs (radios stamp frames; cores never read it)."""
    return time.time_ns() // 1000


class SoftMac:
    """Address filter, auto-ack and retries over a medium that carries raw PSDUs."""

    def __init__(self, send: SendFn, deliver: Callable[[RxFrame], None]) -> None:
        self._send = send
        self._deliver = deliver
        self.filter = AddressFilter()
        self.channel = 15
        self._waiting: dict[int, asyncio.Future[bool]] = {}
        self.acks_sent = 0
        self.retries = 0
        self.last_ack_pending = False

    def incoming(self, psdu: bytes, channel: int, lqi: int = 255, rssi: int = -40) -> None:
        """A frame arrived from the medium on ``channel``."""
        if channel != self.channel:
            return
        try:
            mac = parse_mac(psdu)
        except MalformedFrame:
            return  # a bad FCS: a radio drops it in hardware
        if mac.frame_type is MacFrameType.ACK:
            waiter = self._waiting.get(mac.seq)
            if waiter is not None and not waiter.done():
                waiter.set_result(mac.frame_pending)
            return
        f = self.filter
        mine = f.for_us(mac.dst_pan, mac.dst_addr)
        pending = False
        if mine and mac.ack_request and not (isinstance(mac.dst_addr, int)
                                             and mac.dst_addr == 0xFFFF):
            pending = (mac.frame_type is MacFrameType.COMMAND
                       and mac.command == MacCommand.DATA_REQUEST and f.pending_for(mac.src_addr))
            self._send(build_mac(mac_ack(mac.seq, frame_pending=pending)))
            self.acks_sent += 1
        if mine or f.promiscuous:
            self._deliver(RxFrame(psdu, channel, rssi, lqi, wall_us(), pending))

    async def transmit(self, psdu: bytes, max_retries: int = 3) -> TxStatus:
        """Send; for a frame asking for an ack, wait for it (retrying) and report NO_ACK."""
        if len(psdu) < 3:
            return TxStatus.FAILURE
        wants_ack = bool(psdu[0] & _ACK_REQUEST) and psdu[0] & _FRAME_TYPE != MacFrameType.ACK
        if not wants_ack:
            self._send(psdu)
            return TxStatus.OK
        seq = psdu[2]
        loop = asyncio.get_running_loop()
        for attempt in range(1 + max_retries):
            waiter: asyncio.Future[bool] = loop.create_future()
            self._waiting[seq] = waiter
            if attempt:
                self.retries += 1
            self._send(psdu)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, ACK_WAIT_S)
            if self._waiting.get(seq) is waiter:
                del self._waiting[seq]
            if waiter.done() and not waiter.cancelled():
                self.last_ack_pending = waiter.result()
                return TxStatus.OK
        return TxStatus.NO_ACK


__all__ = ["ACK_WAIT_S", "SoftMac", "wall_us"]
