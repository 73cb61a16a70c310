"""Running campaigns in-process on local worker processes: fresh, --rerun-failed, --resume
with nothing left, the CLI's exit status, and diffs of two results folders."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from harness.campaign import STORE_NAME, Store, diff_campaigns, load_campaign, run_campaign
from harness.scenario import Verdict
from tests.campaign.conftest import DMCS, s1lab, some_cases, write_campaign, write_case

pytestmark = pytest.mark.io  # worker processes, and the s1lab command as a subprocess


def _sessions(out: Path) -> dict[tuple[str, str], tuple[int | None, int]]:
    with Store.open_existing(out) as store:
        return {(c.case_id, c.dmc): (c.session, c.runs) for c in store.cells()}


def test_rerun_failed_reruns_only_failed_cells_and_diff_shows_the_change(
        tmp_path: Path) -> None:
    case = write_case(tmp_path, passing=False)
    campaign = load_campaign(str(write_campaign(tmp_path, cases=some_cases(2),
                                                files=[case.name])))
    out = tmp_path / "out"
    first = run_campaign(campaign, out, workers=2)
    assert not first.ok and first.counts[Verdict.FAIL] == len(DMCS)
    assert first.ran == first.cells == 3 * len(DMCS) and first.unfinished == 0
    shutil.copytree(out, tmp_path / "before")
    before = _sessions(out)
    assert {session for session, _ in before.values()} == {1}

    write_case(tmp_path, passing=True)  # the fix
    second = run_campaign(campaign, out, mode="rerun-failed", workers=2)
    assert second.ok and second.ran == len(DMCS)
    after = _sessions(out)
    for key, (session, runs) in after.items():
        rerun = key[0] == "own-case"
        assert (session, runs) == ((2, 2) if rerun else before[key]), key

    nothing = run_campaign(campaign, out, mode="resume")
    assert nothing.ran == 0 and nothing.ok and _sessions(out) == after

    diff = diff_campaigns(tmp_path / "before", out)
    assert [(c.case_id, c.dmc, c.before, c.after) for c in diff.changed] == \
           [("own-case", dmc, Verdict.FAIL, Verdict.PASS) for dmc in DMCS]
    assert not diff.new and not diff.missing and not diff.same_outcomes
    proc = s1lab("campaign", "diff", tmp_path / "before", out, check=1)
    assert f"changed  own-case on {DMCS[0]}: fail -> pass" in proc.stdout
    s1lab("campaign", "diff", out, out, check=0)


def test_diff_reports_new_missing_cells_and_timing(tmp_path: Path) -> None:
    cases = some_cases(3)
    a = run_campaign(load_campaign(str(write_campaign(tmp_path, name="a", cases=cases[:2]))),
                     tmp_path / "a", workers=1).out
    b = run_campaign(load_campaign(str(write_campaign(tmp_path, name="b", cases=cases[1:]))),
                     tmp_path / "b", workers=1).out
    with sqlite3.connect(b / STORE_NAME) as db:  # one cell of B ran much slower
        db.execute("UPDATE cells SET wall_s = wall_s + 10 WHERE case_id = ? AND dmc = ?",
                   (cases[1], DMCS[0]))
    diff = diff_campaigns(a, b)
    assert diff.notes == ("note     name differs: a -> b",)
    assert {(case, dmc) for case, dmc, _ in diff.new} == {(cases[2], d) for d in DMCS}
    assert {(case, dmc) for case, dmc, _ in diff.missing} == {(cases[0], d) for d in DMCS}
    assert [(t.case_id, t.dmc) for t in diff.timing] == [(cases[1], DMCS[0])]
    assert diff.timing[0].after_s > 10 > diff.timing[0].before_s
    assert diff.wall_b_s > 10  # the sum of B's cells' wall times


def test_the_command_exits_1_when_a_cell_fails_and_names_its_reproduction(
        tmp_path: Path) -> None:
    case = write_case(tmp_path, passing=False)
    path = write_campaign(tmp_path, dmcs=DMCS[:1], files=[case.name])
    proc = s1lab("campaign", "run", path, "--out", tmp_path / "out", "--workers", "1",
                 check=1)
    repro = f"s1lab run {case} --dmc {DMCS[0]} --seed 5"
    assert "1 fail" in proc.stdout and f"FAIL   {repro}" in proc.stdout.splitlines()
    assert f"  reproduce: {repro}" in proc.stderr.splitlines()
    proc = s1lab("campaign", "run", path, "--out", tmp_path / "out", "--resume", "--seed",
                 "9", check=2)
    assert proc.stderr.strip() == (f"s1lab campaign: error: {tmp_path / 'out'}: cannot "
                                   "--resume: this folder was run with seed 5, not 9")
