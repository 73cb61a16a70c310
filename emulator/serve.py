"""One emulated installation in real time over TCP: what ``s1lab serve`` runs.

The CHF either listens for head-ends or dials out to one (and re-dials when the session ends);
it is the TLS server either way. It trusts the SMSO CA at first, as a pre-migration CHF does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from emulator.capture.addresses import chf_address, headend_address
from emulator.drivers.capture import HanCapture, WanCapture
from emulator.drivers.clock import current_clock
from emulator.drivers.link import LinkEnd
from emulator.drivers.scheduler import Scheduler
from emulator.drivers.tcp import TcpLinkEnd, tcp_connect, tcp_listen
from emulator.drivers.wan_channel import WanChannel
from emulator.errors import PkiError, TransportError
from emulator.installation import HanMode, Installation
from emulator.pki import PkiFolder
from emulator.profiles import ResolvedDmc
from emulator.trace import Trace
from emulator.wire.eui import normalise
from emulator.wire.vocabulary import DeviceType, Role

REDIAL_S = 5.0


async def serve(
    *,
    pki_dir: Path,
    dmc: ResolvedDmc,
    seed: int,
    stop: asyncio.Event,
    listen: tuple[str, int] | None = None,
    connect: tuple[str, int] | None = None,
    chf_eui: str | None = None,
    trace_sink: TextIO | None = None,
    announce: Callable[[str], None] = print,
    han: HanMode = "zigbee",
    capture: HanCapture | None = None,
    setup: Callable[[Installation, Scheduler], None] | None = None,
    wan_capture: WanCapture | None = None,
    keylog: Path | None = None,
    handshake_timeout_s: float | None = None,
    idle_timeout_s: float | None = None,
    radio: Callable[[Installation], Awaitable[Callable[[], Awaitable[None]]]] | None = None,
    on_air: dict[DeviceType, tuple[str, bytes]] | None = None,
) -> None:
    """Serve one installation; with ``radio`` (which attaches the HAN to a radio and returns
    its closer) the CHF's meters are expected on the air, not in this process. ``on_air``
    (physical devices of a lab file: type -> EUI-64 and install code) puts those devices in
    the place of the installation's own of that type, so head-end reads reach them."""
    if (listen is None) == (connect is None):
        raise TransportError("give exactly one of --listen HOST:PORT or --connect HOST:PORT")
    pki = PkiFolder.load(pki_dir)
    euis = pki.chf_euis()
    if not euis:
        raise PkiError(f"{pki_dir}: holds no CHF certificates (run `s1lab pki init --chfs 1`)")
    eui = normalise(chf_eui) if chf_eui else euis[0]
    if eui not in euis:
        raise PkiError(f"{pki_dir}: no certificate for CHF {eui}")
    clock = current_clock()
    scheduler = Scheduler(clock)
    trace = Trace(trace_sink)
    inst = Installation(
        installation_id="serve", dmc=dmc, chf_eui=eui, chf_bundle=pki.chf_bundle_path(eui),
        trust={Role.SMSO: pki.smso_ca.cert}, keys=pki.keystore.get(eui), seed=seed,
        scheduler=scheduler, emit=trace.emitter("serve"), han=han, capture=capture,
        keylog=keylog, han_role="chf" if radio is not None else "all", on_air=on_air,
    )

    handshake_s = handshake_timeout_s or dmc.chf.tls_handshake_timeout_s
    idle_s = idle_timeout_s or dmc.chf.wan_idle_timeout_s

    def accept(link: LinkEnd) -> WanChannel:
        """Serve a TCP session, closed if its handshake stalls or it falls silent."""
        channel = inst.accept(link)
        channel.watch(handshake_s, idle_s)
        return channel

    def tapped(link: TcpLinkEnd, dialled: bool) -> LinkEnd:
        if wan_capture is None:
            return link
        return wan_capture.tap_tcp(link, clock, dialled=dialled,
                                   fallback=(chf_address(eui), headend_address("headend")))

    if setup is not None:
        setup(inst, scheduler)  # faults
    devices = ", ".join(f"{e.device_type.name} {d}" for d, e in inst.chf.log.items())

    async def run() -> None:
        if listen is not None:
            server = await tcp_listen(listen[0], listen[1],
                                      lambda end: accept(tapped(end, False)))
            host, port = server.sockets[0].getsockname()[:2]
            announce(f"CHF {eui} listening on {host}:{port} (HAN: {devices})")
            try:
                await stop.wait()
            finally:
                server.close()
                await server.wait_closed()
        else:
            assert connect is not None
            announce(f"CHF {eui} dialling {connect[0]}:{connect[1]} (HAN: {devices})")
            while not stop.is_set():
                try:
                    link = await tcp_connect(*connect)
                except TransportError as exc:
                    announce(f"dial failed: {exc}; retrying in {REDIAL_S:g} s")
                else:
                    closed = asyncio.Event()
                    channel = accept(tapped(link, True))
                    previous = channel.on_closed

                    def on_closed(reason: str, previous: Callable[[str], None] = previous,
                                  closed: asyncio.Event = closed) -> None:
                        previous(reason)
                        closed.set()

                    channel.on_closed = on_closed
                    waiters = [asyncio.ensure_future(closed.wait()),
                               asyncio.ensure_future(stop.wait())]
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    for w in waiters:
                        w.cancel()
                    if stop.is_set():
                        break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), REDIAL_S)

    close_radio = await radio(inst) if radio is not None else None
    try:
        await scheduler.guard(run())  # a failed device callback ends the run loudly
    finally:
        if close_radio is not None:
            await close_radio()
        inst.close()
        scheduler.close()
