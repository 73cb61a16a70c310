"""Labs of several installations (``start.installations``), actions, faults and expectations
addressing one (``installation: N``); the 4.26 pre-work and duplicate MPxN in the lab's migrate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import run_virtual
from emulator.core.timebase import DAY
from emulator.errors import LocalProtocolError
from harness.scenario import CaseResult, Lab, ScenarioError, Verdict, parse_scenario
from harness.scenario.expect import expect
from harness.scenario.model import Fault, Start
from harness.scenario.runner import run_scenario

DORMANT2 = Start(state="dormant", han="direct", settle="1d", installations=2)


def test_actions_and_faults_address_their_installation() -> None:
    async def main() -> None:
        async with Lab.open("default", seed=4, start=Start(state="active", installations=2)) as lab:
            assert len(lab.fleet.installations) == 2
            lab.inject(Fault(kind="han-outage", device="esme", for_="10h", installation=2))
            with lab.on(2):
                r2 = await lab.firmware("esme", "newer", within_us=3 * 3600 * 10**6)
                assert lab.installation is lab.fleet.installations[1]
            r1 = await lab.firmware("esme", "newer")
            assert (r2.status, r2.reason) == ("failed", "DEVICE_UNREACHABLE")
            assert r1.status == "activated"
            assert lab.firmware_versions()["esme"] == "3.2.0"
            with lab.on(2):
                assert lab.firmware_versions()["esme"] == "3.1.0"
            await expect(lab, {"state": {"firmware": {"esme": "3.1.0"}}, "installation": 2})
            with pytest.raises(LocalProtocolError, match="installation 3"):
                lab.select(3)

    run_virtual(main())


def test_duplicate_mpxn_last_communicating_migrates_and_the_other_is_excluded() -> None:
    async def main() -> None:
        async with Lab.open("default", seed=4, start=DORMANT2) as lab:
            lab.inject(Fault(kind="duplicate-mpxn", installation=2))
            lab.inject(Fault(kind="wan-outage", for_="30d", installation=1))
            r1, r2 = lab.records[lab.fleet.installations[0].id], lab.records[
                lab.fleet.installations[1].id]
            assert r1.esme is not None and r2.esme is not None and r1.esme.mpxn == r2.esme.mpxn
            await lab.wait(8 * DAY)
            with lab.on(2):
                m2 = await lab.migrate()
            m1 = await lab.migrate()
            assert m2.status == "migrated"
            assert (m1.status, m1.category) == ("excluded", "DUPLICATE_MPXN")

    run_virtual(main())


def test_duplicate_mpxn_both_communicating_excludes_both() -> None:
    async def main() -> None:
        async with Lab.open("foc-ppmid", seed=4, start=DORMANT2) as lab:
            lab.inject(Fault(kind="duplicate-mpxn", installation=2))
            m1 = await lab.migrate()
            with lab.on(2):
                m2 = await lab.migrate()
            assert {(m.status, m.category) for m in (m1, m2)} == {("excluded", "DUPLICATE_MPXN")}

    run_virtual(main())


@pytest.mark.parametrize(("fault", "category", "reason", "esme_ok"), [
    ("firmware-fails", "FIRMWARE_CONFIG_FAILURE_IOC", "PW01", False),
    ("configuration-fails", "FIRMWARE_CONFIG_FAILURE_IOC", "PW02", False),
])
def test_prework_failures_exclude_a_dormant_ioc_installation(
        fault: str, category: str, reason: str, esme_ok: bool) -> None:
    async def main() -> None:
        start = Start(state="dormant", han="direct", settle="1d")
        async with Lab.open("ioc-credit", seed=4, start=start) as lab:
            lab.inject(Fault(kind=fault))  # type: ignore[arg-type]
            m = await lab.migrate(attempts=3)
            assert (m.status, m.category, m.attempts) == ("excluded", category, 1)
            assert m.fields["prework_reason"] == reason
            assert m.fields["prework_esme_ok"] is esme_ok
            assert m.fields["prework_failed_instructions"] == 3  # three instructions, ESME only
            work = fault.split("-")[0]  # the failing work: firmware or configuration
            attempts = [e for e in lab.events if e.event == "PreWorkAttempt"
                        and e.fields["work"] == work]
            assert attempts and all(e.fields["answer"] == "failed" for e in attempts)

    run_virtual(main())


def test_clean_prework_takes_no_time_and_a_second_migrate_does_not_repeat_it() -> None:
    async def main() -> None:
        start = Start(state="dormant", han="direct", settle="1d")
        async with Lab.open("ioc-credit-gas", seed=4, start=start) as lab:
            m = await lab.migrate()
            assert m.status == "migrated" and m.fields["prework_attempts"] == 4
            assert m.fields["prework_hours"] == 0
            await lab.migrate()
            finished = [e for e in lab.events if e.event == "PreWorkFinished"]
            assert len(finished) == 1

    run_virtual(main())


def test_moc_mds_gsme_failure_is_a_partial_migration() -> None:
    async def main() -> None:
        start = Start(state="dormant", han="direct", settle="1d", group_id="CB")
        async with Lab.open("ioc-prepay-gas", seed=4, start=start) as lab:
            lab.inject(Fault(kind="gsme-firmware-fails"))
            m = await lab.migrate()
            assert (m.status, m.category) == ("partial", "FIRMWARE_CONFIG_FAILURE_MOC_MDS")
            assert any(e.event == "GsmeDeregistered" for e in lab.events)

    run_virtual(main())


def test_prework_fault_where_there_is_no_prework_is_a_typed_error() -> None:
    async def main() -> None:
        async with Lab.open("default", seed=4, start=Start(state="active")) as lab:
            with pytest.raises(LocalProtocolError, match="does no 4.26 pre-work"):
                lab.inject(Fault(kind="firmware-fails"))

    run_virtual(main())


@pytest.mark.parametrize(("text", "words"), [
    ("start: {installations: 1}\nfaults:\n  - {kind: duplicate-mpxn}\n",
     "a duplicate-mpxn fault needs a second installation"),
    ("start: {installations: 2}\nfaults:\n  - {kind: wan-outage, for: 1h, installation: 3}\n",
     "faults[0]: installation 3, but start.installations is 2"),
    ("start: {installations: 9}\n", "start.installations: Input should be less than or equal"),
])
def test_bad_installation_input_is_one_line(text: str, words: str) -> None:
    case = f"id: x\ntitle: t\n{text}expect:\n  - state: {{owner: smso}}\n"
    with pytest.raises(ScenarioError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(case, "x.yaml")


def test_expectation_on_installation_2_fails_when_it_should() -> None:
    case = parse_scenario(
        "id: x\ntitle: t\nstart: {state: active, installations: 2}\n"
        "actions:\n  - firmware: {device: chf}\n    installation: 2\n"
        "expect:\n  - state: {firmware: {chf: 1.5.0}}\n    installation: 2\n"
        "  - state: {firmware: {chf: 1.5.0}}\n", "x.yaml")
    result = run_scenario(case, "default", 1)
    assert [e.passed for e in result.expectations] == [True, False]


@pytest.mark.io
def test_s1lab_run_duplicate_mpxn_case_and_a_misplaced_prework_fault(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness", "run", *args],
                              capture_output=True, text=True, timeout=300, check=False, env=env)

    ok = run("data-duplicate-mpxn-last-communicating-migrates", "--dmc", "ioc-credit",
             "--out", str(tmp_path / "cell"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    result = CaseResult.from_json((tmp_path / "cell" / "CaseResult.json").read_text())
    assert result.verdict is Verdict.PASS and len(result.expectations) == 4
    case = tmp_path / "pw.yaml"
    case.write_text("id: pw\ntitle: t\nstart: {state: active}\nfaults:\n"
                    "  - {kind: firmware-fails}\nactions:\n  - migrate: {}\n    as: m\n"
                    "expect:\n  - outcome: {of: m, is: migrated}\n", encoding="utf-8")
    broken = run(str(case), "--dmc", "ioc-credit")
    assert broken.returncode == 1 and "does no 4.26 pre-work" in broken.stdout + broken.stderr
