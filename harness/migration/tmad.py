"""TMAD versions and the EPCL: the Excluded Categories, and their files under ``profiles/``.

**Excluded Categories** (TMAD clause 18, domain.md §4.1) have stable internal names
(:class:`ExclusionCategory`). Their clause numbers moved between TMAD versions (18.9 is *Five
Retries* in Various 1 and *Unable to Attempt Firmware Upgrade* in Various 2, domain.md §4.3), so
the numbers live in data, ``profiles/tmad/<version>.yaml``, loaded as a :class:`TmadVersion`.
**A new TMAD version is a new file in** ``profiles/tmad/`` (every category must be listed,
``null`` when the version gives it no number); nothing in the code changes.

The EPCL (``profiles/epcl.yaml``) lists the DMC profiles that are eligible, and those the SoS
found uneconomic to test.

This module only reads and checks files; the decisions are :mod:`harness.migration.rules`'.

Public API: :class:`ExclusionCategory`, :class:`TmadVersion`, :func:`load_tmad`,
:func:`parse_tmad`, :func:`list_tmad_versions`, :data:`DEFAULT_TMAD_VERSION`,
:class:`ClauseNotInVersion`, :class:`Epcl`, :func:`load_epcl`, :func:`parse_epcl`.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from emulator.errors import ProfileError, S1labError
from emulator.profiles import PROFILES_PACKAGE, parse_yaml, read_path, validate_model

# -- Excluded Categories ----------------------------------------------------------------------


class ExclusionCategory(Enum):
    """A TMAD Excluded Category. The value is the stable internal name, used in the YAML."""

    MASTER_KEY_ERRORS = "MASTER_KEY_ERRORS"
    UNECONOMIC_TO_TEST = "UNECONOMIC_TO_TEST"
    CONSISTENT_GT01_FAILURE = "CONSISTENT_GT01_FAILURE"
    NO_WAN_BEFORE_MIGRATION = "NO_WAN_BEFORE_MIGRATION"
    NO_WAN_ATTEMPTING_MIGRATION = "NO_WAN_ATTEMPTING_MIGRATION"
    FIVE_RETRIES = "FIVE_RETRIES"
    UNABLE_TO_ATTEMPT_FIRMWARE_UPGRADE = "UNABLE_TO_ATTEMPT_FIRMWARE_UPGRADE"
    FIRMWARE_CONFIG_FAILURE_MOC_MDS = "FIRMWARE_CONFIG_FAILURE_MOC_MDS"
    FIRMWARE_CONFIG_FAILURE_IOC = "FIRMWARE_CONFIG_FAILURE_IOC"
    UNRESOLVED_DATA_ISSUES = "UNRESOLVED_DATA_ISSUES"
    DUPLICATE_MPXN = "DUPLICATE_MPXN"

    @property
    def human_name(self) -> str:
        """The category's name as the consultations write it [S2][S3]."""
        return _HUMAN_NAMES[self]


_HUMAN_NAMES: dict[ExclusionCategory, str] = {
    ExclusionCategory.MASTER_KEY_ERRORS: "Master Key Errors",
    ExclusionCategory.UNECONOMIC_TO_TEST: "Uneconomic to Test",
    ExclusionCategory.CONSISTENT_GT01_FAILURE: "Consistent GT01 Check Failure",
    ExclusionCategory.NO_WAN_BEFORE_MIGRATION: "No WAN Before Migration Attempted",
    ExclusionCategory.NO_WAN_ATTEMPTING_MIGRATION: "No WAN Attempting Migration",
    ExclusionCategory.FIVE_RETRIES: "Five Retries Attempting Migration",
    ExclusionCategory.UNABLE_TO_ATTEMPT_FIRMWARE_UPGRADE: "Unable to Attempt Firmware Upgrade",
    ExclusionCategory.FIRMWARE_CONFIG_FAILURE_MOC_MDS: (
        "Firmware Upgrade / Configuration Failure (GroupID CB)"
    ),
    ExclusionCategory.FIRMWARE_CONFIG_FAILURE_IOC: (
        "Firmware Upgrade / Configuration Failure (GroupID AA, BA or CA)"
    ),
    ExclusionCategory.UNRESOLVED_DATA_ISSUES: "Unresolved Data Issues",
    ExclusionCategory.DUPLICATE_MPXN: "Duplicate MPANs/MPRNs",
}


class ClauseNotInVersion(S1labError, LookupError):
    """The configured TMAD version gives this Excluded Category no clause number."""

    def __init__(self, category: ExclusionCategory, tmad: TmadVersion) -> None:
        self.category = category
        self.tmad = tmad
        try:
            versions = [load_tmad(n) for n in list_tmad_versions()]
        except ProfileError:  # the hint is a courtesy; never hide the real error behind it
            versions = []
        numbered = ", ".join(v.name for v in versions if v.has_clause(category))
        hint = f"; versions that number it: {numbered}" if numbered else ""
        super().__init__(
            f"Excluded Category {category.value} ({category.human_name}) has no clause number "
            f"in TMAD version {tmad.name} ({tmad.label}){hint}"
        )


@dataclass(frozen=True)
class TmadVersion:
    """One TMAD version's clause numbering for the Excluded Categories."""

    name: str
    label: str
    date: str  # ISO date, or year-month when the day is not known
    source: str
    file: str
    clauses: Mapping[ExclusionCategory, str | None] = field(hash=False)

    def has_clause(self, category: ExclusionCategory) -> bool:
        return self.clauses.get(category) is not None

    def clause(self, category: ExclusionCategory) -> str:
        """The clause number of ``category`` in this version.

        Raises :class:`ClauseNotInVersion` when this version gives it no number."""
        clause = self.clauses.get(category)
        if clause is None:
            raise ClauseNotInVersion(category, self)
        return clause

    def category(self, clause: str) -> ExclusionCategory | None:
        """The category this version numbers ``clause``, if any (reverse lookup)."""
        return next((c for c, n in self.clauses.items() if n == clause), None)


# -- profile loading --------------------------------------------------------------------------

TMAD_FOLDER = "tmad"
#: The TMAD version a run uses unless told otherwise: the Nov 2021 (Various 1) numbering, the one
#: that numbers the retry-based categories the engine decides most often (Five Retries = 18.9).
DEFAULT_TMAD_VERSION = "various1-2021-11"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CLAUSE = re.compile(r"^\d+(\.\d+)*[A-Z]?$")
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
_Model = TypeVar("_Model", bound=BaseModel)


def _clause_text(value: object) -> object:
    if isinstance(value, int | float):  # bool is an int too
        raise ValueError(
            f"clause numbers must be quoted strings (YAML read {value!r} as a number; "
            "an unquoted 18.10 reads as 18.1)"
        )
    if isinstance(value, str) and not _CLAUSE.match(value):
        raise ValueError(f"not a clause number: {value!r} (expected e.g. '18.9' or '4.26A')")
    return value


def _date_text(value: object) -> object:
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str) and not _DATE.match(value):
        raise ValueError(f"not a date: {value!r} (expected YYYY-MM-DD or YYYY-MM)")
    return value


ClauseNumber = Annotated[str | None, BeforeValidator(_clause_text)]
Text = Annotated[str, Field(min_length=1)]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Clauses(_Schema):
    """Every category must be present; ``null`` means "no number in this version"."""

    MASTER_KEY_ERRORS: ClauseNumber
    UNECONOMIC_TO_TEST: ClauseNumber
    CONSISTENT_GT01_FAILURE: ClauseNumber
    NO_WAN_BEFORE_MIGRATION: ClauseNumber
    NO_WAN_ATTEMPTING_MIGRATION: ClauseNumber
    FIVE_RETRIES: ClauseNumber
    UNABLE_TO_ATTEMPT_FIRMWARE_UPGRADE: ClauseNumber
    FIRMWARE_CONFIG_FAILURE_MOC_MDS: ClauseNumber
    FIRMWARE_CONFIG_FAILURE_IOC: ClauseNumber
    UNRESOLVED_DATA_ISSUES: ClauseNumber
    DUPLICATE_MPXN: ClauseNumber

    @model_validator(mode="after")
    def _distinct(self) -> _Clauses:
        seen: dict[str, str] = {}
        for name, clause in self.model_dump().items():
            if clause is None:
                continue
            if clause in seen:
                raise ValueError(f"clause {clause} given to both {seen[clause]} and {name}")
            seen[clause] = name
        return self


class _TmadFile(_Schema):
    schema_version: Literal[1]
    name: Text
    label: Text
    date: Annotated[str, BeforeValidator(_date_text)]
    source: Text
    clauses: _Clauses


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.add(value)
    return values


class _EpclFile(_Schema):
    schema_version: Literal[1]
    source: str = ""
    eligible: Annotated[tuple[Text, ...], BeforeValidator(lambda v: v or ())]
    uneconomic_to_test: Annotated[tuple[Text, ...], BeforeValidator(lambda v: v or ())] = ()

    @model_validator(mode="after")
    def _check(self) -> _EpclFile:
        _unique(self.eligible)
        _unique(self.uneconomic_to_test)
        both = sorted(set(self.eligible) & set(self.uneconomic_to_test))
        if both:
            raise ValueError(f"both eligible and uneconomic to test: {', '.join(both)}")
        return self


def _is_path(name_or_path: str | Path) -> bool:
    text = str(name_or_path)
    return isinstance(name_or_path, Path) or text.endswith((".yaml", ".yml")) or "/" in text


def parse_tmad(text: str, file: str) -> TmadVersion:
    """A TMAD version from YAML text; ``file`` names it in errors."""
    model = validate_model(_TmadFile, parse_yaml(text, file), file)
    clauses = {ExclusionCategory(k): v for k, v in model.clauses.model_dump().items()}
    return TmadVersion(model.name, model.label, model.date, model.source, file, clauses)


@cache
def _builtin_tmad(name: str) -> TmadVersion:
    file = f"{TMAD_FOLDER}/{name}.yaml"
    if not _NAME.match(name) or ".." in name:
        raise ProfileError(file, "", f"not a TMAD version name: {name!r}")
    resource = files(PROFILES_PACKAGE).joinpath(TMAD_FOLDER).joinpath(f"{name}.yaml")
    if not resource.is_file():
        known = ", ".join(list_tmad_versions())
        raise ProfileError(file, "", f"no such TMAD version (known: {known})")
    version = parse_tmad(resource.read_text(encoding="utf-8"), file)
    if version.name != name:
        raise ProfileError(file, "name", f"says {version.name!r}, the file is {name!r}")
    return version


def load_tmad(name_or_path: str | Path = DEFAULT_TMAD_VERSION) -> TmadVersion:
    """A built-in TMAD version by name (``profiles/tmad/<name>.yaml``), or a file by path.

    Raises :class:`~emulator.errors.ProfileError` naming the file and the bad field."""
    if _is_path(name_or_path):
        path = Path(name_or_path)
        return parse_tmad(read_path(path, str(name_or_path)), str(name_or_path))
    return _builtin_tmad(str(name_or_path))


def list_tmad_versions() -> list[str]:
    """Names of the built-in TMAD versions, oldest first (the names start with the document)."""
    folder = files(PROFILES_PACKAGE).joinpath(TMAD_FOLDER)
    return sorted(
        e.name.removesuffix(".yaml") for e in folder.iterdir() if e.name.endswith(".yaml")
    )


@dataclass(frozen=True)
class Epcl:
    """The Eligible Product Combinations List, keyed by DMC profile name."""

    eligible_dmcs: frozenset[str]
    uneconomic_dmcs: frozenset[str] = frozenset()
    source: str = ""
    file: str = ""

    def eligible(self, dmc: str) -> bool:
        """Whether the DMC has an EPCL entry (an uneconomic-to-test DMC never has one)."""
        return dmc in self.eligible_dmcs

    def uneconomic_to_test(self, dmc: str) -> bool:
        """Whether the SoS decided that testing this DMC is uneconomic (SVTAD 20.7) [S3]."""
        return dmc in self.uneconomic_dmcs


def parse_epcl(text: str, file: str) -> Epcl:
    model = validate_model(_EpclFile, parse_yaml(text, file), file)
    return Epcl(frozenset(model.eligible), frozenset(model.uneconomic_to_test), model.source, file)


@cache
def _builtin_epcl() -> Epcl:
    return parse_epcl(files(PROFILES_PACKAGE).joinpath("epcl.yaml").read_text("utf-8"), "epcl.yaml")


def load_epcl(path: str | Path | None = None) -> Epcl:
    """The built-in ``profiles/epcl.yaml``, or an EPCL file by path."""
    if path is None:
        return _builtin_epcl()
    return parse_epcl(read_path(Path(path), str(path)), str(path))
