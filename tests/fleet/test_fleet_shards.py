"""Two shards as two processes on one Mosquitto: `fleet status` shows both; a killed shard
shows as gone (its last will); commands find the shard that owns the installation."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fleet.conftest import Mosquitto, Served, s1lab, s1lab_json

pytestmark = [pytest.mark.io, pytest.mark.slow]


def statuses(broker: Mosquitto) -> dict[str, dict[str, object]]:
    got = s1lab_json("fleet", "status", "--broker", broker.url, "--json", "--wait", "0.5")
    assert isinstance(got, dict)
    return got


def test_two_shards_share_a_broker_and_a_killed_one_shows_gone(
        fleet_pki: Path, mosquitto: Mosquitto, fleets: Callable[..., Served],
        tmp_path: Path) -> None:
    common = ["--installations", "9", "--pki", str(fleet_pki), "--listen", "127.0.0.1:0",
              "--broker", mosquitto.url, "--status-every", "1"]
    one = fleets(*common, "--shard", "1/2", "--manifest", str(tmp_path / "m1.json"))
    two = fleets(*common, "--shard", "2/2", "--manifest", str(tmp_path / "m2.json"))
    m1 = json.loads((tmp_path / "m1.json").read_text())["installations"]
    m2 = json.loads((tmp_path / "m2.json").read_text())["installations"]
    assert [e["id"] for e in m1] == ["i00001", "i00002", "i00003", "i00004"]
    assert [e["id"] for e in m2] == ["i00005", "i00006", "i00007", "i00008", "i00009"]

    seen = statuses(mosquitto)
    assert set(seen) == {"1-of-2", "2-of-2"}
    assert all(s["state"] == "running" for s in seen.values())
    assert seen["2-of-2"]["pid"] == two.proc.pid
    text = s1lab("fleet", "status", "--broker", mosquitto.url).stdout
    assert "2 shard(s) seen, 2 running, 9 installations" in text

    # each command is answered by the shard that owns the installation
    for target, shard in (("i00002", "1/2"), ("i00008", "2/2")):
        reply = s1lab_json("fleet", "command", "--broker", mosquitto.url, "--target", target,
                           "ping")
        assert isinstance(reply, dict) and reply["ok"] and reply["shard"] == shard
    group = s1lab_json("fleet", "command", "--broker", mosquitto.url, "--target", "all",
                       "ping", "--timeout", "3")
    assert isinstance(group, list) and sorted(r["shard"] for r in group) == ["1/2", "2/2"]
    assert sum(len(r["results"]) for r in group) == 9

    two.proc.send_signal(signal.SIGKILL)
    two.proc.wait(timeout=10)
    deadline = time.monotonic() + 30  # the broker notices the dropped connection at once
    while time.monotonic() < deadline:
        seen = statuses(mosquitto)
        if seen["2-of-2"]["state"] == "gone":
            break
    assert seen["2-of-2"]["state"] == "gone"
    assert seen["1-of-2"]["state"] == "running"
    text = s1lab("fleet", "status", "--broker", mosquitto.url).stdout
    assert "1 running, 4 installations" in text and "gone" in text
    r = s1lab("fleet", "command", "--broker", mosquitto.url, "--target", "i00008", "ping",
              "--timeout", "1")
    assert r.returncode == 2 and "no reply from i00008" in r.stderr

    one.proc.send_signal(signal.SIGTERM)
    one.proc.wait(timeout=20)
    assert statuses(mosquitto)["1-of-2"]["state"] == "stopped"


def test_a_shard_runs_from_a_pki_folder_of_its_own_slice(
        fleet_pki: Path, fleets: Callable[..., Served], tmp_path: Path) -> None:
    # Installations 3..5 of 5: the host mints only their certificates, from the same seed.
    own = tmp_path / "pki-shard-2"
    r = s1lab("pki", "init", str(own), "--chfs", "3", "--first-eui", "00-1B-C5-0C-00-00-00-03",
              "--seed", "1")
    assert r.returncode == 0, r.stderr
    served = fleets("--installations", "5", "--shard", "2/2", "--pki", str(own), "--listen",
                    "127.0.0.1:0", "--addresses", "127.2.0.0/16")
    assert "i00003..i00005" in served.ready
    # A head-end set up from another host's folder (same seed) trusts this one's CHFs.
    read = s1lab_json("headend", "read", "--connect", f"127.2.0.4:{served.port}", "--pki",
                      str(fleet_pki), "--role", "smso")
    assert isinstance(read, dict) and read["chf"] == "00-1B-C5-0C-00-00-00-04"
    wrong = s1lab("fleet", "serve", "--installations", "5", "--shard", "1/2", "--pki", str(own),
                  "--listen", "127.0.0.1:0")
    assert wrong.returncode == 2
    assert "no certificate for CHF 00-1B-C5-0C-00-00-00-01" in wrong.stderr
