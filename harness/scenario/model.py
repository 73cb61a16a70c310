"""The scenario file schema: one SVTAD/DMCT-style test case as data (docs/scenarios.md).

A case has an id, a title, the behaviours (domain.md §8) and clauses it checks, the DMCs it
applies to, a starting state, faults on a timeline, actions and expectations. Times and
durations are written ``90s``, ``30m``, ``73h``, ``2d``, ``1w`` (a bare number is seconds) and
held as int microseconds; every time is an offset from the start of the run.

Each action and each expectation is a mapping with exactly one *kind* key (``read: esme``,
``migrate: {attempts: 3}``, ``outcome: {of: m1, is: migrated}``) plus, for actions, the common
keys ``at``, ``as`` and ``role``. The JSON Schema published in docs/schemas/scenario.schema.json
is generated from these models (``python -m harness.scenario.schema``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from emulator.core.timebase import DAY, HOUR, MINUTE, SECOND, WEEK
from emulator.profiles import ResolvedDmc, load_cohorts, load_dmc
from harness.migration.tmad import list_tmad_versions

_UNITS = {"s": SECOND, "m": MINUTE, "h": HOUR, "d": DAY, "w": WEEK}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


MAX_INSTALLATIONS = 8  # a scenario lab is a bench, not a fleet (s1lab migrate is the fleet)
MAX_DURATION = 366 * DAY  # longer is a mistake (e.g. microseconds given as seconds)


def _duration(value: object) -> object:
    """``90s``/``30m``/``73h``/``2d``/``1w``, a number of seconds, or a ``timedelta`` ->
    int microseconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 30m, 73h, 2d or 1w")
    if isinstance(value, timedelta):
        us = (value.days * 86_400 + value.seconds) * SECOND + value.microseconds
    elif isinstance(value, int | float):
        us = round(value * SECOND)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if m is None:
            raise ValueError(f"not a duration: {value!r} (use 90s, 30m, 73h, 2d or 1w)")
        us = round(float(m[1]) * _UNITS[m[2] or "s"])
    else:
        raise ValueError("expected a duration like 90s, 30m, 73h, 2d or 1w")
    if us < 0:
        raise ValueError("a duration is not negative")
    if us > MAX_DURATION:
        raise ValueError(f"{value!r} is more than 366 days (a bare number is seconds)")
    return us


def duration_us(value: object) -> int:
    """A duration as scenario files write it (``73h``, seconds, a timedelta) in µs;
    ValueError when it is not one."""
    us = _duration(value)
    assert isinstance(us, int)
    return us


Duration = Annotated[
    int,
    BeforeValidator(_duration),
    WithJsonSchema({"anyOf": [
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[smhdw]?\s*$"},
        {"type": "number", "minimum": 0}]}),
]
Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=64)]
Device = Literal["esme", "gsme", "ppmid", "ihd"]
#: A device's name in a lab file (hw/lab.py): what ``physical:`` binds a device role to.
LabDeviceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Meter = Literal["esme", "gsme"]
RoleName = Literal["smso", "s1sp"]
PaymentModeName = Literal["credit", "prepayment"]
#: What a DMC may be required to have (``applies_to.needs``).
GroupId = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
#: An installation of the lab, 1-based (``start.installations`` says how many).
InstallationNumber = Annotated[int, Field(ge=1, le=MAX_INSTALLATIONS)]
Need = Literal["gsme", "ppmid", "ihd", "prepayment", "credit", "ioc", "moc", "foc", "zigbee"]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- applicability and starting state -------------------------------------------------------


class AppliesTo(_Schema):
    """Which DMCs the case runs on: named ones (empty = any) that meet every need."""

    dmcs: tuple[str, ...] = ()
    needs: tuple[Need, ...] = ()


class Start(_Schema):
    """The installation before the first action."""

    state: Literal["active", "dormant", "mixed"] = "dormant"  # mixed: ESME active, GSME dormant
    installations: InstallationNumber = 1  # of the DMC, each with its own CHF and meters
    #: the TMAD 4.26 dormant pre-work (IOC, MOC (MDS)): ``pending`` runs it at the first
    #: migrate; ``done``: it completed before t=0 (the case starts after it)
    prework: Literal["pending", "done"] = "pending"
    payment_mode: dict[Meter, PaymentModeName] = Field(default_factory=dict)
    supplier: str = "Supplier A"
    supplier_status: Literal["live", "ceased-trading", "not-live-user", "unknown"] = "live"
    group_id: GroupId | None = None  # default: the DMC's (must be in profiles/cohorts.yaml)
    han: Literal["zigbee", "direct"] = "zigbee"
    settle: Duration = 0  # run under the SMSO this long before t=0 (history for pre-flight)
    tmad: str | None = None  # TMAD version for clause numbers (profiles/tmad/); default the lab's

    @field_validator("tmad")
    @classmethod
    def _known_tmad(cls, value: str | None) -> str | None:
        known = list_tmad_versions()
        if value is not None and value not in known:
            raise ValueError(f"unknown TMAD version {value!r} (one of {', '.join(known)})")
        return value

    @field_validator("group_id")
    @classmethod
    def _known_group(cls, value: str | None) -> str | None:
        known = load_cohorts()
        if value is not None and value not in known:
            raise ValueError(f"unknown GroupID {value!r} (one of {', '.join(known)})")
        return value


# -- faults --------------------------------------------------------------------------------------

FaultKind = Literal[
    "han-outage",  # device's HAN link down from at for `for`
    "wan-outage",  # the CHF has no WAN from at for `for`
    "loss",  # each HAN transmission to/from device lost with `rate`
    "battery-flat",  # the GSME stops polling
    "counter-reset",  # device forgets its NWK frame counter
    "clock-skew",  # device's clock jumps by `seconds`
    "fail-step",  # CHF device fault: migration step `step` fails
    "restart-during",  # CHF device fault: restarts in the middle of `step`
    "master-key-missing",  # the CHF holds no Master Key
    "master-key-wrong",  # the SMSO puts a wrong Master Key in the MGF
    "slow-reconnect",  # the CHF reattaches `for` after the SIM move
    "no-previous-apn",  # the MGF has no PreviousAPN (TMAD 5.25)
    "not-on-epcl",  # the installation's DMC matches no EPCL entry
    "change-of-supply",  # a change of supply is recorded at `at` (Table 5.10 window)
    "duplicate-guid",  # the DCC inventory lists the ESME under the CHF's GUID (18.12)
    "no-prepayment-key",  # DCC holds no prepayment key for the installation (18.12)
    "duplicate-mpxn",  # the ESME's MPAN is the one of the installation before (TMAD 4.1C)
    "firmware-fails",  # 4.26 pre-work: firmware upgrades fail on every meter
    "gsme-firmware-fails",  # 4.26 pre-work: firmware upgrades fail on the GSME only
    "configuration-fails",  # 4.26 pre-work: reconfiguration fails
    "no-confirmation",  # 4.26 pre-work: applied, but success is never confirmed
    "ota-stall",  # device's (or the CHF's) OTA downloads stall
    "ota-verify-fails",  # device refuses every image it downloads (verification)
    "ota-activation-fails",  # device fails to activate a new image and runs its old one
]
_OTA = {"ota-stall", "ota-verify-fails", "ota-activation-fails"}
_NEEDS_DEVICE = {"han-outage", "loss", "counter-reset", "clock-skew", *_OTA}
_NEEDS_FOR = {"han-outage", "wan-outage", "slow-reconnect"}


class Fault(_Schema):
    kind: FaultKind
    at: Duration = 0
    for_: Duration | None = Field(default=None, alias="for")
    device: Device | Literal["chf"] | None = None  # chf: the ota- faults only
    rate: Annotated[float, Field(ge=0, le=1)] | None = None
    seconds: int | None = None
    step: Literal["rotate", "swap", "sim", "rollback"] | None = None
    installation: InstallationNumber = 1  # which installation of the lab

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Fault:
        k = self.kind
        if k in _NEEDS_DEVICE and self.device is None:
            raise ValueError(f"a {k} fault needs a device (esme, gsme, ppmid, ihd"
                             f"{', chf' if k in _OTA else ''})")
        if self.device == "chf" and k not in _OTA:
            raise ValueError(f"a {k} fault takes no device chf (esme, gsme, ppmid, ihd)")
        if k in _NEEDS_FOR and self.for_ is None:
            raise ValueError(f"a {k} fault needs `for` (a duration)")
        if k == "loss" and self.rate is None:
            raise ValueError("a loss fault needs a rate between 0 and 1")
        if k == "clock-skew" and self.seconds is None:
            raise ValueError("a clock-skew fault needs seconds")
        if k in ("fail-step", "restart-during") and self.step is None:
            raise ValueError(f"a {k} fault needs a step (rotate, swap, sim, rollback)")
        return self



# -- actions -------------------------------------------------------------------------------------


class _Action(_Schema):
    at: Duration | None = None  # start no earlier than this offset from t=0
    as_: Name | None = Field(default=None, alias="as")  # the name expectations use
    role: RoleName = "smso"  # the head-end that sends a command
    installation: InstallationNumber = 1  # which installation of the lab it addresses

    KIND: ClassVar[str] = ""

    @property
    def args(self) -> Any:
        """The value under the kind key (``read: esme`` -> "esme")."""
        return getattr(self, self.KIND)


class Wait(_Action):
    KIND: ClassVar[str] = "wait"
    wait: Duration


class Read(_Action):
    KIND: ClassVar[str] = "read"
    read: Meter


class Inventory(_Action):
    KIND: ClassVar[str] = "inventory"
    inventory: dict[str, Any] = Field(default_factory=dict, max_length=0)


class PaymentModeArgs(_Schema):
    device: Meter = "esme"
    set: PaymentModeName | None = None  # None: only read it


class PaymentModeAction(_Action):
    KIND: ClassVar[str] = "payment_mode"
    payment_mode: PaymentModeArgs


class TopUpArgs(_Schema):
    device: Meter = "esme"
    amount_pence: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    utrn: Literal["replay"] | Annotated[str, Field(pattern=r"^\d{20}$")] | None = None

    @model_validator(mode="after")
    def _one(self) -> TopUpArgs:
        if (self.amount_pence is None) == (self.utrn is None):
            raise ValueError("a top-up has either amount_pence (the head-end makes the UTRN) "
                             "or utrn (20 digits, or 'replay' for the last one sent)")
        return self


class TopUp(_Action):
    KIND: ClassVar[str] = "top_up"
    top_up: TopUpArgs


class DeviceLogArgs(_Schema):
    add: Name | None = None  # a name for the new device (its EUI is derived)
    remove: Name | None = None
    device_type: Literal["gsme", "esme", "ppmid", "ihd"] = "gsme"
    install_code: Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{32}$")] | None = None
    bad_crc: bool = False  # send the install code with a wrong CRC
    join_window: Duration = 90 * SECOND

    @model_validator(mode="after")
    def _one(self) -> DeviceLogArgs:
        if (self.add is None) == (self.remove is None):
            raise ValueError("a device_log action has either add or remove")
        return self


class DeviceLog(_Action):
    KIND: ClassVar[str] = "device_log"
    device_log: DeviceLogArgs


class JoinArgs(_Schema):
    device: Name  # a device added with device_log
    install_code: Literal["right", "wrong"] = "right"


class Join(_Action):
    KIND: ClassVar[str] = "join"
    join: JoinArgs


class KeySwitch(_Action):
    KIND: ClassVar[str] = "network_key_switch"
    network_key_switch: dict[str, Any] = Field(default_factory=dict, max_length=0)


class MigrateArgs(_Schema):
    attempts: Annotated[int, Field(ge=1, le=10)] = 1  # one per calendar week, until terminal


class Migrate(_Action):
    KIND: ClassVar[str] = "migrate"
    migrate: MigrateArgs


class Rollback(_Action):
    KIND: ClassVar[str] = "rollback"
    rollback: dict[str, Any] = Field(default_factory=dict, max_length=0)


class ConnectArgs(_Schema):
    credential: Literal["valid", "wrong-ca", "expired", "old-keys"] = "valid"


class Connect(_Action):
    KIND: ClassVar[str] = "connect"
    connect: ConnectArgs


class ReplayArgs(_Schema):
    device: Meter = "esme"


class Replay(_Action):
    """Send one read, then the very same frame bytes again (a replayed WAN frame)."""

    KIND: ClassVar[str] = "replay"
    replay: ReplayArgs


class HanReplay(_Action):
    """Inject the latest secured HAN frame again (after a key switch: under the old key)."""

    KIND: ClassVar[str] = "han_replay"
    han_replay: dict[str, Any] = Field(default_factory=dict, max_length=0)


FirmwareDevice = Literal["chf", "esme", "gsme", "ppmid", "ihd"]
#: ``image:`` words that pick a catalogue image (firmware_images/) for the target's model.
FIRMWARE_PICKS = ("newer", "older", "foreign")


class FirmwareArgs(_Schema):
    """An OTA firmware update driven by the head-end through the CHF (the catalogue images)."""

    device: FirmwareDevice = "esme"
    #: ``newer``/``older``: the catalogue image of the device's model above/below the version it
    #: runs; ``foreign``: the newer image of another model of the same kind (another maker or
    #: image type); a version (``3.2.0``) of the device's model; or a catalogue file name.
    image: Annotated[str, Field(pattern=r"^(newer|older|foreign|\d+\.\d+\.\d+|"
                                        r"[a-z0-9][a-z0-9.-]*\.ota)$")] = "newer"
    #: ``signature``: one byte of the signature flipped; ``payload``: one byte of the image
    #: flipped (the integrity code no longer matches).
    tamper: Literal["signature", "payload"] | None = None
    #: The head-end refuses to send an older image unless this is set (then the device decides).
    allow_downgrade: bool = False
    within: Duration = 2 * DAY  # give up (failed) when the transfer is not over by then
    poll: Duration = 15 * MINUTE  # how often the head-end reads the transfer

    @model_validator(mode="after")
    def _poll(self) -> FirmwareArgs:
        if not 0 < self.poll <= self.within:
            raise ValueError("firmware: poll is more than 0 and no more than within")
        return self


class Firmware(_Action):
    """Distribute an image over the WAN, let the device download it over the HAN, activate it."""

    KIND: ClassVar[str] = "firmware"
    firmware: FirmwareArgs


class Check(_Action):
    """Check expectations at this point of the timeline."""

    KIND: ClassVar[str] = "check"
    check: tuple[Expectation, ...]


ACTION_KINDS: tuple[str, ...] = (
    "wait", "read", "inventory", "payment_mode", "top_up", "device_log", "join",
    "network_key_switch", "han_replay", "migrate", "rollback", "connect", "replay", "firmware",
    "check",
)

# -- expectations ------------------------------------------------------------------------------

MigrationStatus = Literal["migrated", "partial", "rolled-back", "failed", "excluded",
                          "not-eligible"]


class OutcomeArgs(_Schema):
    of: Name  # the action's `as`
    is_: str | None = Field(default=None, alias="is")  # status: migrated, ACCEPTED, refused, ok
    reason: str | None = None  # MEHRS-style code (GT01, MA112, S1MK01, ...) or a wire error
    step: str | None = None
    category: str | None = None  # Excluded Category (e.g. CONSISTENT_GT01_FAILURE)
    clause: str | None = None  # its clause in the run's TMAD version
    attempts: int | None = None
    field: str | None = None  # a result field (balance_pence, ...) compared with the below
    equals: int | float | str | None = None
    at_least: float | None = None
    at_most: float | None = None


class _Expect(_Schema):
    #: which installation of the lab a register, connects, event (device names) or state
    #: expectation looks at
    installation: InstallationNumber = 1


class OutcomeExpect(_Expect):
    KIND: ClassVar[str] = "outcome"
    outcome: OutcomeArgs


Register = Literal["import_wh", "balance_pence", "volume_dm3", "payment_mode", "supply",
                   "debt_pence", "emergency_credit_pence"]


class RegisterArgs(_Schema):
    device: Meter = "esme"
    name: Register
    equals: int | float | str | None = None
    at_least: float | None = None
    at_most: float | None = None
    #: relations with the value right after the named action ("start" = t=0)
    increased_since: str | None = None
    decreased_since: str | None = None
    unchanged_since: str | None = None
    by_at_least: float | None = None  # with increased_since/decreased_since

    @model_validator(mode="after")
    def _some(self) -> RegisterArgs:
        tests = (self.equals, self.at_least, self.at_most, self.increased_since,
                 self.decreased_since, self.unchanged_since)
        if all(t is None for t in tests):
            raise ValueError("a register expectation needs equals, at_least, at_most, "
                             "increased_since, decreased_since or unchanged_since")
        return self


class RegisterExpect(_Expect):
    KIND: ClassVar[str] = "register"
    register_: RegisterArgs = Field(alias="register")


class ConnectsArgs(_Schema):
    role: RoleName
    is_: bool = Field(alias="is")


class ConnectsExpect(_Expect):
    """Can the role's head-end open a TLS session and get a command answered, now?"""

    KIND: ClassVar[str] = "connects"
    connects: ConnectsArgs


class EventArgs(_Schema):
    name: str  # trace event name, e.g. TopUpAccepted, HanJoinRefused
    seen: bool = True
    device: Device | RoleName | str | None = None
    fields: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    after: str | None = None  # an action's `as` or a time offset like 2h
    before: str | None = None
    at_least: Annotated[int, Field(ge=1)] | None = None  # count (with seen: true)
    at_most: Annotated[int, Field(ge=0)] | None = None


class EventExpect(_Expect):
    KIND: ClassVar[str] = "event"
    event: EventArgs


class DeadlineArgs(_Schema):
    of: Name  # an action's `as`: it finished within `within` of starting
    within: Duration


class DeadlineExpect(_Expect):
    KIND: ClassVar[str] = "deadline"
    deadline: DeadlineArgs


class StateArgs(_Schema):
    """The CHF's security state and SIM, read from the device."""

    owner: RoleName | None = None  # whose operational keys the CHF holds
    anchor: RoleName | None = None  # which head-end CA it trusts
    apn: Literal["smso", "dcc"] | None = None  # where its SIM is
    joined: Name | None = None  # a device added with device_log is joined
    network_key_seq: int | None = None
    #: the version each named device runs now (``{esme: 3.2.0}``), read from its core
    firmware: dict[FirmwareDevice, Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")]] = Field(
        default_factory=dict)

    @model_validator(mode="after")
    def _some(self) -> StateArgs:
        if all(v is None or v == {} for v in self.model_dump().values()):
            raise ValueError("a state expectation names owner, anchor, apn, joined, "
                             "network_key_seq or firmware")
        return self


class StateExpect(_Expect):
    KIND: ClassVar[str] = "state"
    state: StateArgs


EXPECTATION_KINDS: tuple[str, ...] = (
    "outcome", "register", "connects", "event", "deadline", "state")


def _kind_of(kinds: tuple[str, ...], what: str) -> Any:
    def pick(value: Any) -> str | None:
        if isinstance(value, BaseModel):
            return str(getattr(type(value), "KIND", "")) or None
        if not isinstance(value, dict):
            return None
        found = [k for k in kinds if k in value]
        return found[0] if len(found) == 1 else None

    return pick


def _one_kind(kinds: tuple[str, ...], what: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, dict):
            found = [k for k in kinds if k in value]
            if len(found) != 1:
                got = ", ".join(found) if found else ", ".join(map(str, value)) or "nothing"
                raise ValueError(f"{what} needs exactly one of {', '.join(kinds)} (got {got})")
        elif not isinstance(value, BaseModel):
            raise ValueError(f"{what} is a mapping like {{{kinds[0]}: ...}}")
        return value

    return check


Expectation = Annotated[
    Annotated[OutcomeExpect, Tag("outcome")]
    | Annotated[RegisterExpect, Tag("register")]
    | Annotated[ConnectsExpect, Tag("connects")]
    | Annotated[EventExpect, Tag("event")]
    | Annotated[DeadlineExpect, Tag("deadline")]
    | Annotated[StateExpect, Tag("state")],
    Discriminator(_kind_of(EXPECTATION_KINDS, "an expectation")),
    BeforeValidator(_one_kind(EXPECTATION_KINDS, "an expectation")),
]

Action = Annotated[
    Annotated[Wait, Tag("wait")]
    | Annotated[Read, Tag("read")]
    | Annotated[Inventory, Tag("inventory")]
    | Annotated[PaymentModeAction, Tag("payment_mode")]
    | Annotated[TopUp, Tag("top_up")]
    | Annotated[DeviceLog, Tag("device_log")]
    | Annotated[Join, Tag("join")]
    | Annotated[KeySwitch, Tag("network_key_switch")]
    | Annotated[HanReplay, Tag("han_replay")]
    | Annotated[Migrate, Tag("migrate")]
    | Annotated[Rollback, Tag("rollback")]
    | Annotated[Connect, Tag("connect")]
    | Annotated[Replay, Tag("replay")]
    | Annotated[Firmware, Tag("firmware")]
    | Annotated[Check, Tag("check")],
    Discriminator(_kind_of(ACTION_KINDS, "an action")),
    BeforeValidator(_one_kind(ACTION_KINDS, "an action")),
]
Check.model_rebuild()


# -- the case ------------------------------------------------------------------------------------


class Scenario(_Schema):
    """One test case."""

    schema_version: Literal[1] = 1
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=80)]
    title: Annotated[str, Field(min_length=1)]
    description: str = ""
    tags: tuple[str, ...] = ()
    behaviours: tuple[Annotated[int, Field(ge=1, le=28)], ...] = ()  # domain.md §8
    clauses: tuple[str, ...] = ()
    applicability: AppliesTo = Field(default=AppliesTo(), alias="applies_to")
    start: Start = Start()
    faults: tuple[Fault, ...] = ()
    actions: tuple[Action, ...] = ()
    expect: tuple[Expectation, ...] = ()
    #: Device roles played by physical devices on a bench, by their lab-file names
    #: (``esme: esme-lab-1``); used by ``s1lab run --lab LAB`` (docs/hardware.md), ignored
    #: by virtual runs.
    physical: dict[Device, LabDeviceName] = Field(default_factory=dict)
    source: str = Field(default="", exclude=True)  # the file it came from (set by the loader)

    @model_validator(mode="after")
    def _names(self) -> Scenario:
        names: set[str] = {"start"}
        for i, action in enumerate(self.actions):
            if action.as_ is not None:
                if action.as_ in names:
                    raise ValueError(f"actions[{i}]: the name {action.as_!r} is used twice")
                names.add(action.as_)
        names_used = list(self.physical.values())
        twice = sorted({n for n in names_used if names_used.count(n) > 1})
        if twice:
            raise ValueError(f"physical: lab device {', '.join(twice)} bound to two roles")
        if self.physical and self.start.han == "direct":
            raise ValueError("physical devices need the ZigBee HAN (start.han: zigbee)")
        count = self.start.installations
        where = [(f"faults[{i}]", f.installation) for i, f in enumerate(self.faults)]
        where += [(f"actions[{i}]", a.installation) for i, a in enumerate(self.actions)]
        where += [(f"expect[{i}]", e.installation) for i, e in enumerate(self.expect)]
        for i, a in enumerate(self.actions):
            if isinstance(a, Check):
                where += [(f"actions[{i}].check[{j}]", e.installation)
                          for j, e in enumerate(a.check)]
        for place, number in where:
            if number > count:
                raise ValueError(f"{place}: installation {number}, but start.installations is "
                                 f"{count}")
        if count < 2 and any(f.kind == "duplicate-mpxn" for f in self.faults):
            raise ValueError("a duplicate-mpxn fault needs a second installation "
                             "(start.installations: 2)")
        if self.start.han == "direct" and any(isinstance(a, Firmware) for a in self.actions):
            raise ValueError("firmware actions need the ZigBee HAN (start.han: zigbee): the "
                             "OTA cluster runs over it")
        if count > 1 and self.physical:
            raise ValueError("physical devices need a lab of one installation")
        if not self.expect and not any(isinstance(a, Check) for a in self.actions):
            raise ValueError("a case needs at least one expectation (expect, or a check action)")
        return self

    def not_applicable(self, dmc: ResolvedDmc) -> str | None:
        """None when the case runs on ``dmc``; else why it does not (for a SKIP)."""
        a = self.applicability
        if a.dmcs and dmc.name not in a.dmcs:
            return f"runs only on {', '.join(a.dmcs)}"
        cohort = dmc.cohort.cohort
        for need in a.needs:
            ok = {
                "gsme": dmc.gsme is not None,
                "ppmid": dmc.ppmid is not None,
                "ihd": dmc.ihd is not None,
                "prepayment": dmc.esme.default_payment_mode.name == "PREPAYMENT",
                "credit": dmc.esme.default_payment_mode.name == "CREDIT",
                "ioc": cohort == "IOC",
                "moc": cohort.startswith("MOC"),
                "foc": cohort == "FOC",
                "zigbee": True,
            }[need]
            if not ok:
                return f"needs a DMC with {need}"
        return None

    def applies_to(self, dmc_name: str) -> bool:
        """Whether the case runs on the DMC profile ``dmc_name`` (ProfileError if unknown)."""
        return self.not_applicable(load_dmc(dmc_name)) is None
