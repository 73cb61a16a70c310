"""``s1lab firmware`` (build and inspect OTA images) and ``s1lab headend firmware`` (send them)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import cast

import click

from emulator.core.ota_han import MAX_IMAGE
from emulator.drivers.tcp import parse_hostport
from emulator.errors import MalformedImage
from emulator.firmware import build_catalogue, catalogue, inspect_image
from emulator.wire.ota_image import parse_image
from harness.cli_types import TIMEOUT, WAIT
from harness.headend_firmware import ON_COMMAND, Action, Role, firmware_remote, refusal


@click.group()
def firmware() -> None:
    """Synthetic ZigBee OTA firmware images (firmware_images/)."""


@firmware.command("build")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              default=Path("firmware_images"), show_default=True,
              help="Folder for the images and manifest.json.")
@click.option("--catalogue", "catalogue_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="A catalogue YAML (default: the shipped one).")
def firmware_build(out: Path, catalogue_path: Path | None) -> None:
    """Rebuild the images of the catalogue reproducibly (same inputs, same bytes)."""
    rows = build_catalogue(out, catalogue(catalogue_path))
    for row in rows:
        click.echo(f"{row['file']}  {row['size']:>7} bytes  sha256 {row['sha256']}")
    click.echo(f"{len(rows)} images and {out / 'manifest.json'} written")


def _read_image(path: Path) -> bytes:
    """The file's bytes; a file larger than any image a CHF takes is refused unread."""
    size = path.stat().st_size
    if size > MAX_IMAGE:
        raise MalformedImage(f"{path}: {size} bytes, more than the {MAX_IMAGE} an OTA image "
                             "may have here (the CHF's limit)")
    return path.read_bytes()


@firmware.command("inspect")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--model", default=None,
              help="Also check the image is for this device model (profiles/devices name).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def firmware_inspect(file: Path, model: str | None, as_json: bool) -> None:
    """Every header field, the sub-elements, and whether the signature verifies.

    A file that does not parse, or whose verification fails, ends with one line naming what is
    wrong and exit status 2 (the fields of a file that parses are shown first)."""
    raw = _read_image(file)
    try:
        parse_image(raw)
    except MalformedImage as exc:
        raise MalformedImage(f"{file}: {exc}") from None
    info = inspect_image(raw, model)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            if key == "sub_elements":
                click.echo("sub_elements:")
                for e in value:
                    click.echo(f"  {e['tag']} {e['name']:<24} offset {e['offset']:>7}  "
                               f"length {e['length']:>7}  sha256 {e['sha256']}")
            else:
                click.echo(f"{key}: {'-' if value is None else value}")
    verdict = str(info["verification"])
    if verdict != "ok":
        raise MalformedImage(f"{file}: verification failed: {verdict.removeprefix('FAILED: ')}")


# ---- s1lab headend firmware ------------------------------------------------------------------

_CONNECT = click.option("--connect", "connect", metavar="HOST:PORT", required=True,
                        help="The CHF.")
_PKI = click.option("--pki", "pki_dir", required=True,
                    type=click.Path(path_type=Path, file_okay=False),
                    help="Folder from `pki init`.")
_ROLE = click.option("--role", type=click.Choice(["smso", "s1sp"]), default="smso",
                     show_default=True)
_DEVICE = click.option("--device", default=None,
                       help="The device's EUI-64 (default: the CHF's own firmware).")
_TIMEOUT = click.option("--timeout", type=TIMEOUT, default=30.0, show_default=True,
                        help="Seconds for the connection and each answer.")
_WAIT = click.option("--wait", "wait_s", type=WAIT, default=0.0,
                     help="Seconds to keep reading the transfer until it is final.")


def _when(text: str) -> int:
    """--activate: now (0), command (wait for `activate`), or ZigBee UTC seconds."""
    if text == "now":
        return 0
    if text == "command":
        return ON_COMMAND
    if text.isdigit():
        return int(text)
    raise click.BadParameter(f"{text!r}: now, command, or ZigBee UTC seconds",
                             param_hint="--activate")


def _run(action: Action, connect: str, pki_dir: Path, role: str, device: str | None, *,
         image: bytes = b"", activate_at: int = 0, wait_s: float = 0.0,
         timeout_s: float = 30.0) -> None:
    host, port = parse_hostport(connect)
    result = asyncio.run(firmware_remote(
        action=action, pki_dir=pki_dir, role=cast(Role, role), host=host, port=port,
        device=device, image=image, activate_at=activate_at, wait_s=wait_s,
        timeout_s=timeout_s))
    click.echo(json.dumps(result, indent=2))
    why = refusal(result) if action != "status" or wait_s > 0 else None
    if why is not None:  # the exchange went through; its outcome is a refusal
        click.echo(f"s1lab headend firmware {action}: error: {why}", err=True)
        sys.exit(1)


@click.group("firmware")
def headend_firmware() -> None:
    """Firmware upgrades over the WAN: send, status, activate, versions."""


@headend_firmware.command("send")
@_CONNECT
@_PKI
@_ROLE
@_DEVICE
@click.option("--image", "image_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--activate", "activate", default="now", show_default=True,
              help="now, command (wait for `activate`), or ZigBee UTC seconds.")
@_WAIT
@_TIMEOUT
def firmware_send(connect: str, pki_dir: Path, role: str, device: str | None, image_path: Path,
                  activate: str, wait_s: float, timeout: float) -> None:
    """Send an OTA image to the CHF and offer it to DEVICE; print the transfer as JSON.

    A transfer that ends REFUSED or FAILED (the device refused the image: wrong manufacturer,
    image type or hardware version, a failed verification, a refused downgrade) adds one line
    on stderr saying why, and exit status 1."""
    raw = _read_image(image_path)
    parse_image(raw)  # refuse a malformed file here, with the reason, before any traffic
    _run("send", connect, pki_dir, role, device, image=raw, activate_at=_when(activate),
         wait_s=wait_s, timeout_s=timeout)


@headend_firmware.command("status")
@_CONNECT
@_PKI
@_ROLE
@_DEVICE
@_WAIT
@_TIMEOUT
def firmware_status(connect: str, pki_dir: Path, role: str, device: str | None, wait_s: float,
                    timeout: float) -> None:
    """Read a device's transfer (and with --wait, until it is final; then REFUSED or FAILED
    exits 1 with one line saying why)."""
    _run("status", connect, pki_dir, role, device, wait_s=wait_s, timeout_s=timeout)


@headend_firmware.command("activate")
@_CONNECT
@_PKI
@_ROLE
@_DEVICE
@click.option("--at", "at", default="now", show_default=True, help="now or ZigBee UTC seconds.")
@_WAIT
@_TIMEOUT
def firmware_activate(connect: str, pki_dir: Path, role: str, device: str | None, at: str,
                      wait_s: float, timeout: float) -> None:
    """Activate the verified image on DEVICE (FAILED exits 1 with one line saying why)."""
    _run("activate", connect, pki_dir, role, device, activate_at=_when(at), wait_s=wait_s,
         timeout_s=timeout)


@headend_firmware.command("versions")
@_CONNECT
@_PKI
@_ROLE
@_TIMEOUT
def firmware_versions(connect: str, pki_dir: Path, role: str, timeout: float) -> None:
    """The firmware versions the CHF reports for itself and its devices."""
    _run("versions", connect, pki_dir, role, None, timeout_s=timeout)
