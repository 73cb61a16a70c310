"""The bare-socket TCP link: bytes both ways, backpressure, a close that flushes, the peer's
close and reset reported once, and connections refused as typed errors."""

from __future__ import annotations

import asyncio
import socket

import pytest

from emulator.drivers.tcp import TcpLinkEnd, tcp_connect, tcp_listen
from emulator.errors import TransportError

pytestmark = pytest.mark.io


async def _pair() -> tuple[TcpLinkEnd, TcpLinkEnd, object]:
    accepted: asyncio.Queue[TcpLinkEnd] = asyncio.Queue()
    server = await tcp_listen("127.0.0.1", 0, accepted.put_nowait)
    port = server.sockets[0].getsockname()[1]
    client = await tcp_connect("127.0.0.1", port)
    peer = await asyncio.wait_for(accepted.get(), 5)
    return client, peer, server


def _collect(link: TcpLinkEnd) -> tuple[bytearray, list[str], asyncio.Event]:
    got = bytearray()
    reasons: list[str] = []
    ended = asyncio.Event()

    def closed(reason: str) -> None:
        reasons.append(reason)
        ended.set()

    link.attach(got.extend, closed)
    return got, reasons, ended


def test_many_megabytes_arrive_whole_and_a_close_flushes_them_first() -> None:
    async def main() -> tuple[int, bytes, list[str], str, str]:
        client, peer, server = await _pair()
        got, reasons, ended = _collect(peer)
        _collect(client)
        local = peer.local_address  # (read while open: which address was dialled)
        blob = bytes(range(256)) * (4 * 4096 * 4)  # 16 MiB: far more than the socket buffers
        client.write(blob[:1000])
        client.write(blob[1000:])  # queued behind what the kernel did not take
        client.close()  # must not cut the queued bytes off
        await asyncio.wait_for(ended.wait(), 30)
        server.close()  # type: ignore[attr-defined]
        return len(got), bytes(got[-256:]), reasons, client.peer_name, local

    n, tail, reasons, name, local = asyncio.run(main())
    assert n == 16 * 1024 * 1024
    assert tail == bytes(range(256))
    assert reasons == ["closed by peer"]
    assert name.startswith("tcp:127.0.0.1:")
    assert local == "127.0.0.1"


def test_bytes_before_attach_are_kept_and_a_reset_is_reported_once() -> None:
    async def main() -> tuple[bytes, list[str], bool]:
        client, peer, server = await _pair()
        client.write(b"early")
        await asyncio.sleep(0.1)  # arrives before anyone attached to the accepted end
        got, reasons, ended = _collect(peer)
        # An abortive close (RST) from the client's side.
        raw = socket.socket(fileno=client._sock.fileno())  # type: ignore[attr-defined]
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        raw.detach()
        client.close()
        await asyncio.wait_for(ended.wait(), 5)
        await asyncio.sleep(0.05)
        peer.write(b"after the end")  # ignored, no second report
        server.close()  # type: ignore[attr-defined]
        return bytes(got), reasons, peer.is_closed

    got, reasons, closed = asyncio.run(main())
    assert got == b"early"
    assert len(reasons) == 1 and reasons[0].startswith("connection lost")
    assert closed


def test_a_local_close_is_reported_to_the_receiver_as_the_transport_did() -> None:
    async def main() -> list[str]:
        client, peer, server = await _pair()
        _, reasons, ended = _collect(client)
        client.close()
        await asyncio.wait_for(ended.wait(), 5)
        peer.close()
        server.close()  # type: ignore[attr-defined]
        return reasons

    assert asyncio.run(main()) == ["closed by peer"]


def test_nobody_listening_is_a_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> None:
        await tcp_connect("127.0.0.1", port)

    with pytest.raises(TransportError, match="cannot connect"):
        asyncio.run(main())
