"""Running a campaign: expand the matrix, run what is left, store each result, rebuild reports.

``fresh`` runs every cell into a new results folder; ``resume`` runs only the cells with no
stored result; ``rerun-failed`` also reruns those that failed or broke. Cells whose case does
not apply to their DMC are stored as SKIP without running. Whatever ran, the reports are then
rebuilt from the store alone, so a campaign resumed after a kill reports exactly what an
uninterrupted run with the same seed does.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.campaign.cell import CellTask
from harness.campaign.executors import Executor, make_executor
from harness.campaign.matrix import Cell, Plan, cell_dir, expand
from harness.campaign.reports import rebuild_reports
from harness.campaign.spec import Campaign
from harness.campaign.store import Mode, Store
from harness.scenario import CaseResult, Verdict

OnStart = Callable[[Plan, list[Cell], Executor | None], None]
OnResult = Callable[[Cell, CaseResult], None]


@dataclass(frozen=True)
class CampaignSummary:
    """What a campaign's results folder holds after a run."""

    name: str
    out: Path
    seed: int
    cells: int  # in the matrix
    ran: int  # cells this session ran (or skipped)
    counts: dict[Verdict, int]  # over every stored result
    unfinished: int
    reports: dict[str, Path]
    failures: tuple[CaseResult, ...]  # failed or broken cells, in matrix order

    @property
    def ok(self) -> bool:
        """Every cell finished, none failed or broke."""
        return not self.unfinished and not self.failures


def _seed(out: Path, seed: int | None, mode: Mode) -> int | None:
    """``--seed``, or on resume the seed the folder was started with."""
    if seed is not None or mode == "fresh":
        return seed
    with Store.open_existing(out) as store:
        return int(store.meta()["seed"])


def run_campaign(campaign: Campaign, out: Path, *, seed: int | None = None,
                 mode: Mode = "fresh", workers: int | None = None,
                 scheduler: str | None = None, on_start: OnStart | None = None,
                 on_result: OnResult | None = None) -> CampaignSummary:
    """Run (or go on with) ``campaign`` in the results folder ``out``."""
    plan = expand(campaign, _seed(out, seed, mode))
    executor: Executor | None = None
    try:
        if mode == "fresh":  # reach the workers before writing anything
            Store.refuse_existing(out)
            executor = _executor(plan.cells, workers, scheduler)
        with Store.open_for(out, plan, mode) as store:
            todo = store.to_run(plan, mode)
            if mode != "fresh":
                executor = _executor(todo, workers, scheduler)
            if on_start is not None:
                on_start(plan, todo, executor)
            session = store.begin_session(mode, executor.name if executor else "none",
                                          executor.workers if executor else 0)
            for cell in todo:
                if cell.skip_reason is not None:
                    _record(store, session, cell, cell.skipped(plan.seed), on_result)
            if executor is not None:
                tasks = []
                for cell in todo:
                    if cell.skip_reason is None:
                        folder = cell_dir(out.resolve(), cell)
                        shutil.rmtree(folder, ignore_errors=True)  # a killed run's leftovers
                        tasks.append(CellTask(cell, plan.seed, str(folder)))
                for task, result in executor.run(tasks):
                    _record(store, session, task.cell, result, on_result)
            store.end_session(session)
            return summarise(store, out, ran=len(todo))
    finally:
        if executor is not None:
            executor.close()


def _executor(cells: Sequence[Cell], workers: int | None,
              scheduler: str | None) -> Executor | None:
    """Workers for the cells that run (None when every one is a SKIP)."""
    if all(cell.skip_reason is not None for cell in cells):
        return None
    return make_executor(workers, scheduler)


def _record(store: Store, session: int, cell: Cell, result: CaseResult,
            on_result: OnResult | None) -> None:
    store.record(cell, result, session)
    if on_result is not None:
        on_result(cell, result)


def summarise(store: Store, out: Path, ran: int = 0) -> CampaignSummary:
    """Rebuild the reports from the store and count its verdicts."""
    meta = store.meta()
    cells = store.cells()
    results = store.results()
    reports = rebuild_reports(store, out)
    counts = Counter(result.verdict for result in results)
    return CampaignSummary(
        name=meta["name"], out=out, seed=int(meta["seed"]), cells=len(cells),
        ran=ran,
        counts=dict(counts), unfinished=sum(1 for c in cells if c.verdict is None),
        reports=reports,
        failures=tuple(r for r in results if r.verdict in (Verdict.FAIL, Verdict.ERROR)))
