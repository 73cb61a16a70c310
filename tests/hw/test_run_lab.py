"""`s1lab run CASE --lab LAB.yaml`: a test case with physical devices on a lab radio.

The "physical" ESME is an `s1lab meters --only esme` process on a ZEP radio: to the run it is
physical (it is only on the air, with an EUI and install code the run knows from the lab file
alone; its installation has another CHF and PKI than the run's).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from emulator.core.han_crypto import install_code_link_key
from tests.hw.bench import S1LAB, events, free_port, headend_read, s1lab, zep_pair

pytestmark = pytest.mark.io

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "docs" / "examples" / "bench-esme-read.yaml"
PAN = "0x1A2B"
#: The "physical" meters' installation: not the run's CHF (00-1B-C5-0C-00-00-00-01).
METERS_CHF = "00-0D-6F-00-0A-BC-DE-01"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench-run") / "pki"
    subprocess.run([*S1LAB, "pki", "init", str(folder), "--chfs", "1", "--first-eui",
                    METERS_CHF], check=True, capture_output=True)
    return folder


def _lab(path: Path, radio: str, eui: str, code: str) -> Path:
    path.write_text(
        "schema_version: 1\nname: test bench\nradios:\n"
        f"  bus: {{url: '{radio}', pan_id: {PAN}, model: ZEP over UDP}}\n"
        "devices:\n"
        f"  - {{name: esme-lab-1, type: ESME, eui: {eui}, install_code: {code},\n"
        "     model: s1lab meters playing a physical ESME, radio: bus}\n"
        f"  - {{name: gsme-lab-1, type: GSME, eui: 00-0D-6F-00-0A-BC-DE-F1,\n"
        f"     install_code: {code}, radio: bus}}\n", encoding="utf-8")
    return path


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*S1LAB, "run", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_a_case_passes_with_its_esme_read_over_the_air(pki: Path, tmp_path: Path) -> None:
    run_radio, meters_radio = zep_pair()
    meters = s1lab("meters", "--pki", str(pki), "--radio", meters_radio, "--pan", PAN,
                   "--only", "esme", "--trace", str(tmp_path / "meters.jsonl"), name="meters")
    try:
        line = meters.wait_for("install code")[0]
        m = re.match(r"install code (\S+): ([0-9A-F]+)$", line)
        assert m is not None, line
        eui, code = m.group(1), m.group(2)
        assert eui == "00-0D-6F-00-02-BC-DE-01"  # the meters' own EUI scheme, not the run's
        lab = _lab(tmp_path / "lab.yaml", run_radio, eui, code)
        out = tmp_path / "out"
        r = _run(str(CASE), "--lab", str(lab), "--out", str(out))
    finally:
        meters.stop()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "joined: esme esme-lab-1 (00-0D-6F-00-02-BC-DE-01)" in r.stdout
    result = json.loads((out / "CaseResult.json").read_text())
    assert result["verdict"] == "pass", result["expectations"]
    assert result["physical"] == [{
        "role": "esme", "name": "esme-lab-1", "eui": eui,
        "model": "s1lab meters playing a physical ESME", "radio": "bus",
        "radio_url": run_radio, "joined_us": result["physical"][0]["joined_us"]}]
    assert isinstance(result["physical"][0]["joined_us"], int)
    assert "--lab" in result["repro"] and "--device esme=esme-lab-1" in result["repro"]
    for name in ("trace.jsonl", "han.pcap", "han-keys.txt", "CaseResult.json"):
        assert (out / name).exists(), name
    # The capture's keys hold the physical ESME's link key, from the lab's install code.
    link_key = install_code_link_key(bytes.fromhex(code)).hex().upper()
    assert f'"{link_key}","Normal","link key {eui}"' in (out / "han-keys.txt").read_text()
    trace = events(out / "trace.jsonl")
    readings = [e["fields"] for e in trace if e["event"] == "ReadingReceived"
                and e["fields"]["device"] == eui]
    # Only what came over the air: Metering attributes, nothing from a model of the meter.
    assert len(readings) == 2 and all(f["metering_only"] for f in readings)
    assert all("balance_pence" not in f and "tou_wh" not in f for f in readings)
    assert readings[1]["import_wh"] > readings[0]["import_wh"]
    # The meters process answered the reads: the Metering reads crossed the radio.
    meter_events = [e["event"] for e in events(tmp_path / "meters.jsonl")]
    assert "HanNetworkKeyReceived" in meter_events
    # The GSME stayed emulated in the run's process: read from its in-memory mirror.
    gas = next(x for x in result["expectations"] if x["name"].startswith("outcome of gas"))
    assert gas["passed"]
    assert "Traceback" not in r.stderr + meters.err


def test_a_physical_device_that_never_joins_is_an_error_within_the_wait(
        tmp_path: Path) -> None:
    run_radio, _ = zep_pair()
    lab = _lab(tmp_path / "lab.yaml", run_radio, "00-0D-6F-00-0A-BC-DE-F0",
               "83FED3407A939723A5C639B26916D505C3B5")
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = _run(str(CASE), "--lab", str(lab), "--join-timeout", "3", "--out", str(out))
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stdout + r.stderr
    assert took < 60
    assert "ERROR" in r.stdout
    result = json.loads((out / "CaseResult.json").read_text())
    assert result["verdict"] == "error"
    assert result["error"].startswith("physical device(s) did not join within 3 s on radio bus "
                                      "(PAN 0x1A2B): esme esme-lab-1 (00-0D-6F-00-0A-BC-DE-F0)")
    assert result["physical"][0]["joined_us"] is None
    assert [e for e in events(out / "trace.jsonl") if e["event"] == "BenchJoinTimeout"]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--device", "esme=esme-lab-9"],
     "no device 'esme-lab-9' in the lab file (bound to esme; it has: esme-lab-1, gsme-lab-1)"),
    (["--device", "esme=gsme-lab-1"], "device gsme-lab-1 is a GSME, so it cannot be the "
                                      "case's esme"),
    (["--device", "gsme=esme-lab-1"], "lab device esme-lab-1 is bound to two roles"),
    (["--device", "esme"], "--device 'esme': write ROLE=NAME"),
    (["--radio", "sniffer"], "no radio 'sniffer' in the lab file (it has: bus)"),
    (["--time-limit", "10s"], "over the limit of 10 s"),
])
def test_a_lab_binding_error_is_one_line_and_exit_2(tmp_path: Path, args: list[str],
                                                    message: str) -> None:
    run_radio, _ = zep_pair()
    lab = _lab(tmp_path / "lab.yaml", run_radio, "00-0D-6F-00-0A-BC-DE-F0",
               "83FED3407A939723A5C639B26916D505C3B5")
    r = _run(str(CASE), "--lab", str(lab), *args, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("s1lab run: error: "), r.stderr
    assert message in lines[0]
    assert r.stdout == ""


def test_device_without_lab_is_a_usage_error() -> None:
    r = _run(str(CASE), "--device", "esme=esme-lab-1", timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "s1lab run: error: --radio and --device go with --lab LAB.yaml (see --help)"]


def test_serve_with_the_lab_file_reads_the_physical_esme_over_the_air(pki: Path,
                                                                      tmp_path: Path) -> None:
    """`serve --lab` too: the lab's ESME stands in for the installation's, and a head-end
    read of it carries only its Metering attributes."""
    serve_radio, meters_radio = zep_pair()
    own_pki = tmp_path / "serve-pki"  # the served CHF's own PKI: not the meters'
    subprocess.run([*S1LAB, "pki", "init", str(own_pki), "--chfs", "1"], check=True,
                   capture_output=True)
    meters = s1lab("meters", "--pki", str(pki), "--radio", meters_radio, "--pan", PAN,
                   "--only", "esme", name="meters")
    port = free_port()
    serve = None
    try:
        m = re.match(r"install code (\S+): ([0-9A-F]+)$", meters.wait_for("install code")[0])
        assert m is not None
        eui, code = m.group(1), m.group(2)
        lab = _lab(tmp_path / "lab.yaml", serve_radio, eui, code)
        serve = s1lab("serve", "--listen", f"127.0.0.1:{port}", "--pki", str(own_pki),
                      "--lab", str(lab), "--radio", "bus", name="serve")
        serve.wait_for("listening on")
        meters.wait_for("joined:", timeout=40)
        report = headend_read(own_pki, f"127.0.0.1:{port}")
    finally:
        meters.stop()
        if serve is not None:
            serve.stop()
    states = {e["eui"]: e["state"] for e in report["inventory"]["entries"]}
    assert states[eui] == "JOINED"
    reading = report["readings"][eui]
    assert set(reading) >= {"import_wh", "demand_w", "status"} and reading["demand_w"] > 0
    assert not {"balance_pence", "tou_wh", "payment_mode", "meter_time"} & set(reading)
    versions = {e["eui"] for e in report["firmware"]["entries"]}
    assert eui not in versions  # not known over the air, so not invented
