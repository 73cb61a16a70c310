"""Bench commands for radios: ``s1lab meters`` and ``s1lab rcp`` (``serve --radio`` is in
:mod:`harness.cli`). Both run on the real clock until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from emulator.outputs import close_partial, open_partial
from emulator.profiles import default_dmc, load_dmc


def _until_signalled(body: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await body(stop)

    asyncio.run(main())
    click.echo("stopped")


@click.command()
@click.option("--pki", "pki_dir", required=True,
              type=click.Path(path_type=Path, file_okay=False), help="Folder from `pki init`.")
@click.option("--installation", "chf_eui", default=None, metavar="ID",
              help="Whose meters: the CHF's EUI-64 as `serve --chf` takes it (default: 1st).")
@click.option("--radio", "radio_url", required=True, metavar="URL",
              help="zep://HOST:PORT?peer=HOST:PORT or spinel:///dev/PATH?baudrate=460800.")
@click.option("--profile", default=None, help="DMC profile name or YAML file (as serve's).")
@click.option("--seed", type=int, default=1, show_default=True, help="As serve's.")
@click.option("--trace", "trace_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Write the trace (JSON lines) here.")
@click.option("--pan", "pan_id", default=None, metavar="0xPPPP",
              help="Join this PAN (another coordinator's) instead of the served CHF's.")
@click.option("--only", "only", multiple=True,
              type=click.Choice(["esme", "gsme", "ppmid", "ihd"]),
              help="Run only these devices (repeatable).")
def meters(pki_dir: Path, chf_eui: str | None, radio_url: str, profile: str | None, seed: int,
           trace_path: Path | None, pan_id: str | None, only: tuple[str, ...]) -> None:
    """Run an installation's emulated meters on a radio; they join the CHF on the air with
    their install codes (`s1lab serve --radio`, or a physical CHF)."""
    from hw.bench import run_meters

    dmc = load_dmc(profile) if profile else default_dmc()
    pan = None
    if pan_id is not None:
        try:
            pan = int(pan_id, 0)
        except ValueError:
            pan = -1
        if not 0x0001 <= pan <= 0xFFFE:
            raise click.BadParameter(f"{pan_id!r} is not a PAN id (0x0001..0xFFFE)",
                                     param_hint="--pan")

    async def body(stop: asyncio.Event) -> None:
        sink = open_partial(trace_path) if trace_path else None  # renamed when meters stop
        stopped = False
        try:
            await run_meters(pki_dir=pki_dir, dmc=dmc, seed=seed, radio_url=radio_url,
                             stop=stop, chf_eui=chf_eui, trace_sink=sink,
                             announce=lambda line: click.echo(line), pan_id=pan, only=only)
            stopped = True
        finally:
            if sink is not None and trace_path is not None:
                close_partial(sink, trace_path, complete=stopped)

    _until_signalled(body)


@click.command()
@click.option("--serial", "serial_path", required=True, metavar="PATH",
              help="The serial port to answer on (one end of a socat pty pair, say).")
@click.option("--radio", "radio_url", required=True, metavar="URL",
              help="The medium behind the RCP: zep://HOST:PORT?peer=HOST:PORT.")
@click.option("--eui", default="00-1B-C5-0C-F0-00-00-01", show_default=True,
              help="The RCP's factory EUI-64 (HWADDR).")
@click.option("--baudrate", type=int, default=460800, show_default=True)
def rcp(serial_path: str, radio_url: str, eui: str, baudrate: int) -> None:
    """A virtual OpenThread RCP: the device side of Spinel on a serial port, with its radio
    on a medium. RCP hosts (s1lab's spinel:// radios, zigbee-herdsman's zoh) drive it."""
    from emulator.wire.eui import normalise
    from hw.radio import open_radio
    from hw.rcp import VirtualRcp

    radio = open_radio(radio_url)
    device = VirtualRcp(serial_path, radio, eui=normalise(eui), baudrate=baudrate)

    async def body(stop: asyncio.Event) -> None:
        await device.start()
        click.echo(f"virtual RCP on {serial_path}, radio {radio.url}")
        try:
            await stop.wait()
        finally:
            await device.close()

    _until_signalled(body)


@click.group()
def lab() -> None:
    """Lab files: the bench's radios and physical devices (hw/lab.py)."""


@lab.command("check")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
def lab_check(paths: tuple[Path, ...]) -> None:
    """Validate lab files (schema, EUI-64s, install-code CRCs, radio URLs)."""
    from hw.lab import load_lab

    for path in paths:
        loaded = load_lab(path)
        click.echo(f"{path}: ok ({len(loaded.radios)} radios, {len(loaded.devices)} devices)")


@lab.command("schema")
def lab_schema() -> None:
    """Print the lab file's JSON schema."""
    from hw.lab import lab_schema as schema

    click.echo(schema(), nl=False)


COMMANDS = (meters, rcp, lab)
