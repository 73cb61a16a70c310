"""An independent ZigBee stack on the bench: zigbee-herdsman (zoh adapter, zigbee-on-host) as
the coordinator on s1lab's virtual RCP; an s1lab-emulated ESME joins it with its install code,
is interviewed, and answers its Metering read.

    herdsman --pty-- s1lab rcp --ZEP/UDP-- s1lab meters --only esme

Nothing on the coordinator side is s1lab's: it forms the network, runs the Trust Centre, and
decodes our 802.15.4, NWK, APS (Transport/Verify/Confirm Key), ZDO and ZCL.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from emulator.core.han_crypto import install_code_link_key
from emulator.profiles import default_dmc
from tests.hw.bench import S1LAB, PtyPair, events, s1lab, zep_pair

pytestmark = [pytest.mark.io, pytest.mark.slow]

HERE = Path(__file__).resolve().parent / "herdsman"
PAN = 0x1A62
CHANNEL = 15


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "zigbee-herdsman").is_dir():
        pytest.fail("node or tests/interop/herdsman/node_modules is missing: run scripts/setup.sh")
    return node


def test_herdsman_coordinator_interviews_and_reads_an_emulated_esme(tmp_path: Path) -> None:
    node = _node()
    pki = tmp_path / "pki"
    subprocess.run([*S1LAB, "pki", "init", str(pki), "--chfs", "1"], check=True,
                   capture_output=True)
    pair = PtyPair(tmp_path, "zoh")
    rcp_radio, meters_radio = (f"{u}&channel={CHANNEL}" for u in zep_pair())
    rcp = s1lab("rcp", "--serial", str(pair.a), "--radio", rcp_radio, name="rcp")
    meters = s1lab("meters", "--pki", str(pki), "--only", "esme", "--pan", hex(PAN),
                   "--radio", meters_radio, "--trace", str(tmp_path / "meters.jsonl"),
                   name="meters")
    try:
        rcp.wait_for("virtual RCP on")
        line, = meters.wait_for("install code")
        m = re.search(r"install code (\S+): ([0-9A-F]+)", line)
        assert m, line
        eui, code = m.group(1), m.group(2)
        config = {
            "path": str(pair.b), "panId": PAN, "extendedPanId": "dddddddddddddddd",
            "channel": CHANNEL, "networkKey": "0102030405060708090a0b0c0d0e0f10",
            "device": eui.replace("-", ""), "installCode": code,
            "tcKey": install_code_link_key(bytes.fromhex(code)).hex(),
            "dataDir": str(tmp_path / "zoh"), "timeoutMs": 60_000,
        }
        herdsman = subprocess.run([node, str(HERE / "coordinator.cjs"), json.dumps(config)],
                                  cwd=HERE, capture_output=True, text=True, timeout=90,
                                  check=False)
    finally:
        meters.stop()
        rcp.stop()
        pair.stop()
    said = [json.loads(x) for x in herdsman.stdout.splitlines() if x.startswith("{")]
    kinds = [e["event"] for e in said]
    assert herdsman.returncode == 0, (kinds, herdsman.stdout[-3000:])
    ieee = "0x" + eui.replace("-", "").lower()
    assert {"deviceJoined", "deviceAnnounce"} <= set(kinds)
    done = next(e for e in said if e["event"] == "deviceInterview"
                and e["status"] == "successful")
    model = default_dmc().esme
    assert (done["ieee"], done["modelID"], done["manufacturer"], done["endpoints"]) == (
        ieee, model.model, model.manufacturer, [1])
    reading = next(e for e in said if e["event"] == "metering")
    assert reading["ieee"] == ieee
    assert int(reading["currentSummDelivered"]) >= 0
    assert reading["instantaneousDemand"] > 0  # the emulated ESME's load, through ZCL
    mine = events(tmp_path / "meters.jsonl")
    joined = [e for e in mine if e["event"] == "HanJoined"]
    assert [e["device"] for e in joined] == [eui]
    assert "Traceback" not in meters.err + rcp.err
