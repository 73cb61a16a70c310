"""The report for machines: one compact JSON document, keys sorted, cells in (case id, DMC)
order.

``docs/schemas/s1lab-report.schema.json`` describes it. Every cell is a full ``CaseResult``, so
:func:`read_json` gives back the results and the campaign exactly, and any other report can be
rebuilt from this file alone. Apart from ``campaign.started`` and each cell's ``wall_s``, two runs
of one campaign with one seed give the same document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from emulator.errors import ReportError
from harness.report.atomic import write_atomic
from harness.report.info import CampaignInfo
from harness.report.matrix import CoverageRow, Tally, build_matrix
from harness.scenario.result import CaseResult

FORMAT = "s1lab-report/1"


def _tally(t: Tally) -> dict[str, int]:
    return {"cells": t.total, "pass": t.passed, "fail": t.failed, "error": t.errors,
            "skip": t.skipped}


def _coverage(row: CoverageRow) -> dict[str, Any]:
    return {"key": row.key, "name": row.name, "cases": list(row.cases), **_tally(row.tally)}


def report_dict(results: Iterable[CaseResult],
                campaign: CampaignInfo | None = None) -> dict[str, Any]:
    """The report as plain JSON values."""
    matrix = build_matrix(results, campaign)
    cells = sorted(matrix.cells.values(), key=lambda r: (r.case_id, r.dmc))
    return {
        "format": FORMAT,
        "campaign": matrix.info.to_dict(),
        "summary": _tally(matrix.tally()),
        "dmcs": list(matrix.dmcs),
        "cases": [{"case_id": c.case_id, "title": c.title, "behaviours": list(c.behaviours),
                   "clauses": list(c.clauses)} for c in matrix.cases],
        "cells": [{**r.to_dict(), "cell_path": matrix.info.cell_folder(r.dmc, r.case_id)}
                  for r in cells],
        "coverage": {"behaviours": [_coverage(b) for b in matrix.behaviour_coverage()],
                     "clauses": [_coverage(c) for c in matrix.clause_coverage()]},
    }


def json_text(results: Iterable[CaseResult], campaign: CampaignInfo | None = None) -> str:
    try:
        # Compact, so the C encoder does the work: a campaign's timelines can be large.
        return json.dumps(report_dict(results, campaign), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as exc:  # NaN or infinity, which JSON cannot carry
        raise ReportError(f"JSON report: {exc}") from None


def write_json(results: Iterable[CaseResult], path: Path,
               campaign: CampaignInfo | None = None) -> Path:
    """Write the JSON report to ``path`` atomically and return the path."""
    return write_atomic(path, json_text(results, campaign))


def read_json(path: Path) -> tuple[CampaignInfo, list[CaseResult]]:
    """The campaign and the results of a JSON report; ReportError naming the file if it is not
    one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: cannot read a JSON report: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ReportError(f"{path}: not an {FORMAT} document")
    try:
        info = CampaignInfo.from_dict(doc["campaign"])
        cells = [{k: v for k, v in c.items() if k != "cell_path"} for c in doc["cells"]]
        return info, [CaseResult.from_dict(c) for c in cells]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportError(f"{path}: bad cell or campaign: {exc!r}") from None
