"""`s1lab serve` in real time over TCP, met by openssl s_client and `s1lab headend read`."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.pki import mint_ca, mint_leaf

S1LAB = [sys.executable, "-m", "harness"]
pytestmark = pytest.mark.io


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("serve") / "pki"
    subprocess.run([*S1LAB, "pki", "init", str(folder), "--chfs", "2"], check=True,
                   capture_output=True)
    return folder


class Served:
    def __init__(self, proc: subprocess.Popen[str], line: str) -> None:
        self.proc = proc
        self.line = line
        m = re.search(r"CHF (\S+) listening on ([\d.]+):(\d+)", line)
        assert m, line
        self.eui, self.host, self.port = m.group(1), m.group(2), int(m.group(3))

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def start_serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*S1LAB, "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture
def served(pki: Path) -> Iterator[Served]:
    proc = start_serve("--listen", "127.0.0.1:0", "--pki", str(pki))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        yield Served(proc, line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)  # also closes the pipes


def s_client(served: Served, cert: Path, key: Path, ca: Path, *extra: str,
             stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "s_client", "-connect", served.address, "-cert", str(cert), "-key", str(key),
         "-CAfile", str(ca), "-verify_return_error", "-brief", *extra],
        input=stdin, capture_output=True, text=True, timeout=20, check=False)


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_openssl_with_smso_certificate_completes_handshake(pki: Path, served: Served,
                                                           version: str) -> None:
    r = s_client(served, pki / "headend-smso.pem", pki / "headend-smso.key",
                 pki / "device-ca.pem", version)
    out = r.stdout + r.stderr
    assert "CONNECTION ESTABLISHED" in out, out
    assert "Verification: OK" in out
    assert re.search(r"Peer certificate: CN\s*=\s*" + served.eui, out), out


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_openssl_with_certificate_from_another_ca_is_refused(pki: Path, served: Served,
                                                             tmp_path: Path, version: str) -> None:
    now = int(time.time()) * 1_000_000  # a real-time test: the machine's clock is the run's
    rogue_ca = mint_ca("Rogue CA", "not the SMSO", now, 30, 99)
    rogue = mint_leaf(rogue_ca, "rogue-headend", "not the SMSO", "client", now, 30, 99)
    (tmp_path / "rogue.pem").write_bytes(rogue.cert_pem())
    (tmp_path / "rogue.key").write_bytes(rogue.key_pem())
    # Also the S1SP's genuine certificate: before migration the CHF trusts only the SMSO CA.
    for cert, key in [(tmp_path / "rogue.pem", tmp_path / "rogue.key"),
                      (pki / "headend-s1sp.pem", pki / "headend-s1sp.key")]:
        # In TLS 1.3 the client finishes first; the CHF's refusal arrives as an alert, so
        # send a line and look for it.
        r = s_client(served, cert, key, pki / "device-ca.pem", version, "-ign_eof",
                     stdin="hello\n")
        out = r.stdout + r.stderr
        assert "alert unknown ca" in out, out  # the CHF refuses the head-end's certificate
    assert served.proc.poll() is None  # still serving


def _read(pki: Path, served: Served, role: str = "smso") -> dict[str, object]:
    r = subprocess.run([*S1LAB, "headend", "read", "--connect", served.address, "--pki",
                        str(pki), "--role", role], capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert isinstance(data, dict)
    return data


def test_headend_read_returns_registers_that_advance(pki: Path, served: Served) -> None:
    first = _read(pki, served)
    assert first["chf"] == served.eui
    readings = first["readings"]
    assert isinstance(readings, dict) and len(readings) >= 1
    esme = next(k for k, v in readings.items() if "import_wh" in v)
    deadline = time.monotonic() + 40
    while True:
        time.sleep(2)
        later = _read(pki, served)
        a, b = readings[esme], later["readings"][esme]  # type: ignore[index]
        assert b["meter_time"] > a["meter_time"]
        assert b["import_wh"] >= a["import_wh"]
        if b["import_wh"] > a["import_wh"] or time.monotonic() > deadline:
            break
    assert b["import_wh"] > a["import_wh"], "import register did not advance in 40 s"


def test_headend_read_as_s1sp_is_refused_in_one_line(pki: Path, served: Served) -> None:
    r = subprocess.run([*S1LAB, "headend", "read", "--connect", served.address, "--pki",
                        str(pki), "--role", "s1sp"], capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "TLS" in r.stderr


def test_serve_stops_cleanly_on_sigint_and_sigterm(pki: Path) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = start_serve("--listen", "127.0.0.1:0", "--pki", str(pki))
        assert proc.stdout is not None
        assert "listening" in proc.stdout.readline()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "stopped" in out and "Traceback" not in err


def test_serve_dials_out_to_a_listening_headend(pki: Path) -> None:
    port = free_port()
    reader = subprocess.Popen([*S1LAB, "headend", "read", "--listen", f"127.0.0.1:{port}",
                               "--pki", str(pki), "--role", "smso"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc = start_serve("--connect", f"127.0.0.1:{port}", "--pki", str(pki), "--chf",
                       "00-1B-C5-0C-00-00-00-02")
    try:
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        assert json.loads(out)["chf"] == "00-1B-C5-0C-00-00-00-02"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
