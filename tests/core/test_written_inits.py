"""The frozen dataclasses made on every fire or read carry an ``__init__`` written out (a
compiled build runs it natively; the generated one stays interpreted): each must take exactly
the dataclass's fields, in order, with their defaults, store each one, and leave the class a
frozen value as the generated one would. On a build the two marker tests are skipped: a
compiled ``__init__`` shows no signature and refuses the markers' type (tests/compiled checks
a build's behaviour whole)."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from emulator.core.chf.auth import Authenticated
from emulator.core.esme import EsmeReading
from emulator.core.gsme import GsmeReading
from emulator.core.prepayment import PaymentSnapshot
from emulator.wire import wan

ON_A_BUILD = not inspect.isfunction(PaymentSnapshot.__init__)
on_the_pure_tree = pytest.mark.skipif(ON_A_BUILD, reason="a compiled __init__")

WRITTEN = [PaymentSnapshot, GsmeReading, EsmeReading, Authenticated, wan.Header, wan.Frame,
           wan.EsmeInstantaneous, wan.GsmeInstantaneous, wan.EsmeMetering, wan.GsmeMetering,
           wan.PaymentState, wan.ErrorPayload]


def _sample(cls: type[Any]) -> list[object]:
    """A distinct marker object per field: whatever is stored where shows."""
    return [object() for _ in dataclasses.fields(cls)]


@on_the_pure_tree
@pytest.mark.parametrize("cls", WRITTEN, ids=lambda c: c.__name__)
def test_the_written_init_takes_the_fields_in_order_with_their_defaults(cls: type[Any]) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        want = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        assert p.default == want, f.name
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


@on_the_pure_tree
@pytest.mark.parametrize("cls", WRITTEN, ids=lambda c: c.__name__)
def test_the_written_init_stores_each_field_and_the_value_stays_frozen(cls: type[Any]) -> None:
    values = _sample(cls)
    obj = cls(*values)
    names = [f.name for f in dataclasses.fields(cls)]
    assert [getattr(obj, n) for n in names] == values
    assert obj == cls(**dict(zip(names, values, strict=True)))
    assert obj != cls(*_sample(cls))
    assert repr(obj).startswith(f"{cls.__name__}({names[0]}=")
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, names[0], 1)
    other = dataclasses.replace(obj, **{names[-1]: values[0]})
    assert getattr(other, names[-1]) is values[0] and getattr(other, names[0]) is values[0]


def test_a_reading_as_the_codec_makes_it_is_a_hashable_value() -> None:
    body = wan.EsmeInstantaneous(820891327, 306, (120, 186), 157, wan.PaymentMode.PREPAYMENT,
                                 2493, 500, 0, False, wan.SupplyState.ENABLED)
    read = wan.MessageType.READ_INSTANTANEOUS
    again = wan.decode_response(read | wan.RESPONSE_BIT, wan.encode_response(read, body))
    assert again == body and hash(again) == hash(body)
    assert dataclasses.asdict(body)["tou_wh"] == (120, 186)
    assert wan.ErrorPayload(wan.ErrorCode.MALFORMED, 3).detail == ""
