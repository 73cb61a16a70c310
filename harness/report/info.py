"""What a report says about the campaign as a whole (the results say the rest)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from emulator.errors import ReportError

# Wall-clock UTC, to the second: the form JUnit's timestamp takes once the "Z" is dropped.
_STARTED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@dataclass(frozen=True)
class CampaignInfo:
    """Campaign metadata for the reports.

    ``dmcs`` and ``cases`` fix the column and row order of the matrix (those of the campaign
    file); any DMC or case in the results but not named here follows, sorted. ``cell_path`` is
    each cell's folder relative to the report's folder: a cell's evidence paths are relative to
    it. ``started`` is the wall-clock start, and with the results' ``wall_s`` the only field that
    differs between two runs of one campaign with one seed.
    """

    name: str = "s1lab"
    seed: int | None = None
    started: str | None = None  # "YYYY-MM-DDTHH:MM:SSZ"
    hostname: str = "localhost"
    dmcs: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()
    cell_path: str = "cells/{dmc}/{case_id}"

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ReportError("campaign name: must not be empty")
        if self.started is not None and not _STARTED.fullmatch(self.started):
            raise ReportError(
                f"campaign started: {self.started!r} is not UTC as YYYY-MM-DDTHH:MM:SSZ")
        if not self.hostname.strip():
            raise ReportError("campaign hostname: must not be empty")
        try:
            self.cell_path.format(dmc="d", case_id="c")
        except (KeyError, IndexError, ValueError) as exc:
            raise ReportError(
                f"campaign cell_path {self.cell_path!r}: bad template: {exc}") from None

    def cell_folder(self, dmc: str, case_id: str) -> str:
        return self.cell_path.format(dmc=dmc, case_id=case_id)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dmcs"], d["cases"] = list(self.dmcs), list(self.cases)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CampaignInfo:
        return cls(
            name=d["name"], seed=d.get("seed"), started=d.get("started"),
            hostname=d.get("hostname", "localhost"),
            dmcs=tuple(d.get("dmcs", ())), cases=tuple(d.get("cases", ())),
            cell_path=d.get("cell_path", "cells/{dmc}/{case_id}"),
        )
