"""The head-end side of the WAN protocol, sans-IO: seal requests, check replies.

One :class:`HeadEndCore` is one head-end role's session with one CHF. It builds request frames
MAC'd under the role's command key (or the CHF's Master Key), with a counter that is strictly
increasing per CHF (at least ``now`` in microseconds, so a fresh process never reuses a counter a
CHF has seen) and a transaction id per request. It checks what comes back: MAC under the CHF's
response key, counter increasing, the transaction id one it waits for, the response type the
one asked for. Bad replies become typed errors (:mod:`emulator.errors`).

It takes bytes and ``now`` and returns bytes and decoded replies; the asyncio session
(``harness.headend``) and the in-memory pairing (:mod:`emulator.core.pairing`) drive it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from emulator.errors import (
    BadMac,
    LocalProtocolError,
    MalformedFrame,
    ProtocolError,
    RemoteProtocolError,
    ReplayedCounter,
    S1labError,
)
from emulator.wire import wan
from emulator.wire.eui import eui_from_str, normalise
from emulator.wire.vocabulary import RESPONSE_BIT, ErrorCode, MessageType, Role

T = TypeVar("T")


class RoleKeys(Protocol):
    """One head-end role's operational keys for one CHF (``emulator.keystore.RoleKeys``)."""

    @property
    def key_id(self) -> int: ...
    @property
    def command_key(self) -> bytes: ...
    @property
    def response_key(self) -> bytes: ...


class Reply:
    """An authenticated reply to transaction ``txn``: its header and decoded body.

    A plain slotted class, not a dataclass (which mypyc cannot compile with an ``object``
    field): equal when its fields are, with the dataclass's repr and hash. Not to be changed
    once made."""

    __slots__ = ("body", "header", "txn")

    def __init__(self, txn: int, header: wan.Header, body: object) -> None:
        self.txn = txn
        self.header = header
        self.body = body

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reply):
            return NotImplemented
        return (self.txn, self.header, self.body) == (other.txn, other.header, other.body)

    def __hash__(self) -> int:
        return hash((self.txn, self.header, self.body))

    def __repr__(self) -> str:
        return f"Reply(txn={self.txn!r}, header={self.header!r}, body={self.body!r})"


class ReplyFailed:
    """A reply to transaction ``txn`` that failed its checks (bad MAC, replayed counter,
    undecodable payload...): ``error`` says which. As :class:`Reply`, a plain slotted class."""

    __slots__ = ("error", "txn")

    def __init__(self, txn: int, error: S1labError) -> None:
        self.txn = txn
        self.error = error

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReplyFailed):
            return NotImplemented
        return (self.txn, self.error) == (other.txn, other.error)

    def __hash__(self) -> int:
        return hash((self.txn, self.error))

    def __repr__(self) -> str:
        return f"ReplyFailed(txn={self.txn!r}, error={self.error!r})"


class Command(Generic[T]):
    """One head-end command: what to send and how to read the answer.

    ``target`` None addresses the CHF itself. ``result`` narrows the decoded body to ``T``
    (raising RemoteProtocolError otherwise); ``trace`` gives the (event, device, fields) the
    head-end records for a result, or None.

    A value, as :class:`Reply` a plain slotted class (mypyc compiles no generic frozen
    dataclass): equal when its fields are, with the dataclass's repr and hash."""

    __slots__ = ("body", "msg_type", "result", "target", "trace")

    def __init__(
        self, msg_type: MessageType, target: str | None, body: object | None,
        result: Callable[[object], T],
        trace: Callable[[T], tuple[str, str, dict[str, object]]] | None = None,
    ) -> None:
        self.msg_type = msg_type
        self.target = target
        self.body = body
        self.result = result
        self.trace = trace

    def _fields(self) -> tuple[object, ...]:
        return (self.msg_type, self.target, self.body, self.result, self.trace)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Command):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"Command(msg_type={self.msg_type!r}, target={self.target!r}, "
                f"body={self.body!r}, result={self.result!r}, trace={self.trace!r})")


class HeadEndCore:
    """One head-end role's WAN session with one CHF, without I/O.

    ``role_keys(chf_eui)`` gives the role's current keys for that CHF (raising
    LocalProtocolError if it holds none); ``counters`` is the last request counter per CHF,
    shared across sessions of one head-end."""

    __slots__ = ("_awaited", "_last_master", "_last_response", "_role_keys", "_target", "_txn",
                 "chf_eui", "counters", "master_key", "role")

    def __init__(self, role: Role, role_keys: Callable[[str], RoleKeys],
                 counters: dict[str, int] | None = None, chf_eui: str = "") -> None:
        self.role = role
        self._role_keys = role_keys
        self.counters: dict[str, int] = {} if counters is None else counters
        self.chf_eui = chf_eui  # known once the TLS peer is (its certificate names it)
        #: The CHF's Master Key, set by an S1SP that obtained it from the DCO (TMAD 5.16).
        self.master_key: bytes | None = None
        self._txn = itertools.count(1)
        self._awaited: set[int] = set()
        self._last_response = 0
        self._last_master = 0
        self._target: tuple[str, bytes] = ("", b"")  # the last target and its EUI-64 bytes

    # ---- requests ----------------------------------------------------------------------------

    def next_counter(self, now: int) -> int:
        counter = max(self.counters.get(self.chf_eui, 0) + 1, now)
        self.counters[self.chf_eui] = counter
        return counter

    def seal(
        self, msg_type: MessageType, target: str, body: object | None, now: int, *,
        txn: int | None = None, counter: int | None = None, key: bytes | None = None,
        key_id: int | None = None,
    ) -> tuple[int, bytes]:
        """(txn, frame): a request sealed under the role's command key. The keyword overrides
        forge bad frames for tests."""
        rk = self._role_keys(self.chf_eui)
        txn = next(self._txn) if txn is None else txn
        last = self._target
        if last[0] == target and last[0]:
            target_bytes = last[1]
        else:
            target_bytes = eui_from_str(target)
            self._target = (target, target_bytes)
        key_id = rk.key_id if key_id is None else key_id
        counter = self.next_counter(now) if counter is None else counter
        payload = wan.encode_request(msg_type, body)
        return txn, wan.seal_fields(int(msg_type), txn, target_bytes, int(self.role), key_id,
                                    counter, payload, rk.command_key if key is None else key)

    def seal_master(self, msg_type: MessageType, body: object | None, now: int
                    ) -> tuple[int, bytes]:
        """(txn, frame): a request authorised by the CHF's Master Key (key id 0xFF): key
        rotation, certificate swap, rollback. Needs :attr:`master_key`."""
        if self.master_key is None:
            raise LocalProtocolError("no Master Key for this CHF: ask the DCO (TMAD 5.16)")
        txn = next(self._txn)
        header = wan.Header(
            version=wan.FRAME_VERSION, msg_type=int(msg_type), txn_id=txn,
            target=eui_from_str(self.chf_eui), role=int(self.role),
            key_id=wan.MASTER_KEY_ID, counter=self.next_counter(now))
        return txn, wan.seal(header, wan.encode_request(msg_type, body), self.master_key)

    def seal_command(self, command: Command[T], now: int) -> tuple[int, bytes]:
        return self.seal(command.msg_type, self.target_of(command), command.body, now)

    def target_of(self, command: Command[T]) -> str:
        return normalise(command.target) if command.target else self.chf_eui

    # ---- replies -----------------------------------------------------------------------------

    def expect(self, txn: int) -> None:
        """A request with ``txn`` was sent: its reply is awaited."""
        self._awaited.add(txn)

    def forget(self, txn: int) -> None:
        """Stop waiting for ``txn`` (answered, or timed out: a late reply is then dropped)."""
        self._awaited.discard(txn)

    def receive(self, data: bytes) -> Reply | ReplyFailed | None:
        """One frame from the CHF. None when nobody waits for its transaction (a late reply
        after a timeout); raises MalformedFrame when it does not parse at all."""
        frame = wan.parse_frame(data)
        h = frame.header
        if h.txn_id not in self._awaited:
            return None
        self._awaited.discard(h.txn_id)
        try:
            if h.key_id == wan.MASTER_KEY_ID:
                if self.master_key is None:
                    raise LocalProtocolError("a Master-Key reply, and no Master Key here")
                wan.verify_mac(frame, self.master_key)
                if h.counter <= self._last_master:
                    raise ReplayedCounter(f"CHF response counter {h.counter} replayed")
                self._last_master = h.counter
            elif not (h.msg_type == MessageType.ERROR and h.key_id == 0):
                wan.verify_mac(frame, self._role_keys(self.chf_eui).response_key)
                if h.counter <= self._last_response:
                    raise ReplayedCounter(
                        f"CHF response counter {h.counter} <= {self._last_response}")
                self._last_response = h.counter
            return Reply(h.txn_id, h, wan.decode_response(h.msg_type, frame.payload))
        except (BadMac, ReplayedCounter, MalformedFrame, ProtocolError) as exc:
            return ReplyFailed(h.txn_id, exc)

    def check_reply(self, msg_type: MessageType, target: str, reply: Reply) -> object:
        """The body of the answer to ``msg_type``; an ERROR, or a reply of another type,
        raises RemoteProtocolError (``code`` = the CHF's ErrorCode)."""
        header, body = reply.header, reply.body
        if header.msg_type == MessageType.ERROR:
            if not isinstance(body, wan.ErrorPayload):  # pragma: no cover - decode guarantees
                raise RemoteProtocolError("an ERROR frame without an error body")
            raise RemoteProtocolError(
                f"CHF {self.chf_eui} refused {msg_type.name} for {target}: "
                f"{ErrorCode(body.error_code).name} ({body.detail})",
                code=int(body.error_code),
            )
        if header.msg_type != msg_type | RESPONSE_BIT:
            raise RemoteProtocolError(f"reply type 0x{header.msg_type:02X} to {msg_type.name}")
        return body

    def result(self, command: Command[T], reply: Reply) -> T:
        msg_type = reply.header.msg_type
        if msg_type == command.msg_type | RESPONSE_BIT and msg_type != MessageType.ERROR:
            return command.result(reply.body)  # what check_reply passes, without its target
        return command.result(self.check_reply(command.msg_type, self.target_of(command), reply))


__all__ = ["Command", "HeadEndCore", "Reply", "ReplyFailed", "RoleKeys"]
