"""A serial port on the asyncio loop that notices when it goes away and reopens it.

pyserial opens and configures the port (raw, the baud rate, no flow control); the loop reads
its file descriptor. A read error, end of file or hang-up (a USB dongle unplugged, the far side
of a pty pair closed) closes it and reports ``lost``; it is then tried again every
``REOPEN_S`` until it opens, and reported ``opened``. Writes never block the loop: what the
port does not take at once waits for it to be writable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Callable

import serial  # type: ignore[import-untyped]

REOPEN_S = 0.25
MAX_PENDING = 64 * 1024


class SerialPort:
    def __init__(self, path: str, baudrate: int, on_data: Callable[[bytes], None],
                 on_opened: Callable[[], None], on_lost: Callable[[str], None]) -> None:
        self.path = path
        self.baudrate = baudrate
        self._on_data = on_data
        self._on_opened = on_opened
        self._on_lost = on_lost
        self._serial: serial.Serial | None = None
        self._fd: int | None = None
        self._closing = False
        self._reopen: asyncio.Task[None] | None = None
        self._pending = bytearray()
        self._writer = False
        self.last_error = ""

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def try_open(self) -> bool:
        """Open now if possible (else remember why in ``last_error``)."""
        try:
            port = serial.Serial(self.path, self.baudrate, timeout=0, write_timeout=0,
                                 rtscts=False, xonxoff=False, exclusive=False)
        except (OSError, serial.SerialException, ValueError) as exc:
            reasons = re.findall(r"\[Errno \d+\] ([^:\]]+)", str(exc))
            self.last_error = reasons[-1] if reasons else (str(exc) or type(exc).__name__)
            return False
        self._serial = port
        self._fd = port.fileno()
        asyncio.get_running_loop().add_reader(self._fd, self._readable)
        self._on_opened()
        return True

    async def open(self, *, wait: bool) -> None:
        """Open; with ``wait`` keep trying in the background if it is not there yet."""
        if not self.try_open():
            if not wait:
                from emulator.errors import TransportError

                raise TransportError(f"{self.path}: cannot open serial port: {self.last_error}")
            self._schedule_reopen()

    def write(self, data: bytes) -> bool:
        """Queue ``data``; what the port does not take now goes when it is writable. A peer
        that stops reading for good (more than ``MAX_PENDING`` bytes waiting) loses the port."""
        if self._fd is None:
            return False
        if self._pending:
            self._pending += data
        else:
            self._pending = bytearray(data)
            self._flush()
        if len(self._pending) > MAX_PENDING:
            self._lost(f"the other side stopped reading ({len(self._pending)} bytes waiting)")
            return False
        return self._fd is not None

    def _flush(self) -> None:
        fd = self._fd
        if fd is None:
            return
        while self._pending:
            try:
                n = os.write(fd, self._pending)
            except BlockingIOError:
                break
            except OSError as exc:
                self._lost(exc.strerror or str(exc))
                return
            del self._pending[:n]
        loop = asyncio.get_running_loop()
        if self._pending and not self._writer:
            loop.add_writer(fd, self._flush)
            self._writer = True
        elif not self._pending and self._writer:
            loop.remove_writer(fd)
            self._writer = False

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(exc.strerror or str(exc))
            return
        if not data:
            self._lost("end of file")
            return
        self._on_data(data)

    def _drop(self) -> None:
        if self._fd is not None:
            loop = asyncio.get_running_loop()
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(self._fd)
                if self._writer:
                    loop.remove_writer(self._fd)
            self._fd = None
        self._pending = bytearray()
        self._writer = False
        if self._serial is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                self._serial.close()
            self._serial = None

    def _lost(self, why: str) -> None:
        self._drop()
        if not self._closing:
            self._on_lost(f"{self.path}: {why}")
            self._schedule_reopen()

    def _schedule_reopen(self) -> None:
        if self._reopen is None or self._reopen.done():
            self._reopen = asyncio.ensure_future(self._reopen_loop())

    async def _reopen_loop(self) -> None:
        while not self._closing and self._fd is None:
            await asyncio.sleep(REOPEN_S)
            if not self._closing:
                self.try_open()

    async def close(self) -> None:
        self._closing = True
        if self._reopen is not None:
            self._reopen.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reopen
        self._drop()


__all__ = ["SerialPort"]
