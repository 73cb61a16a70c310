"""ZEP v2 over UDP as a radio: several processes on one virtual 802.15.4 channel.

Each radio binds a UDP port and sends every frame it puts on the air (data and MAC acks) as a
ZEP v2 packet to each of its peers; it hears whatever ZEP packet reaches its port, from anyone.
Wireshark (or ``tshark -d udp.port==PORT,zep``) decodes the traffic live. The MAC duties are
the soft MAC's (:mod:`hw.softmac`): filter, auto-ack, retries.
"""

from __future__ import annotations

import asyncio
import zlib

from emulator.errors import MalformedFrame, TransportError
from emulator.wire.zep import ZepPacket, parse_zep, zep_v2
from hw.radio import Radio, RxFrame, TxStatus
from hw.softmac import SoftMac, wall_us


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, radio: ZepRadio) -> None:
        self._radio = radio

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._radio._datagram(data)

    def error_received(self, exc: Exception) -> None:
        pass  # a peer not listening (ICMP port unreachable): the air just has nobody there


class ZepRadio(Radio):
    def __init__(self, bind: tuple[str, int], peers: list[tuple[str, int]]) -> None:
        super().__init__()
        self.bind = bind
        self.peers = list(peers)
        self._transport: asyncio.DatagramTransport | None = None
        self._mac = SoftMac(self._send, self._deliver_rx)
        self._seq = 0
        self._device_id = zlib.crc32(repr(bind).encode()) & 0xFFFF
        self._tx_lock = asyncio.Lock()
        self.url = f"zep://{bind[0]}:{bind[1]}"

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); useful when the URL asked for port 0."""
        if self._transport is None:
            return self.bind
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Endpoint(self), local_addr=self.bind)
        except OSError as exc:
            raise TransportError(f"{self.url}: cannot bind UDP {self.bind[0]}:{self.bind[1]}: "
                                 f"{exc.strerror or exc}") from exc
        self._transport = transport
        await self.apply()
        self._state(True, "bound")

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._state(False, "closed")

    async def apply(self) -> None:
        self._mac.filter = self.config.filter
        self._mac.channel = self.config.channel

    async def transmit(self, psdu: bytes, *, max_retries: int = 3, csma: bool = True
                       ) -> TxStatus:
        if self._transport is None:
            return TxStatus.FAILURE
        async with self._tx_lock:  # one frame on the air at a time, as a radio does
            status = await self._mac.transmit(psdu, max_retries)
            self.last_ack_pending = self._mac.last_ack_pending
            return status

    def _send(self, psdu: bytes) -> None:
        if self._transport is None:
            return
        self._seq += 1
        packet = zep_v2(psdu, self.config.channel, self._device_id, self._seq, wall_us())
        for peer in self.peers:
            self._transport.sendto(packet, peer)

    def _datagram(self, data: bytes) -> None:
        try:
            packet = parse_zep(data)
        except MalformedFrame:
            return
        if isinstance(packet, ZepPacket):
            self._mac.incoming(packet.frame, packet.channel, packet.lqi)

    def _deliver_rx(self, frame: RxFrame) -> None:
        self._deliver(frame)


__all__ = ["ZepRadio"]
