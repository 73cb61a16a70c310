"""Write a report file atomically (:func:`emulator.outputs.write_atomic`), as a ReportError.

A reader (a CI job, a browser, a campaign resumed after a kill) sees the old file or the new one,
never half of one.
"""

from __future__ import annotations

from pathlib import Path

from emulator import outputs
from emulator.errors import OutputError, ReportError


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path``, creating its folder; ReportError if it cannot."""
    try:
        return outputs.write_atomic(path, data)
    except OutputError as exc:
        raise ReportError(str(exc)) from None
