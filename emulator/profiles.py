"""Typed profiles: device models, Device Model Combinations (DMCs) and the cohort table.

Profiles are YAML files in the ``profiles`` package (``profiles/devices/*.yaml``,
``profiles/dmcs/*.yaml``, ``profiles/cohorts.yaml``), read with :mod:`importlib.resources` so the
same loader works from a checkout and from an installed wheel. Every file carries
``schema_version: 1``. Schemas are pydantic models that forbid unknown keys and are frozen.

Loading stops at the first problem and raises one :class:`~emulator.errors.ProfileError`:
``file`` is the path relative to the profiles root (``dmcs/default.yaml``) or the path the user
gave, ``field`` the dotted path of the bad field (``prepayment.max_credit_pence``,
``tariff.bands[1].start``; empty when the whole file is bad), ``reason`` pydantic's message.

Every file is read and validated once per process (``functools.lru_cache``), so a fleet of
10,000 installations shares one model object per file. User files are cached by path, size and
modification time.

Public API: :func:`load_device_model`, :func:`list_device_models`, :func:`load_dmc`,
:func:`default_dmc`, :func:`list_dmcs`, :func:`load_cohorts`, and the schema classes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass

from emulator.core.load_profile import hhmm_to_slot, tou_table
from emulator.errors import ProfileError
from emulator.wire import wan as wan_limits
from emulator.wire.vocabulary import PaymentMode

SCHEMA_VERSION = 1
PROFILES_PACKAGE = "profiles"

#: A GroupID's shape; which GroupIDs exist is ``profiles/cohorts.yaml``'s to say (one place).
GroupId = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
CohortName = Literal["IOC", "MOC (MDS)", "MOC (Secure)", "FOC"]


def _payment_mode(value: object) -> object:
    if isinstance(value, str):
        try:
            return PaymentMode[value.upper()]
        except KeyError:
            raise ValueError("expected 'credit' or 'prepayment'") from None
    return value


def _tls_version(value: object) -> object:
    # YAML reads an unquoted 1.2 as a float.
    return str(value) if isinstance(value, float) else value


def _hhmm(value: object) -> object:
    # YAML 1.1 reads an unquoted 17:30 as the sexagesimal int 1050.
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value // 60:02d}:{value % 60:02d}"
    return value


PaymentModeField = Annotated[
    PaymentMode,
    BeforeValidator(_payment_mode),
    PlainSerializer(lambda mode: mode.name.lower(), return_type=str),
]
TlsVersion = Annotated[Literal["1.2", "1.3"], BeforeValidator(_tls_version)]
Text = Annotated[str, Field(min_length=1)]
NonNegInt = Annotated[int, Field(ge=0)]
U32 = Annotated[int, Field(ge=0, le=2**32 - 1)]  # a value the WAN carries in a u32
I64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]  # ... in an i64


def _fits(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value.encode("utf-8")) > limit:
            raise ValueError(f"longer than {limit} bytes of UTF-8, the WAN field's limit")
        return value

    return check


# Fields the WAN carries, checked against the wire's limits when the profile loads.
WireText = Annotated[Text, AfterValidator(_fits(wan_limits.MAX_TEXT))]
Version = Annotated[Text, AfterValidator(_fits(wan_limits.MAX_VERSION))]
NonNegFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
HhMm = Annotated[str, BeforeValidator(_hhmm)]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


U16 = Annotated[int, Field(ge=0, le=0xFFFF)]
OtaFailure = Literal["none", "stall", "verify_fails", "activation_fails"]


class OtaSpec(_Schema):
    """How a device model takes ZigBee OTA upgrades (identity, pacing, and its known faults)."""

    manufacturer_code: U16
    image_type: U16
    hardware_version: U16
    accept_downgrade: bool = False
    # The Image Block Request's max data size: 48 bytes is what fits one 127-byte 802.15.4
    # frame under NWK and APS security with the Image Block Response header.
    block_size: Annotated[int, Field(ge=1, le=48)] = 48
    block_period_ms: NonNegInt = 0  # MinimumBlockPeriod: the wait between block requests
    blocks_per_wake: NonNegInt = 0  # a sleepy device: blocks per wake (0: stays awake)
    retry_after_s: Annotated[int, Field(ge=1)] = 60  # resume after a lost block exchange
    failure: OtaFailure = "none"  # stall, verify_fails or activation_fails (then reverts)
    stall_at_percent: Annotated[int, Field(ge=0, le=99)] = 50
    unknown_state: bool = False  # firmware state unknown: reports no version, accepts any


class _DeviceBase(_Schema):
    schema_version: Literal[1]
    manufacturer: Text
    model: Text
    firmware_version: Version
    ota: OtaSpec | None = None


MigrationStep = Literal["rotate", "swap", "sim", "rollback"]


class ChfFaults(_Schema):
    """Device faults a CHF model carries (a model known to misbehave in the field)."""

    fail_steps: tuple[MigrationStep, ...] = ()  # these migration steps fail on the device
    restart_during: tuple[MigrationStep, ...] = ()  # the CHF restarts mid-step (once each)
    master_key_missing: bool = False  # the CHF holds no Master Key


class ChfModel(_DeviceBase):
    kind: Literal["chf"]
    faults: ChfFaults = ChfFaults()
    wan_mode: Literal["listen", "dial"] = "listen"
    tls_min_version: TlsVersion = "1.2"
    tls_max_version: TlsVersion = "1.3"
    wan_latency_ms: NonNegInt = 150  # one way
    apn: WireText = "smso.example.apn"
    service_profile: WireText = "smso-standard"
    reconnect_delay_s: NonNegInt = 600  # after a SIM move
    # TCP sessions (serve): closed when the TLS handshake is not done in time, or when the
    # head-end stays silent this long (half-open connections do not pile up).
    tls_handshake_timeout_s: Annotated[int, Field(ge=1, le=3600)] = 30
    wan_idle_timeout_s: Annotated[int, Field(ge=1, le=86_400)] = 900
    # The WAN schedule: the modem attaches for wan_awake_s every wan_wake_interval_s
    # (0: always attached).
    wan_wake_interval_s: NonNegInt = 0
    wan_awake_s: NonNegInt = 0

    @model_validator(mode="after")
    def _tls_order(self) -> ChfModel:
        if self.tls_min_version > self.tls_max_version:
            raise ValueError("tls_min_version is above tls_max_version")
        return self

    @model_validator(mode="after")
    def _wan_schedule(self) -> ChfModel:
        if self.wan_wake_interval_s and not 0 < self.wan_awake_s <= self.wan_wake_interval_s:
            raise ValueError("wan_awake_s must be 1 .. wan_wake_interval_s")
        return self


class PrepaymentConfig(_Schema):
    initial_balance_pence: I64
    max_credit_pence: Annotated[int, Field(ge=0, le=2**63 - 1)]
    low_credit_threshold_pence: NonNegInt
    emergency_credit_limit_pence: U32
    emergency_credit_threshold_pence: U32
    initial_debt_pence: U32 = 0
    debt_recovery_pence_per_day: NonNegInt = 0

    @model_validator(mode="after")
    def _below_max(self) -> PrepaymentConfig:
        if self.initial_balance_pence > self.max_credit_pence:
            raise ValueError("initial_balance_pence is above max_credit_pence")
        return self


# A pydantic dataclass, not a BaseModel: a BaseModel field named ``register`` would shadow
# ``ABCMeta.register`` on the class (harmless, but pydantic warns).
@pydantic_dataclass(config=ConfigDict(extra="forbid"), frozen=True, slots=True)
class TouBand:
    register: Annotated[int, Field(ge=1)]
    start: HhMm
    end: HhMm

    @field_validator("start", "end")
    @classmethod
    def _half_hour(cls, value: str) -> str:
        hhmm_to_slot(value)
        return value


class ElectricLoad(_Schema):
    base_load_w: NonNegFloat
    morning_peak_w: NonNegFloat
    evening_peak_w: NonNegFloat
    noise: Fraction
    seasonal_amplitude: Fraction = 0.0


class EsmeTariff(_Schema):
    bands: Annotated[tuple[TouBand, ...], Field(min_length=1)]
    unit_rates_pence_per_kwh: Annotated[tuple[NonNegFloat, ...], Field(min_length=1)]
    standing_charge_pence_per_day: NonNegFloat

    @field_validator("bands")
    @classmethod
    def _bands(cls, bands: tuple[TouBand, ...]) -> tuple[TouBand, ...]:
        tou_table(tuple((b.register, b.start, b.end) for b in bands))
        return bands

    @field_validator("unit_rates_pence_per_kwh")
    @classmethod
    def _one_rate_per_register(
        cls, rates: tuple[float, ...], info: ValidationInfo
    ) -> tuple[float, ...]:
        bands = info.data.get("bands")
        if bands is not None:
            registers = max(band.register for band in bands)
            if len(rates) != registers:
                raise ValueError(f"{len(rates)} rates for {registers} registers")
        return rates


class EsmeModel(_DeviceBase):
    kind: Literal["esme"]
    default_payment_mode: PaymentModeField
    load: ElectricLoad
    tariff: EsmeTariff
    prepayment: PrepaymentConfig


class GasLoad(_Schema):
    base_dm3_per_h: NonNegFloat
    morning_heating_dm3_per_h: NonNegFloat
    evening_heating_dm3_per_h: NonNegFloat
    noise: Fraction
    seasonal_amplitude: Fraction = 0.6


class GasTariff(_Schema):
    unit_rate_pence_per_kwh: NonNegFloat
    standing_charge_pence_per_day: NonNegFloat
    calorific_kwh_per_m3: Annotated[float, Field(gt=0)] = 11.2


class GsmeModel(_DeviceBase):
    kind: Literal["gsme"]
    default_payment_mode: PaymentModeField
    wake_interval_s: Annotated[int, Field(ge=1)] = 1800
    load: GasLoad
    tariff: GasTariff
    prepayment: PrepaymentConfig


class PpmidModel(_DeviceBase):
    kind: Literal["ppmid"]
    refresh_interval_s: Annotated[int, Field(ge=1)] = 60


class IhdModel(_DeviceBase):
    kind: Literal["ihd"]
    refresh_interval_s: Annotated[int, Field(ge=1)] = 30


DeviceModel = ChfModel | EsmeModel | GsmeModel | PpmidModel | IhdModel
_KINDS: dict[str, type[DeviceModel]] = {
    "chf": ChfModel,
    "esme": EsmeModel,
    "gsme": GsmeModel,
    "ppmid": PpmidModel,
    "ihd": IhdModel,
}


class Dmc(_Schema):
    """A Device Model Combination: device model *names*, resolved by :func:`load_dmc`."""

    schema_version: Literal[1]
    name: Text
    description: str = ""
    group_id: GroupId
    csp: Text
    chf: Text
    esme: Text
    gsme: Text | None = None
    ppmid: Text | None = None
    ihd: Text | None = None


class Cohort(_Schema):
    group_id: GroupId
    cohort: CohortName
    smso: Text
    device_installation_timeout_h: Annotated[int, Field(ge=1)]
    cos_window_days: Annotated[int, Field(ge=1)] | None = None


class _CohortsFile(_Schema):
    schema_version: Literal[1]
    cohorts: dict[GroupId, Cohort]

    @model_validator(mode="before")
    @classmethod
    def _group_from_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("cohorts"), dict):
            cohorts = {}
            for key, entry in data["cohorts"].items():
                if isinstance(entry, dict):
                    entry = {"group_id": key, **entry}
                cohorts[key] = entry
            data = {**data, "cohorts": cohorts}
        return data

    @model_validator(mode="after")
    def _keys_match(self) -> _CohortsFile:
        for key, cohort in self.cohorts.items():
            if cohort.group_id != key:
                raise ValueError(f"entry {key} says group_id {cohort.group_id}")
        return self


@dataclass(frozen=True, slots=True)
class ResolvedDmc:
    """A DMC with its device models loaded and its cohort looked up."""

    name: str
    description: str
    group_id: str
    csp: str
    cohort: Cohort
    chf: ChfModel
    esme: EsmeModel
    gsme: GsmeModel | None
    ppmid: PpmidModel | None
    ihd: IhdModel | None
    dmc: Dmc
    source: str  # the file, as in ProfileError


# -- reading ---------------------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_Model = TypeVar("_Model", bound=BaseModel)


def _root() -> Traversable:
    return files(PROFILES_PACKAGE)


def _check_name(name: str, file: str) -> None:
    if not _NAME.match(name) or ".." in name:
        raise ProfileError(file, "", f"not a profile name: {name!r}")


#: The largest profile file read (bytes) and the deepest nesting of mappings and lists in it.
MAX_PROFILE_BYTES = 1 << 20
MAX_PROFILE_DEPTH = 32


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping with the same key twice (the safe loader keeps
    the last silently) and nesting deeper than MAX_PROFILE_DEPTH."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # unhashable: the base class reports it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_PROFILE_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_PROFILE_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_yaml(text: str, file: str) -> dict[str, Any]:
    """A profile-style YAML mapping with the right ``schema_version``; one ProfileError.

    Duplicate keys, nesting deeper than MAX_PROFILE_DEPTH, a file over MAX_PROFILE_BYTES and a
    number too long to convert are profile errors, like a syntax error."""
    if len(text) > MAX_PROFILE_BYTES:
        raise ProfileError(file, "", f"larger than {MAX_PROFILE_BYTES} bytes")
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else 0
        raise ProfileError(file, "", f"YAML error at line {line}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(file, "", f"YAML error: {exc}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        raise ProfileError(file, "", f"YAML error: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(file, "", f"expected a mapping, got {type(data).__name__}")
    if "schema_version" not in data:
        raise ProfileError(file, "schema_version", f"missing (this s1lab reads {SCHEMA_VERSION})")
    version = data["schema_version"]
    if version != SCHEMA_VERSION:
        raise ProfileError(
            file,
            "schema_version",
            f"unknown schema_version {version!r} (this s1lab reads {SCHEMA_VERSION})",
        )
    return data


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validate_model(cls: type[_Model], data: dict[str, Any], file: str) -> _Model:
    """``data`` as a ``cls``; the first problem as a ProfileError naming the field."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise ProfileError(file, _dotted(tuple(first["loc"])), reason) from None


def _device(data: dict[str, Any], file: str) -> DeviceModel:
    kind = data.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProfileError(
            file, "kind", f"unknown device kind {kind!r} (expected one of {', '.join(_KINDS)})"
        )
    return validate_model(cls, data, file)


def _read_builtin(folder: str, name: str) -> tuple[str, str]:
    file = f"{folder}/{name}.yaml" if folder else f"{name}.yaml"
    _check_name(name, file)
    resource = _root() if not folder else _root().joinpath(folder)
    resource = resource.joinpath(f"{name}.yaml")
    if not resource.is_file():
        raise ProfileError(file, "", "no such profile file")
    return resource.read_text(encoding="utf-8"), file


def read_path(path: Path, file: str) -> str:
    """A user file's text; ProfileError when it cannot be read."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_PROFILE_BYTES + 1)
    except FileNotFoundError:
        raise ProfileError(file, "", "no such file") from None
    except OSError as exc:
        raise ProfileError(file, "", f"cannot read: {exc.strerror}") from None
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileError(file, "", f"larger than {MAX_PROFILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(file, "", f"not UTF-8 text (byte {exc.start})") from None


@cache
def _builtin_device(name: str) -> DeviceModel:
    text, file = _read_builtin("devices", name)
    return _device(parse_yaml(text, file), file)


@lru_cache(maxsize=1024)
def _path_device(path: str, file: str, stamp: tuple[int, int]) -> DeviceModel:
    return _device(parse_yaml(read_path(Path(path), file), file), file)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


def load_device_model(name: str) -> DeviceModel:
    """A built-in device model by name (``profiles/devices/<name>.yaml``)."""
    return _builtin_device(name)


def list_device_models() -> list[str]:
    return _list("devices")


def _list(folder: str) -> list[str]:
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in _root().joinpath(folder).iterdir()
        if entry.name.endswith(".yaml") and entry.is_file()
    )


def list_dmcs() -> list[str]:
    """Names of the built-in DMCs."""
    return _list("dmcs")


@lru_cache(maxsize=1)
def _cohorts() -> dict[str, Cohort]:
    text, file = _read_builtin("", "cohorts")
    table = validate_model(_CohortsFile, parse_yaml(text, file), file).cohorts
    return {str(key): cohort for key, cohort in table.items()}


def load_cohorts() -> dict[str, Cohort]:
    """The cohort table: GroupID -> :class:`Cohort`."""
    return dict(_cohorts())


_DEVICE_FIELDS = ("chf", "esme", "gsme", "ppmid", "ihd")


def _resolve(dmc: Dmc, file: str, folder: Path | None) -> ResolvedDmc:
    cohorts = _cohorts()  # the GroupID first: it is checked before the device models
    if dmc.group_id not in cohorts:
        raise ProfileError(file, "group_id", f"no cohort for {dmc.group_id} in cohorts.yaml")
    models: dict[str, DeviceModel | None] = {}
    for field in _DEVICE_FIELDS:
        name = getattr(dmc, field)
        if name is None:
            models[field] = None
            continue
        model = _find_device(name, file, field, folder)
        if model.kind != field:
            raise ProfileError(
                file, field, f"device model {name!r} is a {model.kind}, not a {field}"
            )
        models[field] = model
    chf, esme, gsme, ppmid, ihd = (models[f] for f in _DEVICE_FIELDS)
    assert isinstance(chf, ChfModel) and isinstance(esme, EsmeModel)
    assert gsme is None or isinstance(gsme, GsmeModel)
    assert ppmid is None or isinstance(ppmid, PpmidModel)
    assert ihd is None or isinstance(ihd, IhdModel)
    return ResolvedDmc(
        name=dmc.name,
        description=dmc.description,
        group_id=dmc.group_id,
        csp=dmc.csp,
        cohort=cohorts[dmc.group_id],
        chf=chf,
        esme=esme,
        gsme=gsme,
        ppmid=ppmid,
        ihd=ihd,
        dmc=dmc,
        source=file,
    )


def _find_device(name: str, file: str, field: str, folder: Path | None) -> DeviceModel:
    if not _NAME.match(name) or ".." in name:
        raise ProfileError(file, field, f"not a device model name: {name!r}")
    if folder is not None:
        for candidate in (folder / f"{name}.yaml", folder / "devices" / f"{name}.yaml"):
            if candidate.is_file():
                return _path_device(str(candidate), str(candidate), _stamp(candidate))
    if _root().joinpath("devices").joinpath(f"{name}.yaml").is_file():
        return _builtin_device(name)
    raise ProfileError(file, field, f"unknown device model {name!r}")


@cache
def _builtin_dmc(name: str) -> ResolvedDmc:
    text, file = _read_builtin("dmcs", name)
    return _resolve(validate_model(Dmc, parse_yaml(text, file), file), file, None)


@lru_cache(maxsize=256)
def _path_dmc(path: str, file: str, stamp: tuple[int, int]) -> ResolvedDmc:
    data = parse_yaml(read_path(Path(path), file), file)
    return _resolve(validate_model(Dmc, data, file), file, Path(path).parent)


def load_dmc(name_or_path: str) -> ResolvedDmc:
    """A built-in DMC by name, or a DMC file by path (``*.yaml``/``*.yml``, or containing a
    path separator).

    A file's device references resolve against ``<name>.yaml`` next to it, then
    ``devices/<name>.yaml`` next to it, then the built-in device models.
    """
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path or "\\" in name_or_path:
        path = Path(name_or_path)
        return _path_dmc(str(path.resolve()), name_or_path, _stamp(path))
    return _builtin_dmc(name_or_path)


def default_dmc() -> ResolvedDmc:
    """The demo installation: ``dmcs/default.yaml``."""
    return load_dmc("default")


if TYPE_CHECKING:
    from emulator.core.esme import EsmeModelSpec
    from emulator.core.gsme import GsmeModelSpec
    from emulator.core.ppmid import ConsumerModelSpec

    def _models_fit_cores(
        esme: EsmeModel, gsme: GsmeModel, ppmid: PpmidModel, ihd: IhdModel
    ) -> tuple[EsmeModelSpec, GsmeModelSpec, ConsumerModelSpec, ConsumerModelSpec]:
        """Checked by mypy only: the schemas satisfy the cores' model protocols."""
        return esme, gsme, ppmid, ihd
