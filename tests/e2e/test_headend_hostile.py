"""A CHF that answers badly: the head-end commands fail in one line, never with a traceback or
a hang (issue 8, item 14); and ``headend migrate`` never leaves a CHF with keys nobody holds
(item 13). The CHF is a real ``serve`` (TLS over TCP) in a thread, made to lie."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from emulator.core.chf import Chf
from emulator.errors import PkiError
from emulator.keystore import Keystore
from emulator.pki import init_folder
from emulator.profiles import default_dmc
from emulator.serve import serve
from emulator.wire import wan
from emulator.wire.vocabulary import RESPONSE_BIT, MessageType
from harness.cli import main

pytestmark = pytest.mark.io
NOW = 1_767_571_200_000_000


class Served:
    """``serve`` on a loopback port in its own thread and loop; ``mode`` makes its CHF lie."""

    def __init__(self, pki: Path) -> None:
        self.pki = pki
        self.mode = "honest"
        self.address = ""
        self.chf: Chf | None = None  # the served CHF, once it has handled a frame
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(30)

    def _run(self) -> None:
        async def go() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def announce(line: str) -> None:
                m = re.search(r"listening on ([\d.]+:\d+)", line)
                if m:
                    self.address = m.group(1)
                    self._ready.set()

            await serve(pki_dir=self.pki, dmc=default_dmc(), seed=1, stop=self._stop,
                        listen=("127.0.0.1", 0), announce=announce, han="direct")

        asyncio.run(go())

    def close(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    init_folder(tmp_path / "pki", 1, NOW, 3)
    box: list[Served] = []
    honest = Chf.handle_frame

    def lying(self: Chf, data: bytes, now: int, tls_role: object, session: int = 0
              ) -> bytes | None:
        reply = honest(self, data, now, tls_role, session)  # type: ignore[arg-type]
        mode = box[0].mode if box else "honest"
        if box:
            box[0].chf = self
        if reply is None or mode == "honest":
            return reply
        if mode == "garbage":
            return b"S1\x01" + os.urandom(60)
        if mode == "silent":
            return None
        frame = wan.parse_frame(reply)
        (_, keys), = self.operational_keys().items()
        key = keys.response_key if frame.header.key_id != wan.MASTER_KEY_ID else self.master_key
        assert key is not None
        # "wrong-type": a correctly sealed answer of another type (a time for everything)
        body = wan.encode_response(MessageType.READ_TIME, wan.TimeValue(5))
        header = replace(frame.header, msg_type=MessageType.READ_TIME | RESPONSE_BIT)
        return wan.seal(header, body, key)

    monkeypatch.setattr(Chf, "handle_frame", lying)
    box.append(Served(tmp_path / "pki"))
    try:
        yield box[0]
    finally:
        box[0].close()


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
        raise SystemExit(0)
    captured = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


@pytest.mark.parametrize("mode", ["garbage", "wrong-type", "silent"])
def test_a_lying_chf_is_one_line_for_headend_read(
        served: Served, mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    served.mode = mode
    code, _, err = _cli(["headend", "read", "--connect", served.address, "--pki",
                         str(served.pki), "--role", "smso", "--timeout", "2"], capsys)
    assert code == 2, err
    line, = err.strip().splitlines()
    assert "internal error" not in line and "Traceback" not in err
    expected = {"garbage": "malformed", "wrong-type": "reply type", "silent": "no response"}
    assert expected[mode] in line


def _read_as_smso(served: Served, capsys: pytest.CaptureFixture[str]) -> int:
    code, out, _ = _cli(["headend", "read", "--connect", served.address, "--pki",
                         str(served.pki), "--role", "smso"], capsys)
    assert code != 0 or json.loads(out)["readings"]
    return code


def test_headend_migrate_puts_the_keystore_back_when_the_chf_refuses(
        served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    assert _read_as_smso(served, capsys) == 0
    assert served.chf is not None
    served.chf.faults.fail_step("rotate")  # the CHF answers OPERATION_FAILED, changes nothing
    before = Keystore.load(served.pki / "keystore.json").get(served.chf.eui)
    code, _, err = _cli(["headend", "migrate", "--connect", served.address, "--pki",
                         str(served.pki)], capsys)
    assert code == 2 and "OPERATION_FAILED" in err and len(err.strip().splitlines()) == 1
    assert Keystore.load(served.pki / "keystore.json").get(served.chf.eui) == before
    assert _read_as_smso(served, capsys) == 0  # the CHF is still the SMSO's


def test_headend_migrate_keeps_both_keys_when_the_outcome_is_unknown(
        served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    served.mode = "wrong-type"  # the CHF rotates, then answers out of turn
    code, _, err = _cli(["headend", "migrate", "--connect", served.address, "--pki",
                         str(served.pki), "--timeout", "2"], capsys)
    assert code == 2 and "outcome is unknown" in err and len(err.strip().splitlines()) == 1
    chf = served.chf
    assert chf is not None
    (owner, held), = chf.operational_keys().items()
    stored = Keystore.load(served.pki / "keystore.json").get(chf.eui)
    assert owner.name == "S1SP"
    assert (stored.roles["s1sp"].command_key, stored.roles["s1sp"].response_key) == (
        held.command_key, held.response_key)  # someone holds the keys the CHF now has
    assert "smso" in stored.roles


def test_headend_migrate_sends_nothing_when_the_new_keys_cannot_be_stored(
        served: Served, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(self: Keystore, path: Path) -> None:
        raise PkiError(f"{path}: cannot write: No space left on device")

    original = Keystore.save
    monkeypatch.setattr(Keystore, "save", full_disk)
    code, _, err = _cli(["headend", "migrate", "--connect", served.address, "--pki",
                         str(served.pki)], capsys)
    assert code == 2 and "not asked to rotate" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setattr(Keystore, "save", original)
    assert _read_as_smso(served, capsys) == 0  # untouched: still the SMSO's keys


def test_headend_migrate_stores_the_keys_before_rotating(
        served: Served, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    save, honest = Keystore.save, Chf.handle_frame

    def noted_save(self: Keystore, path: Path) -> None:
        order.append("stored")
        save(self, path)

    def noted_frame(self: Chf, data: bytes, now: int, tls_role: object,
                    session: int = 0) -> bytes | None:
        if wan.parse_frame(data).header.msg_type == MessageType.ROTATE_KEYS:
            order.append("rotated")
        return honest(self, data, now, tls_role, session)  # type: ignore[arg-type]

    monkeypatch.setattr(Keystore, "save", noted_save)
    monkeypatch.setattr(Chf, "handle_frame", noted_frame)
    code, out, err = _cli(["headend", "migrate", "--connect", served.address, "--pki",
                           str(served.pki)], capsys)
    assert code == 0, err
    assert order == ["stored", "rotated"]
    assert json.loads(out)["security_state"]["owner"] == "S1SP"
