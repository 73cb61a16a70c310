"""The demo job in-process: it runs, and the same seed gives a byte-identical trace."""

from __future__ import annotations

import json
from pathlib import Path

from emulator.drivers.clock import run_virtual
from harness.demo import DemoConfig, run_demo


def _run(out: Path, seed: int, n: int = 4, days: float = 1.0) -> str:
    summary = run_virtual(run_demo(DemoConfig(installations=n, days=days, seed=seed, out=out)))
    assert summary.installations == n
    return (out / "trace.jsonl").read_text()


def test_demo_writes_trace_and_summary(tmp_path: Path) -> None:
    trace = _run(tmp_path, seed=11, n=10, days=2)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["handshakes"] == 10
    assert summary["requests"] > 10 * 90  # reads every 30 min for two days, and more
    assert summary["errors"] == 0
    assert summary["top_ups_accepted"] > 0
    assert summary["top_ups_rejected"] >= 1  # the deliberately replayed UTRN
    lines = trace.splitlines()
    assert len(lines) == summary["trace_lines"]
    first = json.loads(lines[0])
    assert set(first) == {"time", "us", "installation", "device", "event", "fields"}
    times = [json.loads(line)["us"] for line in lines]
    assert times == sorted(times)
    rows = summary["per_installation"]
    assert all(r["import_kwh"] > 0 for r in rows)


def test_same_seed_same_trace_other_seed_other_consumption(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", seed=5)
    b = _run(tmp_path / "b", seed=5)
    c = _run(tmp_path / "c", seed=6)
    assert a == b
    assert a != c

    def consumption(out: Path) -> list[float]:
        rows = json.loads((out / "summary.json").read_text())["per_installation"]
        return [r["import_kwh"] for r in rows]

    assert consumption(tmp_path / "a") == consumption(tmp_path / "b")
    assert consumption(tmp_path / "a") != consumption(tmp_path / "c")
