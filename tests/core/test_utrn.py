"""The UTRN code itself (the meter's use of it is in test_esme / test_prepayment)."""

from __future__ import annotations

import pytest

from emulator.core.utrn import UtrnRejected, check_utrn, generate_utrn
from emulator.wire.vocabulary import TopUpStatus

KEY = bytes(range(16))
EUI = "00-1B-C5-0C-00-00-00-01"


def test_round_trip() -> None:
    utrn = generate_utrn(KEY, EUI, 1, 1000)
    assert len(utrn) == 20 and utrn.isdigit()
    assert check_utrn(KEY, EUI, utrn) == (1, 1000)
    value = int(utrn)
    assert value >> 40 == 1 and (value >> 20) & 0xFFFFF == 1000


def test_vector_is_stable() -> None:
    # Pins the scheme: changing the MAC input or bit layout breaks harnesses built on it.
    assert generate_utrn(KEY, EUI, 1, 1000) == generate_utrn(KEY, "001BC50C00000001", 1, 1000)
    assert generate_utrn(KEY, EUI, 1, 1000) != generate_utrn(KEY, EUI, 2, 1000)


def test_largest_values_fit_twenty_digits() -> None:
    utrn = generate_utrn(KEY, EUI, (1 << 24) - 1, (1 << 20) - 1)
    assert len(utrn) == 20
    assert check_utrn(KEY, EUI, utrn) == ((1 << 24) - 1, (1 << 20) - 1)


@pytest.mark.parametrize(
    "text",
    ["1234", "1" * 21, "1234567890123456789a", "１" * 20, str(2**64), "99999999999999999999"],
)
def test_malformed(text: str) -> None:
    with pytest.raises(UtrnRejected) as info:
        check_utrn(KEY, EUI, text)
    assert info.value.status is TopUpStatus.MALFORMED


def test_wrong_key_or_meter_is_invalid() -> None:
    utrn = generate_utrn(KEY, EUI, 5, 500)
    for key, eui in ((bytes(16), EUI), (KEY, "00-1B-C5-0C-00-00-00-02")):
        with pytest.raises(UtrnRejected) as info:
            check_utrn(key, eui, utrn)
        assert info.value.status is TopUpStatus.INVALID


def test_generate_checks_ranges() -> None:
    with pytest.raises(ValueError):
        generate_utrn(KEY, EUI, 1 << 24, 1)
    with pytest.raises(ValueError):
        generate_utrn(KEY, EUI, 1, 1 << 20)
