"""``s1lab headend read``: connect to a CHF as a head-end role and read it, in real time."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from emulator import current_clock
from emulator.capture.addresses import headend_address
from emulator.core.timebase import isoformat
from emulator.drivers.capture import WanCapture
from emulator.drivers.link import LinkEnd
from emulator.drivers.tcp import TcpLinkEnd, tcp_connect, tcp_listen
from emulator.errors import RemoteProtocolError, TransportError
from emulator.pki import PkiFolder
from emulator.wire.eui import eui_to_str
from emulator.wire.vocabulary import DeviceType, ErrorCode
from harness.headend import HeadEndSession, connect, headend_from_pki
from harness.jsonable import jsonable


async def _accept_one(host: str, port: int, timeout_s: float) -> TcpLinkEnd:
    """Wait for one CHF to dial in (``serve --connect``)."""
    got: asyncio.Future[TcpLinkEnd] = asyncio.get_running_loop().create_future()
    def on_link(end: TcpLinkEnd) -> None:
        if not got.done():
            got.set_result(end)

    server = await tcp_listen(host, port, on_link)
    try:
        return await asyncio.wait_for(got, timeout_s)
    except TimeoutError:
        raise TransportError(f"no CHF dialled {host}:{port} within {timeout_s:g} s") from None
    finally:
        server.close()


async def read_chf(
    *,
    pki_dir: Path,
    role: Literal["smso", "s1sp"],
    connect_to: tuple[str, int] | None = None,
    listen_on: tuple[str, int] | None = None,
    device: str | None = None,
    timeout_s: float = 30.0,
    keylog: Path | None = None,
    wan_capture: WanCapture | None = None,
) -> dict[str, object]:
    if (connect_to is None) == (listen_on is None):
        raise TransportError("give exactly one of --connect HOST:PORT or --listen HOST:PORT")
    pki = PkiFolder.load(pki_dir)
    headend = headend_from_pki(pki, role, keylog)
    clock = current_clock()
    if connect_to is not None:
        tcp = await tcp_connect(*connect_to)
    else:
        assert listen_on is not None
        tcp = await _accept_one(*listen_on, timeout_s)
    link: LinkEnd = tcp
    if wan_capture is not None:  # the bytes as this head-end sends and receives them
        link = wan_capture.tap_tcp(tcp, clock, dialled=connect_to is not None,
                                   fallback=(headend_address(role), bytes((100, 64, 0, 0))))
    session: HeadEndSession = await connect(link, headend, clock, timeout_s, timeout_s)
    try:
        inventory = await session.read_inventory()
        firmware = await session.read_firmware_versions()
        chf_time = await session.read_time()
        if device is not None:
            targets = [device]
        else:
            targets = [
                eui_to_str(e.eui) for e in inventory.entries
                if e.device_type in (DeviceType.ESME, DeviceType.GSME)
            ]
        readings: dict[str, object] = {}
        for target in targets:
            try:
                readings[target] = jsonable(await session.read_instantaneous(target))
            except RemoteProtocolError as exc:
                if device is not None:
                    raise  # the one device asked for: its error is the answer
                # e.g. a GSME that has not reported into its mirror yet
                code = exc.code if exc.code in set(ErrorCode) else None  # 0: not an ERROR
                readings[target] = {"error": ErrorCode(code).name if code else "BAD_REPLY",
                                    "detail": str(exc)}
        return {
            "chf": session.chf_eui,
            "role": role,
            "tls": session.tls_version,
            "read_at": isoformat(clock.now_us()),
            "chf_time_utc": chf_time,
            "inventory": jsonable(inventory),
            "firmware": jsonable(firmware),
            "readings": readings,
        }
    finally:
        await session.close()
