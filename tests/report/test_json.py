"""The JSON report: valid against its shipped schema, stable, and it gives the results back."""

from __future__ import annotations

import json
import random
from pathlib import Path

import jsonschema
import pytest

from emulator.errors import ReportError
from harness.report import read_json, report_dict, write_json
from harness.report.behaviours import BEHAVIOURS
from tests.report.samples import INFO, campaign

SCHEMA = Path(__file__).parents[2] / "docs" / "schemas" / "s1lab-report.schema.json"


def test_round_trip_gives_back_the_campaign_and_every_result(tmp_path: Path) -> None:
    cells = campaign()
    info, back = read_json(write_json(cells, tmp_path / "report.json", INFO))
    assert info == INFO
    assert back == sorted(cells, key=lambda r: (r.case_id, r.dmc))


def test_valid_against_the_shipped_schema(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    doc = json.loads(write_json(campaign(), tmp_path / "r.json", INFO).read_text())
    validator.validate(doc)
    doc["cells"][0]["verdict"] = "maybe"  # and the schema is not vacuous
    assert not validator.is_valid(doc)


def test_stable_whatever_the_order_results_arrive_in(tmp_path: Path) -> None:
    cells = campaign()
    shuffled = cells[:]
    random.Random(7).shuffle(shuffled)
    a = write_json(cells, tmp_path / "a.json", INFO).read_bytes()
    b = write_json(shuffled, tmp_path / "b.json", INFO).read_bytes()
    assert a == b
    doc = json.loads(a)
    assert list(doc) == sorted(doc)
    assert [(c["case_id"], c["dmc"]) for c in doc["cells"]] == sorted(
        (r.case_id, r.dmc) for r in cells)


def test_summary_and_coverage() -> None:
    doc = report_dict(campaign(), INFO)
    assert doc["summary"] == {"cells": 16, "pass": 12, "fail": 2, "error": 1, "skip": 1}
    assert doc["dmcs"] == ["ioc-credit", "moc-mds", "foc-ppmid"]
    behaviours = {b["key"]: b for b in doc["coverage"]["behaviours"]}
    assert set(behaviours) == {str(n) for n in BEHAVIOURS}
    assert behaviours["2"] == {"key": "2", "name": "Rollback restores the SMSO",
                               "cases": ["MIG-RB-001"], "cells": 3, "pass": 2, "fail": 1,
                               "error": 0, "skip": 0}
    assert behaviours["3"]["cases"] == [] and behaviours["3"]["cells"] == 0
    clauses = [c["key"] for c in doc["coverage"]["clauses"]]
    assert clauses == ["SVTAD 4.2", "TMAD 5.12", "TMAD 5.30", "TMAD 18.9", "TMAD 18.11"]
    cell = next(c for c in doc["cells"] if c["case_id"] == "MIG-RB-001" and c["dmc"] == "moc-mds")
    assert cell["cell_path"] == "cells/moc-mds/MIG-RB-001"


def test_not_a_report_is_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"format": "other"}')
    with pytest.raises(ReportError, match=r"x\.json: not an s1lab-report/1 document"):
        read_json(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{")
    with pytest.raises(ReportError, match=r"y\.json: cannot read"):
        read_json(tmp_path / "y.json")
