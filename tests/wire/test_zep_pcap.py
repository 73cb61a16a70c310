"""ZEP v2 encapsulation, the pcap writer and the Wireshark key file."""

from __future__ import annotations

import contextlib
import io
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.errors import MalformedFrame
from emulator.wire.ieee802154 import build_mac, mac_data
from emulator.wire.pcap import (
    LINKTYPE_IEEE802_15_4_WITHFCS,
    LINKTYPE_RAW,
    PcapWriter,
    ipv4_udp,
    tshark_key_args,
    write_wireshark_keys,
)
from emulator.wire.zep import ZEP_PORT, ZepAck, ZepPacket, parse_zep, zep_v2, zep_v2_ack

NOW = 1_767_225_600_123_456  # 2026-01-01T00:00:00.123456Z
FRAME = build_mac(mac_data(7, 0x1A62, 0x0000, 0x0001, b"\x08\x10payload"))


def test_zep_v2_layout() -> None:
    data = zep_v2(FRAME, 11, 0x0102, 0x0A0B0C0D, NOW, lqi=200)
    assert len(data) == 32 + len(FRAME)
    assert data[:4] == b"EX\x02\x01"
    assert data[4] == 11
    assert data[5:7] == b"\x01\x02"
    assert data[7] == 1  # LQI/CRC mode 1: Wireshark reads the last two bytes as the FCS
    assert data[8] == 200
    seconds, fraction = struct.unpack(">II", data[9:17])
    assert seconds == NOW // 1_000_000 + 2_208_988_800
    assert abs(fraction / 2**32 - 0.123456) < 1e-6
    assert data[17:21] == bytes.fromhex("0A0B0C0D")
    assert data[21:31] == bytes(10)
    assert data[31] == len(FRAME)
    assert data[32:] == FRAME


def test_zep_round_trip() -> None:
    packet = parse_zep(zep_v2(FRAME, 26, 5, 9, NOW))
    assert packet == ZepPacket(26, 5, 9, NOW, 1, 255, FRAME)
    assert parse_zep(zep_v2_ack(42)) == ZepAck(42)
    assert ZEP_PORT == 17754


def test_zep_rejects_oversized_frame() -> None:
    with pytest.raises(MalformedFrame):
        zep_v2(bytes(128), 11, 1, 1, NOW)


@given(st.binary(max_size=48))
def test_parse_zep_raises_only_malformed(data: bytes) -> None:
    with contextlib.suppress(MalformedFrame):
        parse_zep(data)


@given(st.integers(0, (2**32 - 2_208_988_801) * 1_000_000))  # NTP era 0 ends in 2036
def test_zep_timestamp_round_trip(timestamp_us: int) -> None:
    packet = parse_zep(zep_v2(b"", 11, 1, 1, timestamp_us))
    assert isinstance(packet, ZepPacket)
    assert packet.timestamp_us == timestamp_us


def test_pcap_layout() -> None:
    buf = io.BytesIO()
    with PcapWriter(buf) as writer:
        writer.write(FRAME, NOW)
    data = buf.getvalue()
    magic, major, minor, zone, sigfigs, snaplen, linktype = struct.unpack("<IHHiIII", data[:24])
    assert (magic, major, minor, zone, sigfigs) == (0xA1B2C3D4, 2, 4, 0, 0)
    assert (snaplen, linktype) == (65535, LINKTYPE_IEEE802_15_4_WITHFCS)
    ts_sec, ts_usec, incl, orig = struct.unpack("<IIII", data[24:40])
    assert (ts_sec, ts_usec) == divmod(NOW, 1_000_000)
    assert incl == orig == len(FRAME)
    assert data[40:] == FRAME
    assert not buf.closed  # a stream passed in stays open


def test_pcap_path_and_closed_writer(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    writer = PcapWriter(path)
    writer.write(FRAME, NOW)
    writer.close()
    writer.close()
    assert path.stat().st_size == 24 + 16 + len(FRAME)
    with pytest.raises(ValueError, match="closed"):
        writer.write(FRAME, NOW)


def test_ipv4_udp_checksum() -> None:
    packet = ipv4_udp(b"abc", src=bytes((10, 0, 0, 1)), dst=bytes((10, 0, 0, 2)))
    words = struct.unpack("!10H", packet[:20])
    assert (sum(words) + (sum(words) >> 16)) & 0xFFFF == 0xFFFF
    assert struct.unpack("!HHHH", packet[20:28]) == (17754, 17754, 11, 0)


KEY_N = bytes.fromhex("0102030405060708090A0B0C0D0E0F10")
KEY_L = bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB")


def test_key_file_and_args(tmp_path: Path) -> None:
    path = tmp_path / "zigbee_pc_keys"
    write_wireshark_keys(path, [KEY_N], [(KEY_L, "00-1B-C5-0C-00-00-00-02"), (KEY_L, None)])
    lines = path.read_text().splitlines()
    assert lines[1] == '"0102030405060708090A0B0C0D0E0F10","Normal","network key 0"'
    assert lines[2] == (
        '"66B6900981E1EE3CA4206B6B861C02BB","Normal","link key 00-1B-C5-0C-00-00-00-02"'
    )
    assert lines[3].endswith('"link key"')
    args = tshark_key_args([KEY_N], [])
    assert args == [
        "-o",
        'uat:zigbee_pc_keys:"0102030405060708090A0B0C0D0E0F10","Normal","network key 0"',
    ]
    with pytest.raises(MalformedFrame):
        tshark_key_args([b"short"], [])


def _tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.fail("tshark is missing: run scripts/setup.sh (make test does)")
    return path


@pytest.mark.io
def test_tshark_decodes_zep_over_udp(tmp_path: Path) -> None:
    tshark = _tshark()
    pcap = tmp_path / "zep.pcap"
    with PcapWriter(pcap, linktype=LINKTYPE_RAW) as writer:
        for i in range(3):
            frame = build_mac(mac_data(i, 0x1A62, 0x0000, 0x0001, b"\x00\x00"))
            writer.write(ipv4_udp(zep_v2(frame, 15, 3, i, NOW + i)), NOW + i)
    fields = ["-e", "zep.version", "-e", "zep.channel_id", "-e", "zep.device_id",
              "-e", "zep.seqno", "-e", "zep.lqi_mode", "-e", "wpan.seq_no",
              "-e", "wpan.fcs_ok", "-e", "wpan.dst_pan"]  # fmt: skip
    out = subprocess.run(
        [tshark, "-r", str(pcap), "-T", "fields", "-E", "separator=|", *fields],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert [line.split("|") for line in out] == [
        ["2", "15", "3", str(i), "1", str(i), "1", "0x1a62"] for i in range(3)
    ]
    malformed = subprocess.run(
        [tshark, "-r", str(pcap), "-Y", "_ws.malformed || _ws.expert.severity >= warning"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert malformed == ""
