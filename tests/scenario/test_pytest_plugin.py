"""The pytest plugin in a fresh pytest process: fixtures, the dmc marker, a failing test's
reproduction line, and pytest's own JUnit XML."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

TESTS = '''
import pytest


@pytest.mark.dmc("default", "ioc-credit")
def test_read_on_each_dmc(lab, dmc):
    assert lab.dmc_name == dmc
    r = lab.read("esme")
    assert r.status == "ok" and r.fields["import_wh"] >= 0


@pytest.mark.start(state="dormant", settle="1d")
def test_gt01_with_faults_and_clock(lab, faults, clock, headend):
    faults.add("han-outage", device="gsme", for_="80h")
    t0 = clock.now_us()
    lab.wait("76h")
    assert clock.now_us() - t0 == 76 * 3600 * 10**6
    lab.migrate(name="m1")
    lab.expect({"outcome": {"of": "m1", "is": "failed", "reason": "GT01"}})
    assert lab.can_connect("smso") and headend("smso").role.name == "SMSO"


@pytest.mark.start(installations=2)
def test_firmware_on_the_second_installation(lab):
    with lab.on(2):
        r = lab.firmware("esme", image="newer", name="f2")
    assert r.status == "activated", r
    assert r.fields["new_version"] == r.fields["image_version"] != r.fields["old_version"]
    assert lab.read("esme").status == "ok"  # installation 1 again, outside the block


@pytest.mark.seed(9)
def test_deliberately_failing(lab):
    r = lab.top_up("esme", amount_pence=100)
    assert r.status == "LOCKED_OUT"
'''


@pytest.mark.io
def test_plugin_in_a_fresh_pytest_process(tmp_path: Path) -> None:
    (tmp_path / "test_with_s1lab.py").write_text(TESTS, encoding="utf-8")
    junit = tmp_path / "junit.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "-o", "asyncio_default_fixture_loop_scope=function",
         f"--junitxml={junit}", "test_with_s1lab.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "1 failed, 4 passed" in out, out
    assert "s1lab reproduction" in out
    repro = "pytest test_with_s1lab.py::test_deliberately_failing --s1lab-seed 9"
    assert repro in out
    assert "test_read_on_each_dmc[ioc-credit]" in junit.read_text()
    root = ET.parse(junit).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert len(cases) == 5
    failing = cases["test_deliberately_failing"]
    assert failing.find("failure") is not None
    props = {p.get("name"): p.get("value") for p in failing.iter("property")}
    assert repro in (props.get("s1lab_repro") or "")
    assert cases["test_read_on_each_dmc[default]"].find("failure") is None
