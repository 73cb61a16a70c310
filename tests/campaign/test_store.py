"""The campaign store: the plan written at creation, one transaction per cell, what each mode
runs, and refusal to go on with another campaign's folder."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from emulator.errors import CampaignError, CampaignMismatch
from harness.campaign import STORE_NAME, Plan, Store, expand, load_campaign
from harness.scenario import Verdict
from tests.campaign.conftest import some_cases, write_campaign


def _plan(tmp_path: Path, seed: int | None = None, n: int = 2) -> Plan:
    return expand(load_campaign(str(write_campaign(tmp_path, cases=some_cases(n)))), seed)


def test_a_new_store_holds_the_plan_and_nothing_finished(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    with Store.open_for(tmp_path / "out", plan, "fresh") as store:
        assert [(c.case_id, c.dmc, c.verdict, c.runs) for c in store.cells()] == \
               [(*c.key, None, 0) for c in plan.cells]
        assert store.results() == []
        assert store.to_run(plan, "resume") == list(plan.cells)
        assert store.meta()["fingerprint"] == plan.fingerprint
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [STORE_NAME]


def test_each_record_is_one_committed_transaction(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    out = tmp_path / "out"
    first, second, third = plan.cells[:3]
    with Store.open_for(out, plan, "fresh") as store:
        session = store.begin_session("fresh", "local", 1)
        store.record(first, replace(first.skipped(plan.seed), verdict=Verdict.PASS), session)
        # A second connection (another process) sees the committed cell at once.
        reader = sqlite3.connect(out / STORE_NAME)
        done = reader.execute("SELECT case_id, dmc, verdict, runs FROM cells "
                              "WHERE verdict IS NOT NULL").fetchall()
        assert done == [(*first.key, "pass", 1)]
        store.record(second, replace(second.skipped(plan.seed), verdict=Verdict.FAIL), session)
        store.record(third, replace(third.skipped(plan.seed), verdict=Verdict.ERROR), session)
        reader.close()
        assert [r.case_id for r in store.results()] == [first.case_id, second.case_id,
                                                        third.case_id]
        assert store.results()[1] == replace(second.skipped(plan.seed), verdict=Verdict.FAIL)
        assert store.to_run(plan, "resume") == list(plan.cells[3:])
        assert store.to_run(plan, "rerun-failed") == [second, third, *plan.cells[3:]]
        ghost = replace(first, case_id="not-in-plan")
        with pytest.raises(CampaignError, match="not in the plan"):
            store.record(ghost, ghost.skipped(plan.seed), session)
        assert len(store.results()) == 3


def test_fresh_refuses_a_folder_with_results(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    Store.open_for(tmp_path / "out", plan, "fresh").close()
    with pytest.raises(CampaignError, match="already holds campaign results"):
        Store.open_for(tmp_path / "out", plan, "fresh")


def test_resume_refuses_another_campaign_or_seed(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    out = tmp_path / "out"
    Store.open_for(out, plan, "fresh").close()
    with pytest.raises(CampaignMismatch, match="was run with seed 5, not 6"):
        Store.open_for(out, _plan(tmp_path, seed=6), "resume")
    with pytest.raises(CampaignMismatch, match="another matrix of campaign 't'"):
        Store.open_for(out, _plan(tmp_path, n=1), "rerun-failed")
    with pytest.raises(CampaignMismatch, match="holds campaign 't', not 'u'"):
        Store.open_for(out, replace(plan, name="u"), "resume")
    with pytest.raises(CampaignError, match="no campaign results here"):
        Store.open_for(tmp_path / "empty", plan, "resume")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / STORE_NAME).write_text("not sqlite")
    with pytest.raises(CampaignError):
        Store.open_for(tmp_path / "junk", plan, "resume")
