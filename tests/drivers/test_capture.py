"""The HAN capture driver: pcap + keys + README for Wireshark, and ZEP v2 over UDP."""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.core.han_crypto import build_secured_frame, install_code_link_key
from emulator.drivers.capture import KEYS_NAME, PCAP_NAME, README_NAME, HanCapture
from emulator.errors import MalformedFrame
from emulator.wire.ieee802154 import build_mac, mac_data
from emulator.wire.se_clusters import ClusterId, cluster_command_frame
from emulator.wire.zcl import (
    Attribute,
    DataType,
    Direction,
    ReadAttributeRecord,
    ReadAttributesResponse,
    ReportAttributes,
    zcl_foundation_frame,
)
from emulator.wire.zep import ZepPacket, parse_zep
from emulator.wire.zigbee_aps import ApsHeader, aps_data
from emulator.wire.zigbee_nwk import KeyId, NwkFrameType, NwkHeader, SecurityHeader
from tests.wire.samples import PUBLISH_PRICE

H = bytes.fromhex
CHF = H("001BC50C00000001")
ESME = H("001BC50C00000002")
ESME_EUI = "00-1B-C5-0C-00-00-00-02"
NWK_KEY = H("0102030405060708090A0B0C0D0E0F10")
# ZigBee / Silicon Labs AN1089 example install code -> 66B6900981E1EE3CA4206B6B861C02BB.
LINK_KEY = install_code_link_key(H("83FED3407A939723A5C639B26916D505C3B5"))
PAN = 0x1A62
NOW = 1_767_225_600_123_456  # 2026-01-01T00:00:00.123456Z
TIMES = [NOW, NOW + 1, NOW + 999_999, NOW + 86_400_000_007]



def _counters() -> Iterator[int]:
    return iter(range(5000, 100000))


def _esme_to_chf(counter: int, seq: int, zcl: bytes, cluster: int) -> bytes:
    nwk = NwkHeader(
        NwkFrameType.DATA,
        0x0000,
        0x0001,
        seq,
        src_ieee=ESME,
        aux=SecurityHeader(KeyId.NETWORK, counter, source=ESME, key_seq=0),
    )
    return build_secured_frame(
        mac_data(seq, PAN, 0x0000, 0x0001, b""),
        nwk,
        aps_data(seq, cluster),
        zcl,
        network_key=NWK_KEY,
    )


def _chf_to_esme(counter: int, seq: int, payload: bytes, aps_header: ApsHeader) -> bytes:
    aux = SecurityHeader(KeyId.NETWORK, counter, source=CHF, key_seq=0)
    nwk = NwkHeader(NwkFrameType.DATA, 0x0001, 0x0000, seq, src_ieee=CHF, aux=aux)
    return build_secured_frame(
        mac_data(seq, PAN, 0x0001, 0x0000, b""),
        nwk,
        aps_header,
        payload,
        network_key=NWK_KEY,
        link_key=LINK_KEY,
        aps_source=CHF,
    )


def _frames() -> list[bytes]:
    counter = _counters()
    s2c = Direction.SERVER_TO_CLIENT
    read_rsp = ReadAttributesResponse(
        (ReadAttributeRecord(0x0000, 0, DataType.UINT48, 123_456_789_012),)
    )
    report = ReportAttributes(
        (
            Attribute(0x0000, DataType.UINT48, 123_456_789_999),
            Attribute(0x0400, DataType.INT24, -1200),
        )
    )
    price = cluster_command_frame(ClusterId.PRICE, "PublishPrice", 3, PUBLISH_PRICE)
    return [
        _esme_to_chf(
            next(counter), 1, zcl_foundation_frame(read_rsp, 1, direction=s2c), ClusterId.METERING
        ),
        _esme_to_chf(
            next(counter), 2, zcl_foundation_frame(report, 2, direction=s2c), ClusterId.METERING
        ),
        _chf_to_esme(
            next(counter),
            3,
            price,
            aps_data(3, ClusterId.PRICE, aux=SecurityHeader(KeyId.DATA, next(counter))),
        ),
        build_mac(mac_data(4, PAN, 0x0000, 0x0001, b"")),  # unsecured, empty MAC data frame
    ]


def _write_capture(directory: Path) -> HanCapture:
    capture = HanCapture(directory)
    capture.add_network_key(NWK_KEY, "HAN network key")
    capture.add_network_key(NWK_KEY, "same key again")  # deduplicated
    capture.add_link_key(LINK_KEY, ESME_EUI, "ESME install-code link key")
    capture.add_link_key(LINK_KEY, ESME_EUI, "again")  # deduplicated
    for frame, now in zip(_frames(), TIMES, strict=True):
        capture.frame(frame, now)
    capture.close()
    return capture


def _tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.fail("tshark is missing: run scripts/setup.sh (make test does)")
    return path


def _run(*args: str, cwd: Path) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=True, cwd=cwd).stdout


# --- tshark as the oracle --------------------------------------------------------------------


@pytest.mark.io
def test_tshark_decrypts_with_the_capture_keys(tmp_path: Path) -> None:
    tshark = _tshark()
    capture = _write_capture(tmp_path)
    args = capture.tshark_args()
    assert len(args) == 4  # one network key, one link key

    verbose = _run(tshark, "-r", PCAP_NAME, *args, "-V", cwd=tmp_path)
    assert "Simple Metering" in verbose
    assert "Read Attributes Response" in verbose
    assert "Report Attributes" in verbose
    assert "Current Summation Delivered" in verbose
    assert "123456789012" in verbose
    assert "123456789999" in verbose
    assert "Publish Price" in verbose
    assert "Standard" in verbose  # the price's rate label, under NWK and APS encryption
    assert verbose.count("[Key Label: network key 0]") == 3
    assert verbose.count(f"[Key Label: link key {ESME_EUI}]") == 1

    fields = ["-T", "fields", "-E", "separator=|", "-e", "frame.time_epoch", "-e", "wpan.fcs_ok",
              "-e", "zbee_zcl.attr.uint48", "-e", "zbee_zcl_se.price.price"]  # fmt: skip
    rows = [
        line.split("|")
        for line in _run(tshark, "-r", PCAP_NAME, *args, *fields, cwd=tmp_path).splitlines()
    ]
    assert [r[0] for r in rows] == [f"{t // 1_000_000}.{t % 1_000_000:06d}000" for t in TIMES]
    assert all(r[1] == "1" for r in rows)
    assert [r[2] for r in rows] == ["123456789012", "123456789999", "", ""]
    assert rows[2][3] == "2873"

    assert _run(tshark, "-r", PCAP_NAME, *args, "-Y", "_ws.malformed", cwd=tmp_path) == ""
    problems = "_ws.malformed || _ws.expert.severity >= warning"
    assert _run(tshark, "-r", PCAP_NAME, *args, "-Y", problems, cwd=tmp_path) == ""

    # Without the keys the payload stays encrypted: nothing above ZigBee NWK is decoded.
    plain = _run(tshark, "-r", PCAP_NAME, "-V", cwd=tmp_path)
    assert "ZigBee Network Layer" in plain
    assert plain.count("[Encrypted Payload]") == 3
    assert "Simple Metering" not in plain
    assert "Current Summation Delivered" not in plain
    assert "123456789012" not in plain
    assert "Publish Price" not in plain
    assert "Key Label" not in plain


@pytest.mark.io
def test_readme_command_line_works_as_written(tmp_path: Path) -> None:
    tshark = _tshark()
    _write_capture(tmp_path)
    readme = (tmp_path / README_NAME).read_text()
    command = next(
        line.strip() for line in readme.splitlines() if line.strip().startswith("tshark -r")
    )
    out = subprocess.run(
        shlex.quote(tshark) + command.removeprefix("tshark"),
        shell=True,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert "Current Summation Delivered" in out


# --- scapy as the oracle ---------------------------------------------------------------------


def test_scapy_reads_the_pcap(tmp_path: Path) -> None:
    from scapy.config import conf
    from scapy.layers.dot15d4 import Dot15d4FCS
    from scapy.layers.zigbee import ZigbeeNWK
    from scapy.utils import rdpcap

    frames = _frames()
    _write_capture(tmp_path)
    cfg: Any = conf
    saved = cfg.dot15d4_protocol
    cfg.dot15d4_protocol = "zigbee"
    try:
        packets = rdpcap(str(tmp_path / PCAP_NAME))
    finally:
        cfg.dot15d4_protocol = saved
    compute_fcs: Any = Dot15d4FCS.compute_fcs
    assert len(packets) == len(frames)
    for packet, frame, now in zip(packets, frames, TIMES, strict=True):
        assert bytes(packet) == frame
        assert isinstance(packet, Dot15d4FCS)
        assert int(packet.time * 1_000_000) == now
        assert compute_fcs(packet, frame[:-2]) == frame[-2:]
        assert packet.fcs == int.from_bytes(frame[-2:], "little")
    assert all(ZigbeeNWK in p for p in packets[:3])
    assert ZigbeeNWK not in packets[3]


# --- ZEP over UDP ----------------------------------------------------------------------------


@pytest.mark.io
def test_zep_datagrams() -> None:
    frames = _frames()[:3]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5.0)
        port = receiver.getsockname()[1]
        with HanCapture(zep_to=("127.0.0.1", port), channel=15) as capture:
            for frame, now in zip(frames, TIMES[:3], strict=True):
                capture.frame(frame, now, device_id=0x0102)
            packets = [parse_zep(receiver.recv(2048)) for _ in frames]
        assert capture.frames == 3
        assert capture.zep_errors == 0
    for i, (packet, frame, now) in enumerate(zip(packets, frames, TIMES[:3], strict=True)):
        assert packet == ZepPacket(15, 0x0102, i + 1, now, 1, 255, frame)


@pytest.mark.io
def test_zep_to_a_closed_port_never_raises() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nobody listens on ``port`` now.
    capture = HanCapture(zep_to=("127.0.0.1", port))
    for i in range(20):
        capture.frame(_frames()[3], NOW + i)
    capture.frame(bytes(130), NOW)  # too long for ZEP: counted, not raised
    assert capture.frames == 21
    assert 1 <= capture.zep_errors <= 21
    capture.close()
    capture.close()
    assert capture.closed
    with pytest.raises(ValueError, match="closed"):
        capture.frame(b"", NOW)


# --- keys file, README, flush ----------------------------------------------------------------


def test_keys_file_readme_and_flush(tmp_path: Path) -> None:
    directory = tmp_path / "run" / "han"  # created, parents included
    capture = HanCapture(directory)
    capture.add_network_key(NWK_KEY, "HAN network key")
    capture.add_link_key(LINK_KEY, ESME_EUI, "ESME install-code link key")
    capture.add_link_key(LINK_KEY, None, "the same key, no device")
    frame = _frames()[0]
    capture.frame(frame, NOW)
    assert not (directory / KEYS_NAME).exists()
    capture.flush()

    keys = (directory / KEYS_NAME).read_text().splitlines()
    assert keys[1:] == [
        '"0102030405060708090A0B0C0D0E0F10","Normal","network key 0"',
        f'"66B6900981E1EE3CA4206B6B861C02BB","Normal","link key {ESME_EUI}"',
        '"66B6900981E1EE3CA4206B6B861C02BB","Normal","link key"',
    ]
    args = capture.tshark_args()
    assert args[::2] == ["-o"] * 3
    assert (
        args[1] == 'uat:zigbee_pc_keys:"0102030405060708090A0B0C0D0E0F10","Normal","network key 0"'
    )
    readme = (directory / README_NAME).read_text()
    assert "tshark -r han.pcap" in readme
    for arg in args[1::2]:
        assert f"'{arg}'" in readme  # shell-quoted, as it is typed
    assert "Preferences" in readme and "ZigBee" in readme and "Pre-configured Keys" in readme
    assert "HAN network key" in readme and "ESME install-code link key" in readme
    # The pcap is readable mid-run: header and the first record are on disk.
    assert (directory / PCAP_NAME).stat().st_size == 24 + 16 + len(frame)

    capture.add_network_key(H("A1A2A3A4A5A6A7A8A9AAABACADAEAFB0"), "next network key")
    capture.close()
    capture.close()
    keys = (directory / KEYS_NAME).read_text().splitlines()
    assert keys[2] == '"A1A2A3A4A5A6A7A8A9AAABACADAEAFB0","Normal","network key 1"'
    assert len(capture.tshark_args()) == 8
    capture.flush()  # after close: nothing to do, no error


def test_no_keys_and_bad_keys(tmp_path: Path) -> None:
    with HanCapture(tmp_path) as capture:
        assert capture.tshark_args() == []
        with pytest.raises(MalformedFrame):
            capture.add_network_key(b"short", "bad")
        with pytest.raises(MalformedFrame):
            capture.add_link_key(bytes(15), None, "bad")
    assert "No keys" in (tmp_path / README_NAME).read_text()
    assert (tmp_path / KEYS_NAME).read_text().count("\n") == 1  # the header comment only
    with pytest.raises(ValueError, match="channel"):
        HanCapture(channel=256)


def test_counts_without_outputs() -> None:
    capture = HanCapture()
    capture.frame(_frames()[3], NOW)
    capture.add_network_key(NWK_KEY, "k")
    capture.flush()
    capture.close()
    assert capture.frames == 1 and capture.zep_errors == 0
    assert len(capture.tshark_args()) == 2
