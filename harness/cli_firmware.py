"""``s1lab firmware``: build the synthetic OTA images and inspect any OTA upgrade file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from emulator.firmware import build_catalogue, catalogue, inspect_image
from emulator.wire.ota_image import parse_image


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


@firmware.command("inspect")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--model", default=None,
              help="Also check the image is for this device model (profiles/devices name).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def firmware_inspect(file: Path, model: str | None, as_json: bool) -> None:
    """Every header field, the sub-elements, and whether the signature verifies."""
    raw = file.read_bytes()
    parse_image(raw)  # a malformed file is one line naming what is wrong (MalformedImage)
    info = inspect_image(raw, model)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        if key == "sub_elements":
            click.echo("sub_elements:")
            for e in value:
                click.echo(f"  {e['tag']} {e['name']:<24} offset {e['offset']:>7}  "
                           f"length {e['length']:>7}  sha256 {e['sha256']}")
        else:
            click.echo(f"{key}: {'-' if value is None else value}")
