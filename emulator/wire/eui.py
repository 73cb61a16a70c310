"""EUI-64 device identities: 8 bytes on the wire, ``00-1B-C5-0C-00-00-00-01`` as text (DUIS)."""

from __future__ import annotations

import re
from functools import lru_cache

from emulator.errors import WireError

_TEXT = re.compile(r"^[0-9A-Fa-f]{2}([-:]?[0-9A-Fa-f]{2}){7}$")


def eui_to_str(eui: bytes) -> str:
    if len(eui) != 8:
        raise WireError(f"an EUI-64 is 8 bytes, got {len(eui)}")
    return bytes(eui).hex("-").upper()


def eui_from_str(text: str) -> bytes:
    """Accepts ``00-1B-...``, ``00:1B:...`` or 16 bare hex digits."""
    stripped = text.strip()
    if not _TEXT.match(stripped):
        raise WireError(f"not an EUI-64: {text!r} (expected 8 hex bytes: 00-1B-C5-0C-00-00-00-01)")
    return bytes.fromhex(stripped.replace("-", "").replace(":", ""))


@lru_cache(maxsize=4096)  # a head-end names the same few thousand devices on every command
def normalise(text: str) -> str:
    """Any accepted spelling to the canonical ``00-1B-C5-...`` form."""
    return eui_to_str(eui_from_str(text))
