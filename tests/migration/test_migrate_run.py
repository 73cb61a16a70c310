"""`s1lab migrate` end to end on the virtual clock: weeks of attempts, files, outcomes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.drivers.clock import run_virtual
from harness.migration.mgf import parse_mgf
from harness.migration.run import (
    MigrateConfig,
    MigrationSpecError,
    parse_migration_fault,
    run_migration,
)
from harness.migration.scf import parse_scf


def test_foc_group_with_faults_writes_the_files_and_decides_each_installation(
        tmp_path: Path) -> None:
    faults = [parse_migration_fault(s) for s in (
        "gsme-silent:#1", "no-previous-apn:#2", "fail-sim:#3", "ceased-supplier:#4",
        "not-on-epcl:#5", "slow-reconnect=200:#6")]
    summary = run_virtual(run_migration(MigrateConfig(
        group_id="EA", installations=8, seed=2, weeks=3, faults=faults, out=tmp_path)))
    rows = {r.installation: r for r in summary.per_installation}
    assert rows["i00001"].status != "migrated" and rows["i00001"].last_reason == "GT01"
    # TMAD 5.25: the DCO's validation finds the missing PreviousAPN (step 15.6.4), not a
    # Table 5.10 data check before the MGF
    assert rows["i00002"].status != "migrated"
    assert (rows["i00002"].last_step, rows["i00002"].last_reason) == (
        "15.6.4", "PREVIOUS_APN_MISSING")
    assert rows["i00003"].last_reason == "SIM_MOVE_FAILED"
    assert rows["i00004"].status == "migrated" and not rows["i00004"].notified  # TMAD 4.1A
    assert rows["i00005"].status == "not-eligible"  # the EPCL gate: never scheduled
    assert rows["i00007"].status == rows["i00008"].status == "migrated"
    assert rows["i00007"].notified
    assert summary.rollbacks >= 2  # the failed SIM move and the timeout roll back
    for week in (1, 2, 3):
        mgf = parse_mgf((tmp_path / f"mgf-week{week}.xml").read_bytes(), "mgf")
        assert mgf.group_id == "EA"
        scf = parse_scf((tmp_path / f"scf-week{week}.xml").read_bytes(), "scf")
        no_apn = scf.entry("i00002")  # to the Requesting Party, with the step and the reason
        assert (no_apn.outcome, no_apn.step, no_apn.reason_code) == (
            "failed", "15.6.4", "PREVIOUS_APN_MISSING")
        assert "5.25" in no_apn.message
    history = json.loads((tmp_path / "history.json").read_text())
    assert [a["step"] for a in history["i00002"]] == ["15.6.4"] * 3  # not "5.10"
    assert len(history["i00003"]) == 3  # one attempt a week, each rolled back
    # 200 h to reattach > 192 h for EA: timeout and rollback. Still reattaching after the
    # rollback, it was in contact within 7 days, so the next pre-flight passes MA112 and waits
    # for it; it times out once more after the next SIM move.
    assert [(a["step"], a["reason"]) for a in history["i00006"]] == [
        ("reconnect", "S1TO02"), ("reconnect", "S1TO02")]
    assert json.loads((tmp_path / "summary.json").read_text())["outcomes"]["migrated"] >= 3


def test_ioc_exclusions_carry_the_clause_of_the_tmad_version(tmp_path: Path) -> None:
    faults = [parse_migration_fault("fail-sim:#1,#2,#3")]
    summary = run_virtual(run_migration(MigrateConfig(
        group_id="CA", installations=4, seed=3, weeks=6, faults=faults, out=tmp_path)))
    excluded = [r for r in summary.per_installation if r.status == "excluded"]
    assert excluded, [(r.installation, r.status, r.attempts) for r in summary.per_installation]
    assert all(r.category == "FIVE_RETRIES" and r.clause == "18.9" for r in excluded)
    report = json.loads((tmp_path / "exclusions.json").read_text())
    assert "Five Retries" in json.dumps(report)
    assert list((tmp_path / "exclusions").glob("*.csv"))


def test_bad_specs_are_refused() -> None:
    for bad in ["nope:3%", "gsme-silent", "slow-reconnect:#1", "wan-outage:150%"]:
        with pytest.raises(MigrationSpecError):
            parse_migration_fault(bad)
    with pytest.raises(MigrationSpecError, match="GroupID"):
        run_virtual(run_migration(MigrateConfig(group_id="ZZ", out=None)))


@pytest.mark.io
def test_migrate_command(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "harness", "migrate"]
    ok = subprocess.run([*run, "--group", "EA", "-n", "3", "--weeks", "1", "--out",
                         str(tmp_path)], capture_output=True, text=True, timeout=120,
                        check=False)
    assert ok.returncode == 0, ok.stderr
    assert "s1lab migrate: group EA (FOC)" in ok.stdout and "migrated" in ok.stdout
    bad = subprocess.run([*run, "--group", "EA", "--fault", "bogus:1%"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "Traceback" not in bad.stderr


def _migrate_cli(tmp_path: Path, *args: str) -> dict[str, dict[str, object]]:
    """Run ``s1lab migrate`` and return summary.json's rows by installation."""
    done = subprocess.run([sys.executable, "-m", "harness", "migrate", *args, "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    return {r["installation"]: r for r in summary["per_installation"]}


@pytest.mark.io
def test_duplicate_mpxn_both_cases_from_the_command_line(tmp_path: Path) -> None:
    """TMAD 4.1C in the run: whether a member communicates comes from its emulated CHF's WAN
    contact (a wan-outage makes it silent). #2 shares #1's MPAN and #1 is silent: #2, the last
    installed, is the only one communicating and migrates. #4 (last installed) is silent, so
    only the older #3 talks; #5 and #6 both talk: neither of either pair migrates, dormant
    (excluded) or active (kept back with DV03)."""
    rows = _migrate_cli(tmp_path, "--group", "CA", "-n", "8", "--seed", "2", "--weeks", "2",
                        "--fault", "duplicate-mpxn:#2,#4,#6", "--fault", "wan-outage:#1,#4")
    assert rows["i00002"]["status"] == "migrated"
    assert rows["i00001"]["status"] == "excluded"
    assert rows["i00001"]["category"] == "DUPLICATE_MPXN"
    for pair in (("i00003", "i00004"), ("i00005", "i00006")):
        for inst in pair:
            row = rows[inst]
            assert row["status"] != "migrated", row
            assert row["category"] == "DUPLICATE_MPXN" or row["last_reason"] == "DV03", row
    assert rows["i00007"]["status"] == "migrated"  # not in a duplicate set
    history = json.loads((tmp_path / "history.json").read_text())
    assert all(a["outcome"] != "migrated" for i in ("i00003", "i00004", "i00005", "i00006")
               for a in history[i])


def test_a_chf_asleep_at_preflight_migrates_in_the_run(tmp_path: Path) -> None:
    """wan-asleep: the modem attaches 15 minutes every 10 hours. Asleep at Monday 09:00, in
    contact within 7 days: MA112 passes, the S1SP waits for the wake-up and migrates it."""
    faults = [parse_migration_fault("wan-asleep=10:#1")]
    summary = run_virtual(run_migration(MigrateConfig(
        group_id="CA", installations=2, seed=4, weeks=1, faults=faults, out=tmp_path)))
    rows = {r.installation: r for r in summary.per_installation}
    assert rows["i00001"].status == "migrated", rows["i00001"]
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["i00001"][0]["at"] > history["i00002"][0]["at"]  # it waited for the CHF
    assert "MA112" not in json.dumps(history)


@pytest.mark.io
def test_ioc_partial_migration_from_the_command_line_only_in_credit_mode(
        tmp_path: Path) -> None:
    """Consistent GT01 Check Failure (18.6, 5.8B-5.8E) with an IOC DMC that has a GSME: after
    GT01 in three separate weeks the dormant installation migrates ESME-only; the GSME is
    removed from the CHF's device log during Device Installation and the summary row carries
    the clause. With the ESME in prepayment mode the IOC rule does not fire."""
    spec = ["--group", "CA", "-n", "2", "--seed", "2", "--weeks", "4",
            "--fault", "gsme-silent:#1"]
    credit = _migrate_cli(tmp_path / "credit", *spec, "--dmc", "ioc-credit-gas")
    row = credit["i00001"]
    assert (row["status"], row["category"], row["clause"]) == (
        "partial", "CONSISTENT_GT01_FAILURE", "18.6")
    trace = [json.loads(line) for line in
             (tmp_path / "credit" / "trace.jsonl").read_text().splitlines()]
    removed = [e for e in trace if e.get("event") == "HanDeviceLogRemoved"]
    gsme = "00-1B-C5-0C-03-00-00-01"  # i00001's GSME (the CHF's EUI with byte 4 = 3)
    assert [e["fields"]["eui"] for e in removed] == [gsme], removed
    assert credit["i00002"]["status"] == "migrated"  # a healthy dual-fuel one, fully
    prepay = _migrate_cli(tmp_path / "prepay", *spec, "--dmc", "ioc-prepay-gas")
    assert prepay["i00001"]["status"] == "pending"
    assert prepay["i00001"]["last_reason"] == "GT01" and not prepay["i00001"]["category"]
    history = json.loads((tmp_path / "prepay" / "history.json").read_text())
    assert [a["reason"] for a in history["i00001"]] == ["GT01"] * 4
