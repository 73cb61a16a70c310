"""The command line under hostile or broken input, and its exit status for CI (issue 8, items
11, 16, 18, 20): one line and exit 2 for bad input, never a traceback or exit 70; exit 1 when a
run failed in a way no injected fault explains."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.core.chf import commands as chf_commands
from emulator.outputs import INCOMPLETE
from emulator.wire.vocabulary import MessageType
from harness.cli import main

S1LAB = [sys.executable, "-m", "harness"]


def run(*args: str, preexec: object = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*S1LAB, *args], capture_output=True, text=True, timeout=300,
                          check=False, preexec_fn=preexec)  # type: ignore[arg-type]


def one_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "internal error" not in lines[0]
    return lines[0]


@pytest.mark.io
@pytest.mark.parametrize(("args", "needle"), [
    (["demo", "--days", "nan"], "not a finite number"),
    (["demo", "--days", "inf"], "--days"),
    (["headend", "read", "--pki", "x", "--role", "smso", "--connect", "127.0.0.1:1",
      "--timeout", "nan"], "not a finite number"),
    (["headend", "migrate", "--pki", "x", "--connect", "127.0.0.1:1", "--steps", ""],
     "no steps"),
    (["headend", "migrate", "--pki", "x", "--connect", "127.0.0.1:1", "--steps", " , "],
     "no steps"),
    (["demo", "-n", "1", "--days", "0.01", "--fault", "clock-skew:esme=99999999999"],
     "at most 10 years"),
    (["demo", "-n", "1", "--days", "0.01", "--fault", "link-down:gsme@1h+" + "9" * 400 + "d"],
     "between 0 and 10 years"),
    (["demo", "-n", "1", "--days", "0.01", "--fault", "link-down:gsme@1h+73h#0"],
     "numbered from #1"),
    (["demo", "-n", "1", "--days", "0.01", "--fault", "loss:esme=1.5"], "between 0 and 1"),
    (["migrate", "--group", "CA", "-n", "1", "--fault", "slow-reconnect=1.2.3:#1"],
     "not a number"),
    (["migrate", "--group", "CA", "-n", "1", "--fault", "slow-reconnect=100000000:#1"], "hours"),
])
def test_bad_numbers_and_specs_are_one_line(tmp_path: Path, args: list[str],
                                            needle: str) -> None:
    assert needle in one_line(run(*args, "--out", str(tmp_path / "o")) if args[0] in (
        "demo", "migrate") else run(*args))


@pytest.mark.io
def test_a_binary_profile_file_is_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "profile.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xfe")
    line = one_line(run("demo", "--profile", str(binary), "--days", "0.01"))
    assert "profile.yaml" in line and "not UTF-8" in line


def _disk_full_after_20k() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))


@pytest.mark.io
def test_a_full_disk_is_one_line_and_leaves_the_run_marked_incomplete(tmp_path: Path) -> None:
    out = tmp_path / "out"
    line = one_line(run("demo", "-n", "2", "--days", "0.5", "--out", str(out),
                        preexec=_disk_full_after_20k))
    assert "cannot write" in line and "File too large" in line
    assert (out / INCOMPLETE).exists()
    assert not (out / "trace.jsonl").exists() and not (out / "summary.json").exists()
    assert (out / "trace.jsonl.partial").exists()  # what was written, named as unfinished


@pytest.mark.io
def test_rerunning_migrate_into_a_folder_leaves_no_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "mig"
    first = run("migrate", "--group", "CA", "-n", "2", "--weeks", "2", "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert (out / "scf-week2.xml").exists() and not (out / INCOMPLETE).exists()
    again = run("migrate", "--group", "CA", "-n", "2", "--weeks", "1", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert not (out / "scf-week2.xml").exists()
    assert (out / "mgf-week1.xml").exists() and (out / "trace.jsonl").exists()


# ---- exit status for CI (item 20) and a failing callback (item 11), in-process -------------

def _exit(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
        raise SystemExit(0)
    captured = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def _broken_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> object:
        raise ZeroDivisionError("a bug in a handler")

    monkeypatch.setitem(chf_commands._HANDLERS, MessageType.READ_INSTANTANEOUS, broken)


def test_demo_exits_1_when_requests_fail_with_no_fault_to_explain_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _broken_reads(monkeypatch)
    code, _, err = _exit(["demo", "-n", "2", "--days", "0.3", "--han", "direct",
                          "--out", str(tmp_path)], capsys)
    assert code == 1
    assert err.strip().count("\n") == 0 and "no injected fault" in err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["unexplained_errors"] == summary["errors"] > 0
    assert not (tmp_path / INCOMPLETE).exists()  # the run finished; it just went badly


def test_demo_failures_from_an_injected_fault_exit_0_and_are_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _exit(["demo", "-n", "2", "--days", "0.5", "--out", str(tmp_path),
                          "--fault", "loss:esme=1#2"], capsys)
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["errors_from_faults"] == summary["errors"] > 0
    assert summary["unexplained_errors"] == 0
    assert [r["faults"] for r in summary["per_installation"]] == [[], ["loss:esme=1"]]
    assert "explained by injected faults" in out


def test_migrate_exits_1_on_failures_no_fault_explains(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> object:
        raise ZeroDivisionError("a bug in a handler")

    monkeypatch.setitem(chf_commands._HANDLERS, MessageType.ROTATE_KEYS, broken)
    code, _, err = _exit(["migrate", "--group", "CA", "-n", "2", "--weeks", "1",
                          "--out", str(tmp_path)], capsys)
    assert code == 1 and "no injected fault" in err and err.strip().count("\n") == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["unexplained_failed_attempts"] > 0


def test_migrate_failures_from_faults_exit_0(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _exit(["migrate", "--group", "CA", "-n", "2", "--weeks", "1",
                        "--fault", "fail-rotate:#1", "--out", str(tmp_path)], capsys)
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["failed_attempts_from_faults"] > 0
    assert summary["unexplained_failed_attempts"] == 0


def test_a_failing_device_callback_fails_the_run_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.core.installation import InstallationCore

    # ``fire`` is what the scheduler calls for an installation's deadline (the direct HAN's
    # fire does not go through ``handle_timer``).
    original = InstallationCore.fire
    calls = [0]

    def sometimes_broken(self: InstallationCore, now: int) -> int | None:
        calls[0] += 1
        if calls[0] == 50:
            raise KeyError("00-1B-C5-0C-00-00-00-09")
        return original(self, now)

    monkeypatch.setattr(InstallationCore, "fire", sometimes_broken)
    code, _, err = _exit(["demo", "-n", "2", "--days", "0.5", "--out", str(tmp_path)], capsys)
    assert code != 0 and err.strip().count("\n") == 0
    assert "device callback failed" in err and "KeyError" in err
    assert (tmp_path / INCOMPLETE).exists() and not (tmp_path / "summary.json").exists()


@pytest.mark.io
def test_serve_closes_a_half_open_tcp_connection(tmp_path: Path) -> None:
    import re
    import socket
    import time

    pki = tmp_path / "pki"
    assert run("pki", "init", str(pki)).returncode == 0
    proc = subprocess.Popen([*S1LAB, "serve", "--listen", "127.0.0.1:0", "--pki", str(pki),
                             "--han", "direct", "--handshake-timeout", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        m = re.search(r"listening on ([\d.]+):(\d+)", proc.stdout.readline())
        assert m
        with socket.create_connection((m.group(1), int(m.group(2))), timeout=10) as sock:
            started = time.monotonic()
            assert sock.recv(100) == b""  # closed by the CHF, not by us; nothing was sent
            assert 0.5 < time.monotonic() - started < 8
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
