"""ZigBee NWK header and auxiliary security header."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.errors import MalformedFrame
from emulator.wire.ieee802154 import build_mac, mac_data
from emulator.wire.zigbee_nwk import (
    KeyId,
    NwkFrameType,
    NwkHeader,
    SecurityHeader,
    build_aux,
    build_nwk,
    parse_aux,
    parse_nwk,
    parse_nwk_split,
)

ESME = bytes.fromhex("001BC50C00000002")
CHF = bytes.fromhex("001BC50C00000001")

HEADERS = [
    NwkHeader(NwkFrameType.DATA, 0x0000, 0x0001, 7),
    NwkHeader(NwkFrameType.DATA, 0x0000, 0x0001, 8, radius=1, discover_route=1, src_ieee=ESME),
    NwkHeader(NwkFrameType.COMMAND, 0xFFFD, 0x0000, 9, dst_ieee=ESME, src_ieee=CHF),
    NwkHeader(NwkFrameType.DATA, 0x0001, 0x0000, 10, multicast_control=0x12),
    NwkHeader(NwkFrameType.DATA, 0x0003, 0x0000, 11, relay_index=1, relays=(0x0001, 0x0002)),
    NwkHeader(NwkFrameType.DATA, 0x0000, 0x4F2A, 12, end_device_initiator=True),
    NwkHeader(
        NwkFrameType.DATA,
        0x0000,
        0x0001,
        13,
        src_ieee=ESME,
        aux=SecurityHeader(KeyId.NETWORK, 0x01020304, source=ESME, key_seq=3),
    ),
]

AUX = [
    SecurityHeader(KeyId.NETWORK, 1, source=ESME, key_seq=0),
    SecurityHeader(KeyId.NETWORK, 0xFFFFFFFF, key_seq=255),
    SecurityHeader(KeyId.DATA, 5),
    SecurityHeader(KeyId.KEY_TRANSPORT, 6, source=CHF),
    SecurityHeader(KeyId.KEY_LOAD, 7, source=CHF, level=5),
]


@pytest.mark.parametrize("header", HEADERS)
def test_round_trip(header: NwkHeader) -> None:
    data = build_nwk(header, b"\x40\x01payload")
    parsed, payload = parse_nwk(data)
    assert parsed == header
    assert payload == b"\x40\x01payload"
    assert build_nwk(parsed, payload) == data
    _, offset = parse_nwk_split(data)
    assert data[offset:] == payload


def test_layout() -> None:
    header = NwkHeader(NwkFrameType.DATA, 0x0000, 0x0001, 0x22, radius=30, src_ieee=ESME)
    data = build_nwk(header, b"")
    # FCF 0x1008: data, protocol version 2, source IEEE present.
    assert data == bytes.fromhex("0810000001001e22") + ESME[::-1]


@pytest.mark.parametrize("aux", AUX)
def test_aux_round_trip(aux: SecurityHeader) -> None:
    data = build_aux(aux)
    assert len(data) == aux.size
    assert parse_aux(data) == aux
    assert data[0] & 0x20 == (0x20 if aux.source is not None else 0)
    assert (data[0] >> 3) & 3 == aux.key_id
    assert int.from_bytes(data[1:5], "little") == aux.frame_counter


def test_aux_key_seq_rules() -> None:
    with pytest.raises(MalformedFrame):
        build_aux(SecurityHeader(KeyId.NETWORK, 1))
    with pytest.raises(MalformedFrame):
        build_aux(SecurityHeader(KeyId.DATA, 1, key_seq=1))


@given(st.binary(max_size=64))
def test_parse_raises_only_malformed(data: bytes) -> None:
    try:
        header, payload = parse_nwk(data)
    except MalformedFrame:
        pass
    else:
        assert build_nwk(header, payload) == data
    with contextlib.suppress(MalformedFrame):
        parse_aux(data)


@pytest.mark.parametrize("header", [h for h in HEADERS if h.multicast_control is None])
def test_scapy_reads_same_fields(header: NwkHeader, scapy_zigbee: Any) -> None:
    from scapy.layers.dot15d4 import Dot15d4FCS
    from scapy.layers.zigbee import ZigbeeNWK

    frame = build_mac(mac_data(1, 0x1A62, 0x0000, 0x0001, build_nwk(header, b"")))
    nwk = Dot15d4FCS(frame)[ZigbeeNWK]
    assert nwk.frametype == header.frame_type
    assert nwk.proto_version == header.protocol_version
    assert nwk.discover_route == header.discover_route
    assert nwk.destination == header.dst
    assert nwk.source == header.src
    assert nwk.radius == header.radius
    assert nwk.seqnum == header.seq
    if header.src_ieee is not None:
        assert nwk.ext_src == int.from_bytes(header.src_ieee, "big")
    if header.dst_ieee is not None:
        assert nwk.ext_dst == int.from_bytes(header.dst_ieee, "big")
    if header.relays is not None:
        assert nwk.relay_count == len(header.relays)
        assert nwk.relay_index == header.relay_index
        assert list(nwk.relays) == list(header.relays)
    flags = nwk.flags
    assert bool(flags.security) == (header.aux is not None)
    if header.aux is not None:
        from scapy.layers.zigbee import ZigbeeSecurityHeader

        sec = nwk[ZigbeeSecurityHeader]
        assert sec.key_type == header.aux.key_id
        assert sec.fc == header.aux.frame_counter
        assert sec.key_seqnum == header.aux.key_seq
        assert sec.source == int.from_bytes(header.aux.source or bytes(8), "big")
