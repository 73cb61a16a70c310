"""Captures taken in the drivers: the HAN's 802.15.4 frames and the WAN's TCP byte streams.

:class:`WanCapture` records WAN links as raw IPv4 packets (pcap, ``LINKTYPE_IPV4``): an
in-memory link as a synthesized TCP connection between stable addresses
(:mod:`emulator.capture.tcp_stream`, :mod:`emulator.capture.addresses`), a real TCP connection
as the bytes this process sent and received, between the sockets' own IPv4 addresses. Both are
taken at one end of the link (:meth:`WanCapture.tap` wraps a :class:`LinkEnd`), as a capture on
that host would see them: what it writes when it writes, what arrives when it arrives.

The HAN capture, :class:`HanCapture`, has two outputs, either or both:

* a directory: ``han.pcap`` (classic pcap, ``LINKTYPE_IEEE802_15_4_WITHFCS`` = 195, one record
  per frame including its FCS), ``han-keys.txt`` (the ZigBee keys as Wireshark's
  ``zigbee_pc_keys`` UAT file) and ``README.txt`` (the ``tshark`` command line with the key
  options, and the Wireshark GUI route). The key file and README are written on
  :meth:`HanCapture.flush` and :meth:`HanCapture.close`.
* ``zep_to``: a UDP address that receives each frame as a ZEP v2 packet (what a network
  sniffer sends; Wireshark decodes UDP port 17754 as ZEP). Sequence numbers start at 1 and go
  up by one per frame. Sending never raises: failures are counted in
  :attr:`HanCapture.zep_errors`.

Timestamps are the run's clock, the ``now`` passed with each frame (microseconds since the Unix
epoch); nothing here reads a clock. A run on virtual time therefore shows its virtual dates in
Wireshark, which is what makes a capture line up with the run's trace.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from emulator.capture.addresses import CHF_PORT, chf_address, headend_address
from emulator.capture.tcp_stream import Endpoint, TcpFlow
from emulator.drivers.clock import Clock
from emulator.drivers.link import LinkEnd, OnClosed, OnData
from emulator.drivers.tcp import TcpLinkEnd
from emulator.errors import MalformedFrame
from emulator.outputs import SECRET, write_atomic
from emulator.wire.pcap import (
    LINKTYPE_IEEE802_15_4_WITHFCS,
    LINKTYPE_IPV4,
    PcapWriter,
    tshark_key_args,
    wireshark_key_lines,
    wireshark_keys_text,
)
from emulator.wire.zep import zep_v2

__all__ = ["KEYS_NAME", "PCAP_NAME", "README_NAME", "HanCapture", "TappedLink", "WanCapture"]

PCAP_NAME = "han.pcap"
KEYS_NAME = "han-keys.txt"
README_NAME = "README.txt"


class HanCapture:
    """Record HAN frames to ``directory/han.pcap`` and/or send them as ZEP v2 to ``zep_to``.

    With neither, frames are only counted (and keys remembered for :meth:`tshark_args`)."""

    def __init__(
        self,
        directory: Path | None = None,
        zep_to: tuple[str, int] | None = None,
        channel: int = 11,
    ) -> None:
        if not 0 <= channel <= 255:
            raise ValueError(f"channel {channel} does not fit the ZEP channel byte")
        self.directory = directory
        self.channel = channel
        self.frames = 0
        self.zep_errors = 0
        self._closed = False
        self._zep_seq = 0
        self._network_keys: list[tuple[bytes, str]] = []
        self._link_keys: list[tuple[bytes, str | None, str]] = []
        self._file: BinaryIO | None = None
        self._pcap: PcapWriter | None = None
        self._sock: socket.socket | None = None
        self._zep_addr: tuple[Any, ...] = ()
        try:
            if zep_to is not None:
                host, port = zep_to
                family, _, _, _, addr = socket.getaddrinfo(
                    host, port, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP
                )[0]
                self._sock = socket.socket(family, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
                self._zep_addr = tuple(addr)
            if directory is not None:
                directory.mkdir(parents=True, exist_ok=True)
                self._file = (directory / PCAP_NAME).open("wb")  # noqa: SIM115 - see close()
                self._pcap = PcapWriter(self._file, linktype=LINKTYPE_IEEE802_15_4_WITHFCS)
        except BaseException:
            self._release()
            raise

    # --- frames ------------------------------------------------------------------------------

    def frame(self, data: bytes, now: int, device_id: int = 0) -> None:
        """Record one 802.15.4 frame (FCS included) as it went over the air at ``now`` (µs
        since the Unix epoch, run's clock). ``device_id`` is the ZEP device id (the sender)."""
        if self._closed:
            raise ValueError("HanCapture is closed")
        self.frames += 1
        if self._pcap is not None:
            self._pcap.write(data, now)
        if self._sock is not None:
            self._zep_seq += 1
            try:
                packet = zep_v2(data, self.channel, device_id, self._zep_seq, now)
                self._sock.sendto(packet, self._zep_addr)
            except (OSError, MalformedFrame):
                self.zep_errors += 1

    # --- keys --------------------------------------------------------------------------------

    def add_network_key(self, key: bytes, label: str) -> None:
        """Remember a network key (again with the same key: ignored)."""
        key = bytes(key)
        wireshark_key_lines([key], [])  # raises MalformedFrame unless 16 bytes
        if all(known != key for known, _ in self._network_keys):
            self._network_keys.append((key, label))

    def add_link_key(self, key: bytes, eui: str | None, label: str) -> None:
        """Remember a link key, with the EUI-64 of the device it belongs to when known (again
        with the same key and EUI: ignored)."""
        key = bytes(key)
        wireshark_key_lines([], [(key, eui)])  # raises MalformedFrame unless 16 bytes
        if all((k, e) != (key, eui) for k, e, _ in self._link_keys):
            self._link_keys.append((key, eui, label))

    def _key_lists(self) -> tuple[list[bytes], list[tuple[bytes, str | None]]]:
        return (
            [key for key, _ in self._network_keys],
            [(key, eui) for key, eui, _ in self._link_keys],
        )

    def tshark_args(self) -> list[str]:
        """``-o uat:zigbee_pc_keys:...`` options for tshark, one pair per remembered key."""
        return tshark_key_args(*self._key_lists())

    # --- files -------------------------------------------------------------------------------

    def flush(self) -> None:
        """Flush the pcap and (re)write the key file and README, without closing."""
        if self._closed:
            return
        if self._file is not None:
            self._file.flush()
        self._write_side_files()

    def _write_side_files(self) -> None:
        if self.directory is None:
            return
        network, link = self._key_lists()
        # The HAN keys are secrets: 0600 whatever the umask; both files atomic.
        write_atomic(self.directory / KEYS_NAME, wireshark_keys_text(network, link), mode=SECRET)
        write_atomic(self.directory / README_NAME, self._readme())

    def _readme(self) -> str:
        return self.readme_text()

    def readme_text(self) -> str:
        """The README's text: the files, the tshark command and the keys."""
        network, link = self._key_lists()
        args = self.tshark_args()
        command = shlex.join(["tshark", "-r", PCAP_NAME, *args])
        lines = [
            "HAN capture (s1lab)",
            "",
            f"{PCAP_NAME}: IEEE 802.15.4 frames with FCS (pcap link type 195), as sent on the",
            f"emulated HAN, channel {self.channel}. Timestamps are the run's clock: a run on",
            "virtual time shows its virtual dates.",
            f"{KEYS_NAME}: the ZigBee keys, in Wireshark's zigbee_pc_keys format.",
            "",
            "With tshark (in this directory):",
            "",
            f"    {command} -V",
            "",
            "With Wireshark: Edit > Preferences > Protocols > ZigBee > Pre-configured Keys > Edit,",
            "add each key below (Byte Order: Normal), then open han.pcap. Or copy",
            f"{KEYS_NAME} as 'zigbee_pc_keys' into your Wireshark profile directory",
            "(Help > About Wireshark > Folders > Personal configuration).",
            "",
        ]
        if not network and not link:
            lines.append("No keys were recorded: secured frames stay encrypted.")
        else:
            lines.append("Keys (Wireshark label: key, what it is):")
            uat = wireshark_key_lines(network, link)
            labels = [label for _, label in self._network_keys]
            labels += [label for _, _, label in self._link_keys]
            for record, label in zip(uat, labels, strict=True):
                key_hex, _, wireshark_label = (f.strip('"') for f in record.split(",", 2))
                lines.append(f"    {wireshark_label}: {key_hex}, {label}")
        return "\n".join(lines) + "\n"

    # --- lifetime ----------------------------------------------------------------------------

    def _release(self) -> None:
        if self._pcap is not None:
            self._pcap.close()
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()

    def close(self) -> None:
        """Write the key file and README, close the pcap and the socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._write_side_files()
        finally:
            self._release()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> HanCapture:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ---- WAN ----------------------------------------------------------------------------------------

_EPHEMERAL = 49152


class WanCapture:
    """Record WAN links to a pcap of raw IPv4 packets at ``path`` (``LINKTYPE_IPV4``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.packets = 0
        self.links = 0
        self._ports: dict[tuple[bytes, bytes], int] = {}
        self._file: BinaryIO = path.open("wb")  # noqa: SIM115 - closed in close()
        self._pcap = PcapWriter(self._file, linktype=LINKTYPE_IPV4)
        self._closed = False

    def record(self, packets: list[bytes], now: int) -> None:
        if self._closed:
            return  # a session closing after the capture: nothing more is kept
        write = self._pcap.write
        for packet in packets:
            write(packet, now)
        self.packets += len(packets)

    def _client_port(self, client: bytes, server: bytes) -> int:
        port = self._ports.get((client, server), _EPHEMERAL)
        self._ports[(client, server)] = _EPHEMERAL + (port + 1 - _EPHEMERAL) % 16384
        return port

    def tap(self, link: LinkEnd, clock: Clock, *, local: Endpoint, remote: Endpoint,
            local_is_client: bool) -> TappedLink:
        """``link`` with its traffic recorded as a TCP connection ``local`` <-> ``remote``."""
        self.links += 1
        client, server = (local, remote) if local_is_client else (remote, local)
        return TappedLink(link, self, clock, TcpFlow(client, server), local_is_client)

    def tap_chf(self, link: LinkEnd, clock: Clock, chf_eui: str,
                headend: str = "headend") -> TappedLink:
        """An in-memory link seen at the CHF (the TCP server, ``CHF_PORT``), from ``headend``."""
        chf = chf_address(chf_eui)
        peer = headend_address(headend)
        return self.tap(link, clock, local=Endpoint(chf, CHF_PORT),
                        remote=Endpoint(peer, self._client_port(peer, chf)),
                        local_is_client=False)

    def tap_tcp(self, link: TcpLinkEnd, clock: Clock, *, dialled: bool,
                fallback: tuple[bytes, bytes]) -> TappedLink:
        """A real TCP connection (``dialled``: this side connected), between the socket's
        addresses when they are IPv4, else the ``fallback`` (local, remote) addresses with
        ``CHF_PORT`` for the listening side."""
        sockname, peername = link.addresses
        local, remote = _ipv4_endpoint(sockname), _ipv4_endpoint(peername)
        if local is None or remote is None:
            here, there = fallback
            local = Endpoint(here, _EPHEMERAL if dialled else CHF_PORT)
            remote = Endpoint(there, CHF_PORT if dialled else _EPHEMERAL)
        return self.tap(link, clock, local=local, remote=remote, local_is_client=dialled)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pcap.close()
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._closed


def _ipv4_endpoint(name: object) -> Endpoint | None:
    if not isinstance(name, tuple) or len(name) < 2:
        return None
    try:
        address = ipaddress.ip_address(name[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        address = address.ipv4_mapped or address
    if not isinstance(address, ipaddress.IPv4Address):
        return None
    return Endpoint(address.packed, int(name[1]))


class TappedLink:
    """A :class:`LinkEnd` whose traffic goes into a :class:`WanCapture` on its way through."""

    __slots__ = ("_capture", "_clock", "_flow", "_link", "_local_client")

    def __init__(self, link: LinkEnd, capture: WanCapture, clock: Clock, flow: TcpFlow,
                 local_is_client: bool) -> None:
        self._link = link
        self._capture = capture
        self._clock = clock
        self._flow = flow
        self._local_client = local_is_client
        capture.record(flow.open(), clock.now_us())

    def attach(self, on_data: OnData, on_closed: OnClosed) -> None:
        flow, capture, clock, remote_client = (self._flow, self._capture, self._clock,
                                               not self._local_client)

        def data(chunk: bytes) -> None:
            capture.record(flow.send(remote_client, chunk), clock.now_us())
            on_data(chunk)

        def closed(reason: str) -> None:
            now = clock.now_us()
            if reason == "closed by peer":
                capture.record(flow.close(remote_client), now)
            else:
                capture.record(flow.reset(remote_client), now)
            on_closed(reason)

        self._link.attach(data, closed)

    def write(self, data: bytes) -> None:
        if data and not self._link.is_closed:
            self._capture.record(self._flow.send(self._local_client, data), self._clock.now_us())
        self._link.write(data)

    def close(self) -> None:
        if not self._link.is_closed:
            self._capture.record(self._flow.close(self._local_client), self._clock.now_us())
        self._link.close()

    @property
    def is_closed(self) -> bool:
        return self._link.is_closed

    @property
    def peer_name(self) -> str:
        return self._link.peer_name
