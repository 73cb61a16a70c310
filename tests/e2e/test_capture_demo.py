"""`s1lab demo --capture`: tshark decrypts the HAN and shows the readings the trace records."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from emulator.drivers.clock import run_virtual
from emulator.errors import FaultSpecError
from harness.demo import DemoConfig, run_demo
from harness.faults import parse_fault

pytestmark = pytest.mark.io
METERING = 0x0702


def _tshark(pcap: Path, args: list[str], *extra: str) -> str:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.fail("tshark is missing: run scripts/setup.sh (make test does)")
    result = subprocess.run([tshark, "-r", str(pcap), *args, *extra], capture_output=True,
                            text=True, timeout=120, check=True)
    return result.stdout


def test_demo_capture_decrypts_to_the_values_in_the_trace(tmp_path: Path) -> None:
    from emulator.drivers.capture import HanCapture

    out, cap = tmp_path / "out", tmp_path / "cap"
    run_virtual(run_demo(DemoConfig(installations=2, days=0.5, seed=4, out=out, capture=cap)))
    pcap = cap / "han.pcap"
    assert pcap.stat().st_size > 10_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["han_frames"] > 500

    # The keys the capture wrote are what tshark needs; rebuild the arguments from the file.
    keys = [line for line in (cap / "han-keys.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    args = [a for line in keys for a in ("-o", f"uat:zigbee_pc_keys:{line}")]
    assert len(keys) == 2 + 2 * 4  # two network keys, four devices' link keys each
    assert HanCapture  # the driver that wrote them

    assert _tshark(pcap, args, "-Y", "_ws.malformed") == ""
    # APS link-key security (CHF <-> device SE traffic) decrypts too: every such frame shows ZCL.
    aps_secured = _tshark(pcap, args, "-Y", "zbee.sec.key_id == 0x00").splitlines()
    aps_decoded = _tshark(pcap, args, "-Y", "zbee.sec.key_id == 0x00 and zbee_zcl").splitlines()
    assert len(aps_secured) > 50 and len(aps_decoded) == len(aps_secured)
    # ...and without the keys nothing is readable.
    assert _tshark(pcap, [], "-Y", "zbee_zcl") == ""
    assert _tshark(pcap, args, "-Y", "_ws.expert.severity >= warning") == ""

    fields = _tshark(pcap, args, "-Y", f"zbee_aps.cluster == {METERING:#06x}", "-T", "fields",
                     "-e", "zbee_zcl.cmd.id", "-e", "zbee_zcl.attr.uint48",
                     "-e", "zbee_zcl.attr.id")
    responses: set[int] = set()
    reports: set[int] = set()
    for line in fields.splitlines():
        cmd, uint48, *_ = (line.split("\t") + ["", ""])[:3]
        values = {int(v, 0) for v in uint48.split(",") if v}
        if cmd == "0x01":
            responses |= values  # Read Attributes Response: CurrentSummationDelivered
        elif cmd == "0x0a":
            reports |= values  # Report Attributes (GSME into its mirror)
    assert responses and reports

    trace = [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()]
    readings = [t["fields"] for t in trace if t["event"] == "ReadingReceived"]
    electricity = {r["import_wh"] for r in readings if "import_wh" in r}
    gas = {r["volume_dm3"] for r in readings if "volume_dm3" in r}
    assert electricity and gas
    assert electricity <= responses  # every register the head-end got went over the HAN
    assert gas <= reports  # every gas reading came from a report the GSME sent


def test_fault_spec_parsing() -> None:
    f = parse_fault("link-down:gsme@1h+73h#2")
    assert (f.kind, f.device, f.start_us, f.duration_us, f.installation) == (
        "link-down", "gsme", 3600 * 10**6, 73 * 3600 * 10**6, 2)
    assert parse_fault("loss:esme=0.25").value == 0.25
    assert parse_fault("battery-flat@2d").start_us == 2 * 86400 * 10**6
    assert parse_fault("ota-stall:chf@30m").kind == "ota-stall"
    for bad in ["nope", "loss:esme=2", "link-down:gsme@1h", "clock-skew:esme", "ota-stall",
                "ota-activation-fails:esme=1", "counter-reset:esme=3"]:
        with pytest.raises(FaultSpecError):
            parse_fault(bad)
