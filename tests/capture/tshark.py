"""Running tshark with s1lab's shipped dissector, and reading its PDML, for the capture tests."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wireshark import dissector_path


def tshark_path() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.fail("tshark is missing: run scripts/setup.sh (make test does)")
    return path


def tshark(capture: Path, *args: str, dissector: bool = True) -> str:
    """tshark's stdout on ``capture``; only the shipped dissector added (no profile, no keys
    but what the file holds and ``args`` give)."""
    lua = ["-X", f"lua_script:{dissector_path()}"] if dissector else []
    done = subprocess.run([tshark_path(), *lua, "-r", str(capture), *args],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "Lua: Error" not in done.stderr, done.stderr
    return done.stdout


@dataclass
class Packet:
    number: int
    time_us: int
    fields: list[tuple[str, str]] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.fields if n == name]


def pdml(capture: Path, display_filter: str, *args: str,
         prefixes: tuple[str, ...] = ("s1lab.",)) -> list[Packet]:
    """Packets matching ``display_filter``, with the fields whose names start with
    ``prefixes`` in tree order (name, ``show`` value)."""
    root = ET.fromstring(tshark(capture, "-Y", display_filter, "-T", "pdml", *args))
    packets = []
    for node in root.iter("packet"):
        number = time_us = 0
        fields: list[tuple[str, str]] = []
        for f in node.iter("field"):
            name = f.get("name", "")
            if name == "frame.number":
                number = int(f.get("show", "0"))
            elif name == "frame.time_epoch":
                seconds, _, frac = f.get("show", "0").partition(".")
                time_us = int(seconds) * 1_000_000 + int((frac + "000000")[:6])
            elif name.startswith(prefixes):
                fields.append((name, f.get("show", "")))
        packets.append(Packet(number, time_us, fields))
    return packets
