"""Comparing two campaign results folders: verdicts that changed, cells new or missing, and
timing that moved.

A cell is (test case, DMC). Its verdict is read from each folder's store (an unfinished cell
has none). Timing compares each cell's wall time run in both; a change counts when it is at
least ``min_s`` seconds and at least ``ratio`` of the earlier time, so scheduler noise on a
busy machine does not drown a real slowdown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.campaign.store import Store, StoredCell
from harness.scenario import Verdict


@dataclass(frozen=True)
class VerdictChange:
    case_id: str
    dmc: str
    before: Verdict | None  # None: not finished there
    after: Verdict | None


@dataclass(frozen=True)
class TimingChange:
    case_id: str
    dmc: str
    before_s: float
    after_s: float

    @property
    def ratio(self) -> float:
        return self.after_s / self.before_s if self.before_s else float("inf")


@dataclass(frozen=True)
class CampaignDiff:
    a: str
    b: str
    notes: tuple[str, ...]  # differences of campaign or seed, said once
    changed: tuple[VerdictChange, ...]
    new: tuple[tuple[str, str, Verdict | None], ...]  # in B only
    missing: tuple[tuple[str, str, Verdict | None], ...]  # in A only
    timing: tuple[TimingChange, ...]
    wall_a_s: float
    wall_b_s: float

    @property
    def same_outcomes(self) -> bool:
        return not (self.changed or self.new or self.missing)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The diff for a person, one fact a line."""
        out = [f"A: {self.a}", f"B: {self.b}", *self.notes]
        out += [f"changed  {c.case_id} on {c.dmc}: {_v(c.before)} -> {_v(c.after)}"
                for c in self.changed]
        out += [f"new      {case} on {dmc}: {_v(v)}" for case, dmc, v in self.new]
        out += [f"missing  {case} on {dmc}: was {_v(v)}" for case, dmc, v in self.missing]
        out += [f"timing   {t.case_id} on {t.dmc}: {t.before_s:.2f}s -> {t.after_s:.2f}s "
                f"(x{t.ratio:.2f})" for t in self.timing]
        out.append(f"wall     {self.wall_a_s:.2f}s -> {self.wall_b_s:.2f}s (cells' sum)")
        out.append(f"{len(self.changed)} changed, {len(self.new)} new, {len(self.missing)} "
                   f"missing, {len(self.timing)} timing changes")
        return out


def _v(verdict: Verdict | None) -> str:
    return "unfinished" if verdict is None else verdict.value


def _read(folder: Path) -> tuple[dict[str, str], dict[tuple[str, str], StoredCell]]:
    with Store.open_existing(folder) as store:
        return store.meta(), {(c.case_id, c.dmc): c for c in store.cells()}


def diff_campaigns(a: Path, b: Path, *, ratio: float = 0.5, min_s: float = 0.5) -> CampaignDiff:
    """What changed from results folder ``a`` to results folder ``b``."""
    meta_a, cells_a = _read(a)
    meta_b, cells_b = _read(b)
    notes = [f"note     {key} differs: {meta_a[key]} -> {meta_b[key]}"
             for key in ("name", "seed") if meta_a[key] != meta_b[key]]
    changed, timing = [], []
    for key, before in cells_a.items():
        after = cells_b.get(key)
        if after is None:
            continue
        if before.verdict != after.verdict:
            changed.append(VerdictChange(*key, before.verdict, after.verdict))
        elif (before.wall_s is not None and after.wall_s is not None
              and before.verdict is not Verdict.SKIP):
            delta = abs(after.wall_s - before.wall_s)
            if delta >= min_s and delta >= ratio * before.wall_s:
                timing.append(TimingChange(*key, before.wall_s, after.wall_s))
    return CampaignDiff(
        a=str(a), b=str(b), notes=tuple(notes), changed=tuple(changed),
        new=tuple((*k, c.verdict) for k, c in cells_b.items() if k not in cells_a),
        missing=tuple((*k, c.verdict) for k, c in cells_a.items() if k not in cells_b),
        timing=tuple(timing),
        wall_a_s=sum(c.wall_s or 0.0 for c in cells_a.values()),
        wall_b_s=sum(c.wall_s or 0.0 for c in cells_b.values()),
    )
