"""All three reports at once, and rebuilt from the JSON report alone."""

from __future__ import annotations

from pathlib import Path

from harness.report import (
    HTML_NAME,
    JSON_NAME,
    JUNIT_NAME,
    read_json,
    summary_table,
    write_reports,
)
from tests.report.samples import INFO, campaign


def test_write_reports_and_rebuild_them_from_the_json(tmp_path: Path) -> None:
    first = write_reports(campaign(), tmp_path / "a", INFO)
    assert {k: p.name for k, p in first.items()} == {
        "junit": JUNIT_NAME, "json": JSON_NAME, "html": HTML_NAME}
    info, results = read_json(first["json"])
    again = write_reports(results, tmp_path / "b", info)
    for kind in first:
        assert first[kind].read_bytes() == again[kind].read_bytes(), kind


def test_the_demo_summary_is_still_exported_here() -> None:
    assert summary_table.__module__ == "harness.report.summary"
