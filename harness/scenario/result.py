"""What one test-case run produced: the contract between the scenario runner, the campaign
store and the reports.

A ``CaseResult`` is plain data that round-trips through JSON exactly (``to_json`` /
``from_json``), so a campaign can keep it in SQLite and rebuild any report from the store alone.
Nothing here depends on how the case was run (in-process, worker process, Dask worker).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """The verdict of one case on one DMC."""

    PASS = "pass"
    FAIL = "fail"  # an expectation did not hold
    ERROR = "error"  # the run itself broke (an exception in s1lab, a bad case)
    SKIP = "skip"  # the case does not apply to this DMC (e.g. it needs a GSME)


@dataclass(frozen=True)
class ExpectationResult:
    """One expectation of a case, checked against the run."""

    name: str  # e.g. "outcome == migrated" or "event TopUpAccepted seen"
    passed: bool
    message: str  # the clear pass/fail sentence a reviewer reads
    at_us: int | None = None  # virtual time the check was made, if it has one


@dataclass(frozen=True)
class TimelineEvent:
    """One event of the run on virtual time, as a report's timeline draws it."""

    us: int  # microseconds since the Unix epoch, on the run's clock
    device: str  # a device EUI, a role name ("smso", "s1sp", "dco") or "harness"
    event: str  # the trace event name, or an action/fault name
    lane: str  # the timeline row: "action", "fault", "wan", "han", "migration", "device", ...
    detail: str = ""


@dataclass(frozen=True)
class PhysicalDevice:
    """A device role that a bench run (``s1lab run --lab``) left to a physical device."""

    role: str  # esme, gsme, ppmid, ihd
    name: str  # its name in the lab file
    eui: str
    model: str
    radio: str  # the lab's radio name
    radio_url: str
    joined_us: int | None = None  # when it joined the emulated CHF (None: it never did)


@dataclass(frozen=True)
class CaseResult:
    """The result of one cell: a test case run on one DMC with one seed."""

    case_id: str
    title: str
    dmc: str
    seed: int
    verdict: Verdict
    behaviours: tuple[int, ...]  # the numbers of ../shared/domain.md §8 the case checks
    clauses: tuple[str, ...]  # source clauses, e.g. "TMAD 18.11", "SVTAD 4.2"
    expectations: tuple[ExpectationResult, ...]
    timeline: tuple[TimelineEvent, ...]
    started_us: int  # virtual start of the run
    ended_us: int  # virtual end of the run
    wall_s: float  # wall-clock seconds the run took (the one non-deterministic field)
    repro: str  # one command that reproduces this cell alone
    error: str | None = None  # for ERROR: one line saying what broke
    evidence: dict[str, str] = field(default_factory=dict)  # kind -> path relative to the cell dir
    #: On a bench run, the roles played by physical devices (absent from virtual runs' JSON).
    physical: tuple[PhysicalDevice, ...] = ()

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    def failed_expectations(self) -> list[ExpectationResult]:
        return [e for e in self.expectations if not e.passed]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict.value
        if not self.physical:
            del d["physical"]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaseResult:
        return cls(
            case_id=d["case_id"],
            title=d["title"],
            dmc=d["dmc"],
            seed=int(d["seed"]),
            verdict=Verdict(d["verdict"]),
            behaviours=tuple(int(b) for b in d["behaviours"]),
            clauses=tuple(str(c) for c in d["clauses"]),
            expectations=tuple(ExpectationResult(**e) for e in d["expectations"]),
            timeline=tuple(TimelineEvent(**t) for t in d["timeline"]),
            started_us=int(d["started_us"]),
            ended_us=int(d["ended_us"]),
            wall_s=float(d["wall_s"]),
            repro=d["repro"],
            error=d.get("error"),
            evidence=dict(d.get("evidence", {})),
            physical=tuple(PhysicalDevice(**p) for p in d.get("physical", ())),
        )

    @classmethod
    def from_json(cls, text: str) -> CaseResult:
        return cls.from_dict(json.loads(text))
