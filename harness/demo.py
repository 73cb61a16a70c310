"""``s1lab demo``: N installations of the default DMC, run on the virtual clock for D days.

The SMSO head-end connects to every CHF over mutual TLS (staggered over the first ten minutes),
reads the inventory and firmware versions, then reads the meters on a schedule, checks prepayment
balances and tops up with generated UTRNs when credit runs low, re-sends one UTRN to show replay
refusal, switches some meters' payment mode on day 2, and reads event logs daily.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from emulator import (
    DEFAULT_START,
    Fleet,
    HanMode,
    Installation,
    ResolvedDmc,
    Scheduler,
    Trace,
    current_clock,
    default_dmc,
    sleep_until,
)
from emulator.capture.evidence import CaptureDir
from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, HOUR, MINUTE, SECOND, isoformat
from emulator.drivers.capture import HanCapture
from emulator.errors import RemoteProtocolError, TransportError
from emulator.outputs import RunFolder
from emulator.wire import wan
from emulator.wire.vocabulary import PaymentMode, Role, SupplyState, TopUpStatus
from harness.faults import Fault, apply_faults
from harness.headend import HeadEnd, HeadEndSession, connect

ProgressFn = Callable[[int, int], None]  # (elapsed_us, total_us)


@dataclass
class DemoConfig:
    installations: int = 20
    days: float = 2.0
    seed: int = 1
    out: Path | None = Path("out/demo")
    dmc: ResolvedDmc | None = None
    start: datetime = DEFAULT_START
    read_interval_min: int = 30
    top_up_below_pence: int = 500
    top_up_pence: int = 1500
    han: HanMode = "zigbee"
    capture: Path | None = None  # write capture.pcapng, han.pcap and keys here
    keylog: Path | None = None  # TLS secrets (NSS key log); default $SSLKEYLOGFILE
    zep_to: tuple[str, int] | None = None  # also stream ZEP v2 over UDP
    faults: list[Fault] = field(default_factory=list)


@dataclass
class InstallationSummary:
    installation: str
    chf: str
    esme: str
    payment_mode: str = ""
    import_kwh: float = 0.0
    gas_m3: float | None = None
    balance_pence: int = 0
    supply: str = ""
    reads: int = 0
    top_ups_accepted: int = 0
    top_ups_rejected: int = 0
    credited_pence: int = 0
    errors: int = 0
    tls: str = ""
    faults: list[str] = field(default_factory=list)  # the injected faults aimed at it


@dataclass
class DemoSummary:
    seed: int
    dmc: str
    group_id: str
    installations: int
    days: float
    start: str
    end: str
    handshakes: int = 0
    requests: int = 0
    errors: int = 0
    #: Of ``errors``: those at an installation an injected fault is aimed at (the fault explains
    #: them), and the rest, which nothing explains (the CLI exits non-zero on any).
    errors_from_faults: int = 0
    unexplained_errors: int = 0
    top_ups_accepted: int = 0
    top_ups_rejected: int = 0
    supply_interruptions: int = 0
    han_frames: int = 0
    trace_lines: int = 0
    events: dict[str, int] = field(default_factory=dict)
    per_installation: list[InstallationSummary] = field(default_factory=list)


async def _drive(
    inst: Installation, session_factory: Callable[[], asyncio.Future[HeadEndSession]],
    cfg: DemoConfig, end_us: int, rng: SplitMix64, row: InstallationSummary, index: int,
) -> None:
    clock = current_clock()
    await sleep_until(clock.now_us() + rng.randrange(600) * SECOND)  # stagger the connects
    session = await session_factory()
    row.tls = session.tls_version or ""
    esme = inst.esme.eui
    gsme = inst.gsme.eui if inst.gsme is not None else None
    await session.read_inventory()
    await session.read_firmware_versions()
    interval = cfg.read_interval_min * MINUTE
    next_read = clock.now_us()
    replayed = False
    switched = False
    last_utrn: str | None = None
    while True:
        now = clock.now_us()
        if now >= end_us:
            break
        try:
            reading = await session.read_instantaneous(esme)
            row.reads += 1
            if not isinstance(reading, wan.EsmeInstantaneous):  # a CHF answering out of turn
                raise RemoteProtocolError(f"an ESME read answered with {type(reading).__name__}")
            if gsme is not None and (now // interval) % 4 == 0:
                await session.read_instantaneous(gsme)
                row.reads += 1
            elapsed = now - (end_us - int(cfg.days * DAY))
            if reading.payment_mode is PaymentMode.PREPAYMENT and (
                reading.balance_pence < cfg.top_up_below_pence
                or reading.supply_state is not SupplyState.ENABLED
            ):
                amount = cfg.top_up_pence + 100 * rng.randrange(10)
                last_utrn = session.headend.make_utrn(session.chf_eui, esme, amount)
                result = await session.top_up(esme, last_utrn)
                _count_top_up(row, result)
            elif last_utrn is not None and not replayed and index % 7 == 3:
                # Show that a UTRN is single-use: the head-end re-sends one by mistake.
                replayed = True
                _count_top_up(row, await session.top_up(esme, last_utrn))
            if not switched and elapsed >= DAY + 12 * HOUR and index % 10 == 9:
                switched = True
                target = (PaymentMode.CREDIT if reading.payment_mode is PaymentMode.PREPAYMENT
                          else PaymentMode.PREPAYMENT)
                await session.set_payment_mode(esme, target)
            if (now // interval) % 48 == 47:
                await session.read_event_log(esme, max_entries=20)
        except RemoteProtocolError:
            row.errors += 1
        except TransportError:
            row.errors += 1
            session = await session_factory()
        next_read += interval
        await sleep_until(next_read)
    await session.close()


def _count_top_up(row: InstallationSummary, result: wan.TopUpResult) -> None:
    if result.status is TopUpStatus.ACCEPTED:
        row.top_ups_accepted += 1
        row.credited_pence += result.amount_pence
    else:
        row.top_ups_rejected += 1


async def run_demo(cfg: DemoConfig, progress: ProgressFn | None = None) -> DemoSummary:
    """Run the demo on the running loop's clock (use ``run_virtual``)."""
    dmc = cfg.dmc or default_dmc()
    clock = current_clock()
    start_us = clock.now_us()
    total_us = int(cfg.days * DAY)
    end_us = start_us + total_us
    folder = RunFolder(cfg.out) if cfg.out is not None else None
    sink = folder.open_stream("trace.jsonl") if folder is not None else None
    complete = False
    fleet: Fleet | None = None
    try:
        trace = Trace(sink)
        interruptions = [0]

        def count_interruptions(now: int, inst: str, device: str, event: str,
                                fields: dict[str, object]) -> None:
            if event == "SupplyStateChanged" and fields.get("state") == "DISABLED":
                interruptions[0] += 1

        trace.subscribe(count_interruptions)
        scheduler = Scheduler(clock)
        evidence = (CaptureDir(cfg.capture, zep_to=cfg.zep_to, keylog=cfg.keylog)
                    if cfg.capture is not None else None)
        capture = (evidence.han if evidence is not None
                   else HanCapture(None, cfg.zep_to) if cfg.zep_to is not None else None)
        fleet = Fleet(dmc, cfg.installations, cfg.seed, scheduler, trace, han=cfg.han,
                      capture=capture, wan_capture=evidence.wan if evidence else None,
                      keylog=evidence.keylog if evidence else cfg.keylog,
                      start="joining")  # the demo shows every HAN join on air
        apply_faults(cfg.faults, fleet.installations, scheduler)
        headend = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for,
                          emit=trace.emitter("headend"))
        rows = [InstallationSummary(inst.id, inst.chf.eui, inst.esme.eui)
                for inst in fleet.installations]
        for i, row in enumerate(rows):
            row.faults = [f.describe() for f in cfg.faults if f.applies_to(i)]

        def factory(inst: Installation) -> Callable[[], asyncio.Future[HeadEndSession]]:
            def make() -> asyncio.Future[HeadEndSession]:
                link = fleet.link_to(inst)
                return asyncio.ensure_future(connect(link.a, headend, clock))
            return make

        async def ticker() -> None:
            step = HOUR
            t = start_us
            while t < end_us:
                t = min(t + step, end_us)
                await sleep_until(t)
                if progress is not None:
                    progress(t - start_us, total_us)

        tasks = [
            _drive(inst, factory(inst), cfg, end_us,
                   SplitMix64.derive(cfg.seed, inst.id, "headend"), row, i)
            for i, (inst, row) in enumerate(zip(fleet.installations, rows, strict=True))
        ]
        await scheduler.guard(asyncio.gather(ticker(), *tasks))
        now = clock.now_us()
        summary = DemoSummary(
            seed=cfg.seed, dmc=dmc.name, group_id=dmc.group_id, installations=cfg.installations,
            days=cfg.days, start=isoformat(start_us), end=isoformat(now),
        )
        for inst, row in zip(fleet.installations, rows, strict=True):
            pay = inst.esme.payment(now)
            reg = inst.esme.registers(now)
            row.payment_mode = pay.payment_mode.name
            row.import_kwh = round(reg.import_wh / 1000, 3)
            row.balance_pence = pay.balance_pence
            row.supply = pay.supply_state.name
            if inst.gsme is not None:
                row.gas_m3 = round(inst.gsme.registers(now).volume_dm3 / 1000, 3)
            summary.handshakes += inst.sessions_opened
            summary.requests += inst.frames_served
            summary.errors += row.errors
            if row.faults:
                summary.errors_from_faults += row.errors
            else:
                summary.unexplained_errors += row.errors
            summary.top_ups_accepted += row.top_ups_accepted
            summary.top_ups_rejected += row.top_ups_rejected
        summary.supply_interruptions = interruptions[0]
        fleet.close()
        scheduler.close()
        if evidence is not None:
            evidence.close()
        if capture is not None:
            capture.close()
            summary.han_frames = capture.frames
        summary.trace_lines = trace.lines
        summary.events = dict(sorted(trace.counts.items()))
        summary.per_installation = rows
        complete = True
    finally:
        if not complete and fleet is not None:
            fleet.close()  # a failed run still releases its installations and temporary PKI
        if folder is not None and sink is not None:
            folder.close_stream(sink, "trace.jsonl", complete=complete)
    if folder is not None:
        folder.write("summary.json", json.dumps(asdict(summary), indent=2, sort_keys=True) + "\n")
        folder.finish()
    return summary
