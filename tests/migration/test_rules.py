"""The TMAD/MEHRS rules engine: checks, exclusion decisions, clause versions, reports.

Every time is explicit: T0 is Monday 3 Jan 2022 09:00 UTC and weekly attempts are T0 + k*WEEK.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from emulator.core.timebase import DAY, HOUR, SECOND, WEEK, from_datetime
from emulator.errors import ProfileError
from emulator.profiles import list_dmcs
from emulator.wire.vocabulary import DeviceType, PaymentMode
from harness.migration.history import Attempt, History
from harness.migration.inventory import (
    DeviceRecord,
    InstallationRecord,
    MeterState,
    SupplierStatus,
    timeout_hours,
)
from harness.migration.outcome import Outcome
from harness.migration.reasons import Reason
from harness.migration.report import (
    CSV_COLUMNS,
    ExclusionRow,
    csv_text,
    exclusion_report,
    report_json,
    write_csv,
    write_json,
)
from harness.migration.rules import (
    SPLIT_SUPPLY_COS_DAYS,
    Action,
    Decision,
    evaluate,
    partial_on_gsme_firmware_failure,
    preflight,
    resolve_duplicate_mpxn,
    split_supply_window_us,
    validate_record,
)
from harness.migration.rules import eligible as epcl_gate
from harness.migration.tmad import (
    DEFAULT_TMAD_VERSION,
    ClauseNotInVersion,
    Epcl,
    ExclusionCategory,
    list_tmad_versions,
    load_epcl,
    load_tmad,
    parse_tmad,
)

T0 = from_datetime(datetime(2022, 1, 3, 9, tzinfo=UTC))
V1 = "various1-2021-11"
V2 = "various2-2022-03"
EPCL = load_epcl()

_serial = iter(range(1, 1_000_000))


def _eui(prefix: int, n: int) -> str:
    """An EUI-64 ``PP-nn-nn-nn-nn-nn-nn-nn``: unique per (prefix, n)."""
    return "-".join(f"{b:02X}" for b in ((prefix << 56) | n).to_bytes(8, "big"))


def make(
    group_id: str = "CA",
    *,
    gas: bool = True,
    state: MeterState = MeterState.DORMANT,
    esme_mode: PaymentMode = PaymentMode.CREDIT,
    dmc: str = "ioc-credit",
    n: int | None = None,
    **changes: object,
) -> InstallationRecord:
    """An installation with a CHF, an ESME and (by default) a GSME, unique EUIs and MPxNs."""
    n = next(_serial) if n is None else n
    devices = [
        DeviceRecord(_eui(0xAA, n), DeviceType.ESME, "1.0",
                     mpxn=f"19{n:011d}", state=state, payment_mode=esme_mode),
    ]
    if gas:
        devices.append(
            DeviceRecord(_eui(0xBB, n), DeviceType.GSME, "1.0",
                         mpxn=f"{n:010d}", state=state)
        )
    record = InstallationRecord(
        installation_id=f"inst-{n}",
        group_id=group_id,
        dmc=dmc,
        chf_eui=_eui(0xCC, n),
        devices=tuple(devices),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def weekly(reason: Reason, weeks: int, start: int = T0, step: str = "preflight") -> History:
    history = History("x")
    for k in range(weeks):
        history.record(start + k * WEEK, Outcome.FAILED, reason, step)
    return history


def same_week(reason: Reason, times: int) -> History:
    history = History("x")
    for k in range(times):
        history.record(T0 + k * DAY, Outcome.FAILED, reason, "preflight")
    return history


# -- reasons ----------------------------------------------------------------------------------


def test_reason_codes_are_unique_and_public_codes_kept() -> None:
    codes = [r.code for r in Reason]
    assert len(codes) == len(set(codes))
    assert Reason("MA112") is Reason.MA112 and Reason.GT01.code == "GT01"
    assert Reason.PREVIOUS_APN_MISSING.code == "V525"
    assert all(r.description for r in Reason)


def test_data_error_flags() -> None:
    data = {r for r in Reason if r.data_error}
    assert {
        Reason.COS_IN_WINDOW,
        Reason.DUPLICATE_GUID,
        Reason.DUPLICATE_MPXN,
        Reason.SUPPLIER_UNKNOWN,
        Reason.NO_PREPAYMENT_KEY,
    } <= data
    assert not Reason.MA112.data_error and not Reason.GT01.data_error
    assert not Reason.MASTER_KEY_WRONG.data_error and not Reason.S1SP_TIMEOUT.data_error


@pytest.mark.parametrize(
    ("group_id", "hours"),
    [("AA", 48), ("BA", 48), ("CA", 48), ("CB", 48), ("DA", 48),
     ("EA", 192), ("EB", 192), ("EC", 192)],
)
def test_timeout_hours(group_id: str, hours: int) -> None:
    assert timeout_hours(group_id) == hours


def test_timeout_hours_unknown_group() -> None:
    with pytest.raises(ValueError, match="unknown GroupID 'ZZ'"):
        timeout_hours("ZZ")


# -- TMAD versions and clause lookups ---------------------------------------------------------


def test_versions_listed_and_default() -> None:
    assert list_tmad_versions() == [V1, V2]
    assert load_tmad().name == DEFAULT_TMAD_VERSION == V1
    assert load_tmad(V1) is load_tmad(V1)  # cached


@pytest.mark.parametrize(
    ("category", "clause"),
    [
        (ExclusionCategory.MASTER_KEY_ERRORS, "18.4"),
        (ExclusionCategory.UNECONOMIC_TO_TEST, "18.5"),
        (ExclusionCategory.CONSISTENT_GT01_FAILURE, "18.6"),
        (ExclusionCategory.NO_WAN_BEFORE_MIGRATION, "18.7"),
        (ExclusionCategory.NO_WAN_ATTEMPTING_MIGRATION, "18.8"),
        (ExclusionCategory.FIVE_RETRIES, "18.9"),
    ],
)
def test_various1_clauses(category: ExclusionCategory, clause: str) -> None:
    assert load_tmad(V1).clause(category) == clause


@pytest.mark.parametrize(
    ("category", "clause"),
    [
        (ExclusionCategory.UNABLE_TO_ATTEMPT_FIRMWARE_UPGRADE, "18.9"),
        (ExclusionCategory.FIRMWARE_CONFIG_FAILURE_MOC_MDS, "18.10"),
        (ExclusionCategory.FIRMWARE_CONFIG_FAILURE_IOC, "18.11"),
        (ExclusionCategory.UNRESOLVED_DATA_ISSUES, "18.12"),
        (ExclusionCategory.DUPLICATE_MPXN, "18.13"),
    ],
)
def test_various2_clauses(category: ExclusionCategory, clause: str) -> None:
    assert load_tmad(V2).clause(category) == clause


def test_clause_18_9_means_different_categories() -> None:
    assert load_tmad(V1).category("18.9") is ExclusionCategory.FIVE_RETRIES
    assert load_tmad(V2).category("18.9") is ExclusionCategory.UNABLE_TO_ATTEMPT_FIRMWARE_UPGRADE
    assert load_tmad(V1).category("18.99") is None


def test_missing_clause_raises_clear_error() -> None:
    v1, v2 = load_tmad(V1), load_tmad(V2)
    assert not v1.has_clause(ExclusionCategory.DUPLICATE_MPXN)
    with pytest.raises(ClauseNotInVersion, match=r"DUPLICATE_MPXN .* various1-2021-11.*"
                                                 r"versions that number it: various2-2022-03"):
        v1.clause(ExclusionCategory.DUPLICATE_MPXN)
    with pytest.raises(LookupError, match="FIVE_RETRIES"):
        v2.clause(ExclusionCategory.FIVE_RETRIES)


def test_every_version_lists_every_category() -> None:
    for name in list_tmad_versions():
        assert set(load_tmad(name).clauses) == set(ExclusionCategory)


def test_human_names() -> None:
    assert ExclusionCategory.FIVE_RETRIES.human_name == "Five Retries Attempting Migration"
    assert ExclusionCategory("MASTER_KEY_ERRORS").human_name == "Master Key Errors"
    assert all(c.human_name for c in ExclusionCategory)


_GOOD_TMAD = load_tmad(V1).file


def _tmad_yaml(clauses: str, **top: str) -> str:
    head = {"schema_version": "1", "name": "test", "label": "Test", "date": "2022-01-01",
            "source": "tests"} | top
    return "".join(f"{k}: {v}\n" for k, v in head.items()) + "clauses:\n" + clauses


_ALL = "".join(f"  {c.value}: null\n" for c in ExclusionCategory)


def test_tmad_file_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(_tmad_yaml(_ALL.replace("FIVE_RETRIES: null", 'FIVE_RETRIES: "18.9"')))
    version = load_tmad(path)
    assert version.clause(ExclusionCategory.FIVE_RETRIES) == "18.9"
    assert version.file == str(path)


@pytest.mark.parametrize(
    ("clauses", "field", "reason"),
    [
        (_ALL.replace("  FIVE_RETRIES: null\n", ""), "clauses.FIVE_RETRIES", "Field required"),
        (_ALL.replace('FIVE_RETRIES: null', "FIVE_RETRIES: 18.10"), "clauses.FIVE_RETRIES",
         "quoted strings"),
        (_ALL.replace('FIVE_RETRIES: null', 'FIVE_RETRIES: "eighteen"'),
         "clauses.FIVE_RETRIES", "not a clause number"),
        (_ALL + "  NO_SUCH_CATEGORY: null\n", "clauses.NO_SUCH_CATEGORY", "Extra inputs"),
        (_ALL.replace('FIVE_RETRIES: null', 'FIVE_RETRIES: "18.9"')
             .replace('DUPLICATE_MPXN: null', 'DUPLICATE_MPXN: "18.9"'),
         "clauses", "clause 18.9 given to both"),
    ],
)
def test_broken_tmad_yaml_names_file_and_field(
    tmp_path: Path, clauses: str, field: str, reason: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(_tmad_yaml(clauses))
    with pytest.raises(ProfileError) as info:
        load_tmad(path)
    assert info.value.file == str(path)
    assert info.value.field == field
    assert reason in info.value.reason
    assert str(path) in str(info.value)


def test_broken_tmad_top_level(tmp_path: Path) -> None:
    bad_date = tmp_path / "d.yaml"
    bad_date.write_text(_tmad_yaml(_ALL, date="March 2022"))
    with pytest.raises(ProfileError) as info:
        load_tmad(bad_date)
    assert (info.value.file, info.value.field) == (str(bad_date), "date")

    version = tmp_path / "v.yaml"
    version.write_text(_tmad_yaml(_ALL, schema_version="2"))
    with pytest.raises(ProfileError) as info:
        load_tmad(version)
    assert info.value.field == "schema_version"

    syntax = tmp_path / "s.yaml"
    syntax.write_text("schema_version: 1\nclauses: [unclosed\n")
    with pytest.raises(ProfileError, match="YAML error at line") as info:
        load_tmad(syntax)
    assert info.value.field == ""

    with pytest.raises(ProfileError, match="no such file"):
        load_tmad(tmp_path / "missing.yaml")


def test_unknown_builtin_tmad_version() -> None:
    with pytest.raises(ProfileError, match="no such TMAD version") as info:
        load_tmad("various9-2030-01")
    assert info.value.file == "tmad/various9-2030-01.yaml"


def test_parse_tmad_text() -> None:
    version = parse_tmad(_tmad_yaml(_ALL, date="2022-03"), "inline.yaml")
    assert version.date == "2022-03" and version.file == "inline.yaml"
    assert not any(version.has_clause(c) for c in ExclusionCategory)


# -- EPCL -------------------------------------------------------------------------------------


def test_epcl_lists_shipped_dmcs() -> None:
    for dmc in list_dmcs():
        assert EPCL.eligible(dmc), dmc
    assert EPCL.uneconomic_dmcs and not EPCL.eligible(next(iter(EPCL.uneconomic_dmcs)))


def test_epcl_overlap_is_a_profile_error(tmp_path: Path) -> None:
    path = tmp_path / "epcl.yaml"
    path.write_text("schema_version: 1\neligible: [a, b]\nuneconomic_to_test: [b]\n")
    with pytest.raises(ProfileError, match="both eligible and uneconomic to test: b"):
        load_epcl(path)
    path.write_text("schema_version: 1\neligible: [a, a]\n")
    with pytest.raises(ProfileError, match="'a' is listed twice"):
        load_epcl(path)
    path.write_text("schema_version: 1\nuneconomic_to_test: []\n")
    with pytest.raises(ProfileError) as info:
        load_epcl(path)
    assert info.value.field == "eligible"


# -- pre-flight checks (behaviours 5 and 7) ---------------------------------------------------


def test_behaviour_5_gt01_72_hours() -> None:
    record = make("DA")
    assert preflight(record, T0, T0 - HOUR, T0 - 72 * HOUR) is None
    assert preflight(record, T0, T0 - HOUR, T0 - 72 * HOUR - 1) is Reason.GT01
    assert preflight(record, T0, T0 - HOUR, None) is Reason.GT01
    electricity_only = make("DA", gas=False)
    assert preflight(electricity_only, T0, T0 - HOUR, None) is None


def test_behaviour_7_ma112_seven_days_checked_first() -> None:
    record = make("CA")
    assert preflight(record, T0, T0 - 7 * DAY, T0) is None
    assert preflight(record, T0, T0 - 7 * DAY - 1, T0) is Reason.MA112
    assert preflight(record, T0, None, None) is Reason.MA112  # MA112 before GT01


def test_behaviour_7_three_ma112_in_separate_weeks_excludes() -> None:
    record = make("CA")  # IOC, dormant
    assert evaluate(record, weekly(Reason.MA112, 2), EPCL) == Decision.retry(
        Reason.MA112, "failed before; no exclusion rule applies yet"
    )
    decision = evaluate(record, weekly(Reason.MA112, 3), EPCL)
    assert decision.action is Action.EXCLUDE
    assert decision.category is ExclusionCategory.NO_WAN_ATTEMPTING_MIGRATION
    # MOC (MDS) too
    assert evaluate(make("CB"), weekly(Reason.MA112, 3), EPCL).category is (
        ExclusionCategory.NO_WAN_ATTEMPTING_MIGRATION
    )


def test_behaviour_7_same_week_ma112_triple_counts_once() -> None:
    decision = evaluate(make("CA"), same_week(Reason.MA112, 3), EPCL)
    assert decision.action is Action.RETRY and decision.reason is Reason.MA112


def test_behaviour_7_scope_dormant_ioc_and_moc_mds_only() -> None:
    active = make("CA", state=MeterState.ACTIVE)
    assert evaluate(active, weekly(Reason.MA112, 3), EPCL).action is Action.RETRY
    secure = make("DA")  # MOC (Secure): no No-WAN category, so it keeps retrying
    assert evaluate(secure, weekly(Reason.MA112, 3), EPCL).action is Action.RETRY
    foc = make("EA", dmc="default")
    assert evaluate(foc, weekly(Reason.MA112, 4), EPCL).action is Action.RETRY


# -- behaviour 4: Master Key Errors (our threshold: three separate weeks) -----------------------


def test_behaviour_4_master_key_errors() -> None:
    mixed = History("x")
    mixed.record(T0, Outcome.FAILED, Reason.MASTER_KEY_WRONG, "key-rotation")
    mixed.record(T0 + WEEK, Outcome.ROLLED_BACK, Reason.MASTER_KEY_MISSING, "key-rotation")
    assert evaluate(make("CB"), mixed, EPCL).action is Action.RETRY
    mixed.record(T0 + 2 * WEEK, Outcome.FAILED, Reason.MASTER_KEY_WRONG, "key-rotation")
    decision = evaluate(make("CB"), mixed, EPCL)
    assert decision == Decision.exclude(ExclusionCategory.MASTER_KEY_ERRORS, decision.rule)
    assert evaluate(make("DA"), mixed, EPCL).action is Action.RETRY  # not in scope
    active = make("AA", state=MeterState.ACTIVE)
    assert evaluate(active, mixed, EPCL).action is Action.RETRY


# -- behaviour 6: GT01 partial migration --------------------------------------------------------


def test_behaviour_6_gt01_three_separate_weeks_moc_secure() -> None:
    record = make("DA")
    assert evaluate(record, weekly(Reason.GT01, 2), EPCL).action is Action.RETRY
    decision = evaluate(record, weekly(Reason.GT01, 3), EPCL)
    assert decision.action is Action.PARTIAL_ESME_ONLY
    assert decision.category is ExclusionCategory.CONSISTENT_GT01_FAILURE
    assert decision.excluded_devices == (DeviceType.GSME,)
    assert decision.migrates and decision.notify_supplier


def test_behaviour_6_same_week_gt01_counts_once() -> None:
    assert evaluate(make("DA"), same_week(Reason.GT01, 3), EPCL).action is Action.RETRY
    history = same_week(Reason.GT01, 3)
    history.record(T0 + WEEK, Outcome.FAILED, Reason.GT01, "preflight")
    assert evaluate(make("DA"), history, EPCL).action is Action.RETRY  # two weeks


def test_behaviour_6_ioc_needs_esme_in_credit_mode() -> None:
    credit = make("CA", esme_mode=PaymentMode.CREDIT)
    assert evaluate(credit, weekly(Reason.GT01, 3), EPCL).action is Action.PARTIAL_ESME_ONLY
    prepay = make("CA", esme_mode=PaymentMode.PREPAYMENT)
    decision = evaluate(prepay, weekly(Reason.GT01, 3), EPCL)
    assert decision.action is Action.RETRY and decision.reason is Reason.GT01
    # ... and it keeps retrying until another rule fires: five weeks is Five Retries.
    assert evaluate(prepay, weekly(Reason.GT01, 5), EPCL).category is (
        ExclusionCategory.FIVE_RETRIES
    )
    # MOC (Secure) does not check the payment mode.
    secure_prepay = make("DA", esme_mode=PaymentMode.PREPAYMENT)
    assert evaluate(secure_prepay, weekly(Reason.GT01, 3), EPCL).action is (
        Action.PARTIAL_ESME_ONLY
    )


def test_behaviour_6_not_for_moc_mds_foc_or_active() -> None:
    assert evaluate(make("CB"), weekly(Reason.GT01, 3), EPCL).action is Action.RETRY
    assert evaluate(make("EA", dmc="default"), weekly(Reason.GT01, 3), EPCL).action is (
        Action.RETRY
    )
    active = make("DA", state=MeterState.ACTIVE)
    assert evaluate(active, weekly(Reason.GT01, 3), EPCL).action is Action.RETRY


# -- behaviour 9: CoS window is a data error --------------------------------------------------


def test_behaviour_9_cos_inside_foc_window_is_data_error() -> None:
    foc = make("EA", dmc="default", last_change_of_supply_us=T0 - 10 * DAY)
    reasons = validate_record(foc, [foc], T0)
    assert reasons == [Reason.COS_IN_WINDOW]
    assert Reason.COS_IN_WINDOW.data_error
    outside = replace(foc, last_change_of_supply_us=T0 - 14 * DAY)
    assert validate_record(outside, [outside], T0) == []
    just_inside = replace(foc, last_change_of_supply_us=T0 - 14 * DAY + SECOND)
    assert validate_record(just_inside, [], T0) == [Reason.COS_IN_WINDOW]
    ioc = make("CA", last_change_of_supply_us=T0 - DAY)  # no CoS window outside FOC
    assert validate_record(ioc, [ioc], T0) == []


def test_behaviour_9_cos_failures_do_not_count_toward_five_retries() -> None:
    record = make("DA")
    history = weekly(Reason.KEY_ROTATION_FAILED, 4)
    for k in range(4, 8):  # four more weeks, each failing only the Table 5.10 CoS check
        history.record(T0 + k * WEEK, Outcome.FAILED, Reason.COS_IN_WINDOW, "validation")
    assert evaluate(record, history, EPCL).action is Action.RETRY
    history.record(T0 + 8 * WEEK, Outcome.FAILED, Reason.CERT_SWAP_FAILED, "device-installation")
    assert evaluate(record, history, EPCL).category is ExclusionCategory.FIVE_RETRIES


# -- behaviour 10: Five Retries ---------------------------------------------------------------


@pytest.mark.parametrize("group_id", ["AA", "BA", "CA", "CB", "DA"])
def test_behaviour_10_five_retries(group_id: str) -> None:
    record = make(group_id)
    four = weekly(Reason.S1SP_TIMEOUT, 4, step="device-installation")
    assert evaluate(record, four, EPCL) == Decision.retry(
        Reason.S1SP_TIMEOUT, "failed before; no exclusion rule applies yet"
    )
    five = weekly(Reason.S1SP_TIMEOUT, 5, step="device-installation")
    decision = evaluate(record, five, EPCL)
    assert decision.action is Action.EXCLUDE
    assert decision.category is ExclusionCategory.FIVE_RETRIES
    assert not decision.migrates


def test_behaviour_10_mixed_reasons_and_rollbacks_count() -> None:
    history = History("x")
    reasons = [Reason.KEY_ROTATION_FAILED, Reason.SIM_MOVE_FAILED, Reason.HAN_CHECK_FAILED,
               Reason.RECONNECT_TIMEOUT, Reason.SCHEMA_INVALID]
    for k, reason in enumerate(reasons):
        outcome = Outcome.ROLLED_BACK if k % 2 else Outcome.FAILED
        history.record(T0 + k * WEEK, outcome, reason, "step")
    assert evaluate(make("DA"), history, EPCL).category is ExclusionCategory.FIVE_RETRIES


def test_behaviour_10_same_week_failures_and_foc_and_active() -> None:
    history = History("x")
    for k in range(10):  # ten failures in two weeks
        history.record(T0 + (k % 2) * WEEK + k * HOUR, Outcome.FAILED, Reason.SIM_MOVE_FAILED, "s")
    assert evaluate(make("DA"), history, EPCL).action is Action.RETRY
    many = weekly(Reason.SIM_MOVE_FAILED, 8)
    assert evaluate(make("EA", dmc="default"), many, EPCL).action is Action.RETRY  # FOC
    assert evaluate(make("DA", state=MeterState.ACTIVE), many, EPCL).action is Action.RETRY


def test_pre_work_failures_are_not_migration_attempts() -> None:
    # Firmware instructions failing in five weeks in MOC (Secure): no FW category, not Five
    # Retries either (they are 4.26 pre-work, not migration attempts).
    history = weekly(Reason.FIRMWARE_FAILED, 5, step="pre-work")
    assert evaluate(make("DA"), history, EPCL).action is Action.RETRY


# -- pre-work categories (behaviour 11's consequences) ----------------------------------------


def test_no_wan_before_migration_ioc_three_instructions() -> None:
    two = weekly(Reason.PRE_WORK_NO_WAN, 2, step="pre-work")
    assert evaluate(make("BA"), two, EPCL).action is Action.RETRY
    three = weekly(Reason.PRE_WORK_NO_WAN, 3, step="pre-work")
    assert evaluate(make("BA"), three, EPCL).category is ExclusionCategory.NO_WAN_BEFORE_MIGRATION
    assert evaluate(make("CB"), three, EPCL).action is Action.RETRY  # IOC only


def test_firmware_configuration_failure_categories() -> None:
    history = History("x")
    history.record(T0, Outcome.FAILED, Reason.FIRMWARE_FAILED, "pre-work")
    history.record(T0 + 6 * DAY, Outcome.FAILED, Reason.CONFIGURATION_FAILED, "pre-work")
    assert evaluate(make("CB"), history, EPCL).action is Action.RETRY
    history.record(T0 + 12 * DAY, Outcome.FAILED, Reason.FIRMWARE_FAILED, "pre-work")
    assert evaluate(make("CB"), history, EPCL).category is (
        ExclusionCategory.FIRMWARE_CONFIG_FAILURE_MOC_MDS
    )
    assert evaluate(make("AA"), history, EPCL).category is (
        ExclusionCategory.FIRMWARE_CONFIG_FAILURE_IOC
    )


def test_unable_to_attempt_firmware_ioc() -> None:
    history = weekly(Reason.FIRMWARE_NOT_ATTEMPTABLE, 1, step="pre-work")
    assert evaluate(make("CA"), history, EPCL).category is (
        ExclusionCategory.UNABLE_TO_ATTEMPT_FIRMWARE_UPGRADE
    )
    assert evaluate(make("CB"), history, EPCL).action is Action.RETRY


# -- behaviour 12: MOC (MDS) partial migration on GSME firmware failure ------------------------


def test_partial_on_gsme_firmware_failure() -> None:
    cb = make("CB")
    decision = partial_on_gsme_firmware_failure(cb, esme_ok=True, gsme_ok=False)
    assert decision.action is Action.PARTIAL_ESME_ONLY
    assert decision.category is ExclusionCategory.FIRMWARE_CONFIG_FAILURE_MOC_MDS
    assert "4.26A" in decision.rule
    assert partial_on_gsme_firmware_failure(cb, True, True).action is Action.MIGRATE
    assert partial_on_gsme_firmware_failure(cb, False, True).category is (
        ExclusionCategory.FIRMWARE_CONFIG_FAILURE_MOC_MDS
    )
    assert partial_on_gsme_firmware_failure(cb, False, True).action is Action.EXCLUDE
    ioc = make("AA")  # not extended to IOC: the whole installation fails
    assert partial_on_gsme_firmware_failure(ioc, True, False) == Decision.exclude(
        ExclusionCategory.FIRMWARE_CONFIG_FAILURE_IOC,
        "4.26 firmware/configuration failed on the GSME",
    )
    secure = make("DA")
    assert partial_on_gsme_firmware_failure(secure, True, False).action is Action.RETRY
    active = make("CB", state=MeterState.ACTIVE)
    assert partial_on_gsme_firmware_failure(active, True, False).action is Action.RETRY
    electricity_only = make("CB", gas=False)
    assert partial_on_gsme_firmware_failure(electricity_only, True, False).action is (
        Action.MIGRATE
    )


# -- behaviour 13: duplicate MPxN (4.1C) --------------------------------------------------------


def _twins(
    old_talks: bool, new_talks: bool, *, new_at: int = T0
) -> tuple[InstallationRecord, InstallationRecord]:
    old = make("CB", installed_at_us=T0 - 400 * DAY, communicating=old_talks)
    new = make("DA", installed_at_us=new_at, communicating=new_talks)
    assert old.esme is not None
    new = replace(new, devices=(replace(new.devices[0], mpxn=old.esme.mpxn), new.devices[1]))
    return old, new


def test_behaviour_13_only_last_installed_communicating_migrates() -> None:
    old, new = _twins(old_talks=False, new_talks=True)
    other = make("CA")
    decisions = resolve_duplicate_mpxn([old, new, other])
    assert decisions[new.installation_id].action is Action.MIGRATE
    assert decisions[old.installation_id].category is ExclusionCategory.DUPLICATE_MPXN
    assert other.installation_id not in decisions


@pytest.mark.parametrize(("old_talks", "new_talks"), [(True, True), (True, False),
                                                      (False, False)])
def test_behaviour_13_otherwise_neither_migrates(old_talks: bool, new_talks: bool) -> None:
    old, new = _twins(old_talks, new_talks)
    decisions = resolve_duplicate_mpxn([new, old])
    assert {d.action for d in decisions.values()} == {Action.EXCLUDE}
    assert {d.category for d in decisions.values()} == {ExclusionCategory.DUPLICATE_MPXN}


def test_behaviour_13_tie_chain_and_active() -> None:
    old, new = _twins(old_talks=False, new_talks=True, new_at=T0 - 400 * DAY)  # same install time
    assert resolve_duplicate_mpxn([old, new])[new.installation_id].action is Action.EXCLUDE
    # a chain: a shares the MPAN with b, b shares the MPRN with c -> one duplicate set
    a, b = _twins(old_talks=False, new_talks=False)
    c = make("CA", installed_at_us=T0 + DAY, communicating=True)
    assert b.gsme is not None
    c = replace(c, devices=(c.devices[0], replace(c.devices[1], mpxn=b.gsme.mpxn)))
    decisions = resolve_duplicate_mpxn([a, b, c])
    assert decisions[c.installation_id].action is Action.MIGRATE
    assert decisions[a.installation_id].action is Action.EXCLUDE
    # an active member is not excluded under the (dormant) category
    old, new = _twins(old_talks=True, new_talks=True)
    old = replace(old, devices=tuple(replace(d, state=MeterState.ACTIVE) for d in old.devices))
    decisions = resolve_duplicate_mpxn([old, new])
    assert decisions[old.installation_id] == Decision.retry(
        Reason.DUPLICATE_MPXN, "duplicate MPxN with an active meter"
    )
    # validation flags the duplicate on both
    assert Reason.DUPLICATE_MPXN in validate_record(old, [old, new], T0)
    assert Reason.DUPLICATE_MPXN in validate_record(new, [old, new], T0)


def test_behaviour_13_survivor_with_ceased_supplier() -> None:
    old, new = _twins(old_talks=False, new_talks=True)
    new = replace(new, supplier_status=SupplierStatus.CEASED_TRADING)
    assert resolve_duplicate_mpxn([old, new])[new.installation_id].action is (
        Action.MIGRATE_WITHOUT_NOTIFICATION
    )


# -- behaviour 14: unresolved data issues -------------------------------------------------------


def test_behaviour_14_data_issues_found_by_validation() -> None:
    a, b = make("CA"), make("DA")
    b = replace(b, chf_eui=a.chf_eui.lower().replace("-", ":"))  # same GUID, other spelling
    assert validate_record(a, [a, b], T0) == [Reason.DUPLICATE_GUID]
    assert validate_record(a, [a], T0) == []
    assert validate_record(a, [a, make("CA"), make("EA")], T0) == []  # fresh records are clean
    within = replace(a, devices=(a.devices[0], replace(a.devices[1], eui=a.devices[0].eui)))
    assert validate_record(within, [within], T0) == [Reason.DUPLICATE_GUID]
    chf_row = replace(a, devices=(*a.devices, DeviceRecord(a.chf_eui, DeviceType.CHF, "1")))
    assert validate_record(chf_row, [chf_row], T0) == []  # the CHF's own row is not a duplicate
    unknown = replace(a, supplier_status=SupplierStatus.UNKNOWN)
    assert validate_record(unknown, [], T0) == [Reason.SUPPLIER_UNKNOWN]
    nameless = replace(a, supplier=" ")
    assert validate_record(nameless, [], T0) == [Reason.SUPPLIER_UNKNOWN]
    prepay = make("CA", esme_mode=PaymentMode.PREPAYMENT, prepayment_key_present=False)
    assert validate_record(prepay, [], T0) == [Reason.NO_PREPAYMENT_KEY]
    credit = make("CA", prepayment_key_present=False)  # a credit meter needs no key
    assert validate_record(credit, [], T0) == []
    no_apn = make("CA", previous_apn=None)
    # TMAD 5.25 is the DCO's MGF validation (step 15.6.4, tests/migration/test_files.py),
    # not a data check here: it must reach the SCF, not stop before the MGF.
    assert validate_record(no_apn, [], T0) == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"supplier_status": SupplierStatus.UNKNOWN}, Reason.SUPPLIER_UNKNOWN),
        ({"prepayment_key_present": False, "esme_mode": PaymentMode.PREPAYMENT},
         Reason.NO_PREPAYMENT_KEY),
    ],
)
def test_behaviour_14_never_silently_migrated(changes: dict[str, object], reason: Reason) -> None:
    record = make("EA", dmc="default", **changes)  # type: ignore[arg-type]
    decision = evaluate(record, History("x"), EPCL)
    assert decision.action is Action.RETRY and decision.reason is reason
    assert not decision.migrates
    history = weekly(reason, 2, step="validation")
    assert evaluate(record, history, EPCL).action is Action.RETRY
    history = weekly(reason, 3, step="validation")
    assert evaluate(record, history, EPCL).category is ExclusionCategory.UNRESOLVED_DATA_ISSUES


def test_behaviour_14_duplicate_guid_history_excludes_and_reports_18_12() -> None:
    record = make("EB", dmc="default")
    history = weekly(Reason.DUPLICATE_GUID, 3, step="validation")
    decision = evaluate(record, history, EPCL)
    assert decision.category is ExclusionCategory.UNRESOLVED_DATA_ISSUES
    report = exclusion_report({record.installation_id: decision}, [record], load_tmad(V2))
    assert [row.clause for row in report["Supplier A"]] == ["18.12"]


# -- behaviour 15: ceased-trading / non-live supplier -----------------------------------------


@pytest.mark.parametrize(
    ("status", "clause"),
    [(SupplierStatus.CEASED_TRADING, "4.1A"), (SupplierStatus.NOT_LIVE_USER, "4.1B")],
)
def test_behaviour_15_migrate_without_notification(status: SupplierStatus, clause: str) -> None:
    record = make("CA", supplier_status=status)
    decision = evaluate(record, History("x"), EPCL)
    assert decision.action is Action.MIGRATE_WITHOUT_NOTIFICATION
    assert decision.migrates and not decision.notify_supplier
    assert clause in decision.rule
    # after a failure it is still migrated without notification (not a plain RETRY)
    assert evaluate(record, weekly(Reason.SIM_MOVE_FAILED, 1), EPCL).action is (
        Action.MIGRATE_WITHOUT_NOTIFICATION
    )
    live = evaluate(make("CA"), History("x"), EPCL)
    assert live.action is Action.MIGRATE and live.notify_supplier


# -- behaviour 16: split supply on CoS ---------------------------------------------------------


def test_behaviour_16_split_supply_on_cos() -> None:
    """The change of supply in question is judged by its time against the window: a CoS
    inside it refuses a split-supply site (unless both fuels are Recently Dormant); an old one
    does not."""
    inside = T0 - 3 * DAY
    recent = make("CA", state=MeterState.RECENTLY_DORMANT, split_supply=True,
                  last_change_of_supply_us=inside)
    assert validate_record(recent, [recent], T0) == []
    assert recent.esme is not None
    one_fuel = replace(recent, devices=(replace(recent.esme, state=MeterState.DORMANT),
                                        recent.devices[1]))
    assert validate_record(one_fuel, [one_fuel], T0) == [Reason.SPLIT_SUPPLY_ON_COS]
    assert Reason.SPLIT_SUPPLY_ON_COS.data_error
    dormant = make("CA", split_supply=True, last_change_of_supply_us=inside)
    assert validate_record(dormant, [], T0) == [Reason.SPLIT_SUPPLY_ON_COS]
    window = split_supply_window_us("CA")
    assert window == SPLIT_SUPPLY_COS_DAYS * DAY  # IOC has no CoS window of its own
    edge = make("CA", split_supply=True, last_change_of_supply_us=T0 - window + 1)
    assert validate_record(edge, [], T0) == [Reason.SPLIT_SUPPLY_ON_COS]
    old_cos = make("CA", split_supply=True, last_change_of_supply_us=T0 - window)
    assert validate_record(old_cos, [], T0) == []  # a change of supply long past is not this one
    long_ago = make("CA", split_supply=True, last_change_of_supply_us=T0 - 30 * DAY)
    assert validate_record(long_ago, [], T0) == []
    future = make("CA", split_supply=True, last_change_of_supply_us=T0 + DAY)
    assert validate_record(future, [], T0) == []  # not happened yet
    no_cos = make("CA", split_supply=True)
    assert validate_record(no_cos, [], T0) == []
    not_split = make("CA", last_change_of_supply_us=inside)
    assert validate_record(not_split, [], T0) == []
    electricity_only = make("CA", gas=False, state=MeterState.RECENTLY_DORMANT,
                            split_supply=True, last_change_of_supply_us=inside)
    assert validate_record(electricity_only, [], T0) == [Reason.SPLIT_SUPPLY_ON_COS]
    foc = make("EA", split_supply=True, last_change_of_supply_us=T0 - 13 * DAY)
    assert Reason.SPLIT_SUPPLY_ON_COS in validate_record(foc, [], T0)
    assert split_supply_window_us("EA") == 14 * DAY


# -- behaviour 17: EPCL gate -------------------------------------------------------------------


def test_behaviour_17_not_on_epcl_is_never_scheduled() -> None:
    record = make("CA", dmc="unknown-dmc")
    assert epcl_gate(record, EPCL) is Reason.NOT_ON_EPCL
    decision = evaluate(record, History("x"), EPCL)
    assert decision.action is Action.NOT_ELIGIBLE and decision.reason is Reason.NOT_ON_EPCL
    assert not decision.migrates and decision.excluded_devices == ()
    # even with a history that would otherwise exclude it, it is not scheduled
    assert evaluate(record, weekly(Reason.MA112, 9), EPCL).action is Action.NOT_ELIGIBLE
    assert epcl_gate(make("CA"), EPCL) is None


def test_behaviour_17_uneconomic_to_test() -> None:
    uneconomic = next(iter(EPCL.uneconomic_dmcs))
    record = make("EA", dmc=uneconomic)
    assert epcl_gate(record, EPCL) is Reason.NOT_ON_EPCL
    decision = evaluate(record, History("x"), EPCL)
    assert decision.category is ExclusionCategory.UNECONOMIC_TO_TEST
    custom = Epcl(frozenset({"x"}), frozenset({"ioc-credit"}))
    assert evaluate(make("CA"), History("x"), custom).category is (
        ExclusionCategory.UNECONOMIC_TO_TEST
    )


# -- behaviour 18: clause versioning in reports -------------------------------------------------


def _five_retries_case() -> tuple[InstallationRecord, Decision]:
    record = make("DA", supplier="Supplier B")
    decision = evaluate(record, weekly(Reason.KEY_ROTATION_FAILED, 5), EPCL)
    assert decision.category is ExclusionCategory.FIVE_RETRIES
    return record, decision


def test_behaviour_18_clause_follows_configured_tmad_version(tmp_path: Path) -> None:
    record, decision = _five_retries_case()
    decisions = {record.installation_id: decision}
    v1_report = exclusion_report(decisions, [record], load_tmad(V1))
    assert record.esme is not None and record.gsme is not None
    assert v1_report == {
        "Supplier B": [
            ExclusionRow("Supplier B", record.esme.mpxn, record.gsme.mpxn,
                         ExclusionCategory.FIVE_RETRIES, "18.9", record.installation_id)
        ]
    }
    with pytest.raises(ClauseNotInVersion, match="FIVE_RETRIES"):
        exclusion_report(decisions, [record], load_tmad(V2))
    blank = exclusion_report(decisions, [record], load_tmad(V2), missing_clause="")
    assert blank["Supplier B"][0].clause == ""
    # the same clause number, another category, under Various 2
    fw = make("CA", supplier="Supplier B")
    fw_decision = evaluate(fw, weekly(Reason.FIRMWARE_NOT_ATTEMPTABLE, 1, step="pre-work"), EPCL)
    v2_report = exclusion_report({fw.installation_id: fw_decision}, [fw], load_tmad(V2))
    row = v2_report["Supplier B"][0]
    assert (row.category, row.clause) == (
        ExclusionCategory.UNABLE_TO_ATTEMPT_FIRMWARE_UPGRADE, "18.9")

    paths = write_csv(v1_report, tmp_path / "csv")
    assert list(paths) == ["Supplier B"]
    assert paths["Supplier B"].name == "exclusions-supplier-b.csv"
    lines = paths["Supplier B"].read_text().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) == "MPAN,MPRN,Exclusion Category,Clause"
    assert lines[1] == (
        f"{record.esme.mpxn},{record.gsme.mpxn},Five Retries Attempting Migration,18.9"
    )
    out = write_json(v1_report, load_tmad(V1), tmp_path / "json" / "exclusions.json")
    data = json.loads(out.read_text())
    assert data == report_json(v1_report, load_tmad(V1))
    assert data["tmad_version"] == V1
    assert data["suppliers"]["Supplier B"][0]["clause"] == "18.9"
    assert data["suppliers"]["Supplier B"][0]["category"] == "FIVE_RETRIES"


def test_report_partial_split_supply_and_ordering() -> None:
    tmad = load_tmad(V1)
    partial = make("DA", supplier="Zeta Energy")
    split = make("CA", supplier="Alpha Power")
    split = replace(split, devices=(split.devices[0], replace(split.devices[1],
                                                               supplier="Gas Co")))
    migrate = make("CA")
    decisions = {
        partial.installation_id: evaluate(partial, weekly(Reason.GT01, 3), EPCL),
        split.installation_id: Decision.exclude(ExclusionCategory.MASTER_KEY_ERRORS),
        migrate.installation_id: Decision.migrate(),
    }
    report = exclusion_report(decisions, [partial, split, migrate], tmad)
    assert list(report) == ["Alpha Power", "Gas Co", "Zeta Energy"]
    assert partial.gsme is not None and split.esme is not None and split.gsme is not None
    assert report["Zeta Energy"] == [ExclusionRow(
        "Zeta Energy", "", partial.gsme.mpxn, ExclusionCategory.CONSISTENT_GT01_FAILURE,
        "18.6", partial.installation_id)]
    assert [(r.mpan, r.mprn) for r in report["Alpha Power"]] == [(split.esme.mpxn, "")]
    assert [(r.mpan, r.mprn) for r in report["Gas Co"]] == [("", split.gsme.mpxn)]
    gas_lines = csv_text(report["Gas Co"]).splitlines()
    assert gas_lines[1] == f",{split.gsme.mpxn},Master Key Errors,18.4"
    with pytest.raises(KeyError, match="no record"):
        exclusion_report(decisions, [partial], tmad)


def test_supplier_file_names_do_not_clash(tmp_path: Path) -> None:
    tmad = load_tmad(V1)
    a = make("CA", supplier="Acme Energy")
    b = make("CA", supplier="ACME energy!")
    decision = Decision.exclude(ExclusionCategory.MASTER_KEY_ERRORS)
    report = exclusion_report({a.installation_id: decision, b.installation_id: decision},
                              [a, b], tmad)
    paths = write_csv(report, tmp_path)
    assert sorted(p.name for p in paths.values()) == [
        "exclusions-acme-energy-2.csv", "exclusions-acme-energy.csv"]


def test_decision_invariants() -> None:
    with pytest.raises(ValueError, match="EXCLUDE needs category"):
        Decision(Action.EXCLUDE)
    with pytest.raises(ValueError, match="MIGRATE takes no category"):
        Decision(Action.MIGRATE, ExclusionCategory.FIVE_RETRIES)
    assert Decision.exclude(ExclusionCategory.FIVE_RETRIES).excluded_devices == (
        DeviceType.ESME, DeviceType.GSME)


def test_failure_needs_a_reason_and_dco_failures_count_for_five_retries() -> None:
    # Issue 7: a failure without a reason is impossible (it used to count as "unknown").
    with pytest.raises(ValueError, match="needs a reason"):
        Attempt(T0, Outcome.FAILED, None, "device-installation")
    history = History("x")
    for k in range(5):
        history.add(Attempt(T0 + k * WEEK, Outcome.FAILED, Reason.CERT_UNTRUSTED, "15.6.3"))
    assert evaluate(make("CA"), history, EPCL).category is ExclusionCategory.FIVE_RETRIES
