"""One capture of the whole path: tshark with only the shipped dissector follows every ESME
read from the head-end's WAN request, over the HAN and back, with the values of the trace; the
decryption comes from the capture's own Decryption Secrets Block."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.capture.pcapng import merge_with_secrets
from emulator.drivers.clock import run_virtual
from emulator.wire.vocabulary import SupplyState
from harness.demo import DemoConfig, run_demo
from tests.capture.tshark import (
    find_esme_read,
    han_key_args,
    tshark,
    wan_messages,
    zcl_metering,
)

pytestmark = pytest.mark.io
S1LAB = [sys.executable, "-m", "harness"]


@pytest.fixture(scope="module")
def demo_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("demo-capture")
    out, cap = root / "out", root / "cap"
    run_virtual(run_demo(DemoConfig(installations=2, days=0.25, seed=4, out=out, capture=cap)))
    return out, cap


def _count(capture: Path, display_filter: str, *args: str) -> int:
    return len(tshark(capture, *args, "-Y", display_filter, "-T", "fields",
                      "-e", "frame.number").splitlines())


def test_demo_capture_shows_every_esme_read_end_to_end(demo_capture: tuple[Path, Path]) -> None:
    out, cap = demo_capture
    pcapng = cap / "capture.pcapng"
    assert pcapng.stat().st_mode & 0o777 == 0o600
    assert (cap / "tls-keys.txt").stat().st_mode & 0o777 == 0o600
    keys = han_key_args(cap)
    trace = [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()]
    reads = [t for t in trace if t["event"] == "ReadingReceived" and "import_wh" in t["fields"]]
    assert len(reads) >= 20
    wan, han = wan_messages(pcapng), zcl_metering(pcapng, keys)
    chains = []
    for t in reads:
        f = t["fields"]
        chain = find_esme_read(wan, han, chf=f["chf"], esme=f["device"],
                               import_wh=f["import_wh"], by_us=t["us"])
        assert chain.in_time_order, chain
        got = chain.response.fields
        assert got["s1lab.esme.tou_wh"] == [str(v) for v in f["tou_wh"]]
        assert got["s1lab.esme.demand_w"] == [str(f["demand_w"])]
        assert got["s1lab.esme.balance_pence"] == [str(f["balance_pence"])]
        assert int(got["s1lab.esme.supply_state"][0], 0) == SupplyState[f["supply"]]
        assert chain.request.src != chain.response.src  # head-end -> CHF, CHF -> head-end
        chains.append(chain)
    assert len({c.response.number for c in chains}) == len(reads)  # one capture per read

    # Two interfaces, records in time order, nothing malformed, no error-severity expert info.
    info = subprocess.run(["capinfos", "-M", str(pcapng)], capture_output=True, text=True,
                          check=True).stdout
    assert "Strict time order:   True" in info and "Number of interfaces in file: 2" in info
    assert _count(pcapng, "_ws.malformed", *keys) == 0
    assert _count(pcapng, "_ws.expert.severity >= error", *keys) == 0
    assert _count(pcapng, "tcp.analysis.flags and not tcp.analysis.window_update") == 0


def test_the_readme_command_decodes_in_place(demo_capture: tuple[Path, Path]) -> None:
    _, cap = demo_capture
    readme = (cap / "README.txt").read_text().splitlines()
    commands = [line.strip() for line in readme if line.strip().startswith("tshark -X")]
    assert len(commands) == 2 and all("capture.pcapng" in c for c in commands)
    done = subprocess.run(shlex.split(commands[1]), cwd=cap, capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.count("READ_INSTANTANEOUS_RESPONSE") >= 20


def test_without_the_secrets_block_the_wan_stays_encrypted(
        demo_capture: tuple[Path, Path], tmp_path: Path) -> None:
    _, cap = demo_capture
    parts = [cap / "han.pcap", cap / "wan.pcap"]
    keylog = cap / "tls-keys.txt"
    decoded = _count(cap / "capture.pcapng", "s1lab")
    assert decoded > 40
    # The same records again: with the right key log, then none, then one with wrong secrets.
    right, bare, wrong = (tmp_path / f"{n}.pcapng" for n in ("right", "bare", "wrong"))
    merge_with_secrets(right, parts, keylog)
    merge_with_secrets(bare, parts, None)
    wrong_log = tmp_path / "wrong-keys.txt"
    lines = []
    for line in keylog.read_text().splitlines():
        label, client_random, secret = (line.split(" ") + ["", ""])[:3]
        if line.startswith("#") or not secret:
            continue
        flipped = bytes(b ^ 0x5A for b in bytes.fromhex(secret)).hex()
        lines.append(f"{label} {client_random} {flipped}")
    assert lines
    wrong_log.write_text("\n".join(lines) + "\n")
    merge_with_secrets(wrong, parts, wrong_log)
    assert _count(right, "s1lab") == decoded
    for capture in (bare, wrong, cap / "wan.pcap"):
        assert _count(capture, "s1lab") == 0
        assert _count(capture, "tls.app_data") >= decoded  # still there, encrypted


def _readings(result: dict[str, object]) -> dict[str, dict[str, object]]:
    readings = result["readings"]
    assert isinstance(readings, dict)
    return {eui: r for eui, r in readings.items() if isinstance(r, dict) and "import_wh" in r}


@pytest.mark.slow
def test_serve_and_headend_read_over_tcp_are_captured_end_to_end(tmp_path: Path) -> None:
    pki, scap, hcap = tmp_path / "pki", tmp_path / "serve-cap", tmp_path / "read-cap"
    subprocess.run([*S1LAB, "pki", "init", str(pki), "--chfs", "1"], check=True,
                   capture_output=True)
    keylog = tmp_path / "read-keys.txt"
    serve = subprocess.Popen([*S1LAB, "serve", "--listen", "127.0.0.1:0", "--pki", str(pki),
                              "--capture", str(scap)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        m = re.search(r"listening on ([\d.]+:\d+)", line)
        assert m, line + (serve.stderr.read() if serve.stderr else "")
        done = subprocess.run([*S1LAB, "headend", "read", "--connect", m.group(1), "--pki",
                               str(pki), "--role", "smso", "--capture", str(hcap),
                               "--keylog", str(keylog)],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=30)
    assert serve.returncode == 0
    result = json.loads(done.stdout)
    readings = _readings(result)
    assert len(readings) == 1
    assert keylog.stat().st_mode & 0o777 == 0o600 and "TRAFFIC_SECRET" in keylog.read_text()

    # The CHF's capture: WAN and HAN, the whole read.
    served = scap / "capture.pcapng"
    wan, han = wan_messages(served), zcl_metering(served, han_key_args(scap))
    for esme, r in readings.items():
        chain = find_esme_read(wan, han, chf=str(result["chf"]), esme=esme,
                               import_wh=int(str(r["import_wh"])), by_us=2**62)
        assert chain.in_time_order
        assert chain.response.fields["s1lab.esme.demand_w"] == [str(r["demand_w"])]
        assert chain.response.fields["s1lab.esme.balance_pence"] == [str(r["balance_pence"])]
    assert _count(served, "_ws.malformed or _ws.expert.severity >= error",
                  *han_key_args(scap)) == 0

    # The head-end's own capture (WAN only), its key log given with --keylog.
    seen = wan_messages(hcap / "capture.pcapng")
    replies = [m for m in seen if m.type == 0x81 and "s1lab.esme.import_wh" in m.fields]
    assert [m.fields["s1lab.esme.import_wh"] for m in replies] == [
        [str(r["import_wh"])] for r in readings.values()]
    assert _count(hcap / "capture.pcapng", "_ws.malformed or _ws.expert.severity >= error") == 0
    assert not (hcap / "han.pcap").exists()
