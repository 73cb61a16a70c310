"""Matrix expansion: a campaign's DMCs x test cases as cells, in a fixed order.

Every cell is (test case, DMC) run with the campaign's seed. A case that does not apply to a
DMC (``Scenario.applies_to``) is still a cell, with a skip reason, so the matrix and its
reports show the hole. The plan's fingerprint (name, seed and the cells) tells a results
folder of this campaign from one of another.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from emulator.errors import ProfileError
from emulator.profiles import load_dmc
from harness.campaign.spec import Campaign
from harness.scenario import CaseResult, Verdict, load_scenario
from harness.scenario.catalogue import load_catalogue
from harness.scenario.runner import repro_command

if TYPE_CHECKING:
    from harness.scenario import Scenario


@dataclass(frozen=True)
class Cell:
    """One test case on one DMC."""

    ordinal: int  # position in the matrix: the order of every report
    case_ref: str  # what the runner takes: a catalogue id or an absolute scenario file path
    case_id: str
    title: str
    behaviours: tuple[int, ...]
    clauses: tuple[str, ...]
    dmc: str
    skip_reason: str | None  # None when the case applies to the DMC

    @property
    def key(self) -> tuple[str, str]:
        return (self.case_id, self.dmc)

    def repro(self, seed: int) -> str:
        """The one command that runs this cell alone."""
        return repro_command(self.case_ref, self.dmc, seed)

    def skipped(self, seed: int) -> CaseResult:
        """The result of a cell whose case does not apply to its DMC."""
        return self.unrun(seed, Verdict.SKIP, f"skipped: {self.skip_reason}")

    def unrun(self, seed: int, verdict: Verdict, why: str) -> CaseResult:
        """A result for a cell the runner gave none for (skipped, or the run broke)."""
        return CaseResult(
            case_id=self.case_id, title=self.title, dmc=self.dmc, seed=seed, verdict=verdict,
            behaviours=self.behaviours, clauses=self.clauses, expectations=(), timeline=(),
            started_us=0, ended_us=0, wall_s=0.0, repro=self.repro(seed), error=why,
        )


@dataclass(frozen=True)
class Plan:
    """A campaign expanded: its cells in matrix order, and the seed they run with."""

    name: str
    file: str
    seed: int
    dmcs: tuple[str, ...]
    cells: tuple[Cell, ...]

    @property
    def fingerprint(self) -> str:
        body = {"name": self.name, "seed": self.seed,
                "cells": [[c.case_id, c.dmc, c.skip_reason is None] for c in self.cells]}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _dmc_name(campaign: Campaign, index: int, entry: str) -> str:
    as_path = entry.endswith((".yaml", ".yml")) or "/" in entry
    ref = str((campaign.folder / entry).resolve()) if as_path else entry
    try:
        load_dmc(ref)
    except ProfileError as exc:
        raise campaign.error(f"dmcs[{index}]: {exc}", "dmcs", index) from None
    return ref


def _unknown(campaign: Campaign, what: str, entry: str, known: Iterable[str],
             *loc: str | int) -> Exception:
    close = difflib.get_close_matches(entry, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return campaign.error(f"{loc[0]}[{loc[1]}]: unknown {what} {entry!r}{hint}", *loc)


def _cases(campaign: Campaign) -> list[tuple[str, Scenario]]:
    """The campaign's test cases as (runner reference, scenario), without duplicates."""
    catalogue = load_catalogue()
    chosen: dict[str, tuple[str, Scenario]] = {}
    spec = campaign.spec
    if spec.all_cases:
        chosen.update((case_id, (case_id, catalogue[case_id])) for case_id in sorted(catalogue))
    for index, case_id in enumerate(spec.cases):
        if case_id not in catalogue:
            raise _unknown(campaign, "test case", case_id, catalogue, "cases", index)
        chosen.setdefault(case_id, (case_id, catalogue[case_id]))
    for index, tag in enumerate(spec.tags):
        tagged = sorted(cid for cid, case in catalogue.items() if tag in case.tags)
        if not tagged:
            tags = {t for case in catalogue.values() for t in case.tags}
            raise _unknown(campaign, "tag", tag, tags, "tags", index)
        for case_id in tagged:
            chosen.setdefault(case_id, (case_id, catalogue[case_id]))
    for index, name in enumerate(spec.files):
        path = (campaign.folder / name).resolve()
        if not path.is_file():
            raise campaign.error(f"files[{index}]: no such scenario file {name!r}",
                                 "files", index)
        case = load_scenario(path)
        previous = chosen.setdefault(case.id, (str(path), case))
        if previous[0] != str(path):
            raise campaign.error(f"files[{index}]: test case id {case.id!r} is already "
                                 f"taken by {previous[0]}", "files", index)
    return list(chosen.values())


def expand(campaign: Campaign, seed: int | None = None) -> Plan:
    """The campaign's matrix (case-major: every DMC of the first case, then the next case)."""
    dmcs: list[str] = []
    for index, entry in enumerate(campaign.spec.dmcs):
        ref = _dmc_name(campaign, index, entry)
        if ref in dmcs:
            raise campaign.error(f"dmcs[{index}]: DMC {entry!r} is listed twice", "dmcs", index)
        dmcs.append(ref)
    cells: list[Cell] = []
    for case_ref, case in _cases(campaign):
        for dmc in dmcs:
            cells.append(Cell(
                ordinal=len(cells), case_ref=case_ref, case_id=case.id, title=case.title,
                behaviours=tuple(case.behaviours), clauses=tuple(case.clauses), dmc=dmc,
                skip_reason=case.not_applicable(load_dmc(dmc)),
            ))
    return Plan(name=campaign.spec.name, file=campaign.file,
                seed=campaign.spec.seed if seed is None else seed,
                dmcs=tuple(dmcs), cells=tuple(cells))


def cell_dir(out: Path, cell: Cell) -> Path:
    """Where a cell's evidence goes inside a campaign's results folder."""
    dmc = Path(cell.dmc).name.removesuffix(".yaml").removesuffix(".yml")
    return out / "cells" / dmc / cell.case_id
