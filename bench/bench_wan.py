"""WAN benchmark: N emulated installations on the virtual clock, each establishing mutual TLS and
being read over D simulated days, next to a raw memory-BIO baseline in the same run.

    .venv/bin/python bench/bench_wan.py --installations 1000 --days 2

Prints wall seconds, handshakes/s (and as a share of the raw rate), requests/s (and raw round
trips/s), and peak RSS per installation. Figures are medians of --repeat raw runs; the machine
is noisy, so read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import resource
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from emulator.core.timebase import DAY, MINUTE
from emulator.drivers.clock import current_clock, run_virtual, sleep_until
from emulator.drivers.libssl import MemBio, Session
from emulator.drivers.scheduler import Scheduler
from emulator.drivers.tls import ALPN, NUM_TICKETS, client_context, server_context
from emulator.fleet import Fleet, mint_fleet_pki
from emulator.installation import HanMode, Installation
from emulator.pki import OPENSSL_NO_CHECK_TIME, mint_chf
from emulator.profiles import default_dmc
from emulator.trace import Trace
from emulator.wire.vocabulary import Role
from harness.headend import HeadEnd, HeadEndSession, connect

_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def malloc_trim() -> None:
    """Hand glibc's free pages back to the system (``malloc_trim(0)``): memory allocated
    after this faults fresh (zeroed) pages in, as a growing fleet's does."""
    _LIBC.malloc_trim(0)


def rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def current_rss_kib() -> int:
    with Path("/proc/self/statm").open() as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def pump(a_out: ssl.MemoryBIO | MemBio, b_in: ssl.MemoryBIO | MemBio) -> None:
    data = a_out.read()
    if data:
        b_in.write(data)


def _py_server_context(bundle: Path, trusted_pem: bytes) -> ssl.SSLContext:
    """A CHF context of Python's ssl, as s1lab used before its shared server contexts: the
    other raw baseline (the figures compare with the faster of the two)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384")
    ctx.set_ecdh_curve("prime256v1")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags = ssl.VerifyFlags(int(ctx.verify_flags) | OPENSSL_NO_CHECK_TIME)
    ctx.set_alpn_protocols([ALPN])
    ctx.load_cert_chain(str(bundle))
    ctx.load_verify_locations(cadata=trusted_pem.decode())
    ctx.num_tickets = NUM_TICKETS
    return ctx


def raw_baseline(handshakes: int, round_trips: int, server: str = "s1lab",
                 timer: Callable[[], float] = time.perf_counter, keep: bool = False
                 ) -> tuple[float, float]:
    """Bare memory-BIO mutual-TLS handshakes/s and request round trips/s with s1lab's PKI,
    OpenSSL calls only: s1lab's own sessions (the head-end's context, a CHF on the shared
    server context: ``server="s1lab"``), or Python's ssl on both sides with a context per
    CHF, as s1lab was before (``"python"``). ``timer``: wall time, or this process's CPU
    time (``time.process_time``).

    ``keep=False`` drops each pair of sessions after its handshake, so the next one reuses
    the memory just freed (the loop's heap does not grow). ``keep=True`` ends each handshake
    as a fleet does and keeps both ends until the timed loop is over: the client takes the
    CHF's session ticket (the head-end's sign that the CHF accepted it) and gives back its
    record buffers (s1lab's sessions; Python's ssl has no call for it), and the pairs stay
    in memory, so the heap grows by one connected pair per handshake, into fresh pages
    (glibc's free pages are handed back before the loop and after the pairs are freed), as
    a fleet's heap grows while its installations connect and stay connected."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pki = mint_fleet_pki(folder, 7, 1_767_571_200_000_000)
        cred = mint_chf(pki.device_ca, "00-1B-C5-0C-00-00-00-01", 1_767_571_200_000_000, 365, 7)
        bundle = folder / "chf.pem"
        bundle.write_bytes(cred.bundle_pem())
        trusted = pki.authorities.smso_ca.cert_pem()
        sctx = server_context(bundle, trusted)
        py_sctx = _py_server_context(bundle, trusted)
        cert, key = pki.headend_paths(Role.SMSO)
        cctx = client_context(cert, key, pki.device_ca.cert_pem())
        Obj = ssl.SSLObject | Session
        Bio = ssl.MemoryBIO | MemBio

        def new_pair() -> tuple[Obj, Obj, list[Bio]]:
            if server == "python":
                bios: list[Bio] = [ssl.MemoryBIO() for _ in range(4)]  # c_in, c_out, s_in, s_out
                c_in, c_out, s_in, s_out = bios
                assert isinstance(c_in, ssl.MemoryBIO) and isinstance(c_out, ssl.MemoryBIO)
                assert isinstance(s_in, ssl.MemoryBIO) and isinstance(s_out, ssl.MemoryBIO)
                return (cctx.wrap_bio(c_in, c_out, server_side=False),
                        py_sctx.wrap_bio(s_in, s_out, server_side=True), bios)
            c, s = cctx.tls.session(), sctx.session()
            return c, s, [c.incoming, c.outgoing, s.incoming, s.outgoing]

        def handshake(c: Obj, s: Obj, bios: list[Bio]) -> None:
            c_done = s_done = False
            while not (c_done and s_done):
                if not c_done:
                    try:
                        c.do_handshake()
                        c_done = True
                    except ssl.SSLWantReadError:
                        pass
                    pump(bios[1], bios[2])
                if not s_done:
                    try:
                        s.do_handshake()
                        s_done = True
                    except ssl.SSLWantReadError:
                        pass
                    pump(bios[3], bios[0])

        def settle(c: Obj) -> None:
            """The client's end of a kept handshake: the ticket taken, its buffers given back."""
            try:
                c.read(16384)
            except ssl.SSLWantReadError:
                pass
            else:
                raise AssertionError("application data after a raw handshake")
            if isinstance(c, Session):
                c.release_buffers()

        def one() -> tuple[Obj, Obj, list[Bio]]:
            pair = new_pair()
            handshake(*pair)
            if keep:
                settle(pair[0])
            return pair

        kept: list[tuple[Obj, Obj, list[Bio]]] = []
        if keep:
            gc.collect()
            malloc_trim()
        t0 = timer()
        for _ in range(handshakes):
            if keep:
                kept.append(one())  # no other reference: freed with the list
            else:
                one()
        hs_rate = handshakes / (timer() - t0)
        if keep:
            kept.clear()
            malloc_trim()

        c, s, bios = new_pair()
        handshake(c, s, bios)
        request, response = b"r" * 64, b"R" * 120
        t0 = timer()
        for _ in range(round_trips):
            c.write(request)
            bios[2].write(bios[1].read())
            s.read(16384)
            s.write(response)
            bios[0].write(bios[3].read())
            c.read(16384)
        rt_rate = round_trips / (timer() - t0)
    return hs_rate, rt_rate


async def emulated(
    n: int, days: float, interval_min: int, ramp: int, burst: int, han: HanMode
) -> dict[str, float]:
    clock = current_clock()
    scheduler = Scheduler(clock)
    trace = Trace(None)
    gc.collect()
    rss0 = current_rss_kib()
    t0 = time.perf_counter()
    fleet = Fleet(default_dmc(), n, 1, scheduler, trace, han=han)
    build_s = time.perf_counter() - t0
    gc.collect()
    rss_built = current_rss_kib()
    headend = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for)

    # The head-end paces its ramp (as a real one must: design.md §10): at most `ramp`
    # handshakes in flight, so the peak holds only that many handshake buffers.
    gate = asyncio.Semaphore(ramp)

    async def paced(inst: Installation) -> HeadEndSession:
        async with gate:
            return await connect(fleet.link_to(inst).a, headend, clock)

    t0 = time.perf_counter()
    sessions: list[HeadEndSession] = await asyncio.gather(
        *[paced(inst) for inst in fleet.installations])
    hs_s = time.perf_counter() - t0
    rss_connected = current_rss_kib()

    start = clock.now_us()
    end = start + int(days * DAY)
    interval = interval_min * MINUTE

    async def reader(session: HeadEndSession, esme: str, offset: int) -> int:
        count = 0
        at = start + offset
        while at < end:
            await sleep_until(at)
            await session.read_instantaneous(esme)
            count += 1
            at += interval
        return count

    t0 = time.perf_counter()
    counts = await asyncio.gather(*[
        reader(s, inst.esme.eui, (i * 997) % interval)
        for i, (s, inst) in enumerate(zip(sessions, fleet.installations, strict=True))
    ])
    run_s = time.perf_counter() - t0

    # A burst: every head-end session sends `burst` reads back to back at one virtual instant,
    # so wall time is the WAN request path alone (frame, MAC, TLS, CHF, meter, and back).
    async def burst_reads(session: HeadEndSession, esme: str) -> int:
        for _ in range(burst):
            await session.read_instantaneous(esme)
        return burst

    t0 = time.perf_counter()
    burst_counts = await asyncio.gather(*[
        burst_reads(s, inst.esme.eui) for s, inst in zip(sessions, fleet.installations,
                                                         strict=True)])
    burst_s = time.perf_counter() - t0
    peak = max(rss_kib(), current_rss_kib())
    requests = sum(counts)
    for s in sessions:
        await s.close()
    fleet.close()
    scheduler.close()
    return {
        "build_s": build_s, "handshake_s": hs_s, "run_s": run_s, "requests": requests,
        "rss0_kib": rss0, "rss_built_kib": rss_built, "rss_connected_kib": rss_connected,
        "peak_kib": peak,
        "timer_fires": scheduler.fired, "burst_requests": sum(burst_counts), "burst_s": burst_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--installations", "-n", type=int, default=1000)
    ap.add_argument("--days", type=float, default=2.0)
    ap.add_argument("--interval-min", type=int, default=30, help="read interval (minutes)")
    ap.add_argument("--repeat", type=int, default=3, help="raw baseline repetitions (median)")
    ap.add_argument("--ramp", type=int, default=50, help="handshakes in flight at once")
    ap.add_argument("--burst", type=int, default=20, help="back-to-back reads per session")
    ap.add_argument("--han", choices=["zigbee", "direct"], default="zigbee",
                    help="HAN inside each installation (zigbee: real frames; direct: calls)")
    args = ap.parse_args()

    wall0 = time.perf_counter()
    r = run_virtual(emulated(args.installations, args.days, args.interval_min, args.ramp,
                             args.burst, args.han))
    wall = time.perf_counter() - wall0
    # The faster raw server of the two (s1lab's shared context, or a context per CHF).
    raws = [max(raw_baseline(300, 20_000), raw_baseline(300, 20_000, "python"))
            for _ in range(args.repeat)]
    raw_hs = statistics.median(x[0] for x in raws)
    raw_rt = statistics.median(x[1] for x in raws)

    n = args.installations
    hs_rate = n / r["handshake_s"]
    req_rate = r["requests"] / r["run_s"]
    per_inst = (r["peak_kib"] - r["rss0_kib"]) / n
    print(f"s1lab WAN benchmark: {n} installations, {args.days:g} simulated days, "
          f"reads every {args.interval_min} min, HAN: {args.han}")
    print(f"  wall time (emulated run)      {wall:8.2f} s   (fleet build {r['build_s']:.2f} s, "
          f"handshakes {r['handshake_s']:.2f} s, reads {r['run_s']:.2f} s)")
    print(f"  handshakes/s (emulated)       {hs_rate:8.0f}")
    print(f"  handshakes/s (raw MemoryBIO)  {raw_hs:8.0f}   -> emulated = "
          f"{100 * hs_rate / raw_hs:.0f}% of raw")
    burst_rate = r["burst_requests"] / r["burst_s"]
    print(f"  requests/s over {args.days:g} days       {req_rate:8.0f}   "
          f"({int(r['requests'])} requests, {int(r['timer_fires'])} device timer fires "
          "in the same wall time)")
    print(f"  requests/s, burst (WAN path)  {burst_rate:8.0f}   ({int(r['burst_requests'])} "
          f"requests back to back)")
    print(f"  round trips/s (raw MemoryBIO) {raw_rt:8.0f}   -> burst = "
          f"{100 * burst_rate / raw_rt:.1f}% of raw")
    print(f"  peak RSS per installation     {per_inst:8.1f} KiB  (RSS before fleet "
          f"{r['rss0_kib'] / 1024:.0f} MiB, peak {r['peak_kib'] / 1024:.0f} MiB)")
    built = (r["rss_built_kib"] - r["rss0_kib"]) / n
    connected = (r["rss_connected_kib"] - r["rss0_kib"]) / n
    print(f"    of which: built {built:.1f} KiB, connected {connected:.1f} KiB (both TLS ends)")


if __name__ == "__main__":
    main()
