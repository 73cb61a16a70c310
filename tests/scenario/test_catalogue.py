"""The shipped catalogue as a whole: size, unique ids, what each case names, what the catalogue
covers (issue 9: cohorts x states, pre-flight checks, exclusions, security negatives), SKIP by
``applies_to``, and (slow) a representative subset run on every DMC profile."""

from __future__ import annotations

from collections import Counter
from importlib.resources import files
from pathlib import Path

import pytest
import yaml

from emulator.drivers.clock import run_virtual
from emulator.profiles import load_cohorts
from harness.migration.reasons import Reason
from harness.migration.rules import validate_record
from harness.scenario import ScenarioError, Verdict, load_catalogue, parse_scenario, run_cell
from harness.scenario import model as m
from harness.scenario.lab import Lab

DMCS = sorted(p.stem for p in Path(str(files("profiles") / "dmcs")).glob("*.yaml"))


def _ids_in_files() -> Counter[str]:
    """Every ``id:`` of every YAML document under harness/catalogue/, read apart from the
    loader (which would refuse a duplicate before we could count it)."""
    ids: Counter[str] = Counter()
    for entry in files("harness.catalogue").iterdir():
        if entry.name.endswith((".yaml", ".yml")):
            for doc in yaml.safe_load_all(entry.read_text(encoding="utf-8")):
                if isinstance(doc, dict) and "id" in doc:
                    ids[str(doc["id"])] += 1
    return ids


def _actions(case: m.Scenario) -> list[object]:
    return list(case.actions)


def _expectations(case: m.Scenario) -> list[object]:
    out: list[object] = list(case.expect)
    for a in case.actions:
        if isinstance(a, m.Check):
            out.extend(a.check)
    return out


def test_catalogue_has_at_least_40_cases_with_unique_ids() -> None:
    cases = load_catalogue()
    assert len(cases) >= 40, len(cases)
    ids = _ids_in_files()
    assert [i for i, n in ids.items() if n > 1] == []
    assert set(ids) == set(cases)


def test_every_case_names_behaviours_clauses_and_can_fail() -> None:
    for case_id, case in load_catalogue().items():
        assert case.behaviours, f"{case_id} names no behaviour of domain.md §8"
        assert all(1 <= b <= 28 for b in case.behaviours), case_id
        assert case.clauses and all(c.strip() for c in case.clauses), f"{case_id}: no clause"
        assert case.tags, f"{case_id} has no tag (campaigns select by tag)"
        assert case.expect, f"{case_id} has no final expectation"


def test_catalogue_covers_the_cohorts_in_each_state() -> None:
    """Migration of dormant, active and mixed installations for each cohort (issue 9)."""
    cohorts = load_cohorts()
    default_group = {"default": "EA", "ioc-credit": "CA"}
    seen: set[tuple[str, str]] = set()
    groups: set[str] = set()
    for case in load_catalogue().values():
        migrated = any(
            isinstance(e, m.OutcomeExpect) and e.outcome.is_ in ("migrated", "partial")
            for e in _expectations(case))
        if not migrated:
            continue
        if case.start.group_id is not None:
            group = case.start.group_id
        elif case.applicability.dmcs:
            group = default_group[case.applicability.dmcs[0]]
        else:
            group = "EA" if "foc" in case.applicability.needs else ""
        if group:
            groups.add(group)
            seen.add((cohorts[group].cohort, case.start.state))
    assert groups == set(cohorts), set(cohorts) - groups
    want = {(c.cohort, s) for c in cohorts.values() for s in ("dormant", "active", "mixed")}
    assert want <= seen, want - seen


def test_catalogue_covers_checks_exclusions_and_negative_security() -> None:
    reasons: set[str] = set()
    categories: set[str] = set()
    statuses: set[str] = set()
    credentials: set[str] = set()
    kinds: set[str] = set()
    faults: set[str] = set()
    for case in load_catalogue().values():
        faults.update(f.kind for f in case.faults)
        for a in _actions(case):
            kinds.add(type(a).KIND)  # type: ignore[attr-defined]
            if isinstance(a, m.Connect):
                credentials.add(a.connect.credential)
        for e in _expectations(case):
            if isinstance(e, m.OutcomeExpect):
                reasons.add(e.outcome.reason or "")
                categories.add(e.outcome.category or "")
                statuses.add(e.outcome.is_ or "")
            elif isinstance(e, m.EventExpect) and e.event.seen:
                reasons.add(str(e.event.fields.get("reason", "")))
    assert {"GT01", "MA112", "DV01", "V525", "S1MK01", "S1MK02", "S1TO02", "EL01",
            "DV02", "DV04", "DV05"} <= reasons
    assert {"FIVE_RETRIES", "MASTER_KEY_ERRORS", "NO_WAN_ATTEMPTING_MIGRATION",
            "CONSISTENT_GT01_FAILURE", "UNRESOLVED_DATA_ISSUES"} <= categories
    assert {"rolled-back", "partial", "excluded", "not-eligible", "ACCEPTED", "ALREADY_USED",
            "INVALID", "INVALID_INSTALL_CODE", "joined", "dropped"} <= statuses
    assert {"wrong-ca", "expired", "old-keys"} <= credentials
    assert {"rollback", "top_up", "payment_mode", "device_log", "join", "network_key_switch",
            "han_replay", "replay", "read", "inventory"} <= kinds
    assert {"han-outage", "wan-outage", "change-of-supply", "no-previous-apn",
            "master-key-wrong", "master-key-missing", "slow-reconnect", "not-on-epcl",
            "fail-step", "restart-during", "counter-reset", "duplicate-guid",
            "no-prepayment-key"} <= faults


def test_applies_to_skips_where_it_should(tmp_path: Path) -> None:
    cases = load_catalogue()
    gas = [c for c in cases.values() if "gsme" in c.applicability.needs]
    assert gas and all(c.applies_to("default") and not c.applies_to("ioc-credit") for c in gas)
    foc = [c for c in cases.values() if "foc" in c.applicability.needs]
    assert foc and all(not c.applies_to("ioc-credit") for c in foc)
    result = run_cell("excl-gt01-same-week-once", "ioc-credit", 1, tmp_path)
    assert result.verdict is Verdict.SKIP
    assert "gsme" in (result.error or "")


def test_old_keys_credential_is_refused_only_after_rotation() -> None:
    async def main() -> tuple[str, str, str, str]:
        async with Lab.open("ioc-credit", seed=3, start=m.Start(settle="1d")) as lab:
            before = await lab.connect("smso", "old-keys")
            migrated = await lab.migrate()
            stale = await lab.connect("s1sp", "old-keys")
            fresh = await lab.connect("s1sp")
            return before.status, migrated.status, stale.status, fresh.status

    assert run_virtual(main()) == ("ok", "migrated", "refused", "ok")


#: One case per catalogue area, run on every DMC profile (SKIP where it does not apply).
REPRESENTATIVE = [
    "mig-moc-secure-da-mixed", "mig-ioc-ca-timeout-50h", "rb-cert-swap-fails",
    "pf-cos-window-14-days", "excl-master-key-errors-moc-mds", "unb-gt01-partial-ioc-credit",
    "pp-topup-invalid-utrn", "cmd-read-during-wan-outage", "han-key-switch-twice",
    "sec-old-keys-after-rotation", "data-no-prepayment-key-excluded",
]


@pytest.mark.slow
@pytest.mark.parametrize("dmc", DMCS)
@pytest.mark.parametrize("case_id", REPRESENTATIVE)
def test_representative_case_passes_or_skips(case_id: str, dmc: str) -> None:
    case = load_catalogue()[case_id]
    result = run_cell(case_id, dmc, 1, None)
    want = Verdict.PASS if case.applies_to(dmc) else Verdict.SKIP
    assert result.verdict is want, (result.error, [e.message for e in result.failed_expectations()])
    if want is Verdict.PASS:
        assert result.expectations and all(e.passed for e in result.expectations)


def test_start_tmad_must_be_a_known_version() -> None:
    text = ("id: x\ntitle: x\nstart: {tmad: various9}\n"
            "expect:\n  - connects: {role: smso, is: true}\n")
    with pytest.raises(ScenarioError, match="unknown TMAD version 'various9'"):
        parse_scenario(text, "x.yaml")
    ok = parse_scenario(text.replace("various9", "various2-2022-03"), "x.yaml")
    assert ok.start.tmad == "various2-2022-03"


def test_data_issue_faults_reach_the_dcc_validation() -> None:
    async def main() -> dict[str, list[Reason]]:
        found: dict[str, list[Reason]] = {}
        for kind in ("duplicate-guid", "no-prepayment-key"):
            async with Lab.open("default", seed=1, start=m.Start(tmad="various2-2022-03")) as lab:
                rec = lab.records[lab.installation.id]
                assert validate_record(rec, [rec], lab.now) == []
                lab.inject(m.Fault(kind=kind))  # type: ignore[arg-type]
                rec = lab.records[lab.installation.id]
                found[kind] = validate_record(rec, [rec], lab.now)
                assert lab.tmad.name == "various2-2022-03"
        return found

    assert run_virtual(main()) == {"duplicate-guid": [Reason.DUPLICATE_GUID],
                                   "no-prepayment-key": [Reason.NO_PREPAYMENT_KEY]}
