"""``s1lab campaign``: run a campaign (DMCs x test cases), compare two campaign results.

Exit status of ``run``: 0 when every cell passed or was skipped, 1 when any failed or broke,
2 on bad input. ``diff`` exits 0 when the outcomes are the same, 1 when any cell changed.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.campaign.diff import diff_campaigns
from harness.campaign.executors import Executor
from harness.campaign.matrix import Cell, Plan
from harness.campaign.run import CampaignSummary, run_campaign
from harness.campaign.spec import list_campaigns, load_campaign
from harness.campaign.store import Mode
from harness.scenario import CaseResult, Verdict

_COLOURS = {Verdict.PASS: "green", Verdict.FAIL: "red", Verdict.ERROR: "magenta",
            Verdict.SKIP: "dim"}


@click.group("campaign")
def campaign() -> None:
    """Campaigns: a matrix of DMCs x test cases, with stored, resumable results."""


class _Display:
    """The rich progress bar, with a running count of verdicts and a line per failure."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.counts: Counter[Verdict] = Counter()
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[counts]}"), console=console)
        self.task = self.progress.add_task("", total=None, counts="")

    def start(self, plan: Plan, todo: list[Cell], executor: Executor | None) -> None:
        where = "" if executor is None else \
            f" on {executor.workers} {'local' if executor.name == 'local' else executor.name}" \
            f" worker{'s' if executor.workers != 1 else ''}"
        self.console.print(f"campaign {plan.name} (seed {plan.seed}): {len(plan.cells)} "
                           f"cells, {len(todo)} to run{where}")
        self.progress.update(self.task, description=plan.name, total=len(todo))
        self.progress.start()

    def result(self, cell: Cell, result: CaseResult) -> None:
        self.counts[result.verdict] += 1
        if result.verdict in (Verdict.FAIL, Verdict.ERROR):
            failed = result.failed_expectations()
            why = result.error or (failed[0].message if failed else "")
            self.progress.console.print(
                f"[{_COLOURS[result.verdict]}]{result.verdict.value.upper()}[/] "
                f"{cell.case_id} on {cell.dmc}: {why}\n  reproduce: {result.repro}",
                highlight=False, markup=True, soft_wrap=True)  # a repro line never wraps
        counts = "  ".join(f"[{_COLOURS[v]}]{v.value} {self.counts[v]}[/]" for v in Verdict)
        self.progress.update(self.task, advance=1, counts=counts)


def _verdict_line(summary: CampaignSummary) -> str:
    counts = ", ".join(f"{summary.counts.get(v, 0)} {v.value}" for v in Verdict)
    unfinished = f", {summary.unfinished} unfinished" if summary.unfinished else ""
    return (f"campaign {summary.name} (seed {summary.seed}): {summary.cells} cells: "
            f"{counts}{unfinished}; {summary.ran} run this time")


@campaign.command("run")
@click.argument("campaign_file", metavar="CAMPAIGN")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Results folder: campaign.sqlite, the reports, cells/<dmc>/<case>/.")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Local worker processes (default: one per CPU).")
@click.option("--seed", type=int, default=None,
              help="Seed of every cell (default: the campaign's; on resume: the folder's).")
@click.option("--resume", is_flag=True, help="Go on in --out: run only unfinished cells.")
@click.option("--rerun-failed", is_flag=True,
              help="Go on in --out: run unfinished cells and rerun failed or broken ones.")
@click.option("--scheduler", metavar="tcp://HOST:PORT", default=None,
              help="Run the cells on this Dask distributed scheduler's workers.")
def campaign_run(campaign_file: str, out: Path, workers: int | None, seed: int | None,
                 resume: bool, rerun_failed: bool, scheduler: str | None) -> None:
    """Run CAMPAIGN (a built-in campaign name or a campaign file) into --out."""
    if scheduler is not None and workers is not None:
        raise click.UsageError("--workers is for local runs; a Dask cluster has its own")
    mode: Mode = "rerun-failed" if rerun_failed else "resume" if resume else "fresh"
    spec = load_campaign(campaign_file)
    display = _Display(Console(stderr=True, highlight=False))
    try:
        summary = run_campaign(spec, out, seed=seed, mode=mode, workers=workers,
                               scheduler=scheduler, on_start=display.start,
                               on_result=display.result)
    finally:
        display.progress.stop()
    click.echo(_verdict_line(summary))
    for kind, path in sorted(summary.reports.items()):
        click.echo(f"{kind:6} {path}")
    for result in summary.failures:
        click.echo(f"{result.verdict.value.upper():5}  {result.repro}")
    if not summary.ok:
        sys.exit(1)


@campaign.command("diff")
@click.argument("a", type=click.Path(path_type=Path, exists=True))
@click.argument("b", type=click.Path(path_type=Path, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
@click.option("--timing-ratio", type=click.FloatRange(0), default=0.5, show_default=True,
              help="Report a cell's wall time when it moved by at least this fraction ...")
@click.option("--timing-min", type=click.FloatRange(0), default=0.5, show_default=True,
              help="... and by at least this many seconds.")
def campaign_diff(a: Path, b: Path, as_json: bool, timing_ratio: float,
                  timing_min: float) -> None:
    """Compare campaign results folder A with B (verdicts, new/missing cells, timing)."""
    diff = diff_campaigns(a, b, ratio=timing_ratio, min_s=timing_min)
    if as_json:
        click.echo(json.dumps(diff.to_dict(), indent=1, sort_keys=True))
    else:
        for line in diff.lines():
            click.echo(line)
    if not diff.same_outcomes:
        sys.exit(1)


@campaign.command("list")
def campaign_list() -> None:
    """List the built-in campaigns."""
    for name in list_campaigns():
        spec = load_campaign(name).spec
        click.echo(f"{name:16} {len(spec.dmcs)} DMCs  {spec.description}")
