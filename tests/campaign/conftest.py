"""Helpers for campaign tests: small campaign files over real catalogue cases, the s1lab
command as a subprocess, and reports compared with timing left out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from harness.scenario.catalogue import load_catalogue

S1LAB = [sys.executable, "-m", "harness"]
DMCS = ["default", "ioc-credit", "foc-ppmid"]


def some_cases(n: int) -> list[str]:
    """``n`` catalogue case ids (the first by id: a fixed, small choice)."""
    return sorted(load_catalogue())[:n]


def write_campaign(folder: Path, name: str = "t", **fields: Any) -> Path:
    body: dict[str, Any] = {"schema_version": 1, "name": name, "seed": 5, "dmcs": DMCS}
    body.update(fields)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def s1lab(*args: str | Path, check: int | None = None,
          timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.run([*S1LAB, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if check is not None:
        assert proc.returncode == check, proc.stdout + proc.stderr
    return proc


_TIMING = frozenset({"wall_s", "started"})  # the fields two runs with one seed may differ in


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in _TIMING}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def report_without_timing(out: Path) -> Any:
    """The campaign's JSON and JUnit reports with wall times and the start time removed."""
    junit = (out / "junit.xml").read_text()
    junit = re.sub(r' (time|timestamp)="[^"]*"', "", junit)
    return _untimed(json.loads((out / "report.json").read_text())), junit


def write_case(folder: Path, passing: bool) -> Path:
    """A scenario file of our own whose expectation holds or not (for --rerun-failed)."""
    path = folder / "own-case.yaml"
    path.write_text(yaml.safe_dump({
        "id": "own-case", "title": "a case of the test's own", "tags": ["own"],
        "behaviours": [25], "clauses": ["SRV 4.1"],
        "actions": [{"wait": "10m", "as": "w"}],
        "expect": [{"register": {"device": "esme", "name": "import_wh",
                                 "at_least": 0 if passing else 10**9}}]}))
    return path
