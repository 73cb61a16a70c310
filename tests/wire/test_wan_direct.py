"""The direct form of fixed layouts (``wan_construct.Direct``) is the general path, faster.

Every payload with one: the same bytes from the same object, the same object from the same
bytes, and, for anything it does not take, None: the general path then raises as before."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.errors import MalformedFrame
from emulator.wire import wan
from emulator.wire.wan_construct import Codec
from tests.wire.test_wan import ESME_READING, RESPONSES

DIRECT = [(body, codec) for _, body, _, codec in RESPONSES if codec.direct is not None]


def test_the_readings_and_the_fixed_answers_have_a_direct_form() -> None:
    for codec in (wan._ESME, wan._GSME, wan._ESME_METERING, wan._GSME_METERING,
                  wan._PAYMENT_STATE, wan._TOP_UP_RESULT):
        assert codec.direct is not None
    assert {wan._ESME, wan._GSME, wan._PAYMENT_STATE} <= {c for _, c in DIRECT}
    assert wan._ERROR.direct is None  # a text field: not a fixed layout


def _general(codec: Codec, body: object) -> bytes:
    return codec.fast.build(codec.shape.encode(body, "payload"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("body, codec", DIRECT, ids=[type(b).__name__ for b, _ in DIRECT])
def test_bytes_and_objects_are_the_general_paths(body: object, codec: Codec) -> None:
    assert codec.direct is not None
    data = codec.direct.encode(body)
    assert data == _general(codec, body)
    assert data is not None
    back = codec.direct.decode(data)
    assert back == body == codec.shape.decode(codec.fast.parse(data), "payload")
    assert type(back) is type(body)


@settings(max_examples=200, deadline=None)
@given(registers=st.lists(st.integers(0, 2**64 - 1), max_size=12),
       meter_time=st.integers(0, 2**32 - 1), demand=st.integers(-(2**31), 2**31 - 1),
       balance=st.integers(-(2**63), 2**63 - 1), in_use=st.booleans())
def test_any_reading_round_trips_as_through_construct(
        registers: list[int], meter_time: int, demand: int, balance: int, in_use: bool) -> None:
    body = replace(ESME_READING, tou_wh=tuple(registers), meter_time=meter_time,
                   demand_w=demand, balance_pence=balance, emergency_credit_in_use=in_use)
    direct = wan._ESME.direct
    assert direct is not None
    data = direct.encode(body)
    assert data == _general(wan._ESME, body)
    assert data is not None and direct.decode(data) == body


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=120))
def test_bytes_it_does_not_take_fail_as_before(data: bytes) -> None:
    for codec in (wan._ESME, wan._GSME, wan._PAYMENT_STATE):
        direct = codec.direct
        assert direct is not None
        try:  # the general path: a bytearray takes no direct form
            expected: object = codec.decode(bytearray(data))
        except MalformedFrame as exc:
            expected = exc
        if isinstance(expected, MalformedFrame):
            try:
                got: object = direct.decode(data)
            except MalformedFrame as exc:  # a converter refused a value, as Shape does
                assert (exc.path, str(exc)) == (expected.path, str(expected))
            else:
                assert got is None
        else:
            assert direct.decode(data) == expected


@pytest.mark.parametrize("bad", [
    pytest.param({"demand_w": 2**31}, id="out of range"),
    pytest.param({"tou_wh": (1, -1)}, id="negative register"),
    pytest.param({"tou_wh": tuple(range(300))}, id="too many registers"),
    pytest.param({"payment_mode": 9}, id="not a payment mode"),
    pytest.param({"emergency_credit_in_use": 2}, id="not a boolean"),
])
def test_values_it_does_not_pack_are_worded_as_before(bad: dict[str, object]) -> None:
    body = replace(ESME_READING, **bad)  # type: ignore[arg-type]
    general = copy.copy(wan._ESME)
    general.direct = None  # the codec as it was before its direct form
    with pytest.raises(MalformedFrame) as before:
        general.encode(body)
    with pytest.raises(MalformedFrame) as err:
        wan._ESME.encode(body)
    assert (err.value.path, str(err.value)) == (before.value.path, str(before.value))


def test_another_class_goes_the_general_way() -> None:
    assert wan._ESME.direct is not None and wan._ESME.direct.encode(object()) is None
    with pytest.raises(Exception, match="expected a EsmeInstantaneous"):
        wan._ESME.encode(object())
