"""Fleet test helpers: a real Mosquitto on a free loopback port, a PKI, `fleet serve` processes."""

from __future__ import annotations

import getpass
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

S1LAB = [sys.executable, "-m", "harness"]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mosquitto:
    port: int
    proc: subprocess.Popen[bytes]
    scheme: str = "mqtt"
    userinfo: str = ""
    query: str = ""

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.userinfo}127.0.0.1:{self.port}{self.query}"


def start_mosquitto(folder: Path, extra: str = "") -> Mosquitto:
    """Mosquitto with a generated config: one listener on 127.0.0.1, no persistence."""
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed (scripts/setup.sh installs it)")
    port = free_port()
    conf = folder / f"mosquitto-{port}.conf"
    # `user`: run as root, mosquitto would otherwise drop to a user that cannot read tmp_path.
    conf.write_text(f"listener {port} 127.0.0.1\npersistence false\nuser {getpass.getuser()}\n"
                    + (extra or "allow_anonymous true\n"))
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return Mosquitto(port, proc)
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"mosquitto exited: {proc.returncode}")
            time.sleep(0.05)
    proc.kill()
    pytest.fail("mosquitto did not start listening")


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = start_mosquitto(tmp_path)
    try:
        yield broker
    finally:
        stop(broker.proc)


@pytest.fixture(scope="module")
def fleet_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fleet") / "pki"
    subprocess.run([*S1LAB, "pki", "init", str(folder), "--chfs", "50", "--seed", "1"], check=True,
                   capture_output=True)
    return folder


@dataclass
class Served:
    proc: subprocess.Popen[str]
    ready: str
    lines: list[str]

    @property
    def port(self) -> int:
        m = re.search(r"port (\d+)", self.ready)
        assert m, self.ready
        return int(m.group(1))


def start_fleet(*args: str, timeout: float = 60.0) -> Served:
    """Start `s1lab fleet serve ARGS` and wait for its ready line."""
    proc = subprocess.Popen([*S1LAB, "fleet", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"fleet serve exited {proc.returncode}: {''.join(lines)}{err}")
        lines.append(line)
        if " ready: " in line:
            return Served(proc, line, lines)
    proc.kill()
    pytest.fail(f"fleet serve not ready in {timeout:g} s: {''.join(lines)}")


def finish(served: Served) -> tuple[int, str, str]:
    if served.proc.poll() is None:
        served.proc.send_signal(signal.SIGTERM)
    out, err = served.proc.communicate(timeout=20)
    return served.proc.returncode, out, err


@pytest.fixture
def fleets() -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*args: str) -> Served:
        served = start_fleet(*args)
        started.append(served)
        return served

    try:
        yield start
    finally:
        for served in started:
            finish(served)


def s1lab(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*S1LAB, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def s1lab_json(*args: str) -> object:
    r = s1lab(*args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)
