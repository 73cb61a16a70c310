"""Migration against `s1lab serve` over TCP, checked with openssl s_client: after a migration
the SMSO head-end certificate is refused and the S1SP's accepted; after a rollback, the reverse."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

S1LAB = [sys.executable, "-m", "harness"]
pytestmark = pytest.mark.io


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    pki = tmp_path / "pki"
    subprocess.run([*S1LAB, "pki", "init", str(pki)], check=True, capture_output=True)
    proc = subprocess.Popen([*S1LAB, "serve", "--listen", "127.0.0.1:0", "--pki", str(pki)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    m = re.search(r"listening on ([\d.]+:\d+)", proc.stdout.readline())
    assert m
    try:
        yield pki, m.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)


def accepted(pki: Path, address: str, role: str) -> bool:
    r = subprocess.run(
        ["openssl", "s_client", "-connect", address, "-cert", str(pki / f"headend-{role}.pem"),
         "-key", str(pki / f"headend-{role}.key"), "-CAfile", str(pki / "device-ca.pem"),
         "-brief", "-tls1_3", "-ign_eof"], input="hello\n", capture_output=True, text=True,
        timeout=20, check=False)
    out = r.stdout + r.stderr
    assert "CONNECTION ESTABLISHED" in out or "alert" in out, out
    return "alert unknown ca" not in out


def s1lab(*args: str) -> dict[str, object]:
    r = subprocess.run([*S1LAB, *args], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert isinstance(data, dict)
    return data


def test_migration_then_rollback_seen_by_openssl(served: tuple[Path, str]) -> None:
    pki, address = served
    assert accepted(pki, address, "smso") and not accepted(pki, address, "s1sp")

    state = s1lab("headend", "migrate", "--connect", address, "--pki", str(pki))
    assert state["steps"] == ["rotate", "swap"]
    assert not accepted(pki, address, "smso") and accepted(pki, address, "s1sp")
    reading = s1lab("headend", "read", "--connect", address, "--pki", str(pki), "--role", "s1sp")
    assert reading["readings"]
    refused = subprocess.run([*S1LAB, "headend", "read", "--connect", address, "--pki", str(pki),
                              "--role", "smso"], capture_output=True, text=True, timeout=60,
                             check=False)
    assert refused.returncode != 0 and "UNKNOWN_CA" in refused.stderr

    back = s1lab("headend", "rollback", "--connect", address, "--pki", str(pki))
    assert back["security_state"]["owner"] == "SMSO"  # type: ignore[index]
    assert accepted(pki, address, "smso") and not accepted(pki, address, "s1sp")
    assert s1lab("headend", "read", "--connect", address, "--pki", str(pki),
                 "--role", "smso")["readings"]
