"""The DCC side's TMAD/MEHRS rules: eligibility, checks, retry and exclusion decisions.

Everything here is pure: records, histories and times (``int`` µs since the Unix epoch) go in,
reasons and decisions come out. Nothing reads a clock or touches a device.

Decisions name an :class:`~harness.migration.tmad.ExclusionCategory`; its clause number is the
TMAD version's (``profiles/tmad/``, loaded by :mod:`harness.migration.tmad`, the one module that
reads TMAD and EPCL files). Code never names a clause number for a category; docstrings below
cite the Various 1 [S3] or Various 2 [S2] number for the reader.

**Thresholds.** The sources fix three of them: three failures in separate weeks for No WAN
Attempting Migration and for Consistent GT01, five in separate weeks for Five Retries [S3], and
three failed 4.26 instructions for No WAN Before Migration [S3]. Two are our own choices, made
explicit as constants: :data:`MASTER_KEY_WEEKS` (the sources only say "all reasonable steps")
and :data:`UNRESOLVED_DATA_WEEKS` (the sources say the exclusion comes only after unblocking has
been tried [S2]). Firmware/configuration failure counts failed *instructions*
(:data:`PRE_WORK_INSTRUCTIONS`), each one a full retry schedule (36 firmware attempts over 6
days, 23 configuration attempts over 3 days) [S2].

Public API: :class:`Action`, :class:`Decision`, :func:`preflight`, :func:`ma112`,
:func:`communicating`, :func:`split_supply_window_us`, :func:`validate_record`, :func:`eligible`,
:func:`evaluate`, :func:`resolve_duplicate_mpxn`, :func:`partial_on_gsme_firmware_failure`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from emulator.core.timebase import DAY, HOUR
from emulator.wire.vocabulary import DeviceType, PaymentMode
from harness.migration.history import Attempt, History, has_reason
from harness.migration.inventory import (
    InstallationRecord,
    MeterState,
    SupplierStatus,
    cohort_name,
    cohort_of,
)
from harness.migration.reasons import Reason
from harness.migration.tmad import Epcl, ExclusionCategory

# -- decisions --------------------------------------------------------------------------------


class Action(Enum):
    MIGRATE = "migrate"
    RETRY = "retry"  # schedule another attempt later
    EXCLUDE = "exclude"  # the whole installation is in an Excluded Category
    PARTIAL_ESME_ONLY = "partial-esme-only"  # migrate the ESME, exclude/deregister the GSME
    MIGRATE_WITHOUT_NOTIFICATION = "migrate-without-notification"  # TMAD 4.1A / 4.1B
    NOT_ELIGIBLE = "not-eligible"  # no EPCL entry: never scheduled, not excluded either


@dataclass(frozen=True, slots=True)
class Decision:
    """What DCC does next with an installation, and the rule that says so.

    ``category`` is set for EXCLUDE and PARTIAL_ESME_ONLY (the GSME's category); ``reason`` is
    the failure that drives a RETRY or NOT_ELIGIBLE; ``rule`` cites the clause in words.
    """

    action: Action
    category: ExclusionCategory | None = None
    reason: Reason | None = None
    rule: str = ""

    def __post_init__(self) -> None:
        needs = self.action in (Action.EXCLUDE, Action.PARTIAL_ESME_ONLY)
        if needs != (self.category is not None):
            raise ValueError(f"{self.action.name} {'needs' if needs else 'takes no'} category")

    @classmethod
    def migrate(cls, rule: str = "") -> Decision:
        return cls(Action.MIGRATE, rule=rule)

    @classmethod
    def retry(cls, reason: Reason | None, rule: str = "") -> Decision:
        return cls(Action.RETRY, reason=reason, rule=rule)

    @classmethod
    def exclude(cls, category: ExclusionCategory, rule: str = "") -> Decision:
        return cls(Action.EXCLUDE, category, rule=rule)

    @classmethod
    def partial_esme_only(cls, category: ExclusionCategory, rule: str = "") -> Decision:
        return cls(Action.PARTIAL_ESME_ONLY, category, rule=rule)

    @classmethod
    def migrate_without_notification(cls, rule: str = "") -> Decision:
        return cls(Action.MIGRATE_WITHOUT_NOTIFICATION, rule=rule)

    @classmethod
    def not_eligible(cls, reason: Reason, rule: str = "") -> Decision:
        return cls(Action.NOT_ELIGIBLE, reason=reason, rule=rule)

    @property
    def migrates(self) -> bool:
        """Whether an S1SP migration goes ahead (fully, partially or without notification)."""
        return self.action in (
            Action.MIGRATE,
            Action.PARTIAL_ESME_ONLY,
            Action.MIGRATE_WITHOUT_NOTIFICATION,
        )

    @property
    def notify_supplier(self) -> bool:
        """Whether migrating emits the usual Responsible Supplier notification (not 4.1A/B)."""
        return self.action in (Action.MIGRATE, Action.PARTIAL_ESME_ONLY)

    @property
    def excluded_devices(self) -> tuple[DeviceType, ...]:
        """The meters this decision excludes: both for EXCLUDE, the GSME for a partial one."""
        if self.action is Action.EXCLUDE:
            return (DeviceType.ESME, DeviceType.GSME)
        if self.action is Action.PARTIAL_ESME_ONLY:
            return (DeviceType.GSME,)
        return ()


# -- thresholds and scopes --------------------------------------------------------------------

#: TMAD 5.12(c): WAN communication within the previous 7 days, else MA112 [S3].
MA112_LOOKBACK_US = 7 * DAY
#: GT01: HAN communication with the GSME within the previous 72 hours (from 4 Nov 2021) [S3].
GT01_LOOKBACK_US = 72 * HOUR
#: No WAN Attempting Migration: MA112 in at least three separate weeks [S3].
NO_WAN_WEEKS = 3
#: Consistent GT01 Check Failure: GT01 in three migration attempts in separate weeks [S3].
GT01_WEEKS = 3
#: Five Retries: at least five non-Table-5.10 failures in separate weeks [S3].
FIVE_RETRIES_WEEKS = 5
#: No WAN Before Migration / firmware-configuration failure: three failed 4.26 instructions,
#: each a full retry schedule ("three separate instructions ... demonstrates persistent
#: failure") [S3][S2].
PRE_WORK_INSTRUCTIONS = 3
#: OUR CHOICE. Master Key Errors needs "all reasonable steps to obtain the Master Key" [S3]; we
#: read that as a wrong or missing Master Key in three attempts in separate weeks (the same
#: evidence bar DCC proposed for No WAN and GT01), giving the SMSO time to resupply the key.
MASTER_KEY_WEEKS = 3
#: OUR CHOICE. Unresolved Data Issues applies only after unblocking has been tried [S2]; we
#: read that as the data issue still failing validation in three separate weeks.
UNRESOLVED_DATA_WEEKS = 3
#: OUR CHOICE. A split-supply site is refused "on a change of supplier" [S1]; the sources give
#: no window outside FOC, so a cohort without a CoS window uses the FOC one, 14 days.
SPLIT_SUPPLY_COS_DAYS = 14

# Rule scopes by cohort (TMAD clause 18); which GroupIDs are in a cohort is profiles/cohorts.yaml's.
_IOC = frozenset({"IOC"})
_MOC_MDS = frozenset({"MOC (MDS)"})
_MOC_SECURE = frozenset({"MOC (Secure)"})
_MASTER_KEY_SCOPE = _IOC | _MOC_MDS
_NO_WAN_ATTEMPTING_SCOPE = _IOC | _MOC_MDS
_GT01_SCOPE = _IOC | _MOC_SECURE
_FIVE_RETRIES_SCOPE = _IOC | _MOC_MDS | _MOC_SECURE

_MASTER_KEY_REASONS = (Reason.MASTER_KEY_WRONG, Reason.MASTER_KEY_MISSING)
_FW_CONFIG_REASONS = (Reason.FIRMWARE_FAILED, Reason.CONFIGURATION_FAILED)
_UNRESOLVED_DATA_REASONS = (
    Reason.DUPLICATE_GUID,
    Reason.NO_PREPAYMENT_KEY,
    Reason.SUPPLIER_UNKNOWN,
)
_NO_NOTIFICATION = (SupplierStatus.CEASED_TRADING, SupplierStatus.NOT_LIVE_USER)


def _cohort(record: InstallationRecord) -> str | None:
    return cohort_name(record.group_id)


def _counts_for_five_retries(attempt: Attempt) -> bool:
    """A migration failure other than a Table 5.10 data error (and not 4.26 pre-work)."""
    reason = attempt.reason
    return reason is None or not (reason.data_error or reason.pre_work)


# -- checks -----------------------------------------------------------------------------------


def ma112(now_us: int, last_wan_contact_us: int | None) -> bool:
    """TMAD 5.12(c): True when the CHF has **no** WAN contact within the previous 7 days
    (MA112). Contact exactly 7 days ago still passes; ``None`` ("never") fails."""
    return not communicating(last_wan_contact_us, now_us)


def preflight(
    record: InstallationRecord,
    now_us: int,
    last_wan_contact_us: int | None,
    gsme_last_heard_us: int | None,
) -> Reason | None:
    """The S1SP pre-flight device checks, run after any firmware/configuration work [S3].

    - TMAD 5.12(c): the CHF must have communicated over the WAN within the previous 7 days,
      else **MA112** (:func:`ma112`). Contact exactly 7 days ago still passes.
    - MEHRS GT01: when the installation has a GSME, the CHF must have heard it over the HAN
      within the previous 72 hours, else **GT01**. Exactly 72 hours ago still passes.

    ``None`` for "never" fails the check. MA112 is checked first and returned alone.
    """
    if ma112(now_us, last_wan_contact_us):
        return Reason.MA112
    if record.gsme is not None and (
        gsme_last_heard_us is None or now_us - gsme_last_heard_us > GT01_LOOKBACK_US
    ):
        return Reason.GT01
    return None


def _eui_key(eui: str) -> str:
    return re.sub(r"[^0-9A-Fa-f]", "", eui).upper()


def _euis(record: InstallationRecord) -> list[str]:
    """The record's GUIDs: the CHF's and every device row's (a CHF row repeating the CHF's own
    EUI is the same device, not a duplicate)."""
    chf = _eui_key(record.chf_eui)
    out = [chf] if chf else []
    for device in record.devices:
        key = _eui_key(device.eui)
        if key and not (device.device_type is DeviceType.CHF and key == chf):
            out.append(key)
    return out


def _record_data_issues(record: InstallationRecord) -> list[Reason]:
    """The data issues visible in one record alone."""
    reasons: list[Reason] = []
    euis = _euis(record)
    if len(euis) != len(set(euis)):
        reasons.append(Reason.DUPLICATE_GUID)
    if record.supplier_status is SupplierStatus.UNKNOWN or not record.supplier.strip():
        reasons.append(Reason.SUPPLIER_UNKNOWN)
    prepay = any(
        d.payment_mode is PaymentMode.PREPAYMENT
        for d in record.devices
        if d.device_type in (DeviceType.ESME, DeviceType.GSME)
    )
    if prepay and not record.prepayment_key_present:
        reasons.append(Reason.NO_PREPAYMENT_KEY)
    return reasons


def validate_record(
    record: InstallationRecord, all_records: Iterable[InstallationRecord], now_us: int
) -> list[Reason]:
    """Data Validation of one installation against the whole group; every failure, in order.

    TMAD 5.25 (PreviousAPN present) is not here: it is MGF validation, the DCO's step 15.6.4
    (:mod:`harness.migration.dco`), and its failure goes back to the RP in the SCF [S1].

    - **Table 5.10**: no change of supply inside the cohort's CoS window (14 days for FOC,
      ``cos_window_days`` in ``profiles/cohorts.yaml``; no window elsewhere). A CoS less than
      the window ago, or dated after ``now_us``, is inside it [S1] -> COS_IN_WINDOW.
    - Duplicate GUID: an EUI used twice in the record or by another installation of
      ``all_records`` (compared without separators, case-insensitive) [S2] -> DUPLICATE_GUID.
    - Duplicate MPxN: an MPAN/MPRN of the record in another installation [S2] ->
      DUPLICATE_MPXN (resolved by :func:`resolve_duplicate_mpxn`, TMAD 4.1C).
    - Responsible Supplier cannot be identified [S2] -> SUPPLIER_UNKNOWN.
    - A prepayment meter without a prepayment key [S2] -> NO_PREPAYMENT_KEY.
    - Split supply on a change of supplier, unless both the ESME and the GSME are Recently
      Dormant [S1] -> SPLIT_SUPPLY_ON_COS. The change of supply in question is the one
      recorded, judged by its time: it counts when it lies inside :func:`split_supply_window_us`
      before ``now_us`` (not any change of supply ever recorded).

    ``all_records`` may include ``record`` itself (matched by installation_id).
    """
    reasons: list[Reason] = []
    cos = record.last_change_of_supply_us
    window_days = cohort_of(record.group_id).cos_window_days
    if cos is not None and window_days is not None and now_us - cos < window_days * DAY:
        reasons.append(Reason.COS_IN_WINDOW)

    others = [r for r in all_records if r.installation_id != record.installation_id]
    own_issues = _record_data_issues(record)
    other_euis = {eui for r in others for eui in _euis(r)}
    if Reason.DUPLICATE_GUID in own_issues or other_euis.intersection(_euis(record)):
        reasons.append(Reason.DUPLICATE_GUID)
    other_mpxns = {m for r in others for m in r.mpxns}
    if other_mpxns.intersection(record.mpxns):
        reasons.append(Reason.DUPLICATE_MPXN)
    reasons.extend(r for r in own_issues if r is not Reason.DUPLICATE_GUID)

    if (record.split_supply and cos is not None
            and 0 <= now_us - cos < split_supply_window_us(record.group_id)):
        meters = (record.esme, record.gsme)
        recent = all(m is not None and m.state is MeterState.RECENTLY_DORMANT for m in meters)
        if not recent:
            reasons.append(Reason.SPLIT_SUPPLY_ON_COS)
    return reasons


def split_supply_window_us(group_id: str) -> int:
    """How recent a change of supply must be for a split-supply site to be "on a change of
    supplier": the cohort's CoS window (14 days for FOC), else :data:`SPLIT_SUPPLY_COS_DAYS`."""
    days = cohort_of(group_id).cos_window_days
    return (SPLIT_SUPPLY_COS_DAYS if days is None else days) * DAY


def communicating(last_wan_contact_us: int | None, now_us: int) -> bool:
    """Whether an installation counts as communicating (TMAD 4.1C): WAN contact within the
    MA112 lookback, the same 7 days as 5.12(c)."""
    return last_wan_contact_us is not None and now_us - last_wan_contact_us <= MA112_LOOKBACK_US


def eligible(record: InstallationRecord, epcl: Epcl) -> Reason | None:
    """The EPCL gate: the installation's DMC must match an EPCL entry [S3][W3].

    NOT_ON_EPCL when it does not (including uneconomic-to-test DMCs, which never get an
    entry): such an installation is never scheduled (domain.md §8 behaviour 17)."""
    return None if epcl.eligible(record.dmc) else Reason.NOT_ON_EPCL


def _go(record: InstallationRecord, rule: str) -> Decision:
    """Migrate, without the supplier notification when TMAD 4.1A/4.1B applies [S2]."""
    if record.supplier_status in _NO_NOTIFICATION:
        which = "4.1A" if record.supplier_status is SupplierStatus.CEASED_TRADING else "4.1B"
        return Decision.migrate_without_notification(
            f"TMAD {which}: Responsible Supplier reported as "
            f"{record.supplier_status.value}; migrate without notification"
        )
    return Decision.migrate(rule)


def _firmware_failure(record: InstallationRecord, rule: str) -> Decision:
    """Persistent 4.26 firmware/configuration failure for the whole installation [S2]."""
    if record.dormant and _cohort(record) in _MOC_MDS:
        return Decision.exclude(ExclusionCategory.FIRMWARE_CONFIG_FAILURE_MOC_MDS, rule)
    if record.dormant and _cohort(record) in _IOC:
        return Decision.exclude(ExclusionCategory.FIRMWARE_CONFIG_FAILURE_IOC, rule)
    return Decision.retry(Reason.FIRMWARE_FAILED, rule + "; no Excluded Category for this cohort")


# Each dormant rule returns a Decision when it fires, else None. Order matters: the pre-work
# categories first (they stop migration before any attempt), then the three-week categories,
# then the catch-all Five Retries.
_Rule = Callable[[InstallationRecord, History], Decision | None]


def _unable_to_attempt_firmware(record: InstallationRecord, history: History) -> Decision | None:
    """Unable to Attempt Firmware Upgrade (Various 2: 18.9): IOC, dormant; DCC cannot even
    attempt the upgrade [S2]. One recorded FIRMWARE_NOT_ATTEMPTABLE is enough: DCC's fallback
    (an image applied to a meter in an unknown state) is itself the last resort."""
    if _cohort(record) in _IOC and history.failures(has_reason(Reason.FIRMWARE_NOT_ATTEMPTABLE)):
        return Decision.exclude(
            ExclusionCategory.UNABLE_TO_ATTEMPT_FIRMWARE_UPGRADE,
            "IOC, dormant: unable to attempt firmware upgrade (Various 2)",
        )
    return None


def _no_wan_before_migration(record: InstallationRecord, history: History) -> Decision | None:
    """No WAN Before Migration Attempted (Various 1: 18.7): IOC, dormant; the 4.26 steps failed
    at least three times (three separate DCC instructions) for lack of WAN [S3]."""
    failed = history.failures(has_reason(Reason.PRE_WORK_NO_WAN))
    if _cohort(record) in _IOC and len(failed) >= PRE_WORK_INSTRUCTIONS:
        return Decision.exclude(
            ExclusionCategory.NO_WAN_BEFORE_MIGRATION,
            f"IOC, dormant: {len(failed)} 4.26 instructions failed for lack of WAN",
        )
    return None


def _firmware_config_failure(record: InstallationRecord, history: History) -> Decision | None:
    """Firmware Upgrade / Configuration Failure (Various 2: 18.10 for CB, 18.11 for AA/BA/CA):
    dormant; firmware upgrade or 4.26 reconfiguration failed persistently, read as three failed
    instructions (each 36 firmware attempts over 6 days or 23 configuration attempts over 3
    days) [S2]. Other cohorts keep the failures in their history (not migration attempts)."""
    failed = history.failures(has_reason(*_FW_CONFIG_REASONS))
    if _cohort(record) in _IOC | _MOC_MDS and len(failed) >= PRE_WORK_INSTRUCTIONS:
        return _firmware_failure(
            record, f"dormant: {len(failed)} firmware/configuration instructions failed (4.26)"
        )
    return None


def _master_key_errors(record: InstallationRecord, history: History) -> Decision | None:
    """Master Key Errors (Various 1: 18.4): IOC and MOC (MDS) [AA, BA, CA, CB], only dormant
    meters; DCC has taken all reasonable steps to obtain the CHF Master Key [S3], read as a
    wrong or missing key in :data:`MASTER_KEY_WEEKS` separate weeks (our threshold)."""
    weeks = history.weeks(has_reason(*_MASTER_KEY_REASONS))
    if _cohort(record) in _MASTER_KEY_SCOPE and weeks >= MASTER_KEY_WEEKS:
        return Decision.exclude(
            ExclusionCategory.MASTER_KEY_ERRORS,
            f"IOC/MOC (MDS), dormant: Master Key wrong or missing in {weeks} separate weeks",
        )
    return None


def _no_wan_attempting(record: InstallationRecord, history: History) -> Decision | None:
    """No WAN Attempting Migration (Various 1: 18.8): IOC and MOC (MDS), dormant; migration
    failed with MA112 (5.12(c)) at least three times in separate weeks [S3]."""
    weeks = history.weeks(has_reason(Reason.MA112))
    if _cohort(record) in _NO_WAN_ATTEMPTING_SCOPE and weeks >= NO_WAN_WEEKS:
        return Decision.exclude(
            ExclusionCategory.NO_WAN_ATTEMPTING_MIGRATION,
            f"IOC/MOC (MDS), dormant: MA112 in {weeks} separate weeks",
        )
    return None


def _consistent_gt01(record: InstallationRecord, history: History) -> Decision | None:
    """Consistent GT01 Check Failure (Various 1: 18.6; clauses 5.8B-5.8E): IOC and MOC (Secure)
    [AA, BA, CA, DA], dormant, GT01 in three attempts in separate weeks -> migrate the ESME and
    exclude the GSME. For IOC only when the ESME is in credit mode; otherwise the rule does not
    fire and the installation keeps retrying (and may reach Five Retries) [S3]."""
    if _cohort(record) not in _GT01_SCOPE or record.gsme is None:
        return None
    weeks = history.weeks(has_reason(Reason.GT01))
    if weeks < GT01_WEEKS:
        return None
    esme = record.esme
    if _cohort(record) in _IOC and (esme is None or esme.payment_mode is not PaymentMode.CREDIT):
        return None
    return Decision.partial_esme_only(
        ExclusionCategory.CONSISTENT_GT01_FAILURE,
        f"dormant: GT01 in {weeks} separate weeks; ESME migrated, GSME excluded (5.8B-5.8E)",
    )


def _unresolved_data(record: InstallationRecord, history: History) -> Decision | None:
    """Unresolved Data Issues (Various 2: 18.12): all cohorts, dormant; duplicate GUID, no
    prepayment key, Responsible Supplier unknown, still failing after unblocking was tried
    [S2], read as failing validation in :data:`UNRESOLVED_DATA_WEEKS` separate weeks."""
    weeks = history.weeks(has_reason(*_UNRESOLVED_DATA_REASONS))
    if weeks >= UNRESOLVED_DATA_WEEKS:
        return Decision.exclude(
            ExclusionCategory.UNRESOLVED_DATA_ISSUES,
            f"dormant: data issue unresolved in {weeks} separate weeks",
        )
    return None


def _five_retries(record: InstallationRecord, history: History) -> Decision | None:
    """Five Retries Attempting Migration (Various 1: 18.9): IOC, MOC (MDS), MOC (Secure),
    dormant; migration failed at least five times in separate weeks, Table 5.10 data errors
    not counted [S3]. Four weeks -> still RETRY."""
    weeks = history.weeks(_counts_for_five_retries)
    if _cohort(record) in _FIVE_RETRIES_SCOPE and weeks >= FIVE_RETRIES_WEEKS:
        return Decision.exclude(
            ExclusionCategory.FIVE_RETRIES,
            f"dormant: {weeks} non-data failures in separate weeks",
        )
    return None


_DORMANT_RULES: tuple[_Rule, ...] = (
    _unable_to_attempt_firmware,
    _no_wan_before_migration,
    _firmware_config_failure,
    _master_key_errors,
    _no_wan_attempting,
    _consistent_gt01,
    _unresolved_data,
    _five_retries,
)


def evaluate(record: InstallationRecord, history: History, epcl: Epcl) -> Decision:
    """What to do next with one installation, given its attempts so far.

    In order:

    1. Uneconomic to Test (Various 1: 18.5): the DMC is marked uneconomic -> EXCLUDE [S3].
    2. EPCL gate: no entry -> NOT_ELIGIBLE (NOT_ON_EPCL), never scheduled [S3].
    3. For installations with only dormant meters, the exclusion rules, first match wins:
       Unable to Attempt Firmware Upgrade, No WAN Before Migration, Firmware/Configuration
       Failure, Master Key Errors, No WAN Attempting Migration, Consistent GT01 (PARTIAL_ESME_ONLY),
       Unresolved Data Issues, Five Retries. Active installations are never excluded here
       (for active meters the Responsible Supplier decides, e.g. GSME exclusion via SharePoint,
       5.8B-5.8E) [S3].
    4. Data issues visible in the record itself (duplicate GUID inside the installation,
       Responsible Supplier unknown, no prepayment key) -> RETRY with that reason: never
       silently migrated (behaviour 14). Cross-installation checks are :func:`validate_record`'s.
    5. TMAD 4.1A/4.1B: supplier ceased trading / not a live user -> MIGRATE_WITHOUT_NOTIFICATION.
    6. Any earlier failure -> RETRY (with the latest failure's reason); else MIGRATE.

    Duplicate MPxNs need the whole group: see :func:`resolve_duplicate_mpxn` (TMAD 4.1C).
    """
    if epcl.uneconomic_to_test(record.dmc):
        return Decision.exclude(
            ExclusionCategory.UNECONOMIC_TO_TEST,
            f"SoS decided that testing DMC {record.dmc!r} is uneconomic (SVTAD 20.7)",
        )
    reason = eligible(record, epcl)
    if reason is not None:
        return Decision.not_eligible(reason, f"DMC {record.dmc!r} matches no EPCL entry")
    if record.dormant:
        for rule in _DORMANT_RULES:
            decision = rule(record, history)
            if decision is not None:
                return decision
    issues = _record_data_issues(record)
    if issues:
        return Decision.retry(issues[0], "data issue: unblock (data cleansing) before migrating")
    failures = sorted(history.failures(), key=lambda a: a.at_us)
    if failures:
        go = _go(record, "")
        if go.action is Action.MIGRATE_WITHOUT_NOTIFICATION:
            return go
        return Decision.retry(failures[-1].reason, "failed before; no exclusion rule applies yet")
    return _go(record, "eligible, no failures")


def resolve_duplicate_mpxn(records: Iterable[InstallationRecord]) -> dict[str, Decision]:
    """TMAD 4.1C / Duplicate MPANs/MPRNs (Various 2: 18.13) over a group of installations.

    Installations that share an MPAN or MPRN (directly or through a chain) form one duplicate
    set. In each set, the installation installed last migrates only if it is the only one
    communicating; the others are then EXCLUDE(DUPLICATE_MPXN). Otherwise (two communicating,
    only an older one communicating, none, or a tie for last-installed) every member is
    EXCLUDE(DUPLICATE_MPXN) [S2]. The category covers dormant meters: a member with an active
    meter gets RETRY(DUPLICATE_MPXN) instead (its supplier must clear the data).

    Returns decisions only for installations in a duplicate set.
    """
    items = list(records)
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_holder: dict[str, int] = {}
    for index, record in enumerate(items):
        for mpxn in record.mpxns:
            if mpxn in first_holder:
                parent[find(index)] = find(first_holder[mpxn])
            else:
                first_holder[mpxn] = index
    sets: dict[int, list[InstallationRecord]] = {}
    for index, record in enumerate(items):
        sets.setdefault(find(index), []).append(record)

    out: dict[str, Decision] = {}
    for members in sets.values():
        if len(members) < 2:
            continue
        latest = max(r.installed_at_us for r in members)
        last = [r for r in members if r.installed_at_us == latest]
        talking = [r for r in members if r.communicating]
        winner = last[0] if len(last) == 1 and talking == last else None
        for record in members:
            if record is winner:
                out[record.installation_id] = _go(
                    record, "TMAD 4.1C: last installed and the only one communicating"
                )
            elif record.dormant:
                out[record.installation_id] = Decision.exclude(
                    ExclusionCategory.DUPLICATE_MPXN,
                    "duplicate MPxN not resolvable under 4.1C"
                    if winner is None
                    else f"duplicate MPxN; {winner.installation_id} migrates under 4.1C",
                )
            else:
                out[record.installation_id] = Decision.retry(
                    Reason.DUPLICATE_MPXN, "duplicate MPxN with an active meter"
                )
    return out


def partial_on_gsme_firmware_failure(
    record: InstallationRecord, esme_ok: bool, gsme_ok: bool
) -> Decision:
    """TMAD 4.26A-4.26C (Various 2, with the change to 18.5): MOC (MDS) partial migration.

    ``esme_ok``/``gsme_ok`` are the outcomes of the dormant 4.26 firmware *or configuration*
    work, once its instructions are used up. In MOC (MDS) [CB] with all meters dormant, an
    ESME that succeeded and a GSME that failed -> PARTIAL_ESME_ONLY: the GSME is deregistered
    and the ESME migrated; the GSME goes in Firmware Upgrade / Configuration Failure (CB) [S2].
    Both succeeded (or no GSME and the ESME succeeded) -> migrate. Anything else -> the
    whole-installation firmware/configuration failure: EXCLUDE under the CB or IOC category,
    RETRY(FIRMWARE_FAILED) elsewhere. DCC said it would extend this to IOC [S2]; not modelled
    until the TMAD says so.
    """
    if esme_ok and (gsme_ok or record.gsme is None):
        return _go(record, "4.26 firmware/configuration succeeded")
    if esme_ok and _cohort(record) in _MOC_MDS and record.dormant:
        return Decision.partial_esme_only(
            ExclusionCategory.FIRMWARE_CONFIG_FAILURE_MOC_MDS,
            "TMAD 4.26A-4.26C: GSME firmware/configuration failed; GSME deregistered, "
            "ESME migrated",
        )
    failed = "ESME" if not esme_ok else "GSME"
    return _firmware_failure(record, f"4.26 firmware/configuration failed on the {failed}")
