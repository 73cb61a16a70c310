"""What the DCC side knows about each SMETS1 installation before migrating it.

These records are the Requesting Party's inventory (what goes into a Migration Group File), plus
the facts the TMAD rules look at. They are plain data: the emulated devices are the truth about
devices; this is what the files and registers *say*, which may be wrong (duplicate GUIDs,
missing keys, a supplier that ceased trading) on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from emulator.profiles import Cohort, load_cohorts
from emulator.wire.vocabulary import DeviceType, PaymentMode


def group_ids() -> tuple[str, ...]:
    """The GroupIDs DCC knows, in file order: the keys of ``profiles/cohorts.yaml``."""
    return tuple(load_cohorts())


def cohort_of(group_id: str) -> Cohort:
    """The ``profiles/cohorts.yaml`` entry of a GroupID (cohort, SMSO, Device Installation
    timeout, CoS window); ValueError for a GroupID the table does not have."""
    cohorts = load_cohorts()
    if group_id not in cohorts:
        raise ValueError(f"unknown GroupID {group_id!r} (expected one of {', '.join(cohorts)})")
    return cohorts[group_id]


def cohort_name(group_id: str) -> str | None:
    """The cohort of a GroupID ("IOC", "MOC (MDS)", "MOC (Secure)", "FOC"), None if unknown."""
    entry = load_cohorts().get(group_id)
    return entry.cohort if entry is not None else None


def timeout_hours(group_id: str) -> int:
    """The S1SP Device Installation timeout for a GroupID, in hours (from secret release).

    ``device_installation_timeout_h`` in ``profiles/cohorts.yaml``, where the sources of the
    figures are given; ValueError for an unknown GroupID.
    """
    return cohort_of(group_id).device_installation_timeout_h


#: The separator between the APN and the ServiceProfile inside a PreviousAPN value.
PREVIOUS_APN_SEPARATOR = ";"


def previous_apn(apn: str, service_profile: str) -> str:
    """The PreviousAPN value for a SIM: ``<APN>;<ServiceProfile>`` (the ServiceProfile details
    of the CHF SIM are carried inside PreviousAPN [S1]; ``docs/migration-files.md``)."""
    return f"{apn}{PREVIOUS_APN_SEPARATOR}{service_profile}"


def split_previous_apn(value: str) -> tuple[str, str]:
    """(APN, ServiceProfile) of a PreviousAPN value; the ServiceProfile is "" when the value
    names an APN only (rollback then keeps the profile the CHF saved at key rotation)."""
    apn, _, profile = value.partition(PREVIOUS_APN_SEPARATOR)
    return apn.strip(), profile.strip()


class MeterState(Enum):
    ACTIVE = "active"  # the supplier still has a smart-services contract with the SMSO
    DORMANT = "dormant"
    RECENTLY_DORMANT = "recently-dormant"  # dormant after a recent change of supplier


class SupplierStatus(Enum):
    LIVE = "live"
    CEASED_TRADING = "ceased-trading"  # TMAD 4.1A
    NOT_LIVE_USER = "not-live-user"  # TMAD 4.1B
    UNKNOWN = "unknown"  # the Responsible Supplier cannot be identified (18.12)


@dataclass(frozen=True)
class DeviceRecord:
    """One device row of an installation (MGF device rows)."""

    eui: str
    device_type: DeviceType
    firmware_version: str
    model: str = ""
    mpxn: str = ""  # MPAN for an ESME, MPRN for a GSME
    state: MeterState = MeterState.DORMANT
    payment_mode: PaymentMode = PaymentMode.CREDIT
    supplier: str = ""


@dataclass(frozen=True)
class InstallationRecord:
    """One installation as the inventory describes it."""

    installation_id: str
    group_id: str  # a GroupID of profiles/cohorts.yaml
    dmc: str  # DMC profile name (the EPCL gate matches it)
    chf_eui: str
    devices: tuple[DeviceRecord, ...]
    supplier: str = "Supplier A"
    supplier_status: SupplierStatus = SupplierStatus.LIVE
    previous_apn: str | None = "smso.example.apn;smso-standard"  # APN;ServiceProfile (5.25)
    installed_at_us: int = 0  # when this installation was installed (duplicate-MPxN rule 4.1C)
    last_change_of_supply_us: int | None = None  # Table 5.10 CoS window (FOC 14 days)
    split_supply: bool = False  # different suppliers for the two fuels
    prepayment_key_present: bool = True  # 18.12 "no prepayment key"
    communicating: bool = True  # whether it answers at all (for 4.1C, set by the run)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def cohort(self) -> str:
        return cohort_of(self.group_id).cohort

    @property
    def foc(self) -> bool:
        return cohort_name(self.group_id) == "FOC"

    def device(self, device_type: DeviceType) -> DeviceRecord | None:
        return next((d for d in self.devices if d.device_type is device_type), None)

    @property
    def esme(self) -> DeviceRecord | None:
        return self.device(DeviceType.ESME)

    @property
    def gsme(self) -> DeviceRecord | None:
        return self.device(DeviceType.GSME)

    @property
    def dormant(self) -> bool:
        """Only dormant meters (the exclusion categories mostly apply to these)."""
        meters = [d for d in self.devices if d.device_type in (DeviceType.ESME, DeviceType.GSME)]
        return bool(meters) and all(d.state is not MeterState.ACTIVE for d in meters)

    @property
    def mpxns(self) -> tuple[str, ...]:
        return tuple(d.mpxn for d in self.devices if d.mpxn)
