"""The command line as a user meets it: help everywhere, one-line errors, the demo runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

S1LAB = [sys.executable, "-m", "harness"]

SUBCOMMANDS = [[], ["demo"], ["pki"], ["pki", "init"], ["serve"], ["headend"],
               ["headend", "read"], ["profiles"], ["profiles", "list"], ["profiles", "check"]]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*S1LAB, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.mark.io
@pytest.mark.parametrize("sub", SUBCOMMANDS, ids=lambda s: " ".join(s) or "s1lab")
def test_help_on_every_subcommand(sub: list[str]) -> None:
    result = run(*sub, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.io
@pytest.mark.parametrize("args, needle", [
    (["demo", "--installations", "0"], "--installations"),
    (["demo", "--days", "x"], "--days"),
    (["serve", "--pki", "/nonexistent", "--listen", "127.0.0.1:0"], "/nonexistent"),
    (["serve", "--pki", "/tmp", "--listen", "nohostport"], "HOST:PORT"),
    (["headend", "read", "--pki", "/nonexistent", "--role", "smso", "--connect", "127.0.0.1:1"],
     "nonexistent"),
    (["nosuchcommand"], "nosuchcommand"),
    (["profiles", "check", "no-such-dmc"], "no-such-dmc"),
])
def test_bad_input_gives_one_line(args: list[str], needle: str) -> None:
    assert needle in _one_line_error(run(*args))


@pytest.mark.io
def test_broken_profile_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad-dmc.yaml"
    bad.write_text("schema_version: 1\nname: bad\ndescription: broken\ngroup_id: ZZ\n"
                   "csp: north\nchf: acme-chf\nesme: acme-esme-prepay\n")
    line = _one_line_error(run("demo", "--profile", str(bad), "--days", "0.1"))
    assert "bad-dmc.yaml" in line and "group_id" in line


@pytest.mark.io
def test_pki_init_then_demo_command(tmp_path: Path) -> None:
    result = run("pki", "init", str(tmp_path / "pki"), "--chfs", "3")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "pki" / "keystore.json").exists()
    again = run("pki", "init", str(tmp_path / "pki"))
    assert "not empty" in _one_line_error(again) or "exists" in _one_line_error(again)

    out = tmp_path / "demo"
    result = run("demo", "--installations", "3", "--days", "0.5", "--seed", "9", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "s1lab demo" in result.stdout  # the summary table
    summary = json.loads((out / "summary.json").read_text())
    assert summary["installations"] == 3 and summary["seed"] == 9
    assert (out / "trace.jsonl").stat().st_size > 0


@pytest.mark.io
def test_unwritable_output_folder_is_bad_input() -> None:
    line = _one_line_error(run("demo", "-n", "1", "--days", "0.01", "--capture", "/proc/nope",
                               "--out", "/proc/nope2"))
    assert "/proc/nope" in line and "internal error" not in line
