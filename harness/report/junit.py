"""JUnit XML for CI: one <testsuite> per DMC, one <testcase> per cell.

The document follows the Apache Ant JUnit schema as published by Windy Road
(docs/schemas/junit/JUnit.xsd; the tests validate against it): ``classname`` is the DMC, ``name``
the case id, ``time`` the cell's wall-clock seconds. A failure carries every failed expectation's
message and the line that reproduces the cell alone.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from harness.report.atomic import write_atomic
from harness.report.info import CampaignInfo
from harness.report.matrix import Matrix, build_matrix
from harness.scenario.result import CaseResult, Verdict

# Characters XML 1.0 cannot carry at all, even escaped: they become U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _seconds(wall_s: float) -> str:
    return f"{wall_s:.3f}" if math.isfinite(wall_s) and wall_s > 0 else "0.000"


def _timestamp(matrix: Matrix) -> str:
    """The schema's timestamp: no zone, so UTC without the "Z"; the virtual start if the
    campaign did not say when it started."""
    if matrix.info.started:
        return matrix.info.started.removesuffix("Z")
    start = min((r.started_us for r in matrix.cells.values()), default=0)
    return datetime.fromtimestamp(start / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def failure_text(result: CaseResult) -> str:
    """The body of a <failure> or <error>: what went wrong, then how to reproduce it."""
    lines = [f"FAILED {e.name}: {e.message}" for e in result.failed_expectations()]
    if result.error:
        lines.insert(0, f"ERROR {result.error}")
    lines.append(f"Reproduce: {result.repro}")
    return "\n".join(lines)


def failure_message(result: CaseResult) -> str:
    failed = result.failed_expectations()
    if result.verdict is Verdict.ERROR:
        return result.error or "the run broke"
    if not failed:
        return "failed"
    more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"{failed[0].message}{more}"


def _testcase(suite: ET.Element, r: CaseResult) -> None:
    case = ET.SubElement(suite, "testcase", name=_x(r.case_id), classname=_x(r.dmc),
                         time=_seconds(r.wall_s))
    if r.verdict is Verdict.FAIL:
        ET.SubElement(case, "failure", message=_x(failure_message(r)),
                      type="ExpectationFailed").text = _x(failure_text(r))
    elif r.verdict is Verdict.ERROR:
        ET.SubElement(case, "error", message=_x(failure_message(r)),
                      type="RunError").text = _x(failure_text(r))
    elif r.verdict is Verdict.SKIP:
        ET.SubElement(case, "skipped", message=_x(r.error or f"does not apply to {r.dmc}"))


def junit_xml(results: Iterable[CaseResult], campaign: CampaignInfo | None = None) -> bytes:
    """The JUnit document for ``results`` as UTF-8 bytes."""
    matrix = build_matrix(results, campaign)
    info = matrix.info
    root = ET.Element("testsuites")
    timestamp = _timestamp(matrix)
    for index, dmc in enumerate(matrix.dmcs):
        cells = [r for c in matrix.cases if (r := matrix.cell(c.case_id, dmc))]
        verdicts = [r.verdict for r in cells]
        suite = ET.SubElement(
            root, "testsuite", name=_x(dmc), package=_x(info.name), id=str(index),
            timestamp=timestamp, hostname=_x(info.hostname), tests=str(len(cells)),
            failures=str(verdicts.count(Verdict.FAIL)), errors=str(verdicts.count(Verdict.ERROR)),
            skipped=str(verdicts.count(Verdict.SKIP)),
            time=_seconds(sum(r.wall_s for r in cells if math.isfinite(r.wall_s))))
        props = ET.SubElement(suite, "properties")
        for name, value in (("campaign", info.name), ("dmc", dmc),
                            ("seed", "" if info.seed is None else str(info.seed))):
            ET.SubElement(props, "property", name=name, value=_x(value))
        for r in cells:
            _testcase(suite, r)
        ET.SubElement(suite, "system-out").text = _x("\n".join(
            f"{r.case_id}: {r.verdict.value}: {r.repro}" for r in cells))
        ET.SubElement(suite, "system-err")
    ET.indent(root, space="  ")
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def write_junit(results: Iterable[CaseResult], path: Path,
                campaign: CampaignInfo | None = None) -> Path:
    """Write the JUnit XML report to ``path`` atomically and return the path."""
    return write_atomic(path, junit_xml(results, campaign))
