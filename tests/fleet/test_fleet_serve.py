"""`s1lab fleet serve` with 50 installations on real TCP, met by openssl s_client, `s1lab headend
read` and a real Mosquitto carrying faults and malformed commands."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from tests.fleet.conftest import (
    Mosquitto,
    Served,
    finish,
    s1lab,
    s1lab_json,
    start_fleet,
    start_mosquitto,
    stop,
)
from tests.fleet.schemas import check

pytestmark = [pytest.mark.io, pytest.mark.slow]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    b = start_mosquitto(tmp_path_factory.mktemp("broker"))
    try:
        yield b
    finally:
        stop(b.proc)


@pytest.fixture(scope="module")
def fleet(fleet_pki: Path, broker: Mosquitto,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, object]]]:
    manifest = tmp_path_factory.mktemp("manifest") / "manifest.json"
    served = start_fleet("--installations", "50", "--pki", str(fleet_pki), "--listen",
                         "127.0.0.1:0", "--manifest", str(manifest), "--broker", broker.url,
                         "--status-every", "1", "--seed", "7")
    try:
        yield served, json.loads(manifest.read_text())
    finally:
        code, out, err = finish(served)
        assert code == 0, err
        assert "stopped" in out


def entry(manifest: dict[str, object], n: int) -> dict[str, object]:
    installations = manifest["installations"]
    assert isinstance(installations, list)
    e = installations[n - 1]
    assert isinstance(e, dict)
    return e


def address(e: dict[str, object]) -> str:
    return f"{e['address']}:{e['port']}"


def test_manifest_lists_every_installation_with_its_own_address_and_certificate(
        fleet: tuple[Served, dict[str, object]], fleet_pki: Path) -> None:
    _, manifest = fleet
    assert manifest["format"] == "s1lab-fleet-manifest/1"
    installations = manifest["installations"]
    assert isinstance(installations, list) and len(installations) == 50
    assert len({e["address"] for e in installations}) == 50
    assert len({e["chf_eui"] for e in installations}) == 50
    assert len({e["chf_certificate_sha256"] for e in installations}) == 50
    e = entry(manifest, 17)
    assert e["id"] == "i00017" and e["chf_eui"] == "00-1B-C5-0C-00-00-00-11"
    assert e["address"] == "127.1.0.17"
    devices = e["devices"]
    assert isinstance(devices, dict)
    assert set(devices) == {"esme", "gsme", "ppmid", "ihd"}
    assert devices["esme"]["mpan"] and devices["gsme"]["mprn"]
    fp = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                         str(fleet_pki / "chf" / str(e["chf_eui"]) / "chf.pem")],
                        capture_output=True, text=True, check=True).stdout
    assert fp.strip().split("=", 1)[1] == e["chf_certificate_sha256"]


@pytest.mark.parametrize("n", [3, 42])
def test_openssl_reaches_each_chf_at_its_own_address(
        fleet: tuple[Served, dict[str, object]], fleet_pki: Path, n: int) -> None:
    _, manifest = fleet
    e = entry(manifest, n)
    r = subprocess.run(
        ["openssl", "s_client", "-connect", address(e), "-cert",
         str(fleet_pki / "headend-smso.pem"), "-key", str(fleet_pki / "headend-smso.key"),
         "-CAfile", str(fleet_pki / "device-ca.pem"), "-verify_return_error", "-brief"],
        input="", capture_output=True, text=True, timeout=20, check=False)
    assert "CONNECTION ESTABLISHED" in r.stderr, r.stderr
    assert f"CN = {e['chf_eui']}" in r.stderr


def test_a_client_certificate_of_no_trusted_ca_is_refused(
        fleet: tuple[Served, dict[str, object]], fleet_pki: Path) -> None:
    _, manifest = fleet
    # The S1SP head-end's certificate: the CHFs trust only the SMSO CA before migration.
    r = subprocess.run(
        ["openssl", "s_client", "-connect", address(entry(manifest, 5)), "-cert",
         str(fleet_pki / "headend-s1sp.pem"), "-key", str(fleet_pki / "headend-s1sp.key"),
         "-CAfile", str(fleet_pki / "device-ca.pem"), "-brief", "-tls1_2"],
        input="", capture_output=True, text=True, timeout=20, check=False)
    assert "CONNECTION ESTABLISHED" not in r.stderr


@pytest.mark.parametrize("n", [1, 50])
def test_headend_read_gets_each_chfs_own_eui_and_registers(
        fleet: tuple[Served, dict[str, object]], fleet_pki: Path, n: int) -> None:
    _, manifest = fleet
    e = entry(manifest, n)
    result = s1lab_json("headend", "read", "--connect", address(e), "--pki", str(fleet_pki),
                        "--role", "smso")
    assert isinstance(result, dict)
    assert result["chf"] == e["chf_eui"]
    devices = e["devices"]
    assert isinstance(devices, dict)
    esme = result["readings"][devices["esme"]["eui"]]
    assert "import_wh" in esme and esme["supply_state"] == "ENABLED"
    assert devices["gsme"]["eui"] in result["readings"]


def test_fault_over_mqtt_shows_in_a_read_and_clears(
        fleet: tuple[Served, dict[str, object]], fleet_pki: Path, broker: Mosquitto) -> None:
    _, manifest = fleet
    e = entry(manifest, 9)
    devices = e["devices"]
    assert isinstance(devices, dict)
    esme = devices["esme"]["eui"]
    r = s1lab("fleet", "fault", "--broker", broker.url, "--installation", "i00009",
              "link-down:esme@0s+1h")
    assert r.returncode == 0, r.stderr
    reply = json.loads(r.stdout)
    assert reply["ok"] is True and reply["installation"] == "i00009"
    read = s1lab_json("headend", "read", "--connect", address(e), "--pki", str(fleet_pki),
                      "--role", "smso")
    assert isinstance(read, dict)
    assert read["readings"][esme]["error"] == "DEVICE_UNREACHABLE"
    # a neighbour is untouched
    other = entry(manifest, 10)
    ok = s1lab_json("headend", "read", "--connect", address(other), "--pki", str(fleet_pki),
                    "--role", "smso")
    assert isinstance(ok, dict) and "import_wh" in next(iter(ok["readings"].values()))
    cleared = s1lab_json("fleet", "command", "--broker", broker.url, "--target", "i00009",
                         "clear", "kind=link-down", "device=esme")
    assert isinstance(cleared, dict) and cleared["result"]["cleared"] == ["esme"]
    again = s1lab_json("headend", "read", "--connect", address(e), "--pki", str(fleet_pki),
                       "--role", "smso")
    assert isinstance(again, dict) and "import_wh" in again["readings"][esme]


def test_supply_and_topup_commands_change_the_meter(
        fleet: tuple[Served, dict[str, object]], fleet_pki: Path, broker: Mosquitto) -> None:
    _, manifest = fleet
    before = s1lab_json("fleet", "command", "--broker", broker.url, "--target", "i00011", "read")
    assert isinstance(before, dict)
    balance = before["result"]["esme"]["balance_pence"]
    top = s1lab_json("fleet", "command", "--broker", broker.url, "--target", "i00011", "topup",
                     "pence=700")
    assert isinstance(top, dict) and top["result"]["status"] == "ACCEPTED"
    assert top["result"]["balance_pence"] >= balance + 700 - 5  # a few pence of usage
    off = s1lab_json("fleet", "command", "--broker", broker.url, "--target", "i00011", "supply",
                     "action=disable")
    assert isinstance(off, dict) and off["result"]["supply_state"] == "DISABLED"
    e = entry(manifest, 11)
    read = s1lab_json("headend", "read", "--connect", address(e), "--pki", str(fleet_pki),
                      "--role", "smso")
    devices = e["devices"]
    assert isinstance(read, dict) and isinstance(devices, dict)
    assert read["readings"][devices["esme"]["eui"]]["supply_state"] == "DISABLED"


async def _exchange(broker: Mosquitto, topic: str, payload: bytes,
                    listen: str = "s1lab/reply/#") -> list[dict[str, object]]:
    replies: list[dict[str, object]] = []
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.subscribe(listen, qos=1)
        await client.publish(topic, payload, qos=1)
        try:
            async with asyncio.timeout(3):
                async for message in client.messages:
                    replies.append(json.loads(bytes(message.payload)))  # type: ignore[arg-type]
                    if len(replies) == 1:
                        break
        except TimeoutError:
            pass
    return replies


@pytest.mark.parametrize(("target", "payload", "code"), [
    ("i00004", b"{not json", "malformed"),
    ("i00004", b"[1, 2]", "malformed"),
    ("i00004", b'{"op": "explode"}', "unknown-op"),
    ("i00004", b'{"op": "fault"}', "malformed"),
    ("i00004", b'{"op": "fault", "spec": "loss:toaster=0.5"}', "failed"),
    ("i00004", b'{"op": "supply", "action": "sideways"}', "bad-argument"),
    ("i00777", b'{"op": "read"}', "unknown-installation"),
    ("nobody", b'{"op": "read"}', "unknown-installation"),
])
def test_a_malformed_command_gets_an_error_reply_and_the_fleet_keeps_serving(
        fleet: tuple[Served, dict[str, object]], fleet_pki: Path, broker: Mosquitto,
        target: str, payload: bytes, code: str) -> None:
    served, manifest = fleet
    replies = asyncio.run(_exchange(broker, f"s1lab/cmd/{target}", payload))
    assert len(replies) == 1, replies
    check("reply", replies[0])
    assert replies[0]["ok"] is False
    error = replies[0]["error"]
    assert isinstance(error, dict) and error["code"] == code
    assert served.proc.poll() is None
    read = s1lab_json("headend", "read", "--connect", address(entry(manifest, 4)), "--pki",
                      str(fleet_pki), "--role", "smso")
    assert isinstance(read, dict) and read["chf"] == entry(manifest, 4)["chf_eui"]


def test_status_shows_the_running_shard(fleet: tuple[Served, dict[str, object]],
                                        broker: Mosquitto) -> None:
    statuses = s1lab_json("fleet", "status", "--broker", broker.url, "--json")
    assert isinstance(statuses, dict)
    s = statuses["1-of-1"]
    check("status", s)
    check("fleet-manifest", fleet[1])
    assert s["state"] == "running" and s["installations"] == 50
    assert s["first"] == "i00001" and s["last"] == "i00050"


def test_events_of_the_asked_kinds_are_published(fleet: tuple[Served, dict[str, object]],
                                                 broker: Mosquitto) -> None:
    command = json.dumps({"id": 1, "op": "fault", "spec": "loss:ihd=0.1"}).encode()
    events = asyncio.run(_exchange(broker, "s1lab/cmd/i00020", command,
                                   listen="s1lab/event/i00020/+"))
    assert len(events) == 1
    check("event", events[0])
    assert events[0]["event"] == "FaultApplied" and events[0]["installation"] == "i00020"
