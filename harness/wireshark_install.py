"""``s1lab wireshark install``: put the WAN dissector where Wireshark loads Lua plugins.

The folder is the one Wireshark itself reports (``tshark -G folders``, "Personal Lua
Plugins"), else its documented default, ``~/.local/lib/wireshark/plugins``. The copy is atomic:
a temporary file in the folder, renamed over any older ``s1lab.lua``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from emulator.errors import CaptureError
from wireshark import DISSECTOR_NAME, dissector_path

__all__ = ["install_dissector", "personal_lua_plugins"]

_LABEL = "Personal Lua Plugins:"


def personal_lua_plugins() -> Path:
    """Wireshark's personal Lua plugin folder."""
    tshark = shutil.which("tshark")
    if tshark is not None:
        try:
            out = subprocess.run([tshark, "-G", "folders"], capture_output=True, text=True,
                                 timeout=60, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        for line in out.splitlines():
            if line.startswith(_LABEL):
                return Path(line[len(_LABEL):].strip())
    return Path.home() / ".local" / "lib" / "wireshark" / "plugins"


def install_dissector(directory: Path | None = None) -> Path:
    """Copy ``s1lab.lua`` into ``directory`` (default: :func:`personal_lua_plugins`)."""
    folder = directory if directory is not None else personal_lua_plugins()
    source = dissector_path()
    if not source.is_file():
        raise CaptureError(f"{source}: the shipped dissector is missing (reinstall s1lab)")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / DISSECTOR_NAME
    fd, tmp = tempfile.mkstemp(prefix=f".{DISSECTOR_NAME}-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(source.read_bytes())
        Path(tmp).chmod(0o644)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
