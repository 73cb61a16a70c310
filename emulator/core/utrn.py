"""s1lab's UTRN scheme: 20-digit top-up codes (SRV 2.2).

In SMETS1 the S1SP (before migration, the SMSO head-end) generates each Unique Transaction
Reference Number; the consumer only types or forwards it. GBCS's real PTUT encoding is not
public for SMETS1 vendors, so s1lab defines its own, documented here and nowhere else.

A UTRN carries one 64-bit value ``V``::

    V = counter << 40 | amount_pence << 20 | check

    counter       24 bits  strictly increasing per meter (the head-end's sequence for it)
    amount_pence  20 bits  credit to add, in pence (0 .. 1,048,575)
    check         20 bits  low 20 bits of AES-CMAC(prepayment_key, message), where
                           message = b"UTRN" + counter (3 bytes, big-endian)
                                     + amount_pence (3 bytes, big-endian)
                                     + the meter's EUI-64 as ASCII text in the canonical
                                       ``00-1B-C5-0C-00-00-00-01`` form

The text is ``str(V).zfill(20)``: always 20 decimal digits, since ``V < 2**64 < 10**20``.

:func:`check_utrn` decodes and verifies one text and raises :class:`UtrnRejected` with
``status`` MALFORMED (not exactly 20 ASCII digits, or a value of 2**64 or more) or INVALID
(the check does not match this key and meter). Replay (ALREADY_USED), lockout and maximum
credit are the meter's business (``emulator.core.prepayment``), not the code's.

Test vector (key ``bytes(range(16))``, EUI ``00-1B-C5-0C-00-00-00-01``, counter 1, 1000 p):
see ``tests/core/test_utrn.py``.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from emulator.errors import S1labError
from emulator.wire.eui import normalise
from emulator.wire.vocabulary import TopUpStatus

UTRN_DIGITS = 20
MAX_COUNTER = (1 << 24) - 1
MAX_AMOUNT_PENCE = (1 << 20) - 1
_CHECK_MASK = (1 << 20) - 1


class UtrnRejected(S1labError):
    """A UTRN that cannot be applied; ``status`` is MALFORMED or INVALID."""

    def __init__(self, status: TopUpStatus, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"{status.name}: {reason}")


def _check(key: bytes, eui: str, counter: int, amount_pence: int) -> int:
    mac = CMAC(algorithms.AES(key))
    mac.update(
        b"UTRN"
        + counter.to_bytes(3, "big")
        + amount_pence.to_bytes(3, "big")
        + normalise(eui).encode("ascii")
    )
    return int.from_bytes(mac.finalize(), "big") & _CHECK_MASK


def generate_utrn(key: bytes, eui: str, counter: int, amount_pence: int) -> str:
    """The 20-digit UTRN for ``amount_pence`` to the meter ``eui`` (head-end side)."""
    if not 0 <= counter <= MAX_COUNTER:
        raise ValueError(f"UTRN counter must be 0..{MAX_COUNTER}, got {counter}")
    if not 0 <= amount_pence <= MAX_AMOUNT_PENCE:
        raise ValueError(f"UTRN amount must be 0..{MAX_AMOUNT_PENCE} pence, got {amount_pence}")
    value = counter << 40 | amount_pence << 20 | _check(key, eui, counter, amount_pence)
    return str(value).zfill(UTRN_DIGITS)


def check_utrn(key: bytes, eui: str, utrn: str) -> tuple[int, int]:
    """``(counter, amount_pence)`` of a valid UTRN for this key and meter.

    Raises :class:`UtrnRejected` (MALFORMED or INVALID) otherwise.
    """
    if len(utrn) != UTRN_DIGITS or not (utrn.isascii() and utrn.isdigit()):
        raise UtrnRejected(TopUpStatus.MALFORMED, f"a UTRN is {UTRN_DIGITS} digits")
    value = int(utrn)
    if value >> 64:
        raise UtrnRejected(TopUpStatus.MALFORMED, "value is 2**64 or more")
    counter, amount, check = value >> 40, (value >> 20) & _CHECK_MASK, value & _CHECK_MASK
    if check != _check(key, eui, counter, amount):
        raise UtrnRejected(TopUpStatus.INVALID, "check value does not match this meter")
    return counter, amount
