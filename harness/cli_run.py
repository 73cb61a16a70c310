"""``s1lab run SCENARIO [--dmc D] [--seed S] [--out DIR]``: run one test case.

SCENARIO is a catalogue id or a scenario file. Exit 0 only if the case passes; 1 if it fails,
does not apply to the DMC (SKIP) or the run broke (ERROR); 2 with one line for bad input (a
scenario that does not parse, an unknown case or DMC), through ``harness.cli.main``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from emulator.core.timebase import HOUR
from emulator.profiles import load_dmc
from harness.scenario.catalogue import load_catalogue, resolve
from harness.scenario.result import CaseResult, Verdict
from harness.scenario.runner import run_scenario

_STYLE = {Verdict.PASS: "bold green", Verdict.FAIL: "bold red", Verdict.ERROR: "bold magenta",
          Verdict.SKIP: "bold yellow"}


@click.command("run")
@click.argument("scenario", required=False)
@click.option("--dmc", default="default", show_default=True, help="DMC profile name or file.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write the evidence here: trace.jsonl, han.pcap + keys, CaseResult.json.")
@click.option("--list", "list_cases", is_flag=True, help="List the catalogue's cases.")
def run_command(scenario: str | None, dmc: str, seed: int, out: Path | None,
                list_cases: bool) -> None:
    """Run one test case (a catalogue id or a scenario file) on one DMC."""
    from rich.console import Console

    console = Console(highlight=False)
    if list_cases:
        for case_id, case in sorted(load_catalogue().items()):
            console.print(f"{case_id}  [dim]{case.title}[/dim]")
        return
    if scenario is None:
        raise click.UsageError("missing SCENARIO (a catalogue id or a file; --list shows ids)")
    case = resolve(scenario)  # bad input: ScenarioError -> exit 2
    load_dmc(dmc)  # bad input: ProfileError -> exit 2
    result = run_scenario(case, dmc, seed, out, case_ref=scenario)
    _print(console, result, out)
    sys.exit(0 if result.verdict is Verdict.PASS else 1)


def _print(console: object, r: CaseResult, out: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    assert isinstance(console, Console)
    hours = (r.ended_us - r.started_us) / HOUR
    console.print(f"[bold]{r.case_id}[/bold] on [bold]{r.dmc}[/bold] (seed {r.seed}): "
                  f"{r.title}")
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("", width=4)
    table.add_column("expectation")
    table.add_column("result")
    for e in r.expectations:
        mark = "[green]ok[/green]" if e.passed else "[red]FAIL[/red]"
        table.add_row(mark, e.name, e.message.removeprefix("PASS: ").removeprefix("FAIL: "))
    if r.expectations:
        console.print(table)
    if r.error:
        console.print(r.error, style="magenta", soft_wrap=True, markup=False)
    console.print(f"[{_STYLE[r.verdict]}]{r.verdict.value.upper()}[/{_STYLE[r.verdict]}]  "
                  f"{len(r.failed_expectations())} of {len(r.expectations)} expectations failed; "
                  f"{hours:.1f} h virtual in {r.wall_s:.2f} s")
    if out is not None:
        console.print(f"evidence: {out}/ ({', '.join(sorted(r.evidence.values()))})",
                      soft_wrap=True, markup=False)
    console.print(f"reproduce: {r.repro}", soft_wrap=True, markup=False)  # never wrapped
