"""Broker URLs, and a real Mosquitto that asks for a password or speaks TLS."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from emulator.pki import mint_ca, mint_leaf
from harness.fleet.broker import FleetError, parse_broker
from tests.fleet.conftest import s1lab, start_mosquitto, stop


def test_urls() -> None:
    b = parse_broker("mqtts://fleet:s%40cret@broker.example?ca=/etc/ca.pem")
    assert (b.host, b.port, b.tls, b.username, b.password, b.ca) == (
        "broker.example", 8883, True, "fleet", "s@cret", "/etc/ca.pem")
    assert parse_broker("mqtt://127.0.0.1").port == 1883
    for bad in ("http://x", "mqtt://", "mqtt://h:99999", "mqtt://h?colour=red"):
        with pytest.raises(FleetError):
            parse_broker(bad)


def test_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S1LAB_MQTT_PASSWORD", "pw")
    assert parse_broker("mqtt://u@h").password == "pw"


@pytest.mark.io
def test_user_and_password(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "fleet", "s3cret"], check=True)
    passwd.chmod(0o600)
    broker = start_mosquitto(tmp_path, f"allow_anonymous false\npassword_file {passwd}\n")
    try:
        ok = s1lab("fleet", "status", "--broker", f"mqtt://fleet:s3cret@127.0.0.1:{broker.port}")
        assert ok.returncode == 0 and "no shards" in ok.stdout, ok.stderr
        bad = s1lab("fleet", "status", "--broker", f"mqtt://fleet:wrong@127.0.0.1:{broker.port}")
        assert bad.returncode == 2 and bad.stderr.startswith("s1lab fleet: error: MQTT broker")
        assert "Traceback" not in bad.stderr
    finally:
        stop(broker.proc)


@pytest.mark.io
def test_mqtts(tmp_path: Path) -> None:
    now = time.time_ns() // 1000  # the broker's TLS checks validity on the machine's clock
    ca = mint_ca("broker CA", "s1lab test", now, 3650, 9)
    leaf = mint_leaf(ca, "localhost", "s1lab test", "server", now, 3650, 9)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem())
    (tmp_path / "server.pem").write_bytes(leaf.cert_pem())
    (tmp_path / "server.key").write_bytes(leaf.key_pem())
    broker = start_mosquitto(tmp_path, f"allow_anonymous true\ncafile {tmp_path / 'ca.pem'}\n"
                                       f"certfile {tmp_path / 'server.pem'}\n"
                                       f"keyfile {tmp_path / 'server.key'}\n")
    try:
        ok = s1lab("fleet", "status", "--broker",
                   f"mqtts://localhost:{broker.port}?ca={tmp_path / 'ca.pem'}")
        assert ok.returncode == 0 and "no shards" in ok.stdout, ok.stderr
        untrusted = s1lab("fleet", "status", "--broker", f"mqtts://localhost:{broker.port}")
        assert untrusted.returncode == 2 and "error" in untrusted.stderr
    finally:
        stop(broker.proc)
