"""`s1lab migrate` runs the 4.26 pre-work for dormant IOC and MOC (MDS) installations before
their first migration attempt: the attempts are in the trace, failed instructions in the history,
and the exclusions or the partial migration follow (behaviours 11 and 12)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from emulator.drivers.clock import run_virtual
from harness.migration.run import (
    InstallationReport,
    MigrateConfig,
    parse_migration_fault,
    run_migration,
)

Attempts = Counter[tuple[str, str, str]]  # (installation, device, work) -> work attempts
Run = tuple[dict[str, InstallationReport], Attempts, dict[str, list[dict[str, str]]]]


def _run(tmp_path: Path, group: str, *faults: str, installations: int = 4) -> Run:
    summary = run_virtual(run_migration(MigrateConfig(
        group_id=group, installations=installations, seed=2, weeks=5,
        faults=[parse_migration_fault(f) for f in faults], out=tmp_path)))
    rows = {r.installation: r for r in summary.per_installation}
    chf_to_inst = {r.chf: r.installation for r in summary.per_installation}
    attempts: Attempts = Counter()
    for line in (tmp_path / "trace.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["event"] == "PreWorkAttempt" and not e["fields"]["confirmation"]:
            f = e["fields"]
            attempts[(chf_to_inst[e["device"]], f["device"], f["work"])] += 1
    history = json.loads((tmp_path / "history.json").read_text())
    return rows, attempts, history


def test_ioc_no_wan_and_firmware_failure(tmp_path: Path) -> None:
    rows, attempts, history = _run(tmp_path, "CA", "wan-outage:#1", "firmware-fails:#2")
    assert attempts[("i00001", "ESME", "firmware")] == 108  # 36 x 3 instructions, no WAN
    assert attempts[("i00001", "ESME", "configuration")] == 0
    assert [a["reason"] for a in history["i00001"]] == ["PW03"] * 3
    assert (rows["i00001"].category, rows["i00001"].clause) == (
        "NO_WAN_BEFORE_MIGRATION", "18.7")
    assert rows["i00001"].attempts == 0  # never reached pre-flight (MA112 comes after)
    assert attempts[("i00002", "ESME", "firmware")] == 108
    assert [a["reason"] for a in history["i00002"]] == ["PW01"] * 3
    assert rows["i00002"].category == "FIRMWARE_CONFIG_FAILURE_IOC"
    for ok in ("i00003", "i00004"):  # one firmware and one configuration attempt, then migrate
        if attempts[(ok, "ESME", "firmware")]:
            assert attempts[(ok, "ESME", "configuration")] == 1
        assert rows[ok].status == "migrated"


def test_moc_mds_partial_migration_and_configuration_failure(tmp_path: Path) -> None:
    rows, attempts, history = _run(tmp_path, "CB", "gsme-firmware-fails:#1",
                                   "configuration-fails:#2")
    assert attempts[("i00001", "GSME", "firmware")] == 108
    assert attempts[("i00001", "ESME", "firmware")] == 1
    assert attempts[("i00001", "ESME", "configuration")] == 1
    assert rows["i00001"].status == "partial"  # 4.26A-C
    assert rows["i00001"].category == "FIRMWARE_CONFIG_FAILURE_MOC_MDS"
    assert history["i00001"][-1]["outcome"] == "partial"
    assert attempts[("i00002", "ESME", "configuration")] == 69  # 23 x 3
    assert rows["i00002"].status == "excluded"
    assert rows["i00002"].category == "FIRMWARE_CONFIG_FAILURE_MOC_MDS"


def test_prework_fault_on_an_installation_without_prework_is_refused(tmp_path: Path) -> None:
    """A FOC installation does no 4.26 pre-work: a fault of that work aimed at it would do
    nothing, so the run refuses it instead of ignoring it (and a share finds no target)."""
    import pytest

    from emulator.errors import MigrationSpecError

    with pytest.raises(MigrationSpecError, match="no 4.26 pre-work"):
        _run(tmp_path / "a", "EA", "firmware-fails:#1")
    with pytest.raises(MigrationSpecError, match="no effect on any installation"):
        _run(tmp_path / "b", "EA", "no-confirmation:50%")
    with pytest.raises(MigrationSpecError, match="no previous installation"):
        _run(tmp_path / "c", "EA", "duplicate-mpxn:#1")


def test_prework_fault_share_is_drawn_among_the_installations_that_do_it(
        tmp_path: Path) -> None:
    """configuration-fails:100% hits every installation doing pre-work, and those only."""
    rows, attempts, _ = _run(tmp_path, "CA", "configuration-fails:100%", installations=10)
    doing = {inst for inst, _, _ in attempts}
    assert doing and doing != set(rows), "seed 2: some of the ten are dormant, some not"
    for inst, row in rows.items():
        assert ("configuration-fails" in row.faults) == (inst in doing)
