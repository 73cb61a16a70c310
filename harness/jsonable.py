"""Turn decoded WAN bodies (dataclasses with enums and EUI bytes) into plain JSON values."""

from __future__ import annotations

import dataclasses
from enum import Enum

from emulator.wire.eui import eui_to_str


def jsonable(value: object) -> object:
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bytes):
        return eui_to_str(value) if len(value) == 8 else value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value
