"""The reconnecting serial port on a real pty: a stalled reader never blocks the loop."""

from __future__ import annotations

import asyncio
import os

import pytest

from emulator.errors import TransportError
from hw.serial_port import MAX_PENDING, SerialPort

pytestmark = pytest.mark.io


@pytest.mark.asyncio
async def test_a_peer_that_stops_reading_loses_the_port_without_blocking() -> None:
    master, slave = os.openpty()
    lost: list[str] = []
    port = SerialPort(os.ttyname(slave), 460800, lambda data: None, lambda: None, lost.append)
    try:
        await port.open(wait=False)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.ensure_future(ticker())
        chunk = b"\x7e" + bytes(1000) + b"\x7e"
        for _ in range(2 * MAX_PENDING // len(chunk)):
            if not port.write(chunk):
                break
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        task.cancel()
        assert lost and "stopped reading" in lost[0]
        assert ticks > 5  # the loop kept running while the pty was full
        assert not port.is_open
    finally:
        await port.close()
        os.close(master)
        os.close(slave)


@pytest.mark.asyncio
async def test_data_written_arrives_and_a_missing_port_is_an_error() -> None:
    master, slave = os.openpty()
    got: list[bytes] = []
    port = SerialPort(os.ttyname(slave), 460800, got.append, lambda: None, lambda why: None)
    try:
        await port.open(wait=False)
        assert port.write(b"\x7ehello\x7e")
        assert os.read(master, 100) == b"\x7ehello\x7e"
        os.write(master, b"\x7eback\x7e")
        for _ in range(50):
            if got:
                break
            await asyncio.sleep(0.01)
        assert b"".join(got) == b"\x7eback\x7e"
    finally:
        await port.close()
        os.close(master)
        os.close(slave)
    with pytest.raises(TransportError, match="cannot open serial port"):
        await SerialPort("/dev/nonexistent-tty", 460800, got.append, lambda: None,
                         lambda why: None).open(wait=False)
