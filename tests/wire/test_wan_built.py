"""The direct forms a compiled build takes from ``emulator.wire.wan_direct_built`` (written by
scripts/compile_core.py from :func:`wan_construct.built_source`) answer as the exec'd ones.

In the pure tree the generated module is exec'd here from its text (so its factories are
checked as Python); on a build it is the compiled module, and every layout must come from it.
Either way each layout's generated form is run against its exec'd form on the test vectors,
on random and mutated payloads (malformed ones included) and on random objects: the same
object or bytes, the same None, the same error and wording."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.wire import wan, wan_construct
from emulator.wire.wan_construct import Codec, Direct

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "wan"
BUILT = importlib.util.find_spec("emulator.wire.wan_direct_built")
ON_A_BUILD = BUILT is not None and str(BUILT.origin).endswith(".so")


def _generated_forms() -> dict[str, Callable[..., Any]]:
    if wan_construct._BUILT:  # noqa: SLF001 - a build's compiled module
        return wan_construct._BUILT  # noqa: SLF001
    scope: dict[str, Any] = {}
    exec(compile(wan_construct.built_source(), "wan_direct_built.py", "exec"), scope)  # noqa: S102
    forms: dict[str, Callable[..., Any]] = scope["FORMS"]
    return forms


FORMS = _generated_forms()
CODECS = [c for c in vars(wan).values() if isinstance(c, Codec) and c.direct is not None]


def _pair(codec: Codec) -> tuple[Direct, Direct]:
    """(the exec'd form, the generated form) of ``codec``'s layout."""
    fields = codec.fmt.subcons[:-1]  # all but Terminated
    execd = Direct.of(codec.shape, codec.fixed, forms={})
    generated = Direct.of(codec.shape, wan_construct.Fixed.of(fields), forms=FORMS)
    assert execd is not None and generated is not None
    assert not execd.built and generated.built and execd.source == generated.source
    return execd, generated


PAIRS = {id(c): _pair(c) for c in CODECS}


def _outcome(f: Callable[[Any], object], arg: object) -> object:
    try:
        got = f(arg)
    except Exception as exc:  # noqa: BLE001 - compared, type and words
        return ("raised", type(exc), str(exc), getattr(exc, "path", None))
    return ("gave", type(got), got, repr(got))  # repr: True is not 1


def _same(codec: Codec, side: str, arg: object) -> None:
    execd, generated = PAIRS[id(codec)]
    assert _outcome(getattr(generated, side), arg) == _outcome(getattr(execd, side), arg)


def test_the_readings_layouts_are_generated() -> None:
    for codec in (wan._ESME, wan._GSME, wan._ESME_METERING, wan._GSME_METERING):
        assert codec in CODECS
    assert {c.direct.source for c in CODECS if c.direct is not None} <= set(FORMS)


@pytest.mark.skipif(not ON_A_BUILD, reason="not on a compiled build")
def test_on_a_build_every_layout_runs_compiled() -> None:
    assert all(c.direct is not None and c.direct.built for c in CODECS)
    assert wan._ESME.direct is not None
    assert type(wan._ESME.direct.decode).__module__ == "emulator.wire.wan_direct_built"


def _made_up(codec: Codec) -> bytes:
    """The first bytes of the form (lead byte, then n times 1 or 0) that ``codec`` takes."""
    execd = PAIRS[id(codec)][0]
    for lead, n, fill in itertools.product(range(256), range(64), (1, 0)):
        data = bytes((lead,)) + bytes((fill,)) * n
        with contextlib.suppress(Exception):
            if execd.decode(data) is not None:
                return data
    raise AssertionError(codec)


def _bodies(payloads: list[bytes]) -> Iterator[object]:
    for codec in CODECS:
        for data in payloads:
            with contextlib.suppress(Exception):
                body = PAIRS[id(codec)][0].decode(data)
                if body is not None:
                    yield body


# The payloads of the test vectors (docs/wan-protocol.md), one made up for each layout, and
# the bodies they decode to (test_wan.py's samples cannot be imported on a build: that
# module makes wrong-typed objects on purpose, which a compiled class refuses).
PAYLOADS = [
    *(frame[28:28 + int.from_bytes(frame[26:28], "big")]
      for frame in (bytes.fromhex(p.read_text(encoding="ascii"))
                    for p in sorted(VECTORS.glob("*.hex")))),
    *(_made_up(c) for c in CODECS),
]
BODIES = list(_bodies(PAYLOADS))
SAMPLES = {id(c): next(b for b in BODIES if type(b) is c.shape.cls) for c in CODECS}


@pytest.mark.parametrize("codec", CODECS, ids=[c.shape.cls.__name__ for c in CODECS])
def test_vectors_and_bodies_decode_and_encode_the_same(codec: Codec) -> None:
    for data in PAYLOADS:
        _same(codec, "decode", data)
    for body in BODIES:
        _same(codec, "encode", body)


def _mutations(data: bytes) -> Iterator[bytes]:
    """Every cut of ``data``, one byte more, and each byte set in turn to a few values (enum
    members and not, booleans and not, counts that do and do not fit)."""
    for n in range(len(data)):
        yield data[:n]
    yield data + b"\0"
    for i in range(len(data)):
        for value in (0, 1, 2, 3, 9, 0x7F, 0x80, 0xFF):
            yield data[:i] + bytes((value,)) + data[i + 1:]


@pytest.mark.parametrize("codec", CODECS, ids=[c.shape.cls.__name__ for c in CODECS])
def test_mutated_payloads_decode_the_same(codec: Codec) -> None:
    for data in PAYLOADS:
        for bad in _mutations(data):
            _same(codec, "decode", bad)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=80), which=st.integers(0, 10**6))
def test_random_payloads_decode_the_same(data: bytes, which: int) -> None:
    _same(CODECS[which % len(CODECS)], "decode", data)


_VALUES = st.one_of(
    st.integers(-(2**64), 2**65), st.integers(-3, 300), st.booleans(), st.none(),
    st.text(max_size=3), st.binary(max_size=3), st.floats(allow_nan=False),
    st.lists(st.integers(-1, 2**64), max_size=4).map(tuple),
    st.lists(st.integers(0, 2**64 - 1), max_size=300).map(tuple),
)


@settings(max_examples=400, deadline=None)
@given(which=st.integers(0, 10**6), field=st.integers(0, 10**6), value=_VALUES)
def test_random_objects_encode_the_same(which: int, field: int, value: object) -> None:
    codec = CODECS[which % len(CODECS)]
    body = SAMPLES[id(codec)]
    names = codec.shape.names
    _same(codec, "encode", object())
    try:
        bad = dataclasses.replace(body, **{names[field % len(names)]: value})  # type: ignore[type-var]
    except TypeError:  # on a build, the compiled class refuses a wrong-typed value itself
        return
    _same(codec, "encode", bad)
