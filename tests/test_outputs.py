"""Outputs cannot be left half-written, stale or readable by others (issue 8, item 16)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.errors import OutputError, PkiError
from emulator.keystore import Keystore, derive_chf_keys
from emulator.outputs import INCOMPLETE, MANIFEST, SECRET, RunFolder, write_atomic
from emulator.pki import init_folder

NOW = 1_767_571_200_000_000


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: modes must not depend on it."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_atomic_replaces_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "keystore.json"
    link.symlink_to(victim)
    write_atomic(link, "secret", mode=SECRET)
    assert victim.read_text() == "precious"
    assert not link.is_symlink() and link.read_text() == "secret"
    assert _mode(link) == 0o600


def test_keystore_save_does_not_follow_symlinks(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "keystore.json"
    for planted in (target, tmp_path / "keystore.json.tmp"):  # the old fixed temporary name too
        planted.symlink_to(victim)
    store = Keystore(source=str(target))
    store.add(derive_chf_keys(1, "00-1B-C5-0C-00-00-00-01"))
    store.save(target)
    assert victim.read_text() == "precious"
    assert Keystore.load(target).get("00-1B-C5-0C-00-00-00-01").eui == "00-1B-C5-0C-00-00-00-01"
    assert _mode(target) == 0o600


@contextlib.contextmanager
def disk_full_after(size: int) -> Iterator[None]:
    """Writes past ``size`` bytes fail (EFBIG), as on a full disk: RLIMIT_FSIZE, SIGXFSZ off."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_write_atomic_leaves_the_old_file_when_the_disk_is_full(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    target.write_text("old and complete")
    with disk_full_after(1000), pytest.raises(OutputError, match="summary.json: cannot write"):
        write_atomic(target, "n" * 5000)
    assert target.read_text() == "old and complete"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary left


def test_dev_full_is_an_output_error() -> None:
    folder = RunFolder.__new__(RunFolder)  # only its stream closing, on a real full device
    folder.path = Path("/dev")
    handle = Path("/dev/full").open("w", encoding="utf-8")  # noqa: SIM115 - closed below
    handle.write("x" * 100)  # buffered: the disk is found full when it is flushed
    with pytest.raises(OutputError, match="No space left"):
        folder.close_stream(handle, "full", complete=True)


def test_pki_folder_modes_hold_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    folder = init_folder(tmp_path / "pki", 2, NOW, None)
    root = folder.directory
    assert _mode(root) == 0o700 and _mode(root / "chf") == 0o700
    for path in root.rglob("*"):
        if path.is_dir():
            assert _mode(path) == 0o700, path
        elif path.suffix == ".key" or path.name in ("keystore.json", "chf-bundle.pem"):
            assert _mode(path) == 0o600, path


def test_pki_keys_come_from_the_os_unless_seeded(tmp_path: Path) -> None:
    a = init_folder(tmp_path / "a", 1, NOW, None)
    b = init_folder(tmp_path / "b", 1, NOW, None)
    c = init_folder(tmp_path / "c", 1, NOW, 5)
    d = init_folder(tmp_path / "d", 1, NOW, 5)
    assert a.smso_ca.key_pem() != b.smso_ca.key_pem()
    eui = a.chf_euis()[0]
    assert a.keystore.get(eui).master_key != b.keystore.get(eui).master_key
    assert c.smso_ca.key_pem() == d.smso_ca.key_pem()
    assert "operating system" in (a.directory / "README.txt").read_text()
    assert "DERIVED FROM SEED 5" in (c.directory / "README.txt").read_text()


def test_a_pki_folder_that_cannot_be_written_is_a_pki_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PkiError):
        init_folder(tmp_path / "file" / "pki", 1, NOW, None)


def test_run_folder_marks_an_unfinished_run_and_names_the_stream_partial(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "out")
    sink = folder.open_stream("trace.jsonl")
    sink.write("{}\n")
    assert (folder.path / INCOMPLETE).exists()
    folder.close_stream(sink, "trace.jsonl", complete=False)  # the run failed
    assert (folder.path / "trace.jsonl.partial").exists()
    assert not (folder.path / "trace.jsonl").exists()
    assert (folder.path / INCOMPLETE).exists()


def test_rerunning_into_a_folder_leaves_no_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = RunFolder(out)
    first.write("mgf-week1.xml", "<a/>")
    first.write("mgf-week2.xml", "<b/>")
    first.write("exclusions/Supplier A.csv", "x\n")
    sink = first.open_stream("trace.jsonl")
    first.close_stream(sink, "trace.jsonl", complete=True)
    first.finish()
    (out / "mine.txt").write_text("the user's own file")
    assert not (out / INCOMPLETE).exists()

    second = RunFolder(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [INCOMPLETE, MANIFEST, "exclusions", "mine.txt"])
    second.write("mgf-week1.xml", "<c/>")
    second.finish()
    assert json.loads((out / MANIFEST).read_text())["files"] == ["mgf-week1.xml"]
    assert (out / "mine.txt").read_text() == "the user's own file"


def test_a_manifest_cannot_delete_outside_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    (out / MANIFEST).write_text(json.dumps({"files": ["../outside.txt", str(outside)]}))
    RunFolder(out)
    assert outside.read_text() == "keep"


def test_han_keys_file_is_private_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    from emulator.drivers.capture import KEYS_NAME, HanCapture

    capture = HanCapture(tmp_path / "cap")
    capture.close()
    assert _mode(tmp_path / "cap" / KEYS_NAME) == 0o600
