"""The lab file: which radios a bench has and which physical devices are on them.

A YAML file (schema: ``docs/schemas/s1lab-lab.schema.json``, generated from the model below)::

    schema_version: 1
    name: bench-2                        # optional
    radios:
      chf-dongle:
        url: spinel:///dev/ttyACM0?baudrate=460800
        model: nRF52840 ot-rcp            # optional, for the record
      sniffer:
        url: zep://0.0.0.0:17754?peer=192.0.2.10:17754
        pan_id: 0x1A2B                    # optional: the PAN the emulated CHF forms here
    devices:
      - name: esme-lab-1
        type: ESME                        # ESME, GSME, PPMID, IHD, CHF
        eui: 00-0D-6F-00-0A-BC-DE-F0
        install_code: 83FED3407A939723A5C639B26916D505C3B5   # code + CRC, hex
        model: Acme E470
        radio: chf-dongle                 # the radio it is heard on (optional)

Install codes are checked (length and CRC) when the file loads, so a typo fails there and not
as a join that never completes. A test case names physical devices by ``name`` (its
``physical:`` mapping, or ``s1lab run --lab LAB --device esme=NAME``: the emulated CHF runs the
case with those devices on the radio, see :mod:`harness.scenario.bench`);
``s1lab serve --lab LAB --radio NAME`` takes the radio's URL from the file and whitelists the
physical meters on the emulated CHF with their install codes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from emulator.core.han_crypto import install_code_link_key
from emulator.errors import InstallCodeError, LabError, TransportError, WireError
from emulator.wire.eui import normalise
from hw.radio import open_radio

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "schemas" / "s1lab-lab.schema.json"
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabRadio(_Strict):
    url: str = Field(description="zep://HOST:PORT?peer=HOST:PORT or spinel:///dev/PATH")
    model: str = Field("", description="What the radio is (for the record).")
    pan_id: Annotated[int, Field(ge=0x0001, le=0xFFFE)] | None = Field(
        None, description="The PAN id the emulated CHF forms on this radio (default: its own, "
                          "seeded); set it so the physical devices know where to join.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            open_radio(value)  # parses only; opens nothing
        except TransportError as exc:
            raise ValueError(str(exc)) from exc
        return value


class LabDevice(_Strict):
    name: Name
    type: Literal["ESME", "GSME", "PPMID", "IHD", "CHF"]
    eui: str = Field(description="EUI-64, 00-0D-6F-... or 16 hex digits.")
    install_code: str = Field("", description="Install code with its CRC, hex (not for a CHF).")
    model: str = ""
    radio: Name | None = None

    @field_validator("eui")
    @classmethod
    def _eui(cls, value: str) -> str:
        try:
            return normalise(value)
        except WireError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("install_code")
    @classmethod
    def _code(cls, value: str) -> str:
        text = value.replace(" ", "").replace("-", "").upper()
        if not text:
            return text
        try:
            install_code_link_key(bytes.fromhex(text))
        except ValueError as exc:
            raise ValueError(f"install code is not hex: {exc}") from exc
        except InstallCodeError as exc:
            raise ValueError(str(exc)) from exc
        return text

    @property
    def link_key(self) -> bytes | None:
        return install_code_link_key(bytes.fromhex(self.install_code)) if self.install_code \
            else None


class Lab(_Strict):
    schema_version: Literal[1]
    name: str = ""
    radios: dict[Name, LabRadio] = Field(default_factory=dict)
    devices: list[LabDevice] = Field(default_factory=list)

    def radio(self, name: str) -> LabRadio:
        if name not in self.radios:
            known = ", ".join(sorted(self.radios)) or "none"
            raise LabError(f"no radio {name!r} in the lab file (it has: {known})")
        return self.radios[name]

    def device(self, name: str) -> LabDevice:
        for d in self.devices:
            if d.name == name:
                return d
        raise LabError(f"no device {name!r} in the lab file")

    def check(self, source: str) -> Lab:
        names = [d.name for d in self.devices]
        euis = [d.eui for d in self.devices]
        for what, values in (("device name", names), ("EUI-64", euis)):
            dup = sorted({v for v in values if values.count(v) > 1})
            if dup:
                raise LabError(f"{source}: {what} used twice: {', '.join(dup)}")
        for d in self.devices:
            if d.radio is not None and d.radio not in self.radios:
                raise LabError(f"{source}: device {d.name}: no radio {d.radio!r}")
            if d.type != "CHF" and not d.install_code:
                raise LabError(f"{source}: device {d.name}: a {d.type} needs its install_code")
        return self


def load_lab(path: Path) -> Lab:
    """Read and validate a lab file; any problem is one :class:`LabError` naming the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise LabError(f"{path}: not YAML: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise LabError(f"{path}: a lab file is a mapping (schema_version, radios, devices)")
    try:
        lab = Lab.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        raise LabError(f"{path}: {where}: {err['msg']}") from exc
    return lab.check(str(path))


def lab_schema() -> str:
    """The JSON schema of the lab file, as committed in docs/schemas/."""
    schema = Lab.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "s1lab lab file"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


__all__ = ["SCHEMA_PATH", "Lab", "LabDevice", "LabRadio", "lab_schema", "load_lab"]
