"""Frame latency through a virtual RCP on a socat pty pair, next to the direct in-process medium.

    .venv/bin/python bench/bench_rcp.py [--frames 1000] [--baudrate 460800]

One run, three paths; each sends unicast 802.15.4 data frames (60-byte payload, ack requested)
one at a time and times them from ``transmit()`` to the far radio's ``on_receive`` (one way),
and until ``transmit()`` returns (the ack is back: for Spinel that includes LAST_STATUS):

- direct:    memory radio A -> memory radio B (soft MAC, in-process bus);
- host->air: ``spinel://`` host radio -> pty -> socat -> pty -> virtual RCP -> bus -> radio B;
- air->host: radio B -> bus -> virtual RCP -> pty -> socat -> pty -> host radio.

The host, the RCP and radio B share one asyncio loop (one process), so the figures include one
loop's scheduling for all of them, not two processes'; socat is a real relay between two ptys.
Prints median and p99 in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from emulator.wire.ieee802154 import build_mac, mac_data
from hw.memory import MemoryRadio
from hw.radio import AddressFilter, Radio, RxFrame, TxStatus
from hw.rcp import VirtualRcp
from hw.spinel import SpinelRadio

PAN = 0x1234
PAYLOAD = bytes(range(60))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class _Arrivals:
    def __init__(self) -> None:
        self.at: dict[int, int] = {}
        self.event = asyncio.Event()

    def __call__(self, frame: RxFrame) -> None:
        self.at[frame.psdu[2]] = time.perf_counter_ns()
        self.event.set()


async def _run(sender: Radio, receiver: Radio, src: int, dst: int, frames: int
               ) -> tuple[list[float], list[float]]:
    arrivals = _Arrivals()
    receiver.on_receive = arrivals
    one_way: list[float] = []
    done: list[float] = []
    for i in range(frames):
        seq = i & 0xFF
        psdu = build_mac(mac_data(seq, PAN, dst, src, PAYLOAD))
        arrivals.at.pop(seq, None)
        arrivals.event.clear()
        t0 = time.perf_counter_ns()
        status = await sender.transmit(psdu)
        t1 = time.perf_counter_ns()
        if status is not TxStatus.OK:
            raise RuntimeError(f"frame {i}: {status.name}")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                while seq not in arrivals.at:
                    await arrivals.event.wait()
                    arrivals.event.clear()
        one_way.append((arrivals.at[seq] - t0) / 1000)
        done.append((t1 - t0) / 1000)
    return one_way, done


async def _configure(radio: Radio, short: int) -> None:
    await radio.configure(channel=15, filter=AddressFilter(
        pan_id=PAN, shorts=frozenset({short}), extended=frozenset({bytes(7) + bytes((short,))})))


async def bench(frames: int, baudrate: int, rcp_end: Path, host_end: Path
                ) -> list[tuple[str, list[float], list[float]]]:
    """The three paths; ``rcp_end`` and ``host_end`` are the two ends of a pty pair."""
    rows: list[tuple[str, list[float], list[float]]] = []
    a, b = MemoryRadio("direct"), MemoryRadio("direct")
    for radio, short in ((a, 1), (b, 2)):
        await radio.open()
        await _configure(radio, short)
    rows.append(("direct (in-process)", *await _run(a, b, 1, 2, frames)))
    await a.close()
    await b.close()

    far = MemoryRadio("rcp")
    await far.open()
    await _configure(far, 2)
    rcp = VirtualRcp(str(rcp_end), MemoryRadio("rcp"), baudrate=baudrate, log=lambda line: None)
    await rcp.start()
    host = SpinelRadio(str(host_end), baudrate)
    host.config.filter = AddressFilter(pan_id=PAN, shorts=frozenset({1}),
                                       extended=frozenset({bytes(7) + b"\x01"}))
    await host.open()
    rows.append(("host -> air (virtual RCP, pty)", *await _run(host, far, 1, 2, frames)))
    rows.append(("air -> host (virtual RCP, pty)", *await _run(far, host, 2, 1, frames)))
    await host.close()
    await rcp.close()
    await far.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--baudrate", type=int, default=460800)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rcp_end, host_end = Path(tmp) / "rcp", Path(tmp) / "host"
        socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={rcp_end}",
                                  f"pty,raw,echo=0,link={host_end}"])
        try:
            deadline = time.monotonic() + 10
            while not (rcp_end.exists() and host_end.exists()):
                if time.monotonic() > deadline:
                    raise SystemExit("socat made no pty pair")
                time.sleep(0.01)
            rows = asyncio.run(bench(args.frames, args.baudrate, rcp_end, host_end))
        finally:
            socat.terminate()
            socat.wait(timeout=10)
    print(f"{args.frames} frames per path, {len(PAYLOAD)}-byte payload, ack requested; "
          "microseconds")
    print(f"{'path':34} {'one-way median':>15} {'p99':>9} {'tx-done median':>15} {'p99':>9}")
    for name, one_way, done in rows:
        print(f"{name:34} {statistics.median(one_way):15.0f} {_percentile(one_way, 0.99):9.0f}"
              f" {statistics.median(done):15.0f} {_percentile(done, 0.99):9.0f}")


if __name__ == "__main__":
    main()
