"""The DMC x test-case matrix and its coverage, one model for every report format.

Cells are keyed by (case id, DMC); two results for one cell are an error, not a silent pick.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from emulator.errors import ReportError
from harness.report.behaviours import BEHAVIOURS, behaviour_name
from harness.report.info import CampaignInfo
from harness.scenario.result import CaseResult, Verdict

# Worst first: the verdict a row of coverage shows when its cells disagree.
SEVERITY: tuple[Verdict, ...] = (Verdict.ERROR, Verdict.FAIL, Verdict.PASS, Verdict.SKIP)


@dataclass(frozen=True)
class Case:
    """One row of the matrix."""

    case_id: str
    title: str
    behaviours: tuple[int, ...]
    clauses: tuple[str, ...]


@dataclass(frozen=True)
class Tally:
    """How many cells ended with each verdict."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped

    def count(self, verdict: Verdict) -> int:
        return {Verdict.PASS: self.passed, Verdict.FAIL: self.failed,
                Verdict.ERROR: self.errors, Verdict.SKIP: self.skipped}[verdict]

    def worst(self) -> Verdict | None:
        return next((v for v in SEVERITY if self.count(v)), None)

    @classmethod
    def of(cls, results: Iterable[CaseResult]) -> Tally:
        verdicts = [r.verdict for r in results]
        return cls(passed=verdicts.count(Verdict.PASS), failed=verdicts.count(Verdict.FAIL),
                   errors=verdicts.count(Verdict.ERROR), skipped=verdicts.count(Verdict.SKIP))


@dataclass(frozen=True)
class CoverageRow:
    """One behaviour or clause: which cases check it and how their cells ended."""

    key: str  # the behaviour number as text, or the clause
    name: str  # the behaviour's short name; the clause again for clauses
    cases: tuple[str, ...]
    tally: Tally


@dataclass(frozen=True)
class Matrix:
    info: CampaignInfo
    dmcs: tuple[str, ...]
    cases: tuple[Case, ...]
    cells: dict[tuple[str, str], CaseResult]  # (case id, DMC) -> result

    def cell(self, case_id: str, dmc: str) -> CaseResult | None:
        return self.cells.get((case_id, dmc))

    def results(self) -> list[CaseResult]:
        """Every result, in matrix order: case by case, DMC by DMC."""
        return [r for c in self.cases for d in self.dmcs if (r := self.cell(c.case_id, d))]

    def tally(self) -> Tally:
        return Tally.of(self.cells.values())

    def dmc_tally(self, dmc: str) -> Tally:
        return Tally.of(r for (_, d), r in self.cells.items() if d == dmc)

    def problems(self) -> list[CaseResult]:
        """The failed and errored cells, in matrix order."""
        return [r for r in self.results() if r.verdict in (Verdict.FAIL, Verdict.ERROR)]

    def behaviour_coverage(self) -> list[CoverageRow]:
        """Every behaviour of domain.md §8, covered or not, then any other number cited."""
        numbers = sorted(set(BEHAVIOURS) | {b for c in self.cases for b in c.behaviours})
        return [self._coverage(str(n), behaviour_name(n),
                               [c for c in self.cases if n in c.behaviours]) for n in numbers]

    def clause_coverage(self) -> list[CoverageRow]:
        clauses = sorted({k for c in self.cases for k in c.clauses}, key=natural_key)
        return [self._coverage(k, k, [c for c in self.cases if k in c.clauses]) for k in clauses]

    def _coverage(self, key: str, name: str, cases: list[Case]) -> CoverageRow:
        ids = {c.case_id for c in cases}
        return CoverageRow(key=key, name=name, cases=tuple(c.case_id for c in cases),
                           tally=Tally.of(r for (cid, _), r in self.cells.items() if cid in ids))


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort "TMAD 18.9" before "TMAD 18.11"."""
    return tuple((0, int(p)) if p.isdigit() else (1, p)
                 for p in re.split(r"(\d+)", text.casefold()) if p)


def _ordered(named: tuple[str, ...], seen: Iterable[str]) -> tuple[str, ...]:
    present = set(seen)
    first = [n for n in dict.fromkeys(named) if n in present]
    return (*first, *sorted(present - set(first), key=natural_key))


def build_matrix(results: Iterable[CaseResult], info: CampaignInfo | None = None) -> Matrix:
    """The matrix of ``results``; ReportError for a result without a case id or DMC, or two
    results for one cell."""
    info = info or CampaignInfo()
    cells: dict[tuple[str, str], CaseResult] = {}
    cases: dict[str, Case] = {}
    for r in results:
        if not r.case_id.strip() or not r.dmc.strip():
            raise ReportError(f"result {r.case_id!r} on {r.dmc!r}: case id and DMC must be named")
        if (r.case_id, r.dmc) in cells:
            raise ReportError(f"two results for case {r.case_id!r} on DMC {r.dmc!r}")
        cells[(r.case_id, r.dmc)] = r
        cases.setdefault(r.case_id, Case(r.case_id, r.title, r.behaviours, r.clauses))
    dmcs = _ordered(info.dmcs, (d for _, d in cells))
    order = _ordered(info.cases, cases)
    return Matrix(info=info, dmcs=dmcs, cases=tuple(cases[c] for c in order), cells=cells)
