"""Symmetric keys held by each CHF and its head-ends (AES-128, 16 bytes each).

Per CHF (see domain brief §2.2):

- the **master key** authorises key rotation (the migration replaces the role keys under it);
- the **prepayment key** is the ESME/GSME's UTRN check key;
- per head-end **role** (``"smso"`` before migration, ``"s1sp"`` after) a pair of operational keys:
  the head-end MACs its requests with ``command_key``, the CHF MACs its responses with
  ``response_key``. ``key_id`` (1..255) names the generation, so a rotation is visible on the wire.

A :class:`Keystore` maps EUI to :class:`ChfKeys` and is stored as JSON::

    {"format": "s1lab-keystore/1",
     "chfs": [{"eui": "00-1B-C5-0C-00-00-00-01",
               "master_key": "<32 hex digits>", "prepayment_key": "<32 hex digits>",
               "roles": {"smso": {"key_id": 1, "command_key": "...", "response_key": "..."}}}]}
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from emulator.core.rng import derive_seed
from emulator.errors import OutputError, PkiError, WireError
from emulator.outputs import SECRET, write_atomic
from emulator.wire.eui import normalise

#: Bytes in every symmetric key (AES-128).
KEY_BYTES = 16
#: The ``format`` field of a keystore file.
FORMAT = "s1lab-keystore/1"
#: Head-end roles a CHF may hold keys for.
ROLES = ("smso", "s1sp")

_HEX_KEY = re.compile(r"^[0-9A-Fa-f]{32}$")


def _canonical(eui: str) -> str:
    try:
        return normalise(eui)
    except WireError as exc:
        raise PkiError(str(exc)) from None


def _check_key(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != KEY_BYTES:
        raise PkiError(f"{what}: a key is {KEY_BYTES} bytes")


@dataclass(frozen=True)
class RoleKeys:
    """The operational keys one head-end role shares with one CHF."""

    key_id: int
    command_key: bytes
    response_key: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, int) or not 1 <= self.key_id <= 255:
            raise PkiError(f"key_id must be 1..255, got {self.key_id!r}")
        _check_key(self.command_key, "command_key")
        _check_key(self.response_key, "response_key")


@dataclass(frozen=True)
class ChfKeys:
    """Every symmetric key one CHF holds. ``eui`` is kept in canonical ``00-1B-...`` form."""

    eui: str
    master_key: bytes
    prepayment_key: bytes
    roles: dict[str, RoleKeys] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "eui", _canonical(self.eui))
        _check_key(self.master_key, "master_key")
        _check_key(self.prepayment_key, "prepayment_key")
        for name, keys in self.roles.items():
            if name not in ROLES:
                raise PkiError(f"unknown role {name!r} (expected one of {', '.join(ROLES)})")
            if not isinstance(keys, RoleKeys):
                raise PkiError(f"roles[{name!r}] is not RoleKeys")

    def role(self, name: str) -> RoleKeys:
        """The keys of head-end role ``name``; PkiError if this CHF has none for it."""
        try:
            return self.roles[name]
        except KeyError:
            raise PkiError(f"CHF {self.eui} holds no {name} keys") from None

    def with_role(self, name: str, keys: RoleKeys) -> ChfKeys:
        """A copy with role ``name`` set to ``keys`` (others kept)."""
        return replace(self, roles={**self.roles, name: keys})

    def without_role(self, name: str) -> ChfKeys:
        """A copy without role ``name`` (a no-op if absent)."""
        return replace(self, roles={k: v for k, v in self.roles.items() if k != name})


def _derive_key(seed: int, eui: str, name: str) -> bytes:
    tag = derive_seed(seed, "s1lab-keystore", eui, name)
    text = f"s1lab-keystore\x1f{seed}\x1f{eui}\x1f{name}\x1f{tag}".encode()
    return hashlib.blake2b(text, digest_size=KEY_BYTES).digest()


def derive_role_keys(seed: int, eui: str, role: str, key_id: int) -> RoleKeys:
    """Deterministic operational keys for (seed, EUI, role, generation)."""
    canonical = _canonical(eui)
    return RoleKeys(
        key_id=key_id,
        command_key=_derive_key(seed, canonical, f"{role}/{key_id}/command"),
        response_key=_derive_key(seed, canonical, f"{role}/{key_id}/response"),
    )


def derive_chf_keys(seed: int, eui: str) -> ChfKeys:
    """The factory keys of CHF ``eui``: master, prepayment and SMSO role keys with key_id 1."""
    canonical = _canonical(eui)
    return ChfKeys(
        eui=canonical,
        master_key=_derive_key(seed, canonical, "master"),
        prepayment_key=_derive_key(seed, canonical, "prepayment"),
        roles={"smso": derive_role_keys(seed, canonical, "smso", 1)},
    )


def _key_from_json(raw: Mapping[str, Any], name: str, where: str) -> bytes:
    value = raw.get(name)
    if not isinstance(value, str) or not _HEX_KEY.match(value):
        raise PkiError(f"{where}.{name}: not {KEY_BYTES * 2} hex digits")
    return bytes.fromhex(value)


def _chf_from_json(raw: object, where: str) -> ChfKeys:
    if not isinstance(raw, dict):
        raise PkiError(f"{where}: not an object")
    eui = raw.get("eui")
    if not isinstance(eui, str):
        raise PkiError(f"{where}.eui: missing or not a string")
    try:
        canonical = normalise(eui)
    except WireError:
        raise PkiError(f"{where}.eui: not an EUI-64: {eui!r}") from None
    master = _key_from_json(raw, "master_key", where)
    prepayment = _key_from_json(raw, "prepayment_key", where)
    roles_raw = raw.get("roles")
    if not isinstance(roles_raw, dict):
        raise PkiError(f"{where}.roles: missing or not an object")
    roles: dict[str, RoleKeys] = {}
    for name, role_raw in roles_raw.items():
        rwhere = f"{where}.roles.{name}"
        if name not in ROLES:
            raise PkiError(f"{rwhere}: unknown role (expected one of {', '.join(ROLES)})")
        if not isinstance(role_raw, dict):
            raise PkiError(f"{rwhere}: not an object")
        key_id = role_raw.get("key_id")
        if not isinstance(key_id, int) or isinstance(key_id, bool) or not 1 <= key_id <= 255:
            raise PkiError(f"{rwhere}.key_id: not an integer 1..255")
        roles[name] = RoleKeys(
            key_id=key_id,
            command_key=_key_from_json(role_raw, "command_key", rwhere),
            response_key=_key_from_json(role_raw, "response_key", rwhere),
        )
    return ChfKeys(eui=canonical, master_key=master, prepayment_key=prepayment, roles=roles)


def _chf_to_json(keys: ChfKeys) -> dict[str, object]:
    return {
        "eui": keys.eui,
        "master_key": keys.master_key.hex(),
        "prepayment_key": keys.prepayment_key.hex(),
        "roles": {
            name: {
                "key_id": role.key_id,
                "command_key": role.command_key.hex(),
                "response_key": role.response_key.hex(),
            }
            for name, role in sorted(keys.roles.items())
        },
    }


class Keystore:
    """EUI → :class:`ChfKeys`. Lookups accept any EUI spelling; iteration yields sorted EUIs.

    ``source`` names where the keys came from (a file path) for error messages.
    """

    def __init__(self, chfs: Iterable[ChfKeys] = (), source: str = "keystore") -> None:
        self.source = source
        self._chfs: dict[str, ChfKeys] = {}
        for keys in chfs:
            self.add(keys)

    def add(self, keys: ChfKeys) -> None:
        """Store ``keys`` under its EUI, replacing any keys already held for that CHF."""
        if not isinstance(keys, ChfKeys):
            raise PkiError(f"Keystore.add expects ChfKeys, got {type(keys).__name__}")
        self._chfs[keys.eui] = keys

    def get(self, eui: str) -> ChfKeys:
        try:
            canonical = normalise(eui)
        except WireError:
            raise PkiError(f"no keys for CHF {eui} in {self.source} (not an EUI-64)") from None
        try:
            return self._chfs[canonical]
        except KeyError:
            raise PkiError(f"no keys for CHF {canonical} in {self.source}") from None

    def __contains__(self, eui: object) -> bool:
        if not isinstance(eui, str):
            return False
        try:
            return normalise(eui) in self._chfs
        except WireError:
            return False

    def __len__(self) -> int:
        return len(self._chfs)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._chfs))

    def to_json(self) -> dict[str, object]:
        return {"format": FORMAT, "chfs": [_chf_to_json(self._chfs[e]) for e in self]}

    def save(self, path: Path) -> None:
        """Write the keystore as JSON, readable by the owner only (mode 0o600), atomically."""
        # write_atomic: a fresh O_EXCL temporary name, then a rename that replaces a symlink
        # planted at ``path`` instead of writing through it.
        text = json.dumps(self.to_json(), indent=2) + "\n"
        try:
            write_atomic(path, text, mode=SECRET)
        except OutputError as exc:
            raise PkiError(str(exc)) from None

    @classmethod
    def load(cls, path: Path) -> Keystore:
        """Read a keystore file; PkiError naming the file and the field on any problem."""
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PkiError(f"{where}: missing") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PkiError(f"{where}: cannot read: {exc}") from None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PkiError(f"{where}: not JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(raw, dict):
            raise PkiError(f"{where}: not a JSON object")
        if raw.get("format") != FORMAT:
            raise PkiError(f"{where}: format: expected {FORMAT!r}, got {raw.get('format')!r}")
        chfs_raw = raw.get("chfs")
        if not isinstance(chfs_raw, list):
            raise PkiError(f"{where}: chfs: missing or not a list")
        store = cls(source=where)
        for index, item in enumerate(chfs_raw):
            item_where = f"chfs[{index}]"
            try:
                keys = _chf_from_json(item, item_where)
            except PkiError as exc:
                raise PkiError(f"{where}: {exc}") from None
            if keys.eui in store._chfs:
                raise PkiError(f"{where}: {item_where}.eui: duplicate CHF {keys.eui}")
            store.add(keys)
        return store
