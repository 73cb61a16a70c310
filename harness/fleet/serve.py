"""``s1lab fleet serve``: one shard of a fleet in one process, on the real clock, on real TCP.

Each installation has its full ZigBee HAN (or the direct link) and its own CHF certificate,
SSLContext and keys from the PKI folder. In listen mode each CHF answers at its own address of
the range on the one port; in connect mode each dials the head-end (see :mod:`.sockets`). With
a broker, the shard joins the MQTT control plane (:mod:`.plane`). A manifest lists the shard's
installations for the head-end's configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emulator import Installation, Scheduler, Trace, current_clock
from emulator.core.timebase import isoformat
from emulator.drivers.tcp import TcpLinkEnd
from emulator.drivers.wan_channel import WanChannel
from emulator.errors import PkiError, TransportError
from emulator.installation import HanMode
from emulator.profiles import ResolvedDmc
from emulator.wire.vocabulary import Role
from harness.fleet.broker import Broker, Topics
from harness.fleet.control import Controller
from harness.fleet.credentials import ShardCredentials
from harness.fleet.manifest import ManifestEntry, manifest, write_json_atomic
from harness.fleet.plan import FleetPlan
from harness.fleet.plane import ControlPlane
from harness.fleet.sockets import Dialler, SharedListener

#: Installations built between two looks at the event loop (signals, progress).
_BATCH = 50
#: Net allocations between two young-generation collections once built (Python's default: 700).
GC_THRESHOLD = 20_000


@dataclass(frozen=True)
class ServeOptions:
    plan: FleetPlan
    pki_dir: Path
    dmc: ResolvedDmc
    seed: int
    listen: tuple[str, int] | None = None
    connect: tuple[str, int] | None = None
    manifest: Path | None = None
    broker: Broker | None = None
    topics: Topics = Topics()
    event_kinds: frozenset[str] | None = frozenset()
    han: HanMode = "zigbee"
    ramp_per_s: float = 200.0
    status_interval_s: float = 10.0


def rss_kib() -> int:
    """This process's resident set now (Linux), in KiB."""
    with contextlib.suppress(OSError), Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class FleetServer:
    def __init__(self, opts: ServeOptions, announce: Callable[[str], None] = print) -> None:
        if (opts.listen is None) == (opts.connect is None):
            raise TransportError("give exactly one of --listen HOST:PORT or --connect HOST:PORT")
        self.opts = opts
        self.plan = opts.plan
        self._announce = announce
        self.installations: dict[str, Installation] = {}
        self._by_address: dict[str, Installation] = {}
        self._entries: list[ManifestEntry] = []
        self.listener: SharedListener | None = None
        self.dialler: Dialler | None = None
        self.plane: ControlPlane | None = None
        self.port: int | None = None
        self.started_at = time.time()
        self.build_s = 0.0
        self.state = "starting"

    # ---- building ----------------------------------------------------------------------

    async def _build(self, scheduler: Scheduler, trace: Trace, stop: asyncio.Event) -> None:
        opts, plan = self.opts, self.plan
        pki = ShardCredentials(opts.pki_dir)
        members = plan.members()
        files = {}
        for m in members:
            try:
                files[m.id] = pki.chf(m.chf_eui)
            except PkiError as exc:
                raise PkiError(f"{exc} (installation {m.id}); mint the fleet's with `s1lab pki "
                               f"init DIR --chfs {plan.total}` or the slice's with --first-eui "
                               f"{m.chf_eui}") from None
        trust = {Role.SMSO: pki.smso_ca}
        t0 = time.monotonic()
        next_report = t0 + 2.0
        for i, member in enumerate(members, 1):
            inst = Installation(
                installation_id=member.id, dmc=opts.dmc, chf_eui=member.chf_eui,
                chf_bundle=files[member.id].bundle, trust=trust,
                keys=pki.keys(member.chf_eui), seed=opts.seed, scheduler=scheduler,
                emit=trace.emitter(member.id), han=opts.han,
                start="commissioned")  # fleets start from the commissioned steady state
            self.installations[member.id] = inst
            self._by_address[member.address] = inst
            self._entries.append(ManifestEntry(
                member.number, inst, member.address if opts.listen else None, None,
                files[member.id].fingerprint))
            if i % _BATCH == 0:
                await asyncio.sleep(0)
                if stop.is_set():
                    return
                now = time.monotonic()
                if now >= next_report:
                    next_report = now + 2.0
                    self._announce(f"starting: {i}/{len(members)} installations built "
                                   f"({now - t0:.1f} s, RSS {rss_kib() // 1024} MiB)")
        self.build_s = time.monotonic() - t0
        # What was built lives as long as the process: keep it out of the cyclic collector's
        # sweeps, which otherwise walk every installation's objects again and again while
        # sessions come and go (a tenth of a reconnect storm's CPU at 2,000 installations).
        # Sessions then allocate in bursts (a storm); collecting every 700 allocations would
        # walk the sessions in the oldest generation every few hundred handshakes.
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
        self._announce(f"starting: {len(members)}/{len(members)} installations built "
                       f"({self.build_s:.1f} s, RSS {rss_kib() // 1024} MiB)")

    # ---- wiring ------------------------------------------------------------------------

    def _serve(self, inst: Installation, link: TcpLinkEnd) -> WanChannel:
        """A session for ``inst``, closed if its handshake stalls or it falls silent (the
        profile's timeouts, as `s1lab serve` does)."""
        channel = inst.accept(link)
        chf = self.opts.dmc.chf
        channel.watch(chf.tls_handshake_timeout_s, chf.wan_idle_timeout_s)
        return channel

    def _route(self, address: str) -> Callable[[TcpLinkEnd], object] | None:
        inst = self._by_address.get(address)
        return None if inst is None else lambda link: self._serve(inst, link)

    async def _listen(self) -> None:
        assert self.opts.listen is not None
        host, port = self.opts.listen
        self.listener = SharedListener(self._route)
        await self.listener.start(host, port, list(self._by_address), self.plan.loopback)
        self.port = self.listener.port

    def _dial(self) -> None:
        assert self.opts.connect is not None
        target = self.opts.connect
        rng = random.Random(f"{self.opts.seed}/{self.plan.shard}")
        self.dialler = Dialler(target, self.opts.ramp_per_s, rng)
        bind_source = self.plan.loopback and _is_loopback(target[0])

        def handler(inst: Installation) -> Callable[[TcpLinkEnd, Callable[[bool], None]], None]:
            def on_dialled(link: TcpLinkEnd, ended: Callable[[bool], None]) -> None:
                channel = self._serve(inst, link)
                previous = channel.on_closed
                opened = inst.sessions_opened

                def on_closed(reason: str) -> None:
                    previous(reason)
                    ended(inst.sessions_opened > opened)

                channel.on_closed = on_closed

            return on_dialled

        self.dialler.ramp([(inst.id, address if bind_source else None, handler(inst))
                           for address, inst in self._by_address.items()])

    # ---- reporting ---------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        insts = self.installations.values()
        body: dict[str, object] = {
            "shard": str(self.plan.shard), "name": self.plan.shard.name,
            "host": socket.gethostname(), "pid": os.getpid(),
            "total": self.plan.total, "installations": len(self.installations),
            "first": self.plan.member(self.plan.first).id,
            "last": self.plan.member(self.plan.last).id,
            "mode": "listen" if self.opts.listen else "connect",
            "port": self.port,
            "sessions_open": sum(len(i.channels) for i in insts),
            "sessions_opened": sum(i.sessions_opened for i in insts),
            "frames_served": sum(i.frames_served for i in insts),
            "rss_kib": rss_kib(),
            "started": isoformat(round(self.started_at * 1e6)),
            "updated": isoformat(round(time.time() * 1e6)),
        }
        if self.dialler is not None:
            body["dials"] = {"attempts": self.dialler.stats.attempts,
                             "failures": self.dialler.stats.failures}
        if self.listener is not None:
            body["refused"] = self.listener.refused
        return body

    def status_line(self) -> str:
        s = self.status()
        parts = [f"fleet {s['shard']}: {s['installations']} installations",
                 f"{s['sessions_open']} sessions open", f"{s['sessions_opened']} opened",
                 f"{s['frames_served']} frames served"]
        if self.dialler is not None:
            parts.append(f"dials {self.dialler.stats.attempts} "
                         f"({self.dialler.stats.failures} failed)")
        if self.plane is not None:
            parts.append("mqtt " + ("up" if self.plane.connected.is_set() else "down"))
        parts.append(f"RSS {int(str(s['rss_kib'])) // 1024} MiB")
        return ", ".join(parts)

    def manifest_document(self) -> dict[str, object]:
        opts = self.opts
        fleet = {
            "total": self.plan.total, "shard": str(self.plan.shard), "seed": opts.seed,
            "dmc": opts.dmc.name, "han": opts.han, "first_eui": self.plan.first_eui,
            "addresses": str(self.plan.network), "pki": str(opts.pki_dir.resolve()),
            "mode": "listen" if opts.listen else "connect",
            "port": self.port,
            "connect": f"{opts.connect[0]}:{opts.connect[1]}" if opts.connect else None,
            "broker": str(opts.broker) if opts.broker else None,
            "topic_prefix": opts.topics.prefix,
        }
        entries = [ManifestEntry(e.number, e.installation, e.address, self.port if e.address
                                 else None, e.fingerprint) for e in self._entries]
        return manifest(fleet, entries)

    # ---- running -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        opts = self.opts
        clock = current_clock()
        scheduler = Scheduler(clock)
        trace = Trace(None)
        plane_task: asyncio.Task[None] | None = None
        try:
            await self._build(scheduler, trace, stop)
            if stop.is_set():
                return
            if opts.listen is not None:
                await self._listen()
            if opts.broker is not None:
                controller = Controller(self.plan, self.installations, scheduler, trace.write)
                self.plane = ControlPlane(
                    opts.broker, opts.topics, controller, self.status, self.plan.shard.name,
                    f"s1lab-fleet-{self.plan.shard.name}-{os.getpid()}", opts.event_kinds,
                    status_interval_s=min(5.0, opts.status_interval_s / 2),
                    announce=self._announce)
                trace.subscribe(self.plane.on_event)
                self.plane.state = "running"
                plane_task = asyncio.ensure_future(self.plane.run(stop))
            if opts.manifest is not None:
                write_json_atomic(opts.manifest, self.manifest_document())
            self._announce(self._ready_line())
            if opts.connect is not None:
                self._dial()
            self.state = "running"
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), opts.status_interval_s)
                if not stop.is_set():
                    self._announce(self.status_line())
        finally:
            self.state = "stopping"
            if self.dialler is not None:
                await self.dialler.close()
            if self.listener is not None:
                await self.listener.close()
            for inst in self.installations.values():
                inst.close()
            if plane_task is not None:
                stop.set()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(plane_task, 10)
            scheduler.close()

    def _ready_line(self) -> str:
        plan, opts = self.plan, self.opts
        first, last = plan.member(plan.first), plan.member(plan.last)
        if opts.connect is not None:
            where = f"dialling {opts.connect[0]}:{opts.connect[1]} at {opts.ramp_per_s:g}/s"
        else:
            mode = self.listener.mode if self.listener is not None else ""
            where = f"listening on {first.address}..{last.address} port {self.port} ({mode})"
        extra = f"; manifest {opts.manifest}" if opts.manifest else ""
        broker = f"; control plane {opts.broker}" if opts.broker else ""
        return (f"fleet {plan.shard} ready: {len(self.installations)} installations "
                f"{first.id}..{last.id}, {where}{extra}{broker}")


def _is_loopback(host: str) -> bool:
    try:
        return socket.gethostbyname(host).startswith("127.")
    except OSError:
        return False
