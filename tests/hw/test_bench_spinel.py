"""The bench through Spinel: two `s1lab rcp` on socat pty pairs, bridged by a ZEP bus, with
`serve` and `meters` on their serial ends; tshark decodes the ZEP traffic with the keys."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hw.bench import (
    S1LAB,
    Proc,
    PtyPair,
    events,
    free_port,
    headend_read,
    s1lab,
)

pytestmark = [pytest.mark.io, pytest.mark.slow]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("spinel") / "pki"
    subprocess.run([*S1LAB, "pki", "init", str(folder), "--chfs", "1"], check=True,
                   capture_output=True)
    return folder


class Bench:
    def __init__(self, folder: Path, pki: Path) -> None:
        self.folder = folder
        self.pki = pki
        self.ports = (free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM))
        self.wan = free_port()
        self.pairs = (PtyPair(folder, "chf"), PtyPair(folder, "meters"))
        self.procs: list[Proc] = []

    def zep(self, i: int) -> str:
        return f"zep://127.0.0.1:{self.ports[i]}?peer=127.0.0.1:{self.ports[1 - i]}"

    def rcp(self, i: int) -> Proc:
        p = s1lab("rcp", "--serial", str(self.pairs[i].a), "--radio", self.zep(i),
                  "--eui", f"00-1B-C5-0C-F0-00-00-0{i + 1}", name=f"rcp{i}")
        p.wait_for("virtual RCP on")
        self.procs.append(p)
        return p

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()
        for pair in self.pairs:
            pair.stop()


@pytest.fixture
def bench(tmp_path: Path, pki: Path) -> Iterator[Bench]:
    b = Bench(tmp_path, pki)
    try:
        yield b
    finally:
        b.stop()


def _start(bench: Bench) -> tuple[Proc, Proc]:
    bench.rcp(0)
    bench.rcp(1)
    serve = s1lab("serve", "--listen", f"127.0.0.1:{bench.wan}", "--pki", str(bench.pki),
                  "--radio", f"spinel://{bench.pairs[0].b}", "--capture",
                  str(bench.folder / "cap"), "--trace", str(bench.folder / "serve.jsonl"),
                  name="serve")
    bench.procs.append(serve)
    serve.wait_for("listening on")
    meters = s1lab("meters", "--pki", str(bench.pki), "--radio",
                   f"spinel://{bench.pairs[1].b}?baudrate=460800", "--trace",
                   str(bench.folder / "meters.jsonl"), name="meters")
    bench.procs.append(meters)
    meters.wait_for("joined:", count=4, timeout=30)
    return serve, meters


def test_serve_and_meters_through_two_virtual_rcps_and_tshark_decodes(bench: Bench) -> None:
    tshark = shutil.which("tshark")
    assert tshark is not None, "tshark is missing: run scripts/setup.sh"
    raw = bench.folder / "zep.pcap"
    sniff = subprocess.Popen([tshark, "-q", "-i", "lo", "-f",
                              f"udp port {bench.ports[0]} or udp port {bench.ports[1]}",
                              "-w", str(raw)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # tshark needs a moment before it captures
    try:
        serve, meters = _start(bench)
        report = headend_read(bench.pki, f"127.0.0.1:{bench.wan}")
    finally:
        sniff.send_signal(signal.SIGINT)
        sniff.communicate(timeout=20)
    readings = report["readings"]
    by_type = {e["device_type"]: e["eui"] for e in report["inventory"]["entries"]}
    assert readings[by_type["ESME"]]["demand_w"] > 0
    assert "volume_dm3" in readings[by_type["GSME"]]
    bench.stop()  # flush the traces and the capture's key file
    keys = (bench.folder / "cap" / "han-keys.txt").read_text().splitlines()
    args = [a for line in keys if line.strip() for a in ("-o", f"uat:zigbee_pc_keys:{line}")]
    decode = [tshark, "-r", str(raw), "-d", f"udp.port=={bench.ports[0]},zep",
              "-d", f"udp.port=={bench.ports[1]},zep", *args]

    def shown(*extra: str) -> list[str]:
        r = subprocess.run([*decode, *extra], capture_output=True, text=True, timeout=60,
                           check=True)
        return r.stdout.splitlines()

    assert len(shown("-Y", "wpan.cmd == 0x01")) >= 4  # Association Requests
    assert len(shown("-Y", "wpan.frame_type == 2")) > 20  # the RCPs' MAC acks on the air
    assert shown("-Y", "zbee_aps.cmd.id == 0x05")  # Transport Key, decrypted
    metering = shown("-Y", "zbee_zcl and zbee_aps.cluster == 0x0702", "-T", "fields",
                     "-e", "zbee_zcl_se.met.attr_id")
    assert metering, "no decrypted Metering ZCL in the ZEP capture"
    assert shown("-Y", "_ws.malformed") == []
    assert not [e for e in events(bench.folder / "meters.jsonl") if e["event"] == "RadioLost"]


def test_a_radio_that_disappears_is_reported_and_the_run_recovers(bench: Bench) -> None:
    serve, meters = _start(bench)
    assert headend_read(bench.pki, f"127.0.0.1:{bench.wan}")["readings"]
    bench.pairs[0].stop()  # the CHF's pty pair closes: its RCP and the CHF both lose it
    serve_err = _stderr_line(serve, "lost")
    assert serve_err.startswith("s1lab serve: error: radio spinel://")
    report = headend_read(bench.pki, f"127.0.0.1:{bench.wan}", timeout=15)
    esme = next(e["eui"] for e in report["inventory"]["entries"] if e["device_type"] == "ESME")
    assert "error" in report["readings"][esme]  # no HAN: the ESME read fails, the WAN stays
    bench.pairs[0].start()  # it comes back
    _stderr_line(serve, "is back")
    report = headend_read(bench.pki, f"127.0.0.1:{bench.wan}")
    assert report["readings"][esme]["demand_w"] > 0
    bench.stop()
    lost = [e for e in events(bench.folder / "serve.jsonl")
            if e["event"] in ("RadioLost", "RadioRestored")]
    assert [e["event"] for e in lost][-2:] == ["RadioLost", "RadioRestored"]
    assert "Traceback" not in serve.err + meters.err


def _stderr_line(p: Proc, needle: str, timeout: float = 20.0) -> str:
    """Wait for a line on ``p``'s stderr containing ``needle``."""
    return p.wait_for(needle, timeout, stderr=True)[-1]
