"""Capture files Wireshark opens: classic libpcap, and the key file its ZigBee dissector reads.

Timestamps come from the caller (microseconds since the Unix epoch on the run's clock); this
module never reads a clock.

* :class:`PcapWriter` writes classic pcap (magic 0xA1B2C3D4, microsecond timestamps,
  little-endian), by default with ``LINKTYPE_IEEE802_15_4_WITHFCS`` (195): each record is one
  802.15.4 frame including its FCS. ``LINKTYPE_RAW`` (101) records are IPv4 packets, for ZEP
  over UDP (see :func:`ipv4_udp`); ``LINKTYPE_IPV4`` (228) records are IPv4 packets only,
  what the WAN capture writes.
* :func:`write_wireshark_keys` writes the ``zigbee_pc_keys`` UAT file (Wireshark profile
  directory) and :func:`tshark_key_args` the equivalent ``-o uat:zigbee_pc_keys:...`` options.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from emulator.errors import MalformedFrame

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IEEE802_15_4_WITHFCS",
    "LINKTYPE_IPV4",
    "LINKTYPE_RAW",
    "PcapWriter",
    "ipv4_udp",
    "tshark_key_args",
    "wireshark_key_lines",
    "write_wireshark_keys",
]

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_IEEE802_15_4_WITHFCS = 195
LINKTYPE_IPV4 = 228

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


class PcapWriter:
    """Append frames to a pcap file or binary stream. A path is opened (and closed) by us; a
    stream passed in is only flushed on :meth:`close`."""

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO,
        *,
        linktype: int = LINKTYPE_IEEE802_15_4_WITHFCS,
        snaplen: int = 65535,
    ) -> None:
        if isinstance(target, str | os.PathLike):
            self._stream: BinaryIO = Path(target).open("wb")  # noqa: SIM115 - closed in close()
            self._owned = True
        else:
            self._stream = target
            self._owned = False
        self._snaplen = snaplen
        self._closed = False
        self._stream.write(_GLOBAL.pack(0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))

    def write(self, frame: bytes, timestamp_us: int) -> None:
        if self._closed:
            raise ValueError("PcapWriter is closed")
        if timestamp_us < 0:
            raise MalformedFrame("pcap timestamps start at the Unix epoch", "timestamp_us")
        seconds, micros = divmod(timestamp_us, 1_000_000)
        captured = frame[: self._snaplen]
        self._stream.write(_RECORD.pack(seconds, micros, len(captured), len(frame)))
        self._stream.write(captured)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stream.flush()
        if self._owned:
            self._stream.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _ip_checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_udp(
    payload: bytes,
    *,
    src: bytes = bytes((127, 0, 0, 1)),
    dst: bytes = bytes((127, 0, 0, 1)),
    src_port: int = 17754,
    dst_port: int = 17754,
    ident: int = 0,
) -> bytes:
    """An IPv4/UDP packet around ``payload`` (UDP checksum 0: not computed, legal on IPv4)."""
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0x4000, 64, 17, 0, src, dst
    )
    header = header[:10] + _ip_checksum(header).to_bytes(2, "big") + header[12:]
    return header + udp


def _label(text: str) -> str:
    return text.replace('"', "'").replace("\\", "/")


def wireshark_key_lines(
    network_keys: list[bytes], link_keys: list[tuple[bytes, str | None]]
) -> list[str]:
    """One ``zigbee_pc_keys`` UAT record per key: ``"KEYHEX","Normal","label"``."""
    lines = []
    for i, key in enumerate(network_keys):
        lines.append(_record(key, f"network key {i}"))
    for key, eui in link_keys:
        lines.append(_record(key, f"link key {eui}" if eui else "link key"))
    return lines


def _record(key: bytes, label: str) -> str:
    if len(key) != 16:
        raise MalformedFrame(f"a ZigBee key is 16 bytes, got {len(key)}", "key")
    return f'"{key.hex().upper()}","Normal","{_label(label)}"'


def write_wireshark_keys(
    path: str | os.PathLike[str],
    network_keys: list[bytes],
    link_keys: list[tuple[bytes, str | None]],
) -> None:
    """Write the ``zigbee_pc_keys`` file (put it in a Wireshark profile directory)."""
    Path(path).write_text(wireshark_keys_text(network_keys, link_keys), encoding="utf-8")


def wireshark_keys_text(network_keys: list[bytes],
                        link_keys: list[tuple[bytes, str | None]]) -> str:
    """The text of a ``zigbee_pc_keys`` file."""
    text = "# This file is automatically generated, DO NOT MODIFY.\n"
    return text + "".join(line + "\n" for line in wireshark_key_lines(network_keys, link_keys))


def tshark_key_args(
    network_keys: list[bytes], link_keys: list[tuple[bytes, str | None]]
) -> list[str]:
    """``["-o", "uat:zigbee_pc_keys:<record>", ...]`` for tshark, one pair per key."""
    args: list[str] = []
    for line in wireshark_key_lines(network_keys, link_keys):
        args += ["-o", f"uat:zigbee_pc_keys:{line}"]
    return args
