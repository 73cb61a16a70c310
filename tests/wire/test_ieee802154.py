"""IEEE 802.15.4 MAC frames: round trips, FCS, scapy as an independent oracle, fuzzing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.errors import MalformedFrame
from emulator.wire.ieee802154 import (
    AssociationResponse,
    MacCommand,
    MacFrame,
    MacFrameType,
    association_request_payload,
    build_mac,
    crc16_kermit,
    mac_ack,
    mac_data,
    mac_data_request,
    parse_association_response,
    parse_mac,
)

ESME = bytes.fromhex("001BC50C00000002")
CHF = bytes.fromhex("001BC50C00000001")
PAN = 0x1A62

FRAMES = [
    mac_data(1, PAN, 0x0000, 0x0001, b"\x08\x10hello"),
    mac_data(2, PAN, 0xFFFF, 0x0000, b"broadcast"),
    mac_data(3, PAN, CHF, ESME, b"long addresses"),
    mac_ack(4),
    mac_ack(5, frame_pending=True),
    mac_data_request(6, PAN, 0x0000, 0x1234),
    mac_data_request(7, PAN, CHF, ESME),
    MacFrame(
        MacFrameType.COMMAND,
        8,
        dst_pan=PAN,
        dst_addr=0x0000,
        src_pan=0xFFFF,
        src_addr=ESME,
        command=MacCommand.ASSOCIATION_REQUEST,
        payload=association_request_payload(0x8E),
        ack_request=True,
    ),
    MacFrame(
        MacFrameType.COMMAND,
        9,
        dst_pan=PAN,
        dst_addr=ESME,
        src_pan=PAN,
        src_addr=CHF,
        command=MacCommand.ASSOCIATION_RESPONSE,
        payload=AssociationResponse(0x4F2A, 0).payload(),
        ack_request=True,
        pan_id_compression=True,
    ),
    MacFrame(MacFrameType.COMMAND, 10, dst_pan=0xFFFF, dst_addr=0xFFFF, command=0x07),
    MacFrame(MacFrameType.BEACON, 11, src_pan=PAN, src_addr=0x0000, payload=b"\xff\xcf\x00\x00"),
    MacFrame(
        MacFrameType.DATA,
        12,
        dst_pan=0x1111,
        dst_addr=0x0002,
        src_pan=0x2222,
        src_addr=0x0003,
        payload=b"x",
        frame_version=1,
    ),
]


def test_crc16_kermit_check_value() -> None:
    # The catalogue check value of CRC-16/KERMIT (reveng.sourceforge.io CRC catalogue).
    assert crc16_kermit(b"123456789") == 0x2189


@pytest.mark.parametrize("frame", FRAMES)
def test_round_trip(frame: MacFrame) -> None:
    data = build_mac(frame)
    parsed = parse_mac(data)
    assert parsed == frame
    assert build_mac(parsed) == data
    without = build_mac(frame, with_fcs=False)
    assert data[:-2] == without
    assert parse_mac(without, with_fcs=False) == frame


def test_ack_is_five_bytes() -> None:
    data = build_mac(mac_ack(0x42))
    assert data[:3] == bytes((0x02, 0x00, 0x42))
    assert len(data) == 5


def test_layout_short_addresses() -> None:
    data = build_mac(mac_data(0x10, 0x1A62, 0x0000, 0x0001, b"P"))
    # FCF 0x8861: data, ack request, PAN-ID compression, short dst and src.
    assert data[:-2] == bytes.fromhex("618810621a00000100") + b"P"


def test_extended_address_is_little_endian_on_air() -> None:
    data = build_mac(mac_data(1, PAN, CHF, ESME, b""))
    assert data[5:13] == CHF[::-1]
    assert data[13:21] == ESME[::-1]


def test_fcs_mismatch() -> None:
    data = bytearray(build_mac(FRAMES[0]))
    data[-1] ^= 0x01
    with pytest.raises(MalformedFrame) as info:
        parse_mac(bytes(data))
    assert info.value.path == "fcs"


def test_association_response_payload() -> None:
    resp = AssociationResponse(0x4F2A, 0)
    assert parse_association_response(resp.payload()) == resp
    with pytest.raises(MalformedFrame):
        parse_association_response(b"\x00")


@pytest.mark.parametrize(
    "frame",
    [
        MacFrame(MacFrameType.DATA, 1, dst_pan=PAN, dst_addr=1, pan_id_compression=True),
        MacFrame(MacFrameType.DATA, 1, dst_addr=1),  # address without PAN
        MacFrame(MacFrameType.COMMAND, 1),  # command without id
        MacFrame(MacFrameType.DATA, 1, dst_pan=1, dst_addr=b"short"),
        mac_data(1, PAN, 0, 1, bytes(130)),
    ],
)
def test_build_rejects(frame: MacFrame) -> None:
    with pytest.raises(MalformedFrame):
        build_mac(frame)


@given(st.binary(max_size=140))
def test_parse_raises_only_malformed(data: bytes) -> None:
    for with_fcs in (True, False):
        try:
            frame = parse_mac(data, with_fcs=with_fcs)
        except MalformedFrame:
            continue
        assert build_mac(frame, with_fcs=with_fcs) == data


_addr = st.one_of(st.integers(0, 0xFFFF), st.binary(min_size=8, max_size=8))


@given(
    seq=st.integers(0, 255),
    pan=st.integers(0, 0xFFFF),
    dst=_addr,
    src=_addr,
    payload=st.binary(max_size=80),
)
def test_data_round_trip_property(
    seq: int, pan: int, dst: int | bytes, src: int | bytes, payload: bytes
) -> None:
    frame = mac_data(seq, pan, dst, src, payload)
    assert parse_mac(build_mac(frame)) == frame


# --- scapy as an independent decoder ---------------------------------------------------------


def _as_int(addr: int | bytes | None) -> int | None:
    return int.from_bytes(addr, "big") if isinstance(addr, bytes) else addr


@pytest.mark.parametrize("frame", [f for f in FRAMES if f.frame_type != MacFrameType.BEACON])
def test_scapy_reads_same_fields(frame: MacFrame, scapy_zigbee: Any) -> None:
    from scapy.layers.dot15d4 import Dot15d4FCS

    data = build_mac(frame)
    pkt: Any = Dot15d4FCS(data)
    assert pkt.fcf_frametype == frame.frame_type
    assert pkt.seqnum == frame.seq
    assert pkt.fcf_ackreq == frame.ack_request
    assert pkt.fcf_pending == frame.frame_pending
    assert pkt.fcf_panidcompress == frame.pan_id_compression
    assert pkt.fcs == int.from_bytes(data[-2:], "little")
    assert pkt.compute_fcs(data[:-2]) == data[-2:]
    if frame.frame_type == MacFrameType.ACK:
        return
    inner = pkt.payload
    assert inner.dest_panid == frame.dst_pan
    assert inner.dest_addr == _as_int(frame.dst_addr)
    assert inner.src_addr == _as_int(frame.src_addr)
    if not frame.pan_id_compression:
        assert inner.src_panid == frame.src_pan
    if frame.frame_type == MacFrameType.COMMAND:
        assert inner.cmd_id == frame.command
