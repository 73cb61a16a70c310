"""The matrix model shared by the reports: order, duplicates, campaign metadata."""

from __future__ import annotations

import pytest

from emulator.errors import ReportError
from harness.report import CampaignInfo, build_matrix
from harness.report.matrix import natural_key
from harness.scenario.result import Verdict
from tests.report.samples import INFO, campaign, result


def test_order_follows_the_campaign_then_sorted() -> None:
    cells = [*campaign(), result("A-1", "zz-extra", Verdict.PASS),
             result("A-1", "aa-extra", Verdict.PASS)]
    m = build_matrix(cells, CampaignInfo(dmcs=("moc-mds", "ghost", "ioc-credit"),
                                         cases=("SVC-TOPUP-001",)))
    assert m.dmcs == ("moc-mds", "ioc-credit", "aa-extra", "foc-ppmid", "zz-extra")
    assert [c.case_id for c in m.cases][:2] == ["SVC-TOPUP-001", "A-1"]
    assert m.cell("SVC-TOPUP-001", "moc-mds") is None
    assert [(r.case_id, r.dmc) for r in m.problems()] == [
        ("SVC-TOPUP-001", "ioc-credit"), ("EXC-5R-001", "ioc-credit"), ("MIG-RB-001", "moc-mds")]


def test_two_results_for_one_cell_are_refused() -> None:
    cells = [result("A-1", "d", Verdict.PASS), result("A-1", "d", Verdict.FAIL)]
    with pytest.raises(ReportError, match="two results for case 'A-1' on DMC 'd'"):
        build_matrix(cells, INFO)
    with pytest.raises(ReportError, match="must be named"):
        build_matrix([result(" ", "d", Verdict.PASS)])


@pytest.mark.parametrize("bad", [{"started": "2026-12-01 22:00"}, {"name": ""},
                                 {"cell_path": "cells/{nope}"}, {"hostname": " "}])
def test_bad_campaign_metadata_is_a_typed_error(bad: dict[str, str]) -> None:
    with pytest.raises(ReportError, match="campaign"):
        CampaignInfo(**bad)  # type: ignore[arg-type]


def test_natural_order_of_clauses() -> None:
    assert sorted(["TMAD 18.11", "TMAD 18.9", "TMAD 5.25", "SVTAD 4.10", "SVTAD 4.2"],
                  key=natural_key) == ["SVTAD 4.2", "SVTAD 4.10", "TMAD 5.25", "TMAD 18.9",
                                       "TMAD 18.11"]
