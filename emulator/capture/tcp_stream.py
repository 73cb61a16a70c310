"""TCP/IPv4 packets for a byte stream that never touched a real network (sans-IO).

In-memory WAN links carry TLS bytes with no TCP underneath. For Wireshark to follow them, and to
reassemble TLS records across segments, each link is written as a TCP connection: a three-way
open, data segmented at the MSS with sequence and acknowledgement numbers that add up, and a
FIN (or RST) close. Checksums are computed, so Wireshark's checksum validation passes too.

The caller owns time: every method returns the packets (raw IPv4) and the caller stamps them.
Initial sequence numbers come from the flow's addresses, so a run repeated with the same seed
gives the same capture.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

__all__ = ["MSS", "Endpoint", "TcpFlow", "ipv4_tcp"]

MSS = 1460  # Ethernet MTU 1500 minus IPv4 and TCP headers
_FIN, _SYN, _RST, _PSH, _ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_WINDOW = 64240
_TTL = 64
_PROTO_TCP = 6
_IP = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_MSS_OPTION = struct.pack("!BBH", 2, 4, MSS)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An IPv4 address (4 bytes) and a TCP port."""

    address: bytes
    port: int


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _sum16(data: bytes) -> int:
    if len(data) & 1:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def ipv4_tcp(src: Endpoint, dst: Endpoint, seq: int, ack: int, flags: int, payload: bytes,
             ident: int, options: bytes = b"") -> bytes:
    """One IPv4 packet carrying one TCP segment, both checksums filled in."""
    offset = (20 + len(options)) // 4
    tcp = _TCP.pack(src.port, dst.port, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4,
                    flags, _WINDOW, 0, 0) + options
    pseudo = src.address + dst.address + struct.pack("!BBH", 0, _PROTO_TCP,
                                                     len(tcp) + len(payload))
    checksum = ~_fold(_sum16(pseudo + tcp) + _sum16(payload)) & 0xFFFF
    tcp = tcp[:16] + checksum.to_bytes(2, "big") + tcp[18:]
    header = _IP.pack(0x45, 0, 20 + len(tcp) + len(payload), ident & 0xFFFF, 0x4000, _TTL,
                      _PROTO_TCP, 0, src.address, dst.address)
    ip_sum = ~_fold(_sum16(header)) & 0xFFFF
    return header[:10] + ip_sum.to_bytes(2, "big") + header[12:] + tcp + payload


class _Side:
    __slots__ = ("end", "ident", "next_seq")

    def __init__(self, end: Endpoint, isn: int) -> None:
        self.end = end
        self.next_seq = isn
        self.ident = isn & 0xFFFF


class TcpFlow:
    """One TCP connection between ``client`` and ``server``, as packets.

    ``client_sends`` says which way each call goes. Acknowledgements are what the sender has
    seen of the other side so far, as a host capturing its own traffic would record them."""

    __slots__ = ("_c", "_s", "closed", "mss")

    def __init__(self, client: Endpoint, server: Endpoint, mss: int = MSS) -> None:
        key = client.address + server.address + struct.pack("!HH", client.port, server.port)
        self._c = _Side(client, zlib.crc32(key, 0x5331))
        self._s = _Side(server, zlib.crc32(key, 0x1353))
        self.mss = mss
        self.closed = False

    def _packet(self, sender: _Side, receiver: _Side, flags: int, payload: bytes = b"",
                options: bytes = b"") -> bytes:
        sender.ident += 1
        ack = receiver.next_seq if flags & _ACK else 0
        packet = ipv4_tcp(sender.end, receiver.end, sender.next_seq, ack, flags, payload,
                          sender.ident, options)
        sender.next_seq += len(payload) + (1 if flags & (_SYN | _FIN) else 0)
        return packet

    def open(self) -> list[bytes]:
        """SYN, SYN-ACK, ACK (both sides announce the MSS)."""
        c, s = self._c, self._s
        return [self._packet(c, s, _SYN, options=_MSS_OPTION),
                self._packet(s, c, _SYN | _ACK, options=_MSS_OPTION),
                self._packet(c, s, _ACK)]

    def send(self, client_sends: bool, data: bytes) -> list[bytes]:
        """Segments of at most ``mss`` bytes; the last one has PSH set."""
        if self.closed or not data:
            return []
        a, b = (self._c, self._s) if client_sends else (self._s, self._c)
        mss = self.mss
        packets = []
        for i in range(0, len(data), mss):
            chunk = data[i:i + mss]
            last = i + mss >= len(data)
            packets.append(self._packet(a, b, _ACK | (_PSH if last else 0), chunk))
        return packets

    def close(self, client_closes: bool) -> list[bytes]:
        """The closer's FIN, the peer's FIN, the closer's last ACK."""
        if self.closed:
            return []
        self.closed = True
        a, b = (self._c, self._s) if client_closes else (self._s, self._c)
        return [self._packet(a, b, _FIN | _ACK), self._packet(b, a, _FIN | _ACK),
                self._packet(a, b, _ACK)]

    def reset(self, client_resets: bool) -> list[bytes]:
        """A connection torn down without a goodbye (a link that went down)."""
        if self.closed:
            return []
        self.closed = True
        a, b = (self._c, self._s) if client_resets else (self._s, self._c)
        return [self._packet(a, b, _RST | _ACK)]
