"""The IPv4 addresses a synthesized WAN capture gives to CHFs and head-ends.

Stable: the same CHF (by EUI-64) and the same head-end (by name) get the same address in every
run. CHFs sit in 100.64.0.0/10, the carrier-grade NAT range a cellular modem is given; head-ends
in 192.0.2.0/24 (TEST-NET-1, documentation only), so nothing in a capture is a real host.
"""

from __future__ import annotations

import zlib

from emulator.wire.eui import eui_from_str

__all__ = ["CHF_PORT", "chf_address", "headend_address"]

#: The CHF's TLS port in synthesized flows (what `s1lab serve` listens on in the README).
CHF_PORT = 8443
_HEADENDS = {"headend": 1, "smso": 1, "s1sp": 2}


def chf_address(eui: str) -> bytes:
    """100.64.0.0/10 plus the low 22 bits of the EUI-64 (consecutive EUIs, distinct hosts)."""
    low = int.from_bytes(eui_from_str(eui), "big") & 0x3FFFFF
    return (0x64400000 | low).to_bytes(4, "big")


def headend_address(name: str) -> bytes:
    """192.0.2.1 for the SMSO, .2 for the S1SP, other names hashed into .16 to .254."""
    host = _HEADENDS.get(name.lower())
    if host is None:
        host = 16 + zlib.crc32(name.lower().encode()) % 239
    return bytes((192, 0, 2, host))
