"""Matrix expansion: DMC x case cells in a fixed order, SKIP cells for cases that do not apply."""

from __future__ import annotations

from pathlib import Path

from emulator.profiles import load_dmc
from harness.campaign import expand, load_campaign
from harness.scenario import Verdict
from harness.scenario.catalogue import load_catalogue
from harness.scenario.runner import run_cell
from tests.campaign.conftest import DMCS, some_cases, write_campaign


def test_cells_are_case_major_with_every_dmc(tmp_path: Path) -> None:
    cases = some_cases(3)
    plan = expand(load_campaign(str(write_campaign(tmp_path, cases=cases))))
    assert [c.key for c in plan.cells] == [(case, dmc) for case in cases for dmc in DMCS]
    assert [c.ordinal for c in plan.cells] == list(range(len(cases) * len(DMCS)))
    assert plan.seed == 5 and plan.dmcs == tuple(DMCS)


def test_non_applicable_cells_are_skip_with_a_reason(tmp_path: Path) -> None:
    catalogue = load_catalogue()
    plan = expand(load_campaign(str(write_campaign(tmp_path, cases=sorted(catalogue)))))
    for cell in plan.cells:
        applies = catalogue[cell.case_id].applies_to(load_dmc(cell.dmc).name)
        assert (cell.skip_reason is None) == applies
    skipped = [c for c in plan.cells if c.skip_reason is not None]
    assert skipped, "the catalogue has cases for some DMCs only"
    cell = skipped[0]
    result = cell.skipped(plan.seed)
    assert result.repro == f"s1lab run {cell.case_ref} --dmc {cell.dmc} --seed 5"
    # The same SKIP, reason and reproduction line as the runner gives when asked to run it.
    ran = run_cell(cell.case_ref, cell.dmc, plan.seed, None)
    assert (result.verdict, result.error, result.repro) == (Verdict.SKIP, ran.error, ran.repro)
    assert result.error and result.error.startswith("skipped: ")


def test_tags_and_ids_select_each_case_once(tmp_path: Path) -> None:
    catalogue = load_catalogue()
    tag = sorted({t for case in catalogue.values() for t in case.tags})[0]
    tagged = sorted(cid for cid, case in catalogue.items() if tag in case.tags)
    plan = expand(load_campaign(str(write_campaign(tmp_path, cases=[tagged[-1]], tags=[tag]))))
    ids = list(dict.fromkeys(c.case_id for c in plan.cells))
    assert ids == [tagged[-1], *tagged[:-1]]


def test_the_fingerprint_follows_seed_and_matrix(tmp_path: Path) -> None:
    cases = some_cases(2)
    campaign = load_campaign(str(write_campaign(tmp_path, cases=cases)))
    assert expand(campaign).fingerprint == expand(campaign, 5).fingerprint
    assert expand(campaign).fingerprint != expand(campaign, 6).fingerprint
    other = load_campaign(str(write_campaign(tmp_path, name="t", cases=cases[:1])))
    assert expand(other).fingerprint != expand(campaign).fingerprint


def test_all_cases_is_the_whole_catalogue_once(tmp_path: Path) -> None:
    catalogue = load_catalogue()
    first = sorted(catalogue)[0]
    plan = expand(load_campaign(str(write_campaign(tmp_path, all_cases=True, cases=[first]))))
    assert list(dict.fromkeys(c.case_id for c in plan.cells)) == sorted(catalogue)
    assert len(plan.cells) == len(catalogue) * len(DMCS)
