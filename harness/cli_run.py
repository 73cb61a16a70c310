"""``s1lab run SCENARIO [--dmc D] [--seed S] [--out DIR] [--lab LAB [--radio NAME]
[--device ROLE=NAME]...]``: run one test case.

SCENARIO is a catalogue id or a scenario file. With ``--lab`` it runs on a bench, in real time:
the emulated CHF's HAN on the lab's radio and the roles the case (``physical:``) or
``--device`` binds played by the lab file's physical devices (docs/hardware.md).

Exit 0 only if the case passes; 1 if it fails, does not apply to the DMC (SKIP) or the run broke
(ERROR, e.g. a physical device that never joined); 2 with one line for bad input (a scenario
that does not parse, an unknown case or DMC, a binding the lab file cannot satisfy), through
``harness.cli.main``.
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
@click.option("--lab", "lab_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Run on a bench: this lab file's radio and physical devices.")
@click.option("--radio", default=None, metavar="NAME",
              help="With --lab: the lab radio (or a URL) the emulated CHF uses.")
@click.option("--device", "devices", multiple=True, metavar="ROLE=NAME",
              help="With --lab: the lab device that plays esme, gsme, ppmid or ihd "
                   "(repeatable; over the case's `physical:`).")
@click.option("--join-timeout", type=float, default=60.0, show_default=True, metavar="S",
              help="With --lab: real seconds to wait for the physical devices to join.")
@click.option("--time-limit", default="10m", show_default=True, metavar="DURATION",
              help="With --lab: refuse a case whose scenario time (real time on a bench) "
                   "is longer.")
def run_command(scenario: str | None, dmc: str, seed: int, out: Path | None,
                list_cases: bool, lab_path: Path | None, radio: str | None,
                devices: tuple[str, ...], join_timeout: float, time_limit: str) -> None:
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
    resolved = load_dmc(dmc)  # bad input: ProfileError -> exit 2
    bench = None
    if lab_path is None and (radio is not None or devices):
        raise click.UsageError("--radio and --device go with --lab LAB.yaml")
    if lab_path is not None:  # bad bindings: LabError -> exit 2, before anything starts
        from harness.scenario.bench import parse_device_option, plan_bench
        from harness.scenario.model import duration_us
        from hw.lab import load_lab

        try:
            limit_us = duration_us(time_limit)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--time-limit") from None
        if join_timeout <= 0:
            raise click.BadParameter("must be more than 0", param_hint="--join-timeout")
        bench = plan_bench(case, resolved, load_lab(lab_path), lab_path, radio=radio,
                           devices=tuple(parse_device_option(d) for d in devices),
                           join_timeout_s=join_timeout, time_limit_us=limit_us)
    result = run_scenario(case, dmc, seed, out, case_ref=scenario, bench=bench,
                          announce=lambda line: console.print(line, markup=False,
                                                              soft_wrap=True))
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
    for d in r.physical:
        joined = "joined" if d.joined_us is not None else "never joined"
        console.print(f"physical {d.role}: {d.name} {d.eui} ({d.model or 'model not given'}) "
                      f"on {d.radio or d.radio_url}, {joined}", markup=False, soft_wrap=True)
    took = (f"{(r.ended_us - r.started_us) / 1e6:.0f} s of scenario time on the real clock"
            if r.physical else f"{hours:.1f} h virtual")
    console.print(f"[{_STYLE[r.verdict]}]{r.verdict.value.upper()}[/{_STYLE[r.verdict]}]  "
                  f"{len(r.failed_expectations())} of {len(r.expectations)} expectations failed; "
                  f"{took} in {r.wall_s:.2f} s")
    if out is not None:
        console.print(f"evidence: {out}/ ({', '.join(sorted(r.evidence.values()))})",
                      soft_wrap=True, markup=False)
    console.print(f"reproduce: {r.repro}", soft_wrap=True, markup=False)  # never wrapped
