"""The WAN data path, end to end on the virtual clock, byte for byte as it was.

A seeded small fleet (direct HAN, then the ZigBee HAN, whose GSME commands wait for its poll)
is connected, then driven through reads, top-ups, the event log, errors (unknown device, a
bad MAC, a replay, a malformed frame), a request that times out and whose late reply is
dropped, and a WAN outage. Everything observable is recorded in order and digested:

* every byte string a WAN link end is given to carry, after the handshakes: when, which end,
  and its TLS records' types and lengths (the ciphertext itself is random; its framing is
  not: a change in how records are cut or what they carry changes it);
* every WAN frame in and out of the CHF cores and into the head-end cores (plaintext, with
  its CMAC), with the virtual time;
* the trace (every event, its time and fields, in order), and what each command returned or
  raised.

The digests were taken on main before the data path was made cheaper (issue 12): the path
must stay exact, so any change in these bytes, times or order fails here. A deliberate change
of the WAN protocol or of the scenario regenerates them (``S1LAB_PRINT_DIGEST=1`` prints them).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from emulator.core.chf.hub import Chf
from emulator.core.headend import HeadEndCore
from emulator.core.timebase import MINUTE, SECOND
from emulator.drivers.clock import current_clock, run_virtual, sleep_us
from emulator.drivers.memory import MemoryLinkEnd
from emulator.drivers.scheduler import Scheduler
from emulator.errors import S1labError
from emulator.fleet import Fleet
from emulator.installation import HanMode
from emulator.profiles import default_dmc
from emulator.trace import Trace
from emulator.wire.vocabulary import MessageType, Role
from harness.headend import HeadEnd, HeadEndSession, connect


class _Recorder:
    """Everything observable of one run, in order, as lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.wire = False  # link bytes are recorded once the handshakes are done

    def add(self, line: str) -> None:
        self.lines.append(line)

    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.lines).encode()).hexdigest()


def _records(data: bytes) -> str:
    """The TLS record framing of ``data``: type and length of each record (and a cut tail)."""
    out, i = [], 0
    while i + 5 <= len(data):
        n = int.from_bytes(data[i + 3:i + 5], "big")
        out.append(f"{data[i]}:{n}")
        i += 5 + n
    if i != len(data):
        out.append(f"tail:{len(data) - i}")
    return ",".join(out)


@contextmanager
def _recording(rec: _Recorder, clock_now: Callable[[], int]) -> Iterator[None]:
    """Record link writes and the cores' WAN frames (patched on their classes for the run)."""
    mp = pytest.MonkeyPatch()
    write, close = MemoryLinkEnd.write, MemoryLinkEnd.close
    handle, receive = Chf.handle_frame, HeadEndCore.receive

    def link_write(self: MemoryLinkEnd, data: bytes) -> None:
        if rec.wire:
            rec.add(f"{clock_now()} link {self.peer_name} {len(data)} {_records(data)}")
        write(self, data)

    def link_close(self: MemoryLinkEnd) -> None:
        rec.add(f"{clock_now()} close {self.peer_name} {self.is_closed}")
        close(self)

    def chf_frame(self: Chf, data: bytes, now: int, tls_role: Role | None,
                  session: int = 0) -> bytes | None:
        reply = handle(self, data, now, tls_role, session)
        rec.add(f"{now} chf {self.eui} {tls_role} in {data.hex()} "
                f"out {reply.hex() if reply is not None else None}")
        return reply

    def headend_frame(self: HeadEndCore, data: bytes) -> Any:
        event = receive(self, data)
        rec.add(f"{clock_now()} headend {self.chf_eui} in {data.hex()} -> {event!r}")
        return event

    mp.setattr(MemoryLinkEnd, "write", link_write)
    mp.setattr(MemoryLinkEnd, "close", link_close)
    mp.setattr(Chf, "handle_frame", chf_frame)
    mp.setattr(HeadEndCore, "receive", headend_frame)
    try:
        yield
    finally:
        mp.undo()


async def _outcome(rec: _Recorder, what: str, coro: Any) -> None:
    try:
        result = await coro
    except S1labError as exc:
        rec.add(f"{current_clock().now_us()} {what} raised {type(exc).__name__}: {exc}")
    else:
        rec.add(f"{current_clock().now_us()} {what} -> {result!r}")


async def _scenario(han: HanMode, rec: _Recorder) -> None:
    clock = current_clock()
    scheduler = Scheduler(clock)
    trace = Trace(None)
    trace.subscribe(lambda now, inst, device, event, fields: rec.add(
        f"{now} trace {inst} {device} {event} {sorted(fields.items())!r}"))
    fleet = Fleet(default_dmc(), 3, 11, scheduler, trace, han=han)
    headend = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for,
                      emit=trace.emitter("headend"))
    links = [fleet.link_to(inst) for inst in fleet.installations]
    sessions: list[HeadEndSession] = [
        await connect(link.a, headend, clock, request_timeout_s=600) for link in links]
    rec.wire = True
    try:
        await scheduler.guard(_commands(rec, fleet, sessions, links))
    finally:
        for s in sessions:
            await s.close()
        await sleep_us(SECOND)  # the goodbyes are delivered
        fleet.close()
        scheduler.close()


async def _commands(rec: _Recorder, fleet: Fleet, sessions: list[HeadEndSession],
                    links: list[Any]) -> None:
    a, b, c = sessions
    ia, ib, _ = fleet.installations
    esme, gsme = ia.esme.eui, ia.gsme.eui

    async def reads(s: HeadEndSession, meter: str, n: int, gap_us: int) -> None:
        for i in range(n):
            await _outcome(rec, f"read {meter} {i}", s.read_instantaneous(meter))
            await sleep_us(gap_us)

    # Reads on every session at once, interleaved on the links (overlapping in flight).
    await asyncio.gather(reads(a, esme, 6, 7 * MINUTE), reads(b, ib.esme.eui, 6, 5 * MINUTE),
                         reads(c, fleet.installations[2].esme.eui, 4, 0))
    # Several requests in flight on one session, answered in order.
    await asyncio.gather(*[_outcome(rec, f"burst {i}", a.read_instantaneous(esme))
                           for i in range(4)])
    await _outcome(rec, "top up", a.top_up_amount(esme, 1500))
    await _outcome(rec, "event log", a.read_event_log(esme, 5))
    await _outcome(rec, "payment", a.read_payment_mode(esme))
    await _outcome(rec, "time", a.read_time())
    await _outcome(rec, "unknown", a.read_instantaneous("00-00-00-00-00-00-00-42"))
    txn, frame = a.build_frame(MessageType.READ_INSTANTANEOUS, esme, key=b"\x01" * 16)
    await _outcome(rec, "bad mac", a.send_raw(frame, txn))
    txn, frame = a.build_frame(MessageType.READ_PAYMENT_MODE, esme)
    await _outcome(rec, "once", a.send_raw(frame, txn))
    await _outcome(rec, "replay", a.send_raw(frame, txn))
    await _outcome(rec, "malformed", a.send_raw(b"XX" + b"\x00" * 40, txn=0))
    # The GSME: on the ZigBee HAN its commands wait for its poll, past this timeout.
    a.request_timeout = 90
    await _outcome(rec, "gsme payment", a.read_payment_mode(gsme))
    await _outcome(rec, "gsme read", a.read_instantaneous(gsme))
    a.request_timeout = 3600
    await _outcome(rec, "gsme payment again", a.read_payment_mode(gsme))
    # Shorter than the round trip: the read times out, its reply comes late and is dropped.
    b.request_timeout = 0.2
    await _outcome(rec, "too quick", b.read_instantaneous(ib.esme.eui))
    b.request_timeout = 600
    await sleep_us(40 * MINUTE)  # late replies arrive and are dropped
    await _outcome(rec, "after", a.read_instantaneous(esme))
    # An outage on one link: the session in flight fails, the others go on.
    pending = asyncio.ensure_future(_outcome(rec, "cut", b.read_instantaneous(ib.esme.eui)))
    await sleep_us(100_000)
    links[1].set_down("test outage")
    await pending
    await _outcome(rec, "after cut", b.read_instantaneous(ib.esme.eui))
    await _outcome(rec, "other", c.read_instantaneous(fleet.installations[2].esme.eui))


#: sha256 of the recorded lines on main before issue 12's data-path work, and their count.
EXPECTED = {
    "direct": ("09423327b4adbed67457d089e42f46e2c6f03b57734a1891d1183f5364e9d404", 279),
    "zigbee": ("9f2550ac0acb68d8e2a50bcdd0c9845fb57cdd2d7cea63e49d94c7e6871e5d8a", 279),
}


@pytest.mark.parametrize("han", ["direct", "zigbee"])
def test_wan_bytes_times_and_trace_are_unchanged(han: HanMode) -> None:
    rec = _Recorder()

    async def main() -> None:
        with _recording(rec, current_clock().now_us):
            await _scenario(han, rec)

    run_virtual(main())
    if os.environ.get("S1LAB_PRINT_DIGEST"):
        print(f"\n{han}: ({rec.digest()!r}, {len(rec.lines)})")
        print("\n".join(rec.lines[-60:]))
    assert any(" link " in line for line in rec.lines)
    assert any("raised TransportError" in line for line in rec.lines)
    assert (rec.digest(), len(rec.lines)) == EXPECTED[han]
