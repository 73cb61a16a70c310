"""The ``s1lab`` command line.

Bad input never shows a traceback: any s1lab error (and click's usage errors) becomes one line,
``s1lab <command>: error: <what and where>``, and exit status 2. ``S1LAB_DEBUG=1`` shows
tracebacks of unexpected failures for bug reports.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn

import click

from emulator import (
    DEFAULT_START,
    ResolvedDmc,
    S1labError,
    current_clock,
    default_dmc,
    load_dmc,
    run_virtual,
)
from emulator.capture.evidence import CaptureDir
from emulator.capture.keylog import keylog_path
from emulator.drivers.capture import HanCapture
from emulator.drivers.tcp import parse_hostport
from emulator.outputs import close_partial, open_partial
from emulator.pki import init_folder
from harness import cli_hw
from harness.cli_campaign import campaign
from harness.cli_firmware import firmware, headend_firmware
from harness.cli_fleet import fleet
from harness.cli_run import run_command
from harness.cli_types import TIMEOUT, FiniteFloat
from harness.faults import apply_faults, parse_fault

if TYPE_CHECKING:
    from harness.remote_migration import Evidence

EXIT_RUN_FAILED = 1  # the run went through, but something failed that no injected fault explains
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 70


def _fail(command: str, message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    click.echo(f"s1lab {command}: error: {message}".replace("s1lab s1lab", "s1lab"), err=True)
    sys.exit(code)


def _dmc(profile: str | None) -> ResolvedDmc:
    return load_dmc(profile) if profile else default_dmc()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="s1lab")
def cli() -> None:
    """s1lab: emulator and test harness for GB SMETS1 installations."""


cli.add_command(fleet)


# ---- shared options -------------------------------------------------------------------------

HAN_OPTION = click.option(
    "--han", type=click.Choice(["zigbee", "direct"]), default="zigbee", show_default=True,
    help="HAN between CHF and meters: real ZigBee SE frames, or a direct link (cheaper).")
CAPTURE_OPTION = click.option(
    "--capture", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="Write DIR/capture.pcapng (WAN with its TLS secrets, and HAN) and DIR/han.pcap "
         "(802.15.4, DLT 195) with the ZigBee keys, for Wireshark (see DIR/README.txt).")
WAN_CAPTURE_OPTION = click.option(
    "--capture", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="Write the WAN sessions to DIR/capture.pcapng with their TLS secrets inside.")
KEYLOG_OPTION = click.option(
    "--keylog", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="Append the TLS session secrets to FILE (NSS key-log format, mode 0600); "
         "default: $SSLKEYLOGFILE when set.")
ZEP_OPTION = click.option("--zep", metavar="HOST:PORT", default=None,
                          help="Also stream the HAN as ZEP v2 over UDP to HOST:PORT.")
FAULT_OPTION = click.option(
    "--fault", "faults", multiple=True, metavar="SPEC",
    help="Inject a fault (repeatable): link-down:DEVICE@START+DURATION, loss:DEVICE=P, "
         "battery-flat[@START], counter-reset:DEVICE@START, clock-skew:DEVICE=SECONDS[@START]; "
         "append #N for installation N only. Durations: 90s, 30m, 73h, 2d. "
         "Example: --fault link-down:gsme@1h+73h")


# ---- demo ---------------------------------------------------------------------------------


@cli.command()
@click.option("--installations", "-n", type=click.IntRange(1, 100_000), default=20,
              show_default=True, help="Installations to emulate.")
@click.option("--days", type=FiniteFloat(0, 3650, min_open=True), default=2.0,
              show_default=True, help="Simulated days to run (virtual time).")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Run seed: the same seed gives the same trace.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("out/demo"),
              show_default=True, help="Folder for trace.jsonl and summary.json.")
@click.option("--profile", "profile", default=None,
              help="DMC profile name or YAML file (default: the embedded default DMC).")
@HAN_OPTION
@CAPTURE_OPTION
@ZEP_OPTION
@FAULT_OPTION
@KEYLOG_OPTION
def demo(installations: int, days: float, seed: int, out: Path, profile: str | None,
         han: str, capture: Path | None, zep: str | None, faults: tuple[str, ...],
         keylog: Path | None) -> None:
    """Run N installations of a DMC on the virtual clock, read by the SMSO head-end."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from harness.demo import DemoConfig, run_demo
    from harness.report import summary_table

    dmc = _dmc(profile)
    cfg = DemoConfig(installations=installations, days=days, seed=seed, out=out, dmc=dmc,
                     han="direct" if han == "direct" else "zigbee", capture=capture,
                     zep_to=parse_hostport(zep) if zep else None,
                     faults=[parse_fault(f) for f in faults], keylog=keylog)
    console = Console(stderr=False, width=None if sys.stdout.isatty() else 160)
    with Progress(TextColumn("[bold]simulating[/] {task.description}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task(f"{installations} × {dmc.name}, {days:g} days", total=1.0)

        def progress(elapsed: int, total: int) -> None:
            bar.update(task, completed=elapsed / total)

        summary = run_virtual(run_demo(cfg, progress), start=DEFAULT_START)
    console.print(summary_table(summary))
    console.print(f"trace: {out / 'trace.jsonl'} ({summary.trace_lines} lines)   "
                  f"summary: {out / 'summary.json'}")
    console.print(f"failed requests: {summary.errors_from_faults} explained by injected faults, "
                  f"{summary.unexplained_errors} not")
    if summary.unexplained_errors:
        _fail("demo", f"{summary.unexplained_errors} request(s) failed at installations with no "
              f"injected fault (see {out / 'summary.json'})", EXIT_RUN_FAILED)


# ---- migrate ------------------------------------------------------------------------------


def _migrate_help() -> str:
    from harness.migration import run as migration_run

    doc = migration_run.__doc__ or ""
    faults = doc[doc.index("Faults"):] if "Faults" in doc else ""
    return ("Migrate N emulated installations of GROUPID to the DCC on the virtual clock, week "
            "by week as the TMAD says (MGF, DCO validation, pre-flight MA112/GT01, key rotation, "
            "certificate swap, SIM move, rollback, exclusions). Writes the weekly MGFs and "
            "SCFs, exclusions/ per supplier, history.json, trace.jsonl and summary.json.\n\n\b\n"
            + faults)


@cli.command(help=_migrate_help())
@click.option("--group", "group_id", required=True, metavar="GROUPID",
              help="AA, BA, CA (IOC), CB (MOC MDS), DA (MOC Secure), EA, EB, EC (FOC).")
@click.option("--installations", "-n", type=click.IntRange(1, 100_000), default=20,
              show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="KIND[=VALUE]:SHARE, repeatable; SHARE is 10% or #3,#7 (see above).")
@click.option("--weeks", type=click.IntRange(1, 104), default=4, show_default=True,
              help="Weekly migration attempts.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              default=Path("out/migrate"), show_default=True)
@click.option("--tmad", default=None,
              help="TMAD version for clause numbers (various1-2021-11, various2-2022-03).")
@click.option("--han", type=click.Choice(["zigbee", "direct"]), default="direct",
              show_default=True, help="HAN inside each installation (zigbee costs ~20x).")
@click.option("--dmc", "dmc_name", default=None, metavar="DMC",
              help="DMC profile of the installations (default: ioc-credit for IOC GroupIDs, "
                   "default otherwise); e.g. ioc-credit-gas for IOC partial migration.")
def migrate(group_id: str, installations: int, seed: int, faults: tuple[str, ...], weeks: int,
            out: Path, tmad: str | None, han: str, dmc_name: str | None) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from harness.migration.run import MigrateConfig, parse_migration_fault, run_migration

    cfg = MigrateConfig(group_id=group_id.upper(), installations=installations, seed=seed,
                        weeks=weeks, faults=[parse_migration_fault(f) for f in faults],
                        out=out, tmad=tmad, han="zigbee" if han == "zigbee" else "direct",
                        dmc=dmc_name)
    console = Console(width=None if sys.stdout.isatty() else 140)
    with Progress(TextColumn("[bold]migrating[/] {task.description}"), BarColumn(),
                  TextColumn("week {task.completed:.0f}/{task.total:.0f}"), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task(f"{installations} installations of group {cfg.group_id}",
                            total=weeks)
        summary = run_virtual(run_migration(
            cfg, lambda done, total: bar.update(task, completed=done)), start=DEFAULT_START)
    table = Table(title=f"s1lab migrate: group {summary.group_id} ({summary.cohort}), "
                        f"{summary.installations} installations, {summary.weeks} weeks, "
                        f"TMAD {summary.tmad}, seed {summary.seed}")
    table.add_column("outcome")
    table.add_column("category")
    table.add_column("installations", justify="right")
    per: dict[tuple[str, str], int] = {}
    for row in summary.per_installation:
        key = (row.status, f"{row.category} ({row.clause})" if row.clause else row.category)
        per[key] = per.get(key, 0) + 1
    for (status, category), n in sorted(per.items()):
        table.add_row(status, category, str(n))
    console.print(table)
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary.failures_by_reason.items()))
    console.print(f"failed attempts by reason: {reasons or 'none'}; rollbacks: "
                  f"{summary.rollbacks}")
    console.print(f"files: {out}/ (mgf-week*.xml, scf-week*.xml, exclusions/, history.json, "
                  "trace.jsonl, summary.json)")
    console.print(f"failed attempts: {summary.failed_attempts_from_faults} at installations with "
                  f"injected faults, {summary.unexplained_failed_attempts} not")
    if summary.unexplained_failed_attempts:
        _fail("migrate", f"{summary.unexplained_failed_attempts} failed attempt(s) at "
              f"installations with no injected fault (see {out / 'summary.json'})",
              EXIT_RUN_FAILED)


# ---- pki ----------------------------------------------------------------------------------


@cli.group()
def pki() -> None:
    """Test PKI for the WAN: CAs, head-end and CHF certificates, keystore."""


@pki.command("init")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--chfs", type=click.IntRange(0, 100_000), default=1, show_default=True,
              help="CHF device certificates to mint.")
@click.option("--seed", type=int, default=None,
              help="Derive every key from this seed (reproducible; FOR TESTS ONLY: the seed "
                   "is the keys). Default: keys from the operating system.")
@click.option("--days", type=click.IntRange(1, 36_500), default=3650, show_default=True,
              help="Validity of every certificate.")
@click.option("--first-eui", default="00-1B-C5-0C-00-00-00-01", show_default=True,
              help="The first CHF's EUI-64 (the others count up): a fleet shard's slice.")
def pki_init(directory: Path, chfs: int, seed: int | None, days: int, first_eui: str) -> None:
    """Mint an SMSO CA, an S1SP (DCC) CA, head-end client certificates and CHF certificates."""
    async def now() -> int:
        return current_clock().now_us()

    folder = init_folder(directory, chfs, asyncio.run(now()), seed, days, first_eui)
    click.echo(f"wrote test PKI to {folder.directory}: SMSO CA, S1SP CA, device CA, "
               f"head-end certificates, {chfs} CHF certificate(s), keystore.json")
    for eui in folder.chf_euis()[:5]:
        click.echo(f"  CHF {eui}")


# ---- serve --------------------------------------------------------------------------------


@cli.command()
@click.option("--listen", "listen", metavar="HOST:PORT", help="Accept head-ends on this address.")
@click.option("--connect", "connect", metavar="HOST:PORT", help="Dial out to a head-end.")
@click.option("--pki", "pki_dir", required=True,
              type=click.Path(path_type=Path, file_okay=False), help="Folder from `pki init`.")
@click.option("--profile", default=None, help="DMC profile name or YAML file.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--chf", "chf_eui", default=None, help="Which CHF of the PKI folder (default: 1st).")
@click.option("--trace", "trace_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Write the trace (JSON lines) here.")
@HAN_OPTION
@CAPTURE_OPTION
@ZEP_OPTION
@FAULT_OPTION
@KEYLOG_OPTION
@click.option("--handshake-timeout", type=TIMEOUT, default=None,
              help="Seconds a TCP session may take to finish its TLS handshake "
                   "(default: the CHF profile's tls_handshake_timeout_s, 30).")
@click.option("--idle-timeout", type=TIMEOUT, default=None,
              help="Seconds of silence after which a session is closed "
                   "(default: the CHF profile's wan_idle_timeout_s, 900).")
@click.option("--radio", "radio_url", metavar="URL", default=None,
              help="Put the CHF's HAN on a radio (zep://HOST:PORT?peer=HOST:PORT, "
                   "spinel:///dev/ttyACM0, or a radio named in --lab); its meters are then "
                   "expected on the air.")
@click.option("--lab", "lab_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Lab file: radios by name, physical devices to whitelist.")
def serve(listen: str | None, connect: str | None, pki_dir: Path, profile: str | None,
          seed: int, chf_eui: str | None, trace_path: Path | None, han: str,
          capture: Path | None, zep: str | None, faults: tuple[str, ...],
          keylog: Path | None, handshake_timeout: float | None,
          idle_timeout: float | None, radio_url: str | None, lab_path: Path | None) -> None:
    """Run one emulated installation in real time; its CHF speaks mutual TLS over TCP."""
    from emulator.serve import serve as run_serve

    dmc = _dmc(profile)
    listen_at = parse_hostport(listen) if listen else None
    connect_to = parse_hostport(connect) if connect else None
    fault_list = [parse_fault(f) for f in faults]
    zep_to = parse_hostport(zep) if zep else None
    radio = None
    on_air = None
    if lab_path is not None and radio_url is None:
        _fail("serve", "--lab needs --radio (a URL or one of the lab's radio names)")
    if radio_url is not None:
        from hw.bench import physical_devices, radio_attacher
        from hw.lab import load_lab

        lab = load_lab(lab_path) if lab_path else None
        radio = radio_attacher(radio_url, lab=lab)
        on_air = physical_devices(lab) if lab is not None else None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sink = open_partial(trace_path) if trace_path else None  # renamed when serve stops
        stopped = False
        evidence = (CaptureDir(capture, zep_to=zep_to, keylog=keylog)
                    if capture is not None else None)
        cap = (evidence.han if evidence is not None
               else HanCapture(None, zep_to) if zep_to else None)
        try:
            await run_serve(pki_dir=pki_dir, dmc=dmc, seed=seed, stop=stop, listen=listen_at,
                            connect=connect_to, chf_eui=chf_eui, trace_sink=sink,
                            announce=lambda line: click.echo(line),
                            han="direct" if han == "direct" else "zigbee", capture=cap,
                            setup=lambda inst, sched: apply_faults(fault_list, [inst], sched),
                            wan_capture=evidence.wan if evidence else None,
                            keylog=evidence.keylog if evidence else keylog_path(keylog),
                            handshake_timeout_s=handshake_timeout, idle_timeout_s=idle_timeout,
                            radio=radio, on_air=on_air)
            stopped = True
        finally:
            if sink is not None and trace_path is not None:
                close_partial(sink, trace_path, complete=stopped)
            if evidence is not None:
                evidence.close()
            if cap is not None:
                cap.close()

    asyncio.run(main())
    click.echo("stopped")


# ---- headend ------------------------------------------------------------------------------


@cli.group()
def headend() -> None:
    """Play a head-end (SMSO or S1SP) against a CHF."""


@headend.command("read")
@click.option("--connect", "connect", metavar="HOST:PORT", help="The CHF's address.")
@click.option("--listen", "listen", metavar="HOST:PORT",
              help="Wait for a CHF to dial in here instead (serve --connect).")
@click.option("--pki", "pki_dir", required=True,
              type=click.Path(path_type=Path, file_okay=False), help="Folder from `pki init`.")
@click.option("--role", type=click.Choice(["smso", "s1sp"]), required=True)
@click.option("--device", default=None, help="Read only this device (EUI-64).")
@click.option("--timeout", type=TIMEOUT, default=30.0, show_default=True, help="Seconds.")
@WAN_CAPTURE_OPTION
@KEYLOG_OPTION
def headend_read(connect: str | None, listen: str | None, pki_dir: Path,
                 role: Literal["smso", "s1sp"], device: str | None, timeout: float,
                 capture: Path | None, keylog: Path | None) -> None:
    """Read a CHF's inventory, firmware versions and meter registers; print JSON."""
    from harness.read import read_chf

    evidence = CaptureDir(capture, han=False, keylog=keylog) if capture is not None else None
    try:
        result = asyncio.run(read_chf(
            pki_dir=pki_dir, role=role, device=device, timeout_s=timeout,
            connect_to=parse_hostport(connect) if connect else None,
            listen_on=parse_hostport(listen) if listen else None,
            keylog=evidence.keylog if evidence else keylog,
            wan_capture=evidence.wan if evidence else None,
        ))
    finally:
        if evidence is not None:
            evidence.close()
    click.echo(json.dumps(result, indent=2))


def _remote_evidence(capture: Path | None, keylog: Path | None) -> tuple[CaptureDir | None,
                                                                          Evidence]:
    from harness.remote_migration import Evidence

    evidence = CaptureDir(capture, han=False, keylog=keylog) if capture is not None else None
    if evidence is None:
        return None, Evidence(keylog)
    return evidence, Evidence(evidence.keylog, evidence.wan)


@headend.command("migrate")
@click.option("--connect", "connect", metavar="HOST:PORT", required=True, help="The CHF.")
@click.option("--pki", "pki_dir", required=True,
              type=click.Path(path_type=Path, file_okay=False), help="Folder from `pki init`.")
@click.option("--steps", default="rotate,swap", show_default=True,
              help="Comma-separated: rotate (keys, under the Master Key), swap (trust anchor "
                   "to the S1SP CA), sim (move the SIM to --apn).")
@click.option("--apn", default="dcc.smets1.example", show_default=True)
@click.option("--service-profile", default="DCC-SMETS1-CSP", show_default=True)
@click.option("--timeout", type=TIMEOUT, default=30.0, show_default=True, help="Seconds.")
@WAN_CAPTURE_OPTION
@KEYLOG_OPTION
def headend_migrate(connect: str, pki_dir: Path, steps: str, apn: str, service_profile: str,
                    timeout: float, capture: Path | None, keylog: Path | None) -> None:
    """As the S1SP: rotate the CHF's keys and swap its trust anchor (and move its SIM); the new
    S1SP keys go into the PKI folder's keystore. Prints the CHF's security state as JSON."""
    from harness.remote_migration import migrate_remote

    chosen = tuple(s.strip() for s in steps.split(",") if s.strip())
    bad = [s for s in chosen if s not in ("rotate", "swap", "sim")]
    if not chosen:
        raise click.BadParameter("no steps given (rotate, swap, sim)", param_hint="--steps")
    if bad:
        raise click.BadParameter(f"unknown step {bad[0]!r} (rotate, swap, sim)",
                                 param_hint="--steps")
    host, port = parse_hostport(connect)
    folder, evidence = _remote_evidence(capture, keylog)
    try:
        result = asyncio.run(migrate_remote(pki_dir=pki_dir, host=host, port=port,
                                            steps=chosen, apn=apn,  # type: ignore[arg-type]
                                            service_profile=service_profile, timeout_s=timeout,
                                            evidence=evidence))
    finally:
        if folder is not None:
            folder.close()
    click.echo(json.dumps(result, indent=2))


@headend.command("rollback")
@click.option("--connect", "connect", metavar="HOST:PORT", required=True, help="The CHF.")
@click.option("--pki", "pki_dir", required=True,
              type=click.Path(path_type=Path, file_okay=False), help="Folder from `pki init`.")
@click.option("--previous-apn", default="", help="PreviousAPN to restore (default: as before).")
@click.option("--service-profile", default="", help="ServiceProfile to restore.")
@click.option("--timeout", type=TIMEOUT, default=30.0, show_default=True, help="Seconds.")
@WAN_CAPTURE_OPTION
@KEYLOG_OPTION
def headend_rollback(connect: str, pki_dir: Path, previous_apn: str, service_profile: str,
                     timeout: float, capture: Path | None, keylog: Path | None) -> None:
    """Roll a CHF back to the SMSO: its keys, trust anchor and SIM (under the Master Key)."""
    from harness.remote_migration import rollback_remote

    host, port = parse_hostport(connect)
    folder, evidence = _remote_evidence(capture, keylog)
    try:
        result = asyncio.run(rollback_remote(pki_dir=pki_dir, host=host, port=port,
                                             apn=previous_apn, service_profile=service_profile,
                                             timeout_s=timeout, evidence=evidence))
    finally:
        if folder is not None:
            folder.close()
    click.echo(json.dumps(result, indent=2))


# ---- wireshark ----------------------------------------------------------------------------


@cli.group()
def wireshark() -> None:
    """Wireshark support: the dissector for WAN protocol v1."""


@wireshark.command("install")
@click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="Plugin folder (default: Wireshark's personal Lua plugins).")
def wireshark_install(directory: Path | None) -> None:
    """Copy the s1lab Lua dissector into Wireshark's personal plugin folder."""
    from harness.wireshark_install import install_dissector

    click.echo(f"installed {install_dissector(directory)}")


# ---- profiles -----------------------------------------------------------------------------


@cli.group()
def profiles() -> None:
    """Device model and DMC profiles."""


@profiles.command("list")
def profiles_list() -> None:
    """List the embedded DMC profiles."""
    from emulator.profiles import list_dmcs

    for name in list_dmcs():
        dmc = load_dmc(name)
        click.echo(f"{name:24} {dmc.group_id}  {dmc.description}")


@profiles.command("check")
@click.argument("paths", nargs=-1, required=True)
def profiles_check(paths: tuple[str, ...]) -> None:
    """Validate DMC profile files (or names); one line per problem."""
    for path in paths:
        dmc = load_dmc(path)
        click.echo(f"{path}: ok ({dmc.name}, group {dmc.group_id})")


cli.add_command(firmware)
headend.add_command(headend_firmware)
cli.add_command(run_command)  # s1lab run (harness/cli_run.py)
cli.add_command(campaign)  # s1lab campaign (harness/cli_campaign.py)
for _command in cli_hw.COMMANDS:  # bench commands for radios
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    command = "s1lab " + next((a for a in args if not a.startswith("-")), "")
    try:
        cli.main(args=args, prog_name="s1lab", standalone_mode=False)
    except click.exceptions.Abort:
        _fail(command.strip(), "aborted", 130)
    except click.ClickException as exc:
        _fail(command.strip(), exc.format_message() + " (see --help)")
    except S1labError as exc:
        _fail(command.strip(), str(exc))
    except OSError as exc:  # a folder or file the user named cannot be made or written
        where = exc.filename if exc.filename is not None else ""
        _fail(command.strip(), f"{where}: {exc.strerror or exc}" if where else str(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("S1LAB_DEBUG"):
            raise
        _fail(command.strip(), f"internal error: {type(exc).__name__}: {exc} "
              "(set S1LAB_DEBUG=1 for the traceback)", EXIT_INTERNAL)


