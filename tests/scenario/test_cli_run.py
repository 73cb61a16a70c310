"""``s1lab run``: the summary, exit 0 on pass, 1 on fail, 2 with one line for bad input; the
reproduction line of a failing case, run alone, fails the same way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.scenario import CaseResult

S1LAB = [sys.executable, "-m", "harness"]
CASE = """\
id: cli-topup
title: a top-up through the CLI
behaviours: [25]
clauses: ["SRV 2.2"]
start: {state: active}
actions:
  - top_up: {amount_pence: 300}
    as: t1
expect:
  - outcome: {of: t1, is: ACCEPTED}
"""


ENV = {**os.environ, "COLUMNS": "200"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*S1LAB, "run", *args], capture_output=True, text=True, timeout=300,
                          check=False, env=ENV)


@pytest.mark.io
@pytest.mark.slow
def test_exit_codes_summary_and_evidence(tmp_path: Path) -> None:
    ok = run("svc-topup-utrn", "--dmc", "default", "--seed", "2", "--out", str(tmp_path / "c"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS" in ok.stdout and "reproduce: s1lab run svc-topup-utrn --dmc default --seed 2" \
        in ok.stdout
    assert {p.name for p in (tmp_path / "c").iterdir()} >= {
        "trace.jsonl", "han.pcap", "han-keys.txt", "CaseResult.json"}

    case = tmp_path / "case.yaml"
    case.write_text(CASE.replace("is: ACCEPTED", "is: LOCKED_OUT"), encoding="utf-8")
    fail = run(str(case), "--out", str(tmp_path / "f"))
    assert fail.returncode == 1, fail.stdout + fail.stderr
    assert "FAIL" in fail.stdout and "status is ACCEPTED, expected LOCKED_OUT" in fail.stdout
    result = CaseResult.from_json((tmp_path / "f" / "CaseResult.json").read_text())
    # The reproduction line, run alone, fails the same way.
    again = subprocess.run([sys.executable, "-m", "harness", *result.repro.split()[1:]],
                           capture_output=True, text=True, timeout=300, check=False, env=ENV)
    assert again.returncode == 1 and "status is ACCEPTED, expected LOCKED_OUT" in again.stdout

    skip = run("mig-gt01-preflight", "--dmc", "ioc-credit")
    assert skip.returncode == 1 and "SKIP" in skip.stdout

    listed = run("--list")
    assert listed.returncode == 0 and "mig-foc-dormant" in listed.stdout


@pytest.mark.io
@pytest.mark.parametrize(("args", "needle"), [
    (["no-such-case"], "no-such-case: no such catalogue case or file"),
    (["svc-topup-utrn", "--dmc", "nope"], "nope"),
    ([], "missing SCENARIO"),
    (["BAD"], "case.yaml:7: actions[0].top_up.amount_pence: Input should be greater than 0"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    case = tmp_path / "case.yaml"
    case.write_text(CASE.replace("amount_pence: 300", "amount_pence: 0"), encoding="utf-8")
    args = [str(case) if a == "BAD" else a for a in args]
    result = run(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("s1lab run: error: ") and needle in line, line
