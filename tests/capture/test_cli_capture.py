"""The capture options as a user meets them: --keylog, --capture, `s1lab wireshark install`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wireshark import dissector_path

S1LAB = [sys.executable, "-m", "harness"]
pytestmark = pytest.mark.io


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*S1LAB, *args], capture_output=True, text=True, timeout=300,
                          check=False, env=env)


def test_wireshark_install_copies_the_shipped_dissector(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    result = run("wireshark", "install", "--dir", str(folder))
    assert result.returncode == 0, result.stderr
    installed = folder / "s1lab.lua"
    assert result.stdout.strip() == f"installed {installed}"
    assert installed.read_bytes() == dissector_path().read_bytes()
    assert 'DissectorTable.get("tls.alpn"):add(ALPN, s1lab)' in installed.read_text()
    assert run("wireshark", "install", "--dir", str(folder)).returncode == 0  # again: replaced
    assert sorted(p.name for p in folder.iterdir()) == ["s1lab.lua"]


def test_demo_keylog_option_and_environment(tmp_path: Path) -> None:
    keylog = tmp_path / "keys.txt"
    result = run("demo", "-n", "1", "--days", "0.05", "--han", "direct", "--out",
                 str(tmp_path / "out"), "--keylog", str(keylog))
    assert result.returncode == 0, result.stderr
    assert keylog.stat().st_mode & 0o777 == 0o600
    assert "CLIENT_TRAFFIC_SECRET_0" in keylog.read_text() or "CLIENT_RANDOM" in keylog.read_text()
    env_log = tmp_path / "env.txt"
    result = run("demo", "-n", "1", "--days", "0.05", "--han", "direct", "--out",
                 str(tmp_path / "out2"), env={**os.environ, "SSLKEYLOGFILE": str(env_log)})
    assert result.returncode == 0, result.stderr
    assert env_log.stat().st_mode & 0o777 == 0o600 and env_log.read_text().strip()


def test_bad_keylog_is_one_line_of_bad_input(tmp_path: Path) -> None:
    result = run("demo", "-n", "1", "--days", "0.05", "--out", str(tmp_path / "out"),
                 "--keylog", str(tmp_path / "no" / "such" / "keys.txt"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("s1lab demo: error: ") and "keys.txt" in lines[0]
    assert "Traceback" not in result.stderr


def test_installed_dissector_is_loaded_by_tshark_from_the_personal_folder(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    result = run("wireshark", "install", env=env)
    assert result.returncode == 0, result.stderr
    assert (home / ".local" / "lib" / "wireshark" / "plugins" / "s1lab.lua").is_file()
    protocols = subprocess.run(["tshark", "-G", "protocols"], capture_output=True, text=True,
                               env=env, timeout=120, check=True).stdout
    assert "s1lab WAN protocol v1\tS1LAB\ts1lab" in protocols.splitlines()
