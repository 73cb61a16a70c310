"""Fleet figures on the virtual clock (issue 12, item 4), each target beside it.

    .venv/bin/python bench/bench_fleet_virtual.py [--scale 20000] [--scale-minutes 10]
        [--installations 100] [--direct 2000] [--days 1] [--profile zigbee|direct]

One command; each phase runs in a child process of its own (``--phase NAME`` runs one in
this process), so that no phase's figure owes anything to the one before it: until
2026-12-02 all ran in one process, and the direct HAN after the 20,000-installation scale
phase measured about 80 installation-days/s against 98-107 in a process of its own. The
scale phase's objects were all freed (gc unfrozen and collected, ``malloc_trim``), but not
its heap: at 10,000, 367 MiB stayed resident against 59 before it, pymalloc holding 320
arenas of 1 MiB for 26 MB of live blocks (a few survivors in each), and the next fleet was
built into those holes: 86 installation-days/s for the direct run right after it, 122 for a
second one in the same process, 112-116 in a fresh process (measured 2026-12-02).

The header line gives the load average and ``GLIBC_TUNABLES`` (docs/scale.md:
``glibc.malloc.hugetlb=1``); a tunable set applies to both sides of every ratio, since the
raw references run in the same process. Phases:

1. **scale**: ``--scale`` installations of the default DMC with the full ZigBee HAN, started
   from the commissioned steady state, every one connected by the head-end (paced ramp,
   :data:`RAMP` = 200 in flight; the built fleet's objects frozen with ``gc.freeze()`` first
   and young objects collected every :data:`~harness.fleet.serve.GC_THRESHOLD` allocations,
   as ``s1lab fleet serve`` does with its fleet), then ``--scale-minutes`` of the standard
   activity: peak RSS per installation with both TLS ends counted, and handshakes/s beside
   two raw memory-BIO rates measured in this process with that fleet in memory, each with
   its ratio and verdict (:func:`bench_wan.raw_baseline`; each the faster of s1lab's own
   contexts, the shared CHF server context, and a Python ``ssl`` context per CHF, OpenSSL
   calls only):

   - **sessions kept**, in samples of :data:`RAW_HANDSHAKES`. The fleet's
     installations stay connected, so each handshake of the ramp leaves a connected pair of
     sessions (both TLS ends) in memory and the heap grows by one per handshake, into pages
     the kernel must zero first (about 15 minor faults per handshake, about 12% of the
     ramp's time, measured 2026-12-02). This loop ends each handshake as the fleet does (the
     client takes the CHF's ticket and gives back its buffers) and keeps both ends until its
     sample is over, so its heap grows the same way, RAW_HANDSHAKES pairs at a time (its
     faults per handshake are printed beside the ramp's); its pairs are freed and their
     pages handed back after it.
   - **sessions kept, all of them in one loop: the raw rate at that scale**, the one the
     target means (since 2026-12-04; the samples above before): the same loop run once for as many
     handshakes as the ramp made, after the activity (the peak RSS read first) with the
     fleet still connected, so that its heap grows by as many connected pairs as the ramp's
     did. Measured 2026-12-04: at 20,000 it ran at 588/s where the 500-handshake samples ran
     at 691/s in the same process, at about the same faults per handshake (13.4 against
     13.7): on this machine a fresh page costs more the more of them a process takes
     (docs/scale.md), so a sample of 500 is not the rate at that scale. It is one sample,
     taken after the ramp, its heap growing from the fleet's peak rather than from the
     ramp's start.
   - **sessions dropped**, the reference before 2026-12-02: each pair freed after its
     handshake, so the next one reuses the memory just freed (no fresh pages; no ticket
     taken). It is the faster; printed so that the two can be compared, never hidden.

   Both loops are sampled before the ramp, at three points inside it (the event loop, and
   so the simulated clock, waits while a sample runs; its time is not the ramp's) and after
   it, and the mean of the samples taken (before 2026-12-02: before and after only, so a
   ramp of a minute on a shared machine was set against eight seconds at its ends). The
   ramp lasts about a minute of simulated time at 20,000 (200 in flight, two round trips of
   150 ms each way per handshake), in which the fleet does its standard activity: the rate is
   given net of the time the installations' own timers took in it, and with it; and per CPU
   second of this process too (the other jobs on a shared machine aside).

   Why 200 in flight: a head-end paces its ramp (design.md §10) to what it can do, and the
   number in flight that keeps it busy is its rate times the time a handshake spends on the
   wire (Little's law): about 400/s x 0.6 s = 240 here. With 50 in flight (the figure before
   2026-12-02) the head-end waited on the network most of the time (at most 83 handshakes
   per simulated second), so the ramp lasted four times as long in simulated time and held
   four times as much of the fleet's own activity, which is fleet work, not handshake work.
   200 is also what s1lab's real-TCP reconnect storm keeps in flight (docs/scale.md). The
   in-flight handshakes' buffers are in the peak RSS (about 1 KiB per installation at
   20,000).
2. **throughput, ZigBee**: ``--installations`` installations x ``--days`` of the standard
   activity, twice: the GSME wakes every 30 min (poll, report to its mirror), the ESME
   settles its half hours every 30 min (s1lab's ESME is read by the CHF; it sends no HAN
   report of its own), IHD and PPMID refresh at their profiles' rates (900 s: the IHD reads
   electricity and gas, the PPMID credit), and the head-end reads the ESME over the WAN every
   hour: installation-days per wall second (mean of the two runs). The reads are a
   :class:`~harness.headend.Poller`'s (each a full request over TLS, answered from the ESME's
   state at that instant, the reply checked as ``read_instantaneous`` does), on the
   scheduler's heap; before 2026-12-02 a task per installation slept on the event loop
   between its reads, which cost about 30% more instructions per read in the fleet.
3. **bare floor**: the frames installation 1 put on the air in the first run of phase 2 (every
   frame: data, APS and MAC acks, polls), per day, each built, secured, unsecured and parsed
   by the bare codec and AES-CCM* path with no device logic, timed before and after the
   second run: the cost of one installation-day of frames, and its rate. "Built" starts where
   a device hands over, from the field values it chose: the codec's header objects (MAC, NWK,
   APS, auxiliary security headers) are made in the timed loop, and a foundation command's
   ZCL bytes are encoded from the command (``zcl_foundation_frame``), as every device does;
   parsing goes as deep as the devices go (ZCL header and foundation command decoded). Each
   rebuilt frame is checked equal to the one on air first. Printed beside: the floor as it was
   defined before 2026-12 (header objects made once outside the loop, ZCL bytes as captured).
   No device logic is in either: no replay guard, no key lookup, no queue.
4. **throughput, direct HAN**: ``--direct`` installations x ``--days``, same activity; run
   twice, each in its own process: on the pure-Python tree, then on the compiled core
   (``scripts/compile_core.py``: the hot sans-IO modules compiled with mypyc, built here into
   ``build/compiled`` if it is missing or stale; ``--no-compiled`` skips it). Both figures
   are printed, each with its verdict.

The machine is shared and noisy: read the ratios (each side is measured within this run).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(ROOT / "scripts"))

import compile_core  # noqa: E402
from bench_wan import current_rss_kib, malloc_trim, raw_baseline, rss_kib  # noqa: E402

from emulator.core.han_crypto import build_secured_frame, parse_secured_frame  # noqa: E402
from emulator.core.timebase import DAY, HOUR  # noqa: E402
from emulator.drivers.clock import Clock, current_clock, run_virtual, sleep_until  # noqa: E402
from emulator.drivers.memory import MemoryLinkEnd  # noqa: E402
from emulator.drivers.scheduler import Scheduler, Slot  # noqa: E402
from emulator.errors import S1labError  # noqa: E402
from emulator.fleet import Fleet  # noqa: E402
from emulator.installation import HanMode, Installation  # noqa: E402
from emulator.profiles import default_dmc  # noqa: E402
from emulator.trace import Trace  # noqa: E402
from emulator.wire.ieee802154 import MacFrame, MacFrameType, build_mac, parse_mac  # noqa: E402
from emulator.wire.vocabulary import Role  # noqa: E402
from emulator.wire.zcl import (  # noqa: E402
    FoundationCommand,
    ZclHeader,
    decode_foundation,
    parse_zcl,
    zcl_foundation_frame,
)
from emulator.wire.zigbee_aps import ApsFrameType, ApsHeader  # noqa: E402
from emulator.wire.zigbee_nwk import NwkHeader, SecurityHeader  # noqa: E402
from harness.fleet.serve import GC_THRESHOLD  # noqa: E402
from harness.headend import HeadEnd, HeadEndSession, Poller, connect  # noqa: E402

READ_INTERVAL = HOUR


def trim() -> None:
    """Hand glibc's free pages back to the system: RSS then counts live memory, not the
    fragments a ramp of handshakes leaves between long-lived allocations."""
    gc.collect()
    malloc_trim()


def minor_faults() -> int:
    """Minor page faults of this process so far (a fresh page zeroed by the kernel is one)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


#: Handshakes in flight at once in the scale phase's ramp (why 200: the module's docstring).
RAMP = 200
#: Raw-rate samples taken inside the ramp (evenly spread), besides one before it and one
#: after; each measures both raw loops (sessions dropped, sessions kept), each the faster of
#: s1lab's sessions and Python's ssl over RAW_HANDSHAKES handshakes.
RAW_INSIDE = 3
RAW_HANDSHAKES = 500


class _TimedScheduler(Scheduler):
    """A scheduler that can time the installations' own timers (device and HAN activity)
    apart from the WAN links' deliveries: the handshake ramp lasts a minute or more of virtual
    time at scale (RAMP in flight, 150 ms each way), and the fleet's standard activity in that
    window is fleet work, not handshake work (it grows with the fleet times the ramp's length).
    Timing is on only for the ramp (:meth:`timing`): four clock reads per fire are not free,
    and the throughput phases must not pay them."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.device_s = 0.0
        self.device_cpu_s = 0.0
        self._device_slots: list[tuple[Slot, Callable[[int], None], Callable[[int], None]]] = []

    def slot(self, callback: Callable[[int], None]) -> Slot:
        slot = super().slot(callback)
        if isinstance(getattr(callback, "__self__", None), MemoryLinkEnd):
            return slot

        def timed(now: int) -> None:
            t, c = time.perf_counter(), time.process_time()
            try:
                callback(now)
            finally:
                self.device_s += time.perf_counter() - t
                self.device_cpu_s += time.process_time() - c

        self._device_slots.append((slot, callback, timed))
        return slot

    def timing(self, on: bool) -> None:
        """Time the device slots' callbacks from now on (True) or stop timing them."""
        for slot, plain, timed in self._device_slots:
            slot._callback = timed if on else plain

@dataclass(frozen=True)
class RawSample:
    """One sample of the raw memory-BIO references, handshakes/s per wall second and per CPU
    second of this process: each the faster of s1lab's own sessions (the shared CHF server
    context) and Python's ssl with a context per CHF, OpenSSL calls only; the loop that drops
    each pair of sessions after its handshake, and the one that keeps them (``keep=True`` of
    :func:`bench_wan.raw_baseline`: the heap grows per handshake as the fleet's does)."""

    drop_wall: float
    drop_cpu: float
    keep_wall: float
    keep_cpu: float
    keep_faults: float  # minor page faults per handshake of the loop that keeps its sessions
    drop_faults: float


def _raw_rate(handshakes: int) -> RawSample:
    """One :class:`RawSample` (the two loops alternate)."""

    def best(keep: bool, timer: Callable[[], float]) -> float:
        return max(raw_baseline(handshakes, 1, timer=timer, keep=keep)[0],
                   raw_baseline(handshakes, 1, "python", timer=timer, keep=keep)[0])

    rates: dict[tuple[bool, bool], float] = {}
    faults = {False: 0, True: 0}
    for cpu in (False, True):
        for keep in (False, True):
            f = minor_faults()
            rates[keep, cpu] = best(keep, time.process_time if cpu else time.perf_counter)
            faults[keep] += minor_faults() - f
    per = 4 * handshakes  # handshakes per loop: two timers x two servers
    return RawSample(rates[False, False], rates[False, True], rates[True, False],
                     rates[True, True], faults[True] / per, faults[False] / per)


@dataclass
class Run:
    n: int
    days: float
    build_s: float
    handshake_s: float
    activity_s: float
    reads: int
    rss0_kib: int
    rss_built_kib: int
    rss_connected_kib: int
    peak_kib: int
    rss_trimmed_kib: int  # connected, after glibc returned its free pages (malloc_trim)
    frames: list[tuple[bytes, Installation]]  # installation 0's frames on air, when captured
    handshake_cpu_s: float  # CPU seconds of this process for the ramp
    ramp_virtual_s: float  # simulated seconds the ramp lasted ...
    ramp_device_s: float  # ... wall and CPU seconds the installations' own timers took in it
    ramp_device_cpu_s: float
    ramp_faults: int  # minor page faults of this process in the ramp (the samples' aside)
    # the raw references measured with this fleet in memory (empty: not measured)
    raw_samples: list[RawSample]
    # the loop that keeps its sessions run for all n handshakes once, after the activity with
    # the fleet still connected: (handshakes/s per wall second, minor faults per handshake);
    # None: not measured
    raw_full: tuple[float, float] | None

    def raw_mean(self, name: str) -> float:
        """The mean over the samples of one :class:`RawSample` field."""
        values: list[float] = [getattr(r, name) for r in self.raw_samples]
        return sum(values) / len(values)


async def _fleet_run(n: int, days: float, han: HanMode, capture_first: bool,
                     profile: cProfile.Profile | None = None, raw: bool = False,
                     young_gc: int | None = None) -> Run:
    """One fleet run; ``raw``: measure the raw memory-BIO rate around the ramp; ``young_gc``:
    once the fleet is built and frozen, collect young objects every that many allocations
    (as ``fleet serve`` does), for this run only."""
    clock = current_clock()
    scheduler = _TimedScheduler(clock)
    trim()
    rss0 = current_rss_kib()
    t0 = time.perf_counter()
    fleet = Fleet(default_dmc(), n, 1, scheduler, Trace(None), han=han)
    build_s = time.perf_counter() - t0
    gc.collect()
    # A built fleet is millions of long-lived objects: frozen, full collections skip them.
    gc.freeze()
    thresholds = gc.get_threshold()
    if young_gc is not None:
        gc.set_threshold(young_gc, *thresholds[1:])
    rss_built = current_rss_kib()
    frames: list[tuple[bytes, Installation]] = []
    first = fleet.installations[0]
    if capture_first and first.han is not None:
        first.han.capture = lambda frame, now: frames.append((frame, first))
    headend = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for)
    # The raw rate, sampled with the fleet built (in memory), inside the ramp and after it:
    # each sample faces the machine as the ramp around it did (see RAW_INSIDE).
    raw_k = min(n, RAW_HANDSHAKES)
    samples = [_raw_rate(raw_k)] if raw else []
    marks = [n * k // (RAW_INSIDE + 1) for k in range(1, RAW_INSIDE + 1)] if raw else []
    # wall and CPU seconds, and page faults, of the samples inside the ramp (not the ramp's)
    paused = [0.0, 0.0, 0.0]
    connected = 0
    opened: list[HeadEndSession | None] = [None] * n
    todo = iter(enumerate(fleet.installations))

    async def dialler() -> None:
        """One of RAMP connections in flight: the next installation as soon as one is up
        (a pool of diallers, not a task per installation waiting on a semaphore)."""
        nonlocal connected
        for i, inst in todo:
            opened[i] = await connect(fleet.link_to(inst).a, headend, clock)
            connected += 1
            if marks and connected >= marks[0]:
                # The loop (and so the simulated clock) waits while the sample runs.
                del marks[0]
                w, c, f = time.perf_counter(), time.process_time(), minor_faults()
                samples.append(_raw_rate(raw_k))
                paused[0] += time.perf_counter() - w
                paused[1] += time.process_time() - c
                paused[2] += minor_faults() - f

    t0, c0, v0, f0 = time.perf_counter(), time.process_time(), clock.now_us(), minor_faults()
    d0, dc0 = scheduler.device_s, scheduler.device_cpu_s
    scheduler.timing(True)
    await asyncio.gather(*[dialler() for _ in range(min(RAMP, n))])
    scheduler.timing(False)
    handshake_s = time.perf_counter() - t0 - paused[0]
    handshake_cpu_s = time.process_time() - c0 - paused[1]
    ramp_faults = minor_faults() - f0 - int(paused[2])
    ramp_virtual_s = (clock.now_us() - v0) / 1e6
    ramp_device_s, ramp_device_cpu_s = scheduler.device_s - d0, scheduler.device_cpu_s - dc0
    sessions = [s for s in opened if s is not None]
    assert len(sessions) == n
    gc.collect()
    rss_connected = current_rss_kib()
    trim()
    rss_trimmed = current_rss_kib()
    # ... and again with every session open; the mean of the samples faces the same noisy
    # machine as the ramp.
    if raw:
        samples.append(_raw_rate(raw_k))
    frames.clear()  # count the activity only, from the steady state on

    start = clock.now_us()
    end = start + int(days * DAY)

    # The head-end reads every ESME hourly (a Poller: the reads run on the scheduler's heap,
    # each a full request over TLS answered from the ESME's state at that instant).
    poller = Poller(scheduler, READ_INTERVAL, until=end)
    for i, (s, inst) in enumerate(zip(sessions, fleet.installations, strict=True)):
        poller.add(s, inst.esme.eui, start + (i * 7919 * 1_000_003) % READ_INTERVAL)

    async def until_end() -> None:
        await sleep_until(end)

    if profile is not None:
        profile.enable()
    t0 = time.perf_counter()
    await asyncio.gather(until_end(), poller.finished())
    activity_s = time.perf_counter() - t0
    if profile is not None:
        profile.disable()
    peak = max(rss_kib(), current_rss_kib())
    raw_full = None
    if raw:
        # The kept loop at the ramp's own size: its heap grows by n connected pairs, as the
        # ramp's did, not by the samples' RAW_HANDSHAKES (docs/scale.md: on this machine a
        # fresh page costs more the more of them a process takes). After the peak is read,
        # so that the figure above is the fleet's; before the fleet is freed, so that the
        # loop grows into fresh pages as the ramp did, not into the fleet's freed heap.
        f = minor_faults()
        full = raw_baseline(n, 1, keep=True)[0]
        raw_full = (full, (minor_faults() - f) / n)
    for s in sessions:
        await s.close()
    fleet.close()
    scheduler.close()
    gc.set_threshold(*thresholds)
    gc.unfreeze()
    assert poller.errors == 0, [t.last for t in poller.targets if t.errors][:3]
    return Run(n, days, build_s, handshake_s, activity_s, poller.reads,
               rss0, rss_built, rss_connected, peak, rss_trimmed, frames, handshake_cpu_s,
               ramp_virtual_s, ramp_device_s, ramp_device_cpu_s, ramp_faults, samples,
               raw_full)


def fleet_run(n: int, days: float, han: HanMode, capture_first: bool = False,
              profile: cProfile.Profile | None = None, raw: bool = False,
              young_gc: int | None = None) -> Run:
    return run_virtual(_fleet_run(n, days, han, capture_first, profile, raw, young_gc))


@dataclass(frozen=True)
class _Parts:
    """One frame taken apart once, to be built and parsed again in the timed loop."""

    raw: bytes
    secured: bool
    network_key: bytes | None
    link_key: bytes | None


def _take_apart(frame: bytes, inst: Installation) -> _Parts:
    """Which keys open ``frame`` (outside the timed loop)."""
    han = inst.han
    assert han is not None
    mac = parse_mac(frame)
    if mac.frame_type is not MacFrameType.DATA or not mac.payload:
        return _Parts(frame, False, None, None)
    key = han.keys.current_key
    for link_key in [None, *han.tc_keys.values()]:
        try:
            parse_secured_frame(frame, network_keys=key, link_key=link_key)
        except S1labError:  # the wrong link key: try the next (BadMac, or no key for it)
            continue
        return _Parts(frame, True, key, link_key)
    raise AssertionError("a frame on air that its own installation's keys do not open")


def _values(obj: Any) -> tuple[Any, ...]:
    """A frozen header's fields in declaration order (its constructor's positional arguments)."""
    return tuple(getattr(obj, f.name) for f in fields(obj))


@dataclass(frozen=True)
class _Decoded:
    """One frame as its sender had it before the codec: every header's field values (the
    auxiliary headers apart), and the ZCL command decoded (None: the payload as bytes)."""

    parts: _Parts
    mac: tuple[Any, ...]
    nwk: tuple[Any, ...] | None = None
    nwk_aux: tuple[Any, ...] | None = None
    aps: tuple[Any, ...] | None = None
    aps_aux: tuple[Any, ...] | None = None
    payload: bytes = b""
    zcl: tuple[FoundationCommand, ZclHeader] | None = None


def _decode(p: _Parts) -> _Decoded:
    if not p.secured:
        return _Decoded(p, _values(parse_mac(p.raw)))
    hf = parse_secured_frame(p.raw, network_keys=p.network_key, link_key=p.link_key)
    zcl = None
    if hf.aps.frame_type == ApsFrameType.DATA and hf.payload:
        header, body = parse_zcl(hf.payload)
        if header.frame_type == 0:  # foundation (global): the sender built it from the command
            zcl = (decode_foundation(header.command_id, body), header)
    return _Decoded(p, _values(hf.mac), _values(hf.nwk)[:-1],
                    None if hf.nwk.aux is None else _values(hf.nwk.aux),
                    _values(hf.aps)[:-1], None if hf.aps.aux is None else _values(hf.aps.aux),
                    hf.payload, zcl)


def _rebuild(d: _Decoded) -> bytes:
    """Build one frame with the codec from its field values (timed)."""
    mac = MacFrame(*d.mac)
    if d.nwk is None or d.aps is None:
        return build_mac(mac)
    nwk = NwkHeader(*d.nwk, None if d.nwk_aux is None else SecurityHeader(*d.nwk_aux))
    aps = ApsHeader(*d.aps, None if d.aps_aux is None else SecurityHeader(*d.aps_aux))
    payload = d.payload
    if d.zcl is not None:
        cmd, zh = d.zcl
        payload = zcl_foundation_frame(cmd, zh.tsn, direction=zh.direction,
                                       disable_default_response=zh.disable_default_response)
    p = d.parts
    return build_secured_frame(mac, nwk, aps, payload, network_key=p.network_key,
                               link_key=p.link_key)


def bare_floor(frames: list[tuple[bytes, Installation]], days: float, repeat: int = 5
               ) -> tuple[float, float, int]:
    """Seconds to build, secure, unsecure and parse one installation-day of frames (median),
    the same without making the header objects and the ZCL bytes (the floor's definition
    before 2026-12), and how many frames that is.

    Building a frame is the codec's whole job from the field values its sender chose: the
    header objects the codec takes (MAC, NWK, APS, auxiliary headers) and, for a foundation
    command, the ZCL bytes from the command (``zcl_foundation_frame``), as every device does.
    Parsing goes as deep as the devices go: ZCL header and foundation command decoded."""
    decoded = [_decode(_take_apart(f, inst)) for f, inst in frames]
    # the old floor: headers built once outside the loop, the ZCL bytes as captured
    prebuilt = [(d.parts, parse_secured_frame(d.parts.raw, network_keys=d.parts.network_key,
                                              link_key=d.parts.link_key)
                 if d.parts.secured else parse_mac(d.parts.raw)) for d in decoded]
    for d in decoded:  # the floor makes the very frames that were on air
        assert _rebuild(d) == d.parts.raw, "the floor's frame differs from the one on air"
    times, old_times = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for d in decoded:
            frame = _rebuild(d)
            p = d.parts
            if not p.secured:
                parse_mac(frame)
                continue
            back = parse_secured_frame(frame, network_keys=p.network_key, link_key=p.link_key)
            if back.aps.frame_type == ApsFrameType.DATA and back.payload:
                header, zcl = parse_zcl(back.payload)
                if header.frame_type == 0:  # foundation (global) command: decode its body
                    decode_foundation(header.command_id, zcl)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for p, hf in prebuilt:
            if isinstance(hf, MacFrame):
                parse_mac(build_mac(hf))
                continue
            frame = build_secured_frame(hf.mac, hf.nwk, hf.aps, hf.payload,
                                        network_key=p.network_key, link_key=p.link_key)
            back = parse_secured_frame(frame, network_keys=p.network_key, link_key=p.link_key)
            if back.aps.frame_type == ApsFrameType.DATA and back.payload:
                header, zcl = parse_zcl(back.payload)
                if header.frame_type == 0:
                    decode_foundation(header.command_id, zcl)
        old_times.append(time.perf_counter() - t0)
    times.sort()
    old_times.sort()
    return (times[len(times) // 2] / days, old_times[len(old_times) // 2] / days,
            round(len(decoded) / days))


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def _percent(rate: float, ref: float) -> str:
    return f"{100 * rate / ref:5.1f}%"


def scale_phase(args: argparse.Namespace) -> None:
    s = fleet_run(args.scale, args.scale_minutes / 1440, "zigbee", raw=True,
                  young_gc=GC_THRESHOLD)
    per_inst = (s.peak_kib - s.rss0_kib) / s.n
    hs = s.n / s.handshake_s
    print(f"[scale] {s.n} installations, full ZigBee HAN, commissioned start, "
          f"{args.scale_minutes:g} simulated minutes of standard activity")
    print(f"  build {s.build_s:.1f} s, handshakes {s.handshake_s:.1f} s, "
          f"activity {s.activity_s:.1f} s")
    print(f"  RSS per installation (both TLS ends)   {per_inst:7.1f} KiB    target <= 100 KiB"
          f"   {_verdict(per_inst <= 100)}")
    print(f"    built {(s.rss_built_kib - s.rss0_kib) / s.n:.1f} KiB, connected "
          f"{(s.rss_connected_kib - s.rss0_kib) / s.n:.1f} KiB, peak {s.peak_kib / 1024:.0f}"
          f" MiB (before the fleet {s.rss0_kib / 1024:.0f} MiB); connected after malloc_trim "
          f"{(s.rss_trimmed_kib - s.rss0_kib) / s.n:.1f} KiB")
    # Net of the fleet's own activity during the ramp (see _TimedScheduler).
    net = s.n / (s.handshake_s - s.ramp_device_s)
    net_cpu = s.n / (s.handshake_cpu_s - s.ramp_device_cpu_s)
    gross_cpu = s.n / s.handshake_cpu_s
    keep, drop = s.raw_mean("keep_wall"), s.raw_mean("drop_wall")
    keep_cpu, drop_cpu = s.raw_mean("keep_cpu"), s.raw_mean("drop_cpu")
    print(f"  handshakes/s {net:7.0f}, net of the fleet's activity, per wall second:")
    sample = min(s.n, RAW_HANDSHAKES)
    print(f"    vs raw memory BIO, sessions kept, {sample} a sample  {keep:5.0f} = "
          f"{_percent(net, keep)}   target >= 80%   {_verdict(net >= 0.8 * keep)}")
    print(f"    vs raw memory BIO, sessions dropped              {drop:5.0f} = "
          f"{_percent(net, drop)}   target >= 80%   {_verdict(net >= 0.8 * drop)}")
    print(f"    the ramp lasted {s.ramp_virtual_s:.0f} simulated s, in which the fleet's own "
          f"activity took {s.ramp_device_s:.1f} s, set aside above; with it: {hs:.0f}/s = "
          f"{_percent(hs, keep).strip()} of kept, {_percent(hs, drop).strip()} of dropped")
    walls = [r.keep_wall for r in s.raw_samples] + [r.drop_wall for r in s.raw_samples]
    cpus = [r.keep_cpu for r in s.raw_samples] + [r.drop_cpu for r in s.raw_samples]
    print(f"    raw: mean of {len(s.raw_samples)} samples of each loop (before, {RAW_INSIDE} "
          f"inside the ramp, after), {min(walls):.0f}-{max(walls):.0f}/s per wall second, "
          f"{min(cpus):.0f}-{max(cpus):.0f}/s per CPU second")
    print(f"    per CPU second of this process (the other jobs on the machine aside): "
          f"{net_cpu:.0f}/s vs kept {keep_cpu:.0f} = {_percent(net_cpu, keep_cpu).strip()}, "
          f"vs dropped {drop_cpu:.0f} = {_percent(net_cpu, drop_cpu).strip()} (with the "
          f"fleet's activity: {_percent(gross_cpu, keep_cpu).strip()}, "
          f"{_percent(gross_cpu, drop_cpu).strip()})")
    if s.raw_full is not None:
        full, full_faults = s.raw_full
        print(f"    vs raw memory BIO, sessions kept, all {s.n} in one loop (after the activity, "
              f"the fleet still connected; {full_faults:.1f} faults per handshake) {full:5.0f}"
              f" = {_percent(net, full)}   target >= 80%   {_verdict(net >= 0.8 * full)}")
    print(f"    minor page faults per handshake: ramp {s.ramp_faults / s.n:.1f}, raw kept "
          f"{s.raw_mean('keep_faults'):.1f}, raw dropped {s.raw_mean('drop_faults'):.1f}")


def zigbee_phase(args: argparse.Namespace) -> None:
    z = fleet_run(args.installations, args.days, "zigbee", capture_first=True)
    # The floor is timed twice around a second ZigBee run and the medians averaged, so that
    # both sides of the ratio see the same (shared, noisy) machine.
    floor_a, old_a, frames_per_day = bare_floor(z.frames, args.days)
    z2 = fleet_run(args.installations, args.days, "zigbee")
    floor_b, old_b, _ = bare_floor(z.frames, args.days)
    floor_s = (floor_a + floor_b) / 2
    old_s = (old_a + old_b) / 2
    z.activity_s = (z.activity_s + z2.activity_s) / 2
    z_rate = z.n * z.days / z.activity_s
    floor_rate = 1 / floor_s
    print(f"  full ZigBee HAN, {z.n} installations: {z_rate:8.1f} installation-days/s "
          f"({1e3 / z_rate:.1f} ms per installation-day; {z.reads} WAN reads)")
    print(f"  bare floor: {frames_per_day} frames per installation-day, "
          f"{1e3 * floor_s:.1f} ms -> {floor_rate:8.1f} installation-days/s")
    print(f"  ZigBee / bare floor = {z_rate / floor_rate:.2f}   target >= 0.5   "
          f"{_verdict(z_rate >= 0.5 * floor_rate)}")
    print(f"    (floor without making the header objects and ZCL bytes, the definition before "
          f"2026-12: {1e3 * old_s:.1f} ms, ratio {z_rate * old_s:.2f})")


def direct_phase(args: argparse.Namespace) -> None:
    d = fleet_run(args.direct, args.days, "direct")
    d_rate = d.n * d.days / d.activity_s
    core = "compiled core" if _compiled() else "pure Python"
    print(f"  direct HAN, {d.n} installations, {core}:  {d_rate:8.1f} installation-days/s "
          f"({1e3 / d_rate:.2f} ms per installation-day)   target >= 200   "
          f"{_verdict(d_rate >= 200)}")


def _compiled() -> bool:
    """Is this process running s1lab's compiled core (an extension module, not the .py)?"""
    import emulator.core.esme
    return not (emulator.core.esme.__file__ or "").endswith(".py")


PHASES: dict[str, Callable[[argparse.Namespace], None]] = {
    "scale": scale_phase, "zigbee": zigbee_phase, "direct": direct_phase}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=20_000, help="installations for RSS/handshakes")
    ap.add_argument("--installations", "-n", type=int, default=100,
                    help="installations for the ZigBee throughput run")
    ap.add_argument("--direct", type=int, default=2000,
                    help="installations for the direct-HAN throughput run")
    ap.add_argument("--days", type=float, default=1.0, help="simulated days per throughput run")
    ap.add_argument("--scale-minutes", type=float, default=10.0,
                    help="simulated minutes of standard activity in the scale phase")
    ap.add_argument("--profile", choices=["zigbee", "direct"],
                    help="cProfile that throughput run only and print the top functions")
    ap.add_argument("--no-compiled", action="store_true",
                    help="run the direct phase on the pure-Python tree only")
    ap.add_argument("--phase", choices=sorted(PHASES),
                    help="run this phase alone, in this process (the bench runs each phase so, "
                         "in a child process of its own)")
    args = ap.parse_args()

    if args.profile:
        prof = cProfile.Profile()
        n = args.installations if args.profile == "zigbee" else args.direct
        r = fleet_run(n, args.days, args.profile, profile=prof)
        print(f"{n * args.days / r.activity_s:.1f} installation-days/s (under the profiler)")
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime").print_stats(35)
        stats.sort_stats("cumulative").print_stats(40)
        return
    if args.phase:
        PHASES[args.phase](args)
        return

    tunables = os.environ.get("GLIBC_TUNABLES")
    print(f"s1lab virtual-time fleet figures, a process per phase, default DMC; {time.ctime()}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"GLIBC_TUNABLES={tunables or '(unset)'} (both sides of every ratio)", flush=True)

    def child(phase: str, compiled: Path | None = None) -> None:
        """One phase in a fresh process: its figures owe nothing to the heap, the collector's
        generations or the freed arenas of the phase before it. ``compiled``: on that build
        of the compiled core (first on the path; ``-P``: not the tree beside the script)."""
        env = dict(os.environ)
        flags = []
        if compiled is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(compiled), str(ROOT)])
            flags = ["-P"]
        subprocess.run([sys.executable, *flags, __file__, *sys.argv[1:], "--phase", phase],
                       check=True, env=env)

    if args.scale:
        child("scale")
    # A phase given 0 installations is skipped (e.g. --installations 0 --direct 0: the scale
    # phase alone).
    if args.installations or args.direct:
        print(f"[throughput] standard activity, {args.days:g} simulated day(s)", flush=True)
    if args.installations:
        child("zigbee")
    if args.direct:
        child("direct")
        if not args.no_compiled:
            if not compile_core.current():
                compile_core.build()
            child("direct", compile_core.DEFAULT_OUT)


if __name__ == "__main__":
    main()
