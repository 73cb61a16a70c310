"""`s1lab serve --radio zep://...` and `s1lab meters --radio zep://...` as two processes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.hw.bench import S1LAB, events, free_port, headend_read, s1lab, zep_pair

pytestmark = pytest.mark.io


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench") / "pki"
    subprocess.run([*S1LAB, "pki", "init", str(folder), "--chfs", "1"], check=True,
                   capture_output=True)
    return folder


def test_meters_join_a_served_chf_over_zep_and_headend_reads_them(pki: Path,
                                                                  tmp_path: Path) -> None:
    chf_radio, meters_radio = zep_pair()
    port = free_port()
    serve = s1lab("serve", "--listen", f"127.0.0.1:{port}", "--pki", str(pki), "--radio",
                  chf_radio, "--trace", str(tmp_path / "serve.jsonl"), name="serve")
    meters = s1lab("meters", "--pki", str(pki), "--radio", meters_radio, "--trace",
                   str(tmp_path / "meters.jsonl"), name="meters")
    try:
        serve.wait_for("listening on")
        joined = meters.wait_for("joined:", count=4)
        report = headend_read(pki, f"127.0.0.1:{port}")
    finally:
        meters.stop()
        serve.stop()
    shorts = {m.group(1) for line in joined if (m := re.search(r"as (0x[0-9A-F]{4})", line))}
    assert len(shorts) == 4 and "0x0000" not in shorts and "0xFFFE" not in shorts
    states = {e["device_type"]: e["state"] for e in report["inventory"]["entries"]}
    assert states == {"ESME": "JOINED", "GSME": "JOINED", "PPMID": "JOINED", "IHD": "JOINED"}
    esme = next(e["eui"] for e in report["inventory"]["entries"] if e["device_type"] == "ESME")
    gsme = next(e["eui"] for e in report["inventory"]["entries"] if e["device_type"] == "GSME")
    assert report["readings"][esme]["demand_w"] > 0  # decoded from the ESME's ZCL answer
    assert "volume_dm3" in report["readings"][gsme]  # the mirror, filled over the air
    # Each side ran only its own half: the meters learnt the network key by joining, the
    # CHF admitted them as the Trust Centre.
    meter_events = [e["event"] for e in events(tmp_path / "meters.jsonl")]
    assert meter_events.count("HanNetworkKeyReceived") == 4
    assert meter_events.count("HanAssociated") == 4
    serve_events = events(tmp_path / "serve.jsonl")
    assert not [e for e in serve_events if e["event"] == "HanJoinFailed"]
    assert "Traceback" not in serve.err + meters.err


def test_bad_radio_url_is_one_line(pki: Path) -> None:
    r = subprocess.run([*S1LAB, "meters", "--pki", str(pki), "--radio", "udp://x"],
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 2
    assert r.stderr.startswith("s1lab meters: error: udp://x: unknown radio")
    assert len(r.stderr.strip().splitlines()) == 1
