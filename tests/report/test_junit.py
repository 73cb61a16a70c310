"""The JUnit report: valid against the published Ant/Windy Road schema, one testcase per cell."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import xmlschema

from emulator.errors import ReportError
from harness.report import CampaignInfo, junit_xml, write_junit
from harness.scenario.result import ExpectationResult, Verdict
from tests.report.samples import DMCS, INFO, campaign, result

XSD = Path(__file__).parents[2] / "docs" / "schemas" / "junit" / "JUnit.xsd"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(XSD)


def test_campaign_report_is_valid_and_has_one_testcase_per_cell(
        schema: xmlschema.XMLSchema, tmp_path: Path) -> None:
    cells = campaign()
    path = write_junit(cells, tmp_path / "junit.xml", INFO)
    schema.validate(path)
    root = ET.parse(path).getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == list(DMCS)  # the campaign's column order
    cases = root.findall("testsuite/testcase")
    assert len(cases) == len(cells)
    assert {(c.get("classname"), c.get("name")) for c in cases} == {(r.dmc, r.case_id)
                                                                    for r in cells}
    ioc = suites[0]
    assert (ioc.get("tests"), ioc.get("failures"), ioc.get("errors"), ioc.get("skipped")) == (
        "6", "1", "1", "0")
    assert ioc.get("timestamp") == "2026-12-01T22:00:00" and ioc.get("hostname") == "lab-1"
    assert ioc.get("time") == "7.500"
    props = {p.get("name"): p.get("value") for p in ioc.findall("properties/property")}
    assert props == {"campaign": "nightly-smoke", "dmc": "ioc-credit", "seed": "42"}


def test_failure_error_and_skip_carry_their_messages_and_the_repro_line(tmp_path: Path) -> None:
    root = ET.fromstring(junit_xml(campaign(), INFO))
    by = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    failure = by[("moc-mds", "MIG-RB-001")].find("failure")
    assert failure is not None and failure.get("type") == "ExpectationFailed"
    assert failure.get("message") == "SMSO opened a TLS session at +13 h"
    assert failure.text is not None
    assert "FAILED smso cannot connect: SMSO opened a TLS session at +13 h" in failure.text
    assert failure.text.endswith(
        "Reproduce: s1lab run harness/catalogue/MIG-RB-001.yaml --dmc moc-mds --seed 42")
    error = by[("ioc-credit", "SVC-TOPUP-001")].find("error")
    assert error is not None and error.get("message") == "KeyError: 'utrn' in harness/actions.py"
    assert error.text is not None and "Reproduce: s1lab run" in error.text
    skipped = by[("foc-ppmid", "PRE-GT01-001")].find("skipped")
    assert skipped is not None and skipped.get("message") == "needs a GSME"
    passed = by[("ioc-credit", "MIG-ACT-001")]
    assert list(passed) == [] and passed.get("time") == "1.250"


def test_hostile_strings_stay_valid_xml(schema: xmlschema.XMLSchema) -> None:
    nasty = "<x a=\"1\"> & ]]> \x00\x07\x1b ok \U0001f600"
    r = replace(result("CASE-<&>", "dmc \"q\" <b>", Verdict.FAIL, title=nasty,
                       wall_s=float("nan")),
                expectations=(ExpectationResult(name=nasty, passed=False, message=nasty),))
    doc = junit_xml([r], CampaignInfo(name="n <&>"))
    schema.validate(doc.decode("utf-8"))
    case = ET.fromstring(doc).find("testsuite/testcase")
    assert case is not None and case.get("classname") == "dmc \"q\" <b>"
    assert case.get("time") == "0.000"  # NaN wall time is no decimal
    failure = case.find("failure")
    assert failure is not None and failure.text is not None
    assert "<x a=\"1\"> & ]]> \ufffd\ufffd\ufffd ok \U0001f600" in failure.text


def test_schema_rejects_a_broken_document(schema: xmlschema.XMLSchema) -> None:
    # The check is not vacuous: drop a required attribute and the schema says no.
    root = ET.fromstring(junit_xml(campaign(), INFO))
    del root.find("testsuite").attrib["hostname"]  # type: ignore[union-attr]
    assert not schema.is_valid(ET.tostring(root, encoding="unicode"))


def test_written_atomically_and_errors_are_typed(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "junit.xml"
    write_junit(campaign(), target, INFO)
    write_junit(campaign()[:3], target, INFO)  # replaces the old file whole
    assert len(ET.parse(target).getroot().findall("testsuite/testcase")) == 3
    assert sorted(p.name for p in target.parent.iterdir()) == ["junit.xml"]  # no temp left
    (tmp_path / "dir.xml").mkdir()
    with pytest.raises(ReportError, match="dir.xml: cannot write"):
        write_junit(campaign(), tmp_path / "dir.xml", INFO)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.xml", "reports"]
