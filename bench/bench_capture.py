"""Capture benchmark: what ``--capture`` (WAN + HAN + TLS key log + the pcapng) costs a run.

    .venv/bin/python bench/bench_capture.py --installations 100 --days 1 [--repeat 1]

Runs the demo workload (the SMSO reads every installation every 30 minutes over mutual TLS;
full ZigBee HAN) on the virtual clock, without and with a capture folder, alternating, and
prints the wall time of each, the capture's share of the capturing run's wall time (median
over --repeat pairs) next to the target (at most 15%), and what the capture holds.

The machine is shared and the difference of two runs is noisy, so the capturing run also
times its capture code directly (HAN frame records, WAN packet synthesis and records, the
pcapng assembly by mergecap and editcap) and prints that share too; OpenSSL's key-log
writes happen inside the handshakes and are in the difference only.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import emulator.capture.evidence as evidence
from emulator.capture.tcp_stream import TcpFlow
from emulator.drivers.capture import HanCapture, WanCapture
from emulator.drivers.clock import DEFAULT_START, run_virtual
from harness.demo import DemoConfig, run_demo

TARGET = 0.15
_spent = [0.0]


def _timed(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _spent[0] += time.perf_counter() - start
    return wrapper


def _instrument() -> None:
    """Time the capture's own code (outermost calls only: record() wraps nothing timed)."""
    HanCapture.frame = _timed(HanCapture.frame)  # type: ignore[method-assign]
    WanCapture.record = _timed(WanCapture.record)  # type: ignore[method-assign]
    for name in ("open", "send", "close", "reset"):
        setattr(TcpFlow, name, _timed(getattr(TcpFlow, name)))
    evidence.merge_with_secrets = _timed(evidence.merge_with_secrets)


def one(installations: int, days: float, seed: int, capture: Path | None) -> float:
    cfg = DemoConfig(installations=installations, days=days, seed=seed, out=None,
                     capture=capture)
    start = time.perf_counter()
    run_virtual(run_demo(cfg), start=DEFAULT_START)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installations", type=int, default=100)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    plain: list[float] = []
    captured: list[float] = []
    direct: list[float] = []
    _instrument()
    one(2, 0.05, args.seed, None)  # warm up: imports, first PKI, caches
    with tempfile.TemporaryDirectory(prefix="s1lab-bench-capture-") as tmp:
        folder = Path(tmp) / "cap"
        for _ in range(args.repeat):
            plain.append(one(args.installations, args.days, args.seed, None))
            _spent[0] = 0.0
            captured.append(one(args.installations, args.days, args.seed, folder))
            direct.append(_spent[0] / captured[-1])
        sizes = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
    shares = [(c - p) / c for p, c in zip(plain, captured, strict=True)]
    share = statistics.median(shares)
    print(f"{args.installations} installations x {args.days:g} days, full ZigBee HAN, "
          f"{args.repeat} pair(s)")
    print(f"  without capture: {statistics.median(plain):8.2f} s wall")
    print(f"  with capture:    {statistics.median(captured):8.2f} s wall "
          f"(WAN + HAN + TLS key log + capture.pcapng)")
    print(f"  capture share of the run (difference): {share:6.1%}   target: <= {TARGET:.0%}   "
          f"{'OK' if share <= TARGET else 'OVER'}")
    timed = statistics.median(direct)
    print(f"  capture share of the run (timed code): {timed:6.1%}   target: <= {TARGET:.0%}   "
          f"{'OK' if timed <= TARGET else 'OVER'}")
    print("  files: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items()))


if __name__ == "__main__":
    main()
