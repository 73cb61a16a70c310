"""``quick_init``: a frozen dataclass built through its slots behaves as the stock one does."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field

import pytest

from emulator.core.headend import Reply
from emulator.wire import wan
from emulator.wire.vocabulary import PaymentMode, SupplyState
from emulator.wire.wan_construct import quick_init


@dataclass(frozen=True, slots=True)
class Stock:
    a: int
    b: bytes
    c: tuple[int, ...] = (1, 2)
    d: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Quick:
    a: int
    b: bytes
    c: tuple[int, ...] = (1, 2)
    d: str | None = None


def _twin(q: Quick) -> Stock:
    return Stock(q.a, q.b, q.c, q.d)


def test_the_quick_init_is_installed_and_takes_the_same_arguments() -> None:
    assert Quick.__init__ is not Stock.__init__  # type: ignore[comparison-overlap]
    assert "_s_a" in Quick.__init__.__code__.co_freevars
    assert inspect.signature(Quick.__init__) == inspect.signature(Stock.__init__)
    assert Quick.__init__.__qualname__ == "Quick.__init__"


@pytest.mark.parametrize("args, kwargs", [
    ((1, b"x"), {}), ((1, b"x", (3,)), {}), ((1,), {"b": b"y", "d": "z"}),
    ((), {"a": 0, "b": b"", "c": (), "d": None}),
])
def test_values_defaults_repr_equality_and_hash_are_the_stock_ones(
        args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    q, s = Quick(*args, **kwargs), Stock(*args, **kwargs)  # type: ignore[arg-type]
    assert dataclasses.astuple(q) == dataclasses.astuple(s)
    assert repr(q).replace("Quick", "Stock") == repr(s)
    assert q == Quick(*args, **kwargs)  # type: ignore[arg-type]
    assert hash(q) == hash(Quick(*args, **kwargs))  # type: ignore[arg-type]
    assert q != s  # type: ignore[comparison-overlap]  # another class, as for any dataclass
    assert _twin(q) == s


def test_assignment_is_refused_replace_and_pickle_work() -> None:
    q = Quick(1, b"x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.a = 2  # type: ignore[misc]
    assert dataclasses.replace(q, a=5) == Quick(5, b"x")
    assert pickle.loads(pickle.dumps(q)) == q


@pytest.mark.parametrize("args, kwargs", [
    ((), {}), ((1, b"x", (), None, 9), {}), ((1, b"x"), {"e": 1}), ((1,), {"a": 1, "b": b""}),
])
def test_bad_calls_fail_as_the_stock_init_fails(args: tuple[object, ...],
                                                kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError) as stock:
        Stock(*args, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError) as quick:
        Quick(*args, **kwargs)  # type: ignore[arg-type]
    assert str(quick.value).replace("Quick", "Stock") == str(stock.value)


def test_classes_it_cannot_speed_up_are_left_as_they_are() -> None:
    @dataclass(frozen=True, slots=True)
    class WithFactory:
        a: list[int] = field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class WithPostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    for cls in (WithFactory, WithPostInit, NoSlots):
        init = cls.__init__
        assert quick_init(cls) is cls and cls.__init__ is init


def test_the_wan_classes_built_quickly_equal_their_fields() -> None:
    body = wan.EsmeInstantaneous(820891327, 306, (120, 186), 157, PaymentMode.PREPAYMENT, 2493,
                                 500, 0, False, SupplyState.ENABLED)
    assert dataclasses.asdict(body)["tou_wh"] == (120, 186)
    assert dataclasses.replace(body, demand_w=1).demand_w == 1
    header = wan.Header(1, 0x81, 5, bytes(8), 16, 1, 22)
    reply = Reply(5, header, body)
    assert reply.header.counter == 22 and reply.body is body
    assert wan.parse_frame(wan.seal(header, b"", b"k" * 16)).header == header
