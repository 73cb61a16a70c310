"""Reports: JUnit XML for CI, a self-contained HTML report, JSON for machines; and the rich
summary tables of the demo and migrate commands.

    from harness.report import CampaignInfo, write_reports
    write_reports(results, out_dir, CampaignInfo(name="nightly", seed=7, dmcs=("ioc", "foc")))

Each writer takes the cells' ``CaseResult``s and the campaign's metadata, and writes its file
atomically (a temporary file, then a rename).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.report.behaviours import BEHAVIOURS
from harness.report.html import html_text, write_html
from harness.report.info import CampaignInfo
from harness.report.json_report import read_json, report_dict, write_json
from harness.report.junit import junit_xml, write_junit
from harness.report.matrix import Matrix, build_matrix
from harness.report.summary import MAX_ROWS, summary_table
from harness.scenario.result import CaseResult

JUNIT_NAME = "junit.xml"
HTML_NAME = "report.html"
JSON_NAME = "report.json"


def write_reports(results: Iterable[CaseResult], out_dir: Path,
                  campaign: CampaignInfo | None = None) -> dict[str, Path]:
    """Write all three reports into ``out_dir``: {"junit": …, "html": …, "json": …}."""
    cells = list(results)
    return {
        "junit": write_junit(cells, out_dir / JUNIT_NAME, campaign),
        "json": write_json(cells, out_dir / JSON_NAME, campaign),
        "html": write_html(cells, out_dir, campaign, name=HTML_NAME),
    }


__all__ = [
    "BEHAVIOURS",
    "HTML_NAME",
    "JSON_NAME",
    "JUNIT_NAME",
    "MAX_ROWS",
    "CampaignInfo",
    "Matrix",
    "build_matrix",
    "html_text",
    "junit_xml",
    "read_json",
    "report_dict",
    "summary_table",
    "write_html",
    "write_json",
    "write_junit",
    "write_reports",
]
