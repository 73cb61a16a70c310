"""s1lab's Wireshark dissector for WAN protocol v1 (``s1lab.lua``), shipped as package data."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["DISSECTOR_NAME", "dissector_path"]

DISSECTOR_NAME = "s1lab.lua"


def dissector_path() -> Path:
    """Where the installed ``s1lab.lua`` is (a real file: s1lab installs unzipped)."""
    return Path(str(files(__package__).joinpath(DISSECTOR_NAME)))
