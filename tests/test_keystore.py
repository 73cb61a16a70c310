"""The per-CHF symmetric keystore: derivation, JSON round trip, and clear errors."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator.errors import PkiError
from emulator.keystore import FORMAT, ChfKeys, Keystore, RoleKeys, derive_chf_keys

EUI = "00-1B-C5-0C-00-00-00-01"
EUI2 = "00-1B-C5-0C-00-00-00-02"


def test_derive_is_deterministic_and_distinct() -> None:
    a = derive_chf_keys(7, EUI)
    assert a == derive_chf_keys(7, "00:1b:c5:0c:00:00:00:01")
    assert a.eui == EUI
    assert list(a.roles) == ["smso"]
    smso = a.roles["smso"]
    assert smso.key_id == 1
    keys = [a.master_key, a.prepayment_key, smso.command_key, smso.response_key]
    assert all(len(k) == 16 for k in keys)
    assert len(set(keys)) == 4
    assert derive_chf_keys(8, EUI).master_key != a.master_key
    assert derive_chf_keys(7, EUI2).master_key != a.master_key


def test_dataclass_validation() -> None:
    with pytest.raises(PkiError, match="key_id"):
        RoleKeys(key_id=0, command_key=bytes(16), response_key=bytes(16))
    with pytest.raises(PkiError, match="command_key"):
        RoleKeys(key_id=1, command_key=bytes(15), response_key=bytes(16))
    with pytest.raises(PkiError, match="EUI"):
        ChfKeys(eui="nope", master_key=bytes(16), prepayment_key=bytes(16))
    with pytest.raises(PkiError, match="unknown role"):
        ChfKeys(eui=EUI, master_key=bytes(16), prepayment_key=bytes(16),
                roles={"dcc": RoleKeys(1, bytes(16), bytes(16))})


def test_role_helpers() -> None:
    keys = derive_chf_keys(1, EUI)
    with pytest.raises(PkiError, match="no s1sp keys"):
        keys.role("s1sp")
    s1sp = RoleKeys(2, bytes(range(16)), bytes(range(16, 32)))
    migrated = keys.with_role("s1sp", s1sp).without_role("smso")
    assert migrated.role("s1sp") == s1sp
    assert "smso" not in migrated.roles
    assert "smso" in keys.roles  # the original is untouched


def test_keystore_mapping() -> None:
    store = Keystore([derive_chf_keys(1, EUI2), derive_chf_keys(1, EUI)], source="ks.json")
    assert len(store) == 2
    assert list(store) == [EUI, EUI2]
    assert store.get("001bc50c00000001") == derive_chf_keys(1, EUI)
    assert EUI in store
    assert "00-1B-C5-0C-00-00-00-09" not in store
    with pytest.raises(PkiError, match=r"no keys for CHF 00-1B-C5-0C-00-00-00-09 in ks\.json"):
        store.get("00-1b-c5-0c-00-00-00-09")
    replaced = derive_chf_keys(1, EUI).with_role("s1sp", RoleKeys(2, bytes(16), bytes(16)))
    store.add(replaced)
    assert len(store) == 2
    assert store.get(EUI) == replaced


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "keystore.json"
    keys = derive_chf_keys(3, EUI).with_role("s1sp", RoleKeys(9, bytes(16), bytes([255]) * 16))
    Keystore([keys, derive_chf_keys(3, EUI2)]).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = json.loads(path.read_text())
    assert raw["format"] == FORMAT
    assert raw["chfs"][0]["master_key"] == keys.master_key.hex()
    loaded = Keystore.load(path)
    assert loaded.source == str(path)
    assert list(loaded) == [EUI, EUI2]
    assert loaded.get(EUI) == keys
    assert loaded.get(EUI2) == derive_chf_keys(3, EUI2)


def _broken(tmp_path: Path, mutate: Callable[[dict[str, Any]], object]) -> Path:
    path = tmp_path / "keystore.json"
    Keystore([derive_chf_keys(3, e) for e in (EUI, EUI2)]).save(path)
    raw = json.loads(path.read_text())
    mutate(raw)
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["chfs"][1].update(master_key="abc"),
         r"keystore\.json: chfs\[1\]\.master_key: not 32 hex digits"),
        (lambda r: r["chfs"][0].pop("prepayment_key"),
         r"keystore\.json: chfs\[0\]\.prepayment_key: not 32 hex digits"),
        (lambda r: r["chfs"][0]["roles"]["smso"].update(command_key="zz" * 16),
         r"keystore\.json: chfs\[0\]\.roles\.smso\.command_key: not 32 hex digits"),
        (lambda r: r["chfs"][0]["roles"]["smso"].update(key_id=256),
         r"chfs\[0\]\.roles\.smso\.key_id: not an integer 1\.\.255"),
        (lambda r: r["chfs"][0]["roles"].update(dcc={}),
         r"chfs\[0\]\.roles\.dcc: unknown role"),
        (lambda r: r["chfs"][1].update(eui="zz"), r"chfs\[1\]\.eui: not an EUI-64"),
        (lambda r: r["chfs"][1].update(eui=r["chfs"][0]["eui"]), r"chfs\[1\]\.eui: duplicate"),
        (lambda r: r.update(format="other/2"), r"keystore\.json: format: expected"),
        (lambda r: r.update(chfs={}), r"keystore\.json: chfs: missing or not a list"),
        (lambda r: r["chfs"].append(3), r"chfs\[2\]: not an object"),
    ],
)
def test_broken_fields(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], object], message: str
) -> None:
    path = _broken(tmp_path, mutate)
    with pytest.raises(PkiError, match=message):
        Keystore.load(path)


def test_broken_files(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match=r"keystore\.json: missing"):
        Keystore.load(tmp_path / "keystore.json")
    path = tmp_path / "keystore.json"
    path.write_text("{not json")
    with pytest.raises(PkiError, match=r"keystore\.json: not JSON"):
        Keystore.load(path)
    path.write_text("[]")
    with pytest.raises(PkiError, match=r"keystore\.json: not a JSON object"):
        Keystore.load(path)
