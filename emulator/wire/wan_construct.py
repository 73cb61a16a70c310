"""The construct building blocks of the WAN protocol (emulator.wire.wan): length-checked byte
fields, counted lists whose paths name the item, and the mapping of frozen dataclasses to
construct containers (:class:`Shape`, :class:`Codec`).

The message declarations live in :mod:`emulator.wire.wan`; nothing here knows a message type.
Every decode or encode failure becomes :class:`~emulator.errors.MalformedFrame` with a path.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import struct
from collections.abc import Callable, Mapping, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from construct import (
    Const,
    Construct,
    ConstructError,
    FormatField,
    ListContainer,
    Renamed,
    SizeofError,
    StreamError,
    StringError,
    Struct,
    Terminated,
    TerminatedError,
)

from emulator.errors import LocalProtocolError, MalformedFrame
from emulator.wire.codec_errors import CODEC_ERRORS, FAST_PATH_ERRORS

__all__ = [
    "BOOL",
    "EUI",
    "INTS",
    "UTF8",
    "Blob16",
    "Codec",
    "Conv",
    "Counted",
    "Exact",
    "Fixed",
    "Prefixed",
    "Shape",
    "Utf8",
    "build_with",
    "items",
    "lenient_enum",
    "parse_with",
    "strict_enum",
]

# ---- construct building blocks ------------------------------------------------------------
#
# construct's compiled Bytes and PascalString read with a bare ``io.read(n)`` and so accept short
# data silently, and its compiled Bytes writes objects of any length. Exact, Prefixed and Utf8
# check lengths in both the declarative and the compiled form; Counted puts item indexes in paths.

_HELPERS = """
    def s1lab_read(io, n):
        data = io.read(n)
        if len(data) != n:
            raise StreamError("expected %d bytes, found %d" % (n, len(data)))
        return data
    def s1lab_write(io, obj, n):
        if not isinstance(obj, bytes) or len(obj) != n:
            raise StreamError("expected %d bytes" % (n,))
        io.write(obj)
        return obj
    def s1lab_read_prefixed(io):
        n = io.read(1)
        if len(n) != 1:
            raise StreamError("missing length")
        return s1lab_read(io, n[0])
    def s1lab_write_prefixed(io, obj):
        if not isinstance(obj, bytes) or len(obj) > 255:
            raise StreamError("expected at most 255 bytes")
        io.write(bytes((len(obj),)) + obj)
        return obj
    def s1lab_read_utf8(io):
        n = io.read(1)
        if len(n) != 1:
            raise StreamError("missing length")
        return s1lab_read(io, n[0]).decode("utf-8")
    def s1lab_write_utf8(io, obj):
        if not isinstance(obj, str):
            raise StringError("expected str")
        data = obj.encode("utf-8")
        if len(data) > 255:
            raise StringError("longer than 255 bytes")
        io.write(bytes((len(data),)) + data)
        return obj
"""


if TYPE_CHECKING:
    _Base = Construct[Any, Any]
else:
    _Base = Construct  # construct's classes are generic only in the stubs


def _helpers(code: Any) -> None:
    if not getattr(code, "s1lab_helpers", False):
        code.append(_HELPERS)
        code.s1lab_helpers = True


def _read(stream: Any, n: int, path: str) -> bytes:
    data: bytes = stream.read(n)
    if len(data) != n:
        raise StreamError(f"expected {n} bytes, found {len(data)}", path=path)
    return data


class Exact(_Base):
    """Exactly ``length`` bytes (an int or a context expression such as ``this.length``)."""

    def __init__(self, length: Any) -> None:
        super().__init__()
        self.length = length

    def _n(self, context: Any) -> int:
        n = self.length(context) if callable(self.length) else self.length
        return int(n)

    def _parse(self, stream: Any, context: Any, path: str) -> bytes:
        return _read(stream, self._n(context), path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        n = self._n(context)
        if not isinstance(obj, bytes) or len(obj) != n:
            raise StreamError(f"expected {n} bytes, got {obj!r}", path=path)
        stream.write(obj)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        return self._n(context)

    def _emitparse(self, code: Any) -> str:
        _helpers(code)
        return f"s1lab_read(io, {self.length!r})"

    def _emitbuild(self, code: Any) -> str:
        _helpers(code)
        return f"s1lab_write(io, obj, {self.length!r})"


class Prefixed(_Base):
    """Bytes after a u8 byte count."""

    def _parse(self, stream: Any, context: Any, path: str) -> bytes:
        n = _read(stream, 1, path)[0]
        return _read(stream, n, path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if not isinstance(obj, bytes) or len(obj) > 255:
            raise StreamError(f"expected at most 255 bytes, got {obj!r}", path=path)
        stream.write(bytes((len(obj),)) + obj)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("variable size", path=path)

    def _emitparse(self, code: Any) -> str:
        _helpers(code)
        return "s1lab_read_prefixed(io)"

    def _emitbuild(self, code: Any) -> str:
        _helpers(code)
        return "s1lab_write_prefixed(io, obj)"


class Blob16(_Base):
    """Bytes after a u16 (big-endian) byte count, at most ``max_size`` of them: certificates."""

    def __init__(self, max_size: int) -> None:
        super().__init__()
        self.max_size = max_size

    def _parse(self, stream: Any, context: Any, path: str) -> bytes:
        head = _read(stream, 2, path)
        return _read(stream, int.from_bytes(head, "big"), path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if not isinstance(obj, bytes) or len(obj) > self.max_size:
            raise StreamError(f"expected at most {self.max_size} bytes", path=path)
        stream.write(len(obj).to_bytes(2, "big") + obj)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("variable size", path=path)

    def _emitparse(self, code: Any) -> str:
        _helpers(code)
        return "s1lab_read(io, int.from_bytes(s1lab_read(io, 2), 'big'))"

    def _emitbuild(self, code: Any) -> str:
        _helpers(code)
        return ("(io.write(len(obj).to_bytes(2, 'big')), s1lab_write(io, obj, len(obj)))[1] "
                f"if isinstance(obj, bytes) and len(obj) <= {self.max_size} "
                "else s1lab_write(io, obj, -1)")


class Utf8(_Base):
    """UTF-8 text after a u8 byte count."""

    def _parse(self, stream: Any, context: Any, path: str) -> str:
        n = _read(stream, 1, path)[0]
        try:
            return _read(stream, n, path).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StringError(f"not UTF-8: {exc.reason}", path=path) from None

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if not isinstance(obj, str):
            raise StringError(f"expected str, got {obj!r}", path=path)
        data = obj.encode("utf-8")
        if len(data) > 255:
            raise StringError(f"{len(data)} bytes of UTF-8, at most 255 fit", path=path)
        stream.write(bytes((len(data),)) + data)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("variable size", path=path)

    def _emitparse(self, code: Any) -> str:
        _helpers(code)
        return "s1lab_read_utf8(io)"

    def _emitbuild(self, code: Any) -> str:
        _helpers(code)
        return "s1lab_write_utf8(io, obj)"


class Counted(_Base):
    """A count field then that many items; paths name the item (``entries[3]``)."""

    def __init__(self, count: Construct[int, int], item: Construct[Any, Any]) -> None:
        super().__init__()
        self.count = count
        self.item = item

    def _parse(self, stream: Any, context: Any, path: str) -> ListContainer[Any]:
        n = self.count._parsereport(stream, context, path)
        return ListContainer(
            self.item._parsereport(stream, context, f"{path}[{i}]") for i in range(n)
        )

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        self.count._build(len(obj), stream, context, path)
        for i, item in enumerate(obj):
            self.item._build(item, stream, context, f"{path}[{i}]")
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("variable size", path=path)

    def _emitparse(self, code: Any) -> str:
        count = self.count._compileparse(code)  # type: ignore[attr-defined]
        item = self.item._compileparse(code)  # type: ignore[attr-defined]
        return f"ListContainer(({item}) for _ in range({count}))"

    def _emitbuild(self, code: Any) -> str:
        count = self.count._compilebuild(code)  # type: ignore[attr-defined]
        item = self.item._compilebuild(code)  # type: ignore[attr-defined]
        return (
            f"(reuse(len(obj), lambda obj: {count}), "
            f"[reuse(e, lambda obj: {item}) for e in obj], obj)[2]"
        )


EUI = Exact(8)
UTF8 = Utf8()



def _where(prefix: str, exc: ConstructError) -> tuple[str, str]:
    """Construct's message and "(parsing) -> a[1] -> b" path as ("msg", "prefix.a[1].b");
    bytes left over after the last field are reported at ``prefix.end``."""
    message = str(exc).split("\n", 1)[-1] or type(exc).__name__
    parts = [p for p in (exc.path or "").split(" -> ")[1:] if p]
    if isinstance(exc, TerminatedError):
        message, parts = "bytes after the last field", [*parts, "end"]
    return message, ".".join([prefix, *parts])


def parse_with(
    fast: Construct[Any, Any], slow: Construct[Any, Any], data: bytes, where: str
) -> Any:
    """Parse with the compiled form; on failure re-run the declaration for a precise path."""
    try:
        return fast.parse(data)
    except CODEC_ERRORS:
        pass
    try:
        slow.parse(data)
    except ConstructError as exc:
        raise MalformedFrame(*_where(where, exc)) from None
    except CODEC_ERRORS as exc:
        raise MalformedFrame(str(exc), where) from None
    raise MalformedFrame("does not decode", where)  # pragma: no cover - forms disagree


def build_with(fast: Construct[Any, Any], slow: Construct[Any, Any], obj: Any, where: str) -> bytes:
    try:
        return fast.build(obj)
    except CODEC_ERRORS:
        pass
    try:
        slow.build(obj)
    except ConstructError as exc:
        raise MalformedFrame(*_where(where, exc)) from None
    except CODEC_ERRORS as exc:
        raise MalformedFrame(str(exc), where) from None
    raise MalformedFrame("does not encode", where)  # pragma: no cover - forms disagree


# ---- dataclass <-> construct containers ----------------------------------------------------
#
# A field converter takes (value, path) and returns the converted value; ``dec`` runs on parsed
# values, ``enc`` on dataclass values before building.

Conv = Callable[[Any, str], Any]


def strict_enum(enum: type[IntEnum]) -> tuple[Conv, Conv]:
    members = enum._value2member_map_  # what ``enum(v)`` looks up first

    def dec(v: Any, path: str) -> Any:
        member = members.get(v) if isinstance(v, int) else None
        if member is not None:
            return member
        try:
            return enum(v)
        except ValueError:
            raise MalformedFrame(f"{v} is not a {enum.__name__}", path) from None

    _INLINE[dec] = (("t = {x}.get({v}) if isinstance({v}, int) else None",
                     "{v} = {f}({v}, {w}) if t is None else t"), members)
    return dec, dec


def lenient_enum(enum: type[IntEnum]) -> tuple[Conv, Conv]:
    def dec(v: Any, path: str) -> Any:
        try:
            return enum(v)
        except ValueError:
            return v

    return dec, lambda v, path: v


def _dec_bool(v: Any, path: str) -> bool:
    if v not in (0, 1):
        raise MalformedFrame(f"{v} is not a boolean (0 or 1)", path)
    return bool(v)


def _enc_bool(v: Any, path: str) -> int:
    if not isinstance(v, bool | int) or v not in (0, 1):
        raise MalformedFrame(f"{v!r} is not a boolean", path)
    return int(v)



def _dec_ints(v: Any, path: str) -> tuple[Any, ...]:
    return tuple(v)


def _enc_ints(v: Any, path: str) -> list[Any]:
    return list(v)


BOOL = (_dec_bool, _enc_bool)
INTS: tuple[Conv, Conv] = (_dec_ints, _enc_ints)

#: Converters the direct form (:class:`Direct`) writes out in place of a call: lines of
#: source ({v} the value, {f} the converter, {w} its path, {x} the table given) doing what
#: the call does, and calling it for anything else, so that it raises as before.
_INLINE: dict[Conv, tuple[tuple[str, ...], Any]] = {
    _dec_bool: (("{v} = bool({v}) if {v} == 0 or {v} == 1 else {f}({v}, {w})",), None),
    _enc_bool: (("{v} = int({v}) if isinstance({v}, int) and ({v} == 0 or {v} == 1) "
                 "else {f}({v}, {w})",), None),
    _dec_ints: (("{v} = tuple({v})",), None),
    _enc_ints: (("{v} = list({v})",), None),
}


class Shape:
    """How one dataclass maps to a construct container, field by field."""

    def __init__(
        self,
        cls: type,
        *,
        check: Callable[[Any, str], None] | None = None,
        **convs: tuple[Conv, Conv],
    ) -> None:
        self.cls = cls
        self.names = tuple(f.name for f in dataclasses.fields(cls))
        self.convs = convs
        self.check = check  # rules across fields: (dataclass, path), after the converters
        # (name, converter pair or None, the field's path) per field, per path prefix seen
        self._plans: dict[str, tuple[tuple[str, tuple[Conv, Conv] | None, str], ...]] = {}

    def _plan(self, path: str) -> tuple[tuple[str, tuple[Conv, Conv] | None, str], ...]:
        plan = self._plans.get(path)
        if plan is None:
            plan = tuple((name, self.convs.get(name), f"{path}.{name}") for name in self.names)
            if len(self._plans) < _PLANS_KEPT:  # list items have a path each: keep a few
                self._plans[path] = plan
        return plan

    def decode(self, c: Mapping[str, Any], path: str) -> Any:
        kw = {}
        for name, conv, where in self._plan(path):
            kw[name] = c[name] if conv is None else conv[0](c[name], where)
        obj = self.cls(**kw)
        if self.check is not None:
            self.check(obj, path)
        return obj

    def encode(self, obj: Any, path: str) -> dict[str, Any]:
        if not isinstance(obj, self.cls):
            raise LocalProtocolError(
                f"{path}: expected a {self.cls.__name__}, got {type(obj).__name__}"
            )
        out = {}
        for name, conv, where in self._plan(path):
            v = getattr(obj, name)
            out[name] = v if conv is None else conv[1](v, where)
        if self.check is not None:
            self.check(obj, path)
        return out


_PLANS_KEPT = 16


def items(shape: Shape) -> tuple[Conv, Conv]:
    def dec(v: Any, path: str) -> Any:
        return tuple(shape.decode(c, f"{path}[{i}]") for i, c in enumerate(v))

    def enc(v: Any, path: str) -> Any:
        return [shape.encode(e, f"{path}[{i}]") for i, e in enumerate(v)]

    return dec, enc


# ---- construction of frozen dataclasses ------------------------------------------------------




# ---- fixed layouts -------------------------------------------------------------------------
#
# Most payloads are integer fields, some around one counted list of integers. For those,
# :class:`Fixed` packs and unpacks with ``struct`` directly, the very bytes and values the
# compiled construct gives (its integer fields are the same ``struct`` formats) at a fraction
# of its cost. It answers None (or raises a FAST_PATH_ERRORS) for anything it does not
# accept, and construct then decides and words the error: failures never differ.

_Field = tuple[str, str, int | None]  # (name, struct format character, Const value or None)


def _field(sc: Construct[Any, Any]) -> _Field | None:
    if not isinstance(sc, Renamed) or sc.name is None:
        return None
    inner: Any = sc.subcon
    const = None
    if isinstance(inner, Const):
        const = getattr(inner, "value", None)
        inner = inner.subcon
        if not isinstance(const, int):
            return None
    if not isinstance(inner, FormatField) or inner.fmtstr[0] != ">":
        return None
    return sc.name, inner.fmtstr[1:], const


class Fixed:
    """A payload's integer fields, at most one ``Counted`` list of integers among them."""

    __slots__ = ("_count", "_head", "_item", "_list", "_tail")

    def __init__(self, head: Sequence[_Field], counted: tuple[str, str, str] | None,
                 tail: Sequence[_Field]) -> None:
        self._head = (struct.Struct(">" + "".join(f[1] for f in head)), tuple(head))
        self._tail = (struct.Struct(">" + "".join(f[1] for f in tail)), tuple(tail))
        self._list = None if counted is None else counted[0]
        self._count = None if counted is None else struct.Struct(">" + counted[1])
        self._item = None if counted is None else struct.Struct(">" + counted[2])

    @classmethod
    def of(cls, fields: Sequence[Construct[Any, Any]]) -> Fixed | None:
        """The fixed layout of ``fields``, or None when they are not one."""
        head: list[_Field] = []
        tail: list[_Field] = []
        counted: tuple[str, str, str] | None = None
        for sc in fields:
            field = _field(sc)
            if field is not None:
                (head if counted is None else tail).append(field)
                continue
            inner = sc.subcon if isinstance(sc, Renamed) else None
            if (counted is not None or sc.name is None or not isinstance(inner, Counted)
                    or not isinstance(inner.count, FormatField)
                    or not isinstance(inner.item, FormatField)):
                return None
            counted = (sc.name, inner.count.fmtstr[1:], inner.item.fmtstr[1:])
        return cls(head, counted, tail)

    @staticmethod
    def _unpack(layout: tuple[struct.Struct, tuple[_Field, ...]], data: bytes, pos: int,
                out: dict[str, Any]) -> bool:
        fmt, fields = layout
        for (name, _, const), v in zip(fields, fmt.unpack_from(data, pos), strict=True):
            if const is not None:
                if v != const:
                    return False
            else:
                out[name] = v
        return True

    def decode(self, data: bytes) -> dict[str, Any] | None:
        """The field values (the list as a list), or None if ``data`` is not exactly one."""
        head, tail = self._head[0], self._tail[0]
        out: dict[str, Any] = {}
        if len(data) < head.size or not self._unpack(self._head, data, 0, out):
            return None
        pos = head.size
        if self._count is not None and self._item is not None and self._list is not None:
            if len(data) < pos + self._count.size:
                return None
            n = self._count.unpack_from(data, pos)[0]
            pos += self._count.size
            end = pos + n * self._item.size
            if len(data) < end:
                return None
            out[self._list] = [v for (v,) in self._item.iter_unpack(data[pos:end])]
            pos = end
        if len(data) - pos != tail.size or not self._unpack(self._tail, data, pos, out):
            return None
        return out

    def encode(self, values: Mapping[str, Any]) -> bytes:
        """The bytes of ``values``; raises a FAST_PATH_ERRORS when they do not fit."""
        (head, hf), (tail, tf) = self._head, self._tail
        out = head.pack(*[values[n] if c is None else c for n, _, c in hf])
        if self._count is not None and self._item is not None and self._list is not None:
            items = values[self._list]
            out += self._count.pack(len(items)) + b"".join(self._item.pack(v) for v in items)
        return out + tail.pack(*[values[n] if c is None else c for n, _, c in tf])


def _built() -> dict[str, Callable[..., Any]]:
    """The compiled factories of a build (see :class:`Direct`), by source; none in the tree."""
    name = "emulator.wire.wan_direct_built"
    if importlib.util.find_spec(name) is None:
        return {}
    forms: dict[str, Callable[..., Any]] = importlib.import_module(name).FORMS
    return forms


_BUILT = _built()
#: Every direct form's source made so far (the package's, once emulator.wire.wan is imported).
_SOURCES: dict[str, None] = {}


def built_source() -> str:
    """The module ``wan_direct_built`` of a compiled build: the factory of every direct form
    made so far, each under its own name, and ``FORMS``, each by its source text."""
    names = [f"make_{i}" for i in range(len(_SOURCES))]
    parts = ['"""Generated by scripts/compile_core.py from emulator.wire.wan_construct.Direct: '
             'do not edit."""\n\nfrom typing import Any\n']
    parts += [f"\n\n{src.replace('def make(', f'def {name}(', 1)}"
              for name, src in zip(names, _SOURCES, strict=True)]
    parts.append("\n\nFORMS: dict[str, Any] = {\n"
                 + "".join(f"    {src!r}: {name},\n" for name, src in zip(names, _SOURCES,
                                                                           strict=True))
                 + "}\n")
    return "".join(parts)


class Direct:
    """A fixed layout whose fields are its dataclass's, in order, after leading Consts (the
    device type of a reading): unpacked into the constructor's positional arguments and packed
    from the object's attributes, with no dict of field values in between, by a function
    written for the layout: a codec call is a
    few dozen bytecodes, and every WAN read makes two.

    The converters and the check run as :class:`Shape` runs them (same order, same paths,
    same errors; the usual converters written out in place, see :data:`_INLINE`). Like
    :class:`Fixed` it answers None for what it does not take (bytes that are not exactly one
    such payload, an object of another class, values that do not pack), and the general path
    then decides and words the error.

    The functions are written as the source of a factory, ``make``, taking the layout's
    structs, class and converters. The pure tree execs it; a build of the compiled core
    (scripts/compile_core.py) also holds every factory of the package's layouts compiled
    (:func:`built_source`, the module ``wan_direct_built``), keyed by that very source text,
    and those are used instead: the same code, so the same answers, as compiled code. A
    layout whose source is not there (another build, a new layout) is exec'd."""

    __slots__ = ("built", "decode", "encode", "source")

    decode: Callable[[bytes], object | None]
    encode: Callable[[Any], bytes | None]

    def __init__(self, shape: Shape, fixed: Fixed, consts: tuple[int, ...],
                 forms: Mapping[str, Callable[..., Any]] | None = None) -> None:
        (head, head_fields), (tail, _) = fixed._head, fixed._tail  # noqa: SLF001
        count, item = fixed._count, fixed._item  # noqa: SLF001
        plan = shape._plan("payload")  # noqa: SLF001
        names = [name for name, _, _ in plan]
        v = [f"v{i}" for i in range(len(names))]
        nhead = len(head_fields) - len(consts)
        k = [f"k{i}" for i in range(len(consts))]
        scope: dict[str, Any] = {
            "cls": shape.cls, "check": shape.check, "head": head, "tail": tail, "count": count,
            "item": item, "FAST_PATH_ERRORS": FAST_PATH_ERRORS,
            **{f"w{i}": where for i, (_, _, where) in enumerate(plan)},
            **{f"K{i}": c for i, c in enumerate(consts)},
        }
        scope["many"], scope["kept"] = _many(item)

        def convert(i: int, side: int) -> list[str]:
            conv = plan[i][1]
            if conv is None:
                return []
            f = f"{'de' if side == 0 else 'en'}c{i}"
            scope[f] = conv[side]
            lines, table = _INLINE.get(conv[side], (("{v} = {f}({v}, {w})",), None))
            if table is not None:
                scope[f"X{f}"] = table
            return [f"    {line.format(v=v[i], f=f, w=f'w{i}', x=f'X{f}')}" for line in lines]

        unpack_head = ", ".join([*k, *v[:nhead]]) + ("," if len(k) + nhead == 1 else "")
        dec = ["def decode(data: Any) -> Any:", "    n = len(data)"]
        enc = ["def encode(obj: Any) -> Any:", "    if type(obj) is not cls:",
               "        return None",
               *(f"    {v[i]} = obj.{name}" for i, name in enumerate(names)),
               *(line for i in range(len(names)) for line in convert(i, 1))]
        if shape.check is not None:
            enc.append("    check(obj, 'payload')")
        if unpack_head:
            dec += ["    if n < head.size:", "        return None",
                    f"    {unpack_head} = head.unpack_from(data, 0)"]
        if k:
            dec += [f"    if {' or '.join(f'{a} != K{i}' for i, a in enumerate(k))}:",
                    "        return None"]
        pack = [f"head.pack({', '.join([*(f'K{i}' for i in range(len(k))), *v[:nhead]])})"]
        rest = v[nhead:]
        try_: list[str] = []
        if count is not None and item is not None:
            listed, rest = rest[0], rest[1:]
            dec += ["    pos = head.size + count.size", "    if n < pos:", "        return None",
                    "    m = count.unpack_from(data, head.size)[0]",
                    "    end = pos + m * item.size", "    if n != end + tail.size:",
                    "        return None", "    s = kept.get(m)", "    if s is None:",
                    "        s = many(m)", f"    {listed}: Any = list(s.unpack_from(data, pos))"]
            try_ = [f"s = kept.get(len({listed}))", "if s is None:",
                    f"    s = many(len({listed}))"]
            pack += [f"count.pack(len({listed}))", f"s.pack(*{listed})"]
        else:
            dec += ["    end = head.size", "    if n != end + tail.size:", "        return None"]
        if rest:
            dec.append(f"    {', '.join(rest)}{',' if len(rest) == 1 else ''} = "
                       "tail.unpack_from(data, end)")
        pack.append(f"tail.pack({', '.join(rest)})")
        dec += [*(line for i in range(len(names)) for line in convert(i, 0)),
                f"    obj = cls({', '.join(v)})"]
        if shape.check is not None:
            dec.append("    check(obj, 'payload')")
        dec.append("    return obj")
        enc += ["    try:", *(f"        {line}" for line in try_),
                f"        return {' + '.join(pack)}",
                "    except FAST_PATH_ERRORS:  # the general path decides, and words the error",
                "        return None"]
        self.source = "".join(
            [f"def make({', '.join(f'{name}: Any' for name in scope)}) -> Any:\n",
             *(f"    {line}\n" for line in [*dec, *enc]), "    return decode, encode\n"])
        make = (_BUILT if forms is None else forms).get(self.source)
        self.built = make is not None
        if make is None:
            code: dict[str, Any] = {"Any": Any}
            exec(self.source, code)  # noqa: S102 - see the class docstring
            make = code["make"]
        _SOURCES.setdefault(self.source, None)
        self.decode, self.encode = make(**scope)

    @classmethod
    def of(cls, shape: Shape, fixed: Fixed | None,
           forms: Mapping[str, Callable[..., Any]] | None = None) -> Direct | None:
        """The direct form of ``fixed`` for ``shape``, or None when it has none (``forms``:
        the compiled factories to take it from, by source; a build's by default)."""
        if fixed is None:
            return None
        head, tail = fixed._head[1], fixed._tail[1]  # noqa: SLF001
        lead = 0
        while lead < len(head) and head[lead][2] is not None:
            lead += 1
        if any(f[2] is not None for f in (*head[lead:], *tail)):
            return None  # a Const among the fields: the general path
        counted = [] if fixed._list is None else [fixed._list]  # noqa: SLF001
        names = (*(f[0] for f in head[lead:]), *counted, *(f[0] for f in tail))
        if names != shape.names or not names:
            return None
        return cls(shape, fixed, tuple(int(f[2]) for f in head[:lead]),  # type: ignore[arg-type]
                   forms)


def _many(item: struct.Struct | None
          ) -> tuple[Callable[[int], struct.Struct], dict[int, struct.Struct]]:
    """``m`` items of a counted list's format at once (its bytes are those of each in turn),
    and the formats it keeps, by ``m``."""
    fmt = "" if item is None else item.format.lstrip(">")
    kept: dict[int, struct.Struct] = {}

    def many(m: int) -> struct.Struct:
        found = kept.get(m)
        if found is None:
            found = struct.Struct(f">{m}{fmt}")
            if len(kept) < 64:
                kept[m] = found
        return found

    return many, kept


class Codec:
    """A payload: its declaration, the compiled form (and the fixed layout, when it is one,
    with its direct form), and its dataclass."""

    def __init__(self, shape: Shape, *fields: Construct[Any, Any]) -> None:
        self.shape = shape
        self.fmt = Struct(*fields, Terminated)
        self.fast = self.fmt.compile()
        self.fixed = Fixed.of(fields)
        self.direct = Direct.of(shape, self.fixed)

    def decode(self, payload: bytes) -> object:
        c: Mapping[str, Any] | None = None
        if self.fixed is not None and isinstance(payload, bytes):
            if self.direct is not None:
                obj = self.direct.decode(payload)
                if obj is not None:
                    return obj
            c = self.fixed.decode(payload)
        if c is None:
            c = parse_with(self.fast, self.fmt, payload, "payload")
        return self.shape.decode(c, "payload")

    def encode(self, obj: Any) -> bytes:
        if self.direct is not None:
            data = self.direct.encode(obj)
            if data is not None:
                return data
        values = self.shape.encode(obj, "payload")
        if self.fixed is not None:
            try:
                return self.fixed.encode(values)
            except FAST_PATH_ERRORS:  # construct below decides, and words the error
                pass
        return build_with(self.fast, self.fmt, values, "payload")
