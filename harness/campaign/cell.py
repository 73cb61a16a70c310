"""Running one cell where a worker is: the function local worker processes and Dask workers
call. It takes and returns plain picklable data, and never raises: a run that breaks becomes
an ERROR result naming what broke, so one bad cell cannot stop a campaign."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.campaign.matrix import Cell
from harness.scenario import CaseResult, Verdict
from harness.scenario.runner import run_cell


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run one cell."""

    cell: Cell
    seed: int
    out_dir: str | None  # the cell's evidence folder (absolute), or None for no evidence


def execute(task: CellTask) -> CaseResult:
    """Run one cell; its result, ERROR when the run itself raised."""
    try:
        return run_cell(task.cell.case_ref, task.cell.dmc, task.seed,
                        None if task.out_dir is None else Path(task.out_dir))
    except Exception as exc:  # the runner reports failures as results; this is a bug in it
        line = " ".join(f"{type(exc).__name__}: {exc}".split())
        return task.cell.unrun(task.seed, Verdict.ERROR, f"the run raised {line}")
