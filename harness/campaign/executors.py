"""Where cells run: worker processes on this machine, or a Dask distributed cluster.

Both sit behind :class:`Executor`: ``run(tasks)`` yields ``(task, result)`` as each cell
completes, in completion order (the store puts them back in matrix order). A cell's result
depends only on its case, DMC and seed, so both give the same results.

Local workers are a :class:`concurrent.futures.ProcessPoolExecutor` on the ``forkserver``
context, not Dask's ``LocalCluster``: the standard library is enough for one machine, starts in
a fraction of a second (the fork server imports s1lab once and forks each worker from it, so a
worker starts warm and inherits no threads or open database from the campaign process), and
adds no scheduler, nanny or dashboard to a plain ``s1lab campaign run``. Dask is used only when
the user points at a cluster with ``--scheduler``; we do not manage that cluster.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Protocol

from emulator.errors import CampaignError
from harness.campaign.cell import CellTask, execute
from harness.scenario import CaseResult, Verdict

if TYPE_CHECKING:
    from distributed import Client


class Executor(Protocol):
    """Runs cells and yields each result as it completes."""

    name: str  # "local" or the scheduler address
    workers: int  # how many cells run at once

    def run(self, tasks: Sequence[CellTask]) -> Iterator[tuple[CellTask, CaseResult]]: ...

    def close(self) -> None: ...


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


class LocalExecutor:
    """``workers`` worker processes on this machine."""

    def __init__(self, workers: int) -> None:
        self.name = "local"
        self.workers = workers
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["harness.campaign.cell"])
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)

    def run(self, tasks: Sequence[CellTask]) -> Iterator[tuple[CellTask, CaseResult]]:
        pending: dict[Future[CaseResult], CellTask] = {
            self._pool.submit(execute, task): task for task in tasks}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    yield task, future.result()
        except BrokenProcessPool:
            raise CampaignError("local workers", 0, "a worker process died; the cells "
                                "finished so far are stored, rerun with --resume") from None
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """The workers of a running Dask distributed scheduler (``dask scheduler``)."""

    def __init__(self, address: str, connect_timeout_s: float = 10.0) -> None:
        from distributed import Client

        self.name = address
        try:
            # distributed's Client, as_completed, cancel and close carry no annotations.
            self._client: Client = Client(  # type: ignore[no-untyped-call]
                address, timeout=f"{connect_timeout_s}s")  # the default: as_completed needs one
        except (OSError, TimeoutError) as exc:
            raise CampaignError(address, 0, f"cannot reach the Dask scheduler: {exc}") from None
        try:
            self._client.wait_for_workers(1, timeout=connect_timeout_s)
        except (OSError, TimeoutError):
            self._client.close()  # type: ignore[no-untyped-call]
            raise CampaignError(address, 0, "the Dask scheduler has no workers") from None
        workers = self._client.scheduler_info(n_workers=-1)["workers"].values()
        self.workers = sum(int(w.get("nthreads", 1)) for w in workers)

    def run(self, tasks: Sequence[CellTask]) -> Iterator[tuple[CellTask, CaseResult]]:
        from distributed import as_completed

        futures = {
            self._client.submit(execute, task, pure=False,
                                key=f"s1lab-cell-{task.cell.ordinal}-{os.urandom(4).hex()}"): task
            for task in tasks}
        try:
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                task = futures[future]
                try:
                    result: CaseResult = future.result()
                except Exception as exc:  # e.g. KilledWorker: the cell took workers down
                    why = " ".join(f"{type(exc).__name__}: {exc}".split())
                    result = task.cell.unrun(task.seed, Verdict.ERROR, f"on Dask: {why}")
                yield task, result
        finally:
            self._client.cancel(list(futures))  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]


def make_executor(workers: int | None, scheduler: str | None) -> Executor:
    """The executor the command line asked for."""
    if scheduler is not None:
        return DaskExecutor(scheduler)
    return LocalExecutor(workers or default_workers())
