"""Frame authentication: the receiver's ordered checks of docs/wan-protocol.md.

Record, header, version, role (or the Master Key), key id, MAC, counter, then which key the
message type allows (its ``wan.MESSAGES`` entry). The first failed check raises
:class:`Reject` with the ERROR code it answers with; the rest of the CHF never sees a frame
that did not pass all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from emulator.core.chf.records import OperationalKeys
from emulator.errors import BadMac, MalformedFrame, RemoteProtocolError
from emulator.wire import wan
from emulator.wire.vocabulary import ErrorCode, MessageType, Role

if TYPE_CHECKING:
    from emulator.core.chf.hub import Chf

#: Master-Key frames keep their counters under this pseudo-role.
MASTER_SLOT: Final = Role.CHF
#: What ``Role(value)`` looks up (without raising for a value that names none).
_ROLES: Final[dict[int, Role]] = dict(Role._value2member_map_)


class Reject(RemoteProtocolError):
    """Abort handling of one frame with an ERROR response (never leaves the CHF).

    ``role_keys`` are the keys to seal the ERROR under (None: unauthenticated, zero MAC)."""

    def __init__(self, code: ErrorCode, detail: str, role_keys: OperationalKeys | None) -> None:
        super().__init__(detail, code=code)
        self.error = code
        self.detail = detail
        self.role_keys = role_keys


@dataclass(frozen=True, slots=True, init=False)
class Authenticated:
    """A frame that passed every check, and what it was authenticated with."""

    frame: wan.Frame
    keys: OperationalKeys
    slot: Role  # where its counters are kept: the sending role, or MASTER_SLOT
    master: bool

    # Written out, not the dataclass's: a compiled build runs this one natively (the generated
    # one stays interpreted, about ten times the cost); tests/core/test_written_inits.py
    # checks it against the fields.
    def __init__(self, frame: wan.Frame, keys: OperationalKeys, slot: Role, master: bool) -> None:
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "slot", slot)
        object.__setattr__(self, "master", master)


def parse(data: bytes) -> wan.Frame:
    try:
        return wan.parse_frame(data)
    except MalformedFrame as exc:
        raise Reject(ErrorCode.MALFORMED, str(exc), None) from None


def authenticate(chf: Chf, frame: wan.Frame, tls_role: Role | None, now: int) -> Authenticated:
    """The checks after parsing, in order; accepts the counter and notes the WAN contact."""
    h = frame.header
    if h.version != wan.FRAME_VERSION:
        raise Reject(ErrorCode.UNSUPPORTED_VERSION, f"protocol version {h.version}", None)
    master = h.key_id == wan.MASTER_KEY_ID
    if master:
        # Authorised by the CHF's Master Key (key rotation, certificate swap, rollback), on a
        # TLS session from any head-end the CHF trusts.
        if tls_role is None:
            raise Reject(ErrorCode.UNKNOWN_ROLE, "no authenticated TLS peer", None)
        if chf.master_key is None:
            raise Reject(ErrorCode.UNKNOWN_KEY, "this CHF holds no Master Key", None)
        keys = OperationalKeys(wan.MASTER_KEY_ID, chf.master_key, chf.master_key)
        slot: Role = MASTER_SLOT
    else:
        role = _ROLES.get(h.role)
        if role is None:
            raise Reject(ErrorCode.UNKNOWN_ROLE, f"role 0x{h.role:02X}", None)
        found = chf.keys_for(role)
        if found is None or role != tls_role:
            why = "no keys for role" if found is None else "role differs from TLS identity"
            raise Reject(ErrorCode.UNKNOWN_ROLE, f"{role.name}: {why}", None)
        keys = found
        slot = role
        if h.key_id != keys.key_id:
            raise Reject(ErrorCode.UNKNOWN_KEY, f"key id {h.key_id}, current {keys.key_id}", keys)
    try:
        wan.verify_mac(frame, keys.command_key)
    except BadMac:
        # A wrong Master Key cannot read an error sealed under the right one: say it
        # unauthenticated.
        raise Reject(ErrorCode.BAD_MAC, "MAC does not verify", None if master else keys) from None
    chf.accept_counter(slot, h.counter, keys)
    chf.last_wan_contact = now
    spec = wan.MESSAGES.get(h.msg_type)
    if master and (spec is None or spec.key is wan.KeyUse.OPERATIONAL):
        raise Reject(ErrorCode.UNSUPPORTED_COMMAND,
                     "only key, certificate and rollback commands use the Master Key", keys)
    if not master and spec is not None and spec.key is wan.KeyUse.MASTER:
        raise Reject(ErrorCode.UNKNOWN_KEY,
                     f"{MessageType(h.msg_type).name} needs the Master Key", keys)
    return Authenticated(frame, keys, slot, master)
