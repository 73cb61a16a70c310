"""ZigBee APS frames and APS commands."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.errors import MalformedFrame
from emulator.wire.ieee802154 import build_mac, mac_data
from emulator.wire.zigbee_aps import (
    SE_PROFILE,
    ApsCommand,
    ApsFrameType,
    ApsHeader,
    ConfirmKey,
    DeliveryMode,
    KeyType,
    RemoveDevice,
    RequestKey,
    SwitchKey,
    TransportKey,
    UpdateDevice,
    VerifyKey,
    aps_command,
    aps_data,
    build_aps,
    decode_aps_command,
    encode_aps_command,
    parse_aps,
)
from emulator.wire.zigbee_nwk import KeyId, NwkFrameType, NwkHeader, SecurityHeader, build_nwk

ESME = bytes.fromhex("001BC50C00000002")
CHF = bytes.fromhex("001BC50C00000001")
KEY = bytes(range(16))

HEADERS = [
    aps_data(1, 0x0702),
    aps_data(2, 0x0700, dst_endpoint=9, src_endpoint=1, ack_request=False),
    aps_data(3, 0x0019, aux=SecurityHeader(KeyId.DATA, 77)),
    ApsHeader(
        ApsFrameType.DATA,
        4,
        DeliveryMode.GROUP,
        group=0x1234,
        cluster=0x0703,
        profile=SE_PROFILE,
        src_endpoint=1,
    ),
    ApsHeader(
        ApsFrameType.DATA,
        5,
        DeliveryMode.BROADCAST,
        dst_endpoint=0xFF,
        cluster=0x000A,
        profile=SE_PROFILE,
        src_endpoint=1,
    ),
    aps_command(6),
    aps_command(7, aux=SecurityHeader(KeyId.KEY_TRANSPORT, 1, source=CHF)),
    ApsHeader(
        ApsFrameType.ACK, 8, dst_endpoint=1, cluster=0x0702, profile=SE_PROFILE, src_endpoint=1
    ),
    ApsHeader(ApsFrameType.ACK, 9, command_ack=True),
    ApsHeader(
        ApsFrameType.DATA,
        10,
        dst_endpoint=1,
        cluster=0x0019,
        profile=SE_PROFILE,
        src_endpoint=1,
        fragmentation=1,
        block_number=3,
    ),
]

COMMANDS: list[ApsCommand] = [
    TransportKey(KeyType.STANDARD_NETWORK, KEY, key_seq=1, dst=ESME, src=CHF),
    TransportKey(KeyType.TC_LINK, KEY, dst=ESME, src=CHF),
    TransportKey(KeyType.APP_LINK, KEY, partner=ESME, initiator=True),
    UpdateDevice(ESME, 0x4F2A, 1),
    RemoveDevice(ESME),
    RequestKey(KeyType.TC_LINK),
    RequestKey(KeyType.APP_LINK, partner=ESME),
    SwitchKey(2),
    VerifyKey(KeyType.TC_LINK, ESME, bytes(16)),
    ConfirmKey(0, KeyType.TC_LINK, ESME),
]


@pytest.mark.parametrize("header", HEADERS)
def test_round_trip(header: ApsHeader) -> None:
    data = build_aps(header, b"\x00\x01\x02")
    parsed, payload = parse_aps(data)
    assert parsed == header
    assert payload == b"\x00\x01\x02"
    assert build_aps(parsed, payload) == data


def test_data_layout() -> None:
    data = build_aps(aps_data(0x21, 0x0702, dst_endpoint=1, src_endpoint=2), b"")
    assert data == bytes.fromhex("4001020709010221")


def test_missing_fields_rejected() -> None:
    with pytest.raises(MalformedFrame):
        build_aps(ApsHeader(ApsFrameType.DATA, 1, cluster=0x0702), b"")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_command_round_trip(cmd: ApsCommand) -> None:
    data = encode_aps_command(cmd)
    assert decode_aps_command(data) == cmd
    assert encode_aps_command(decode_aps_command(data)) == data


def test_transport_key_layout() -> None:
    data = encode_aps_command(
        TransportKey(KeyType.STANDARD_NETWORK, KEY, key_seq=1, dst=ESME, src=CHF)
    )
    assert data == b"\x05\x01" + KEY + b"\x01" + ESME[::-1] + CHF[::-1]
    assert encode_aps_command(SwitchKey(2)) == b"\x09\x02"


@given(st.binary(max_size=60))
def test_parse_raises_only_malformed(data: bytes) -> None:
    try:
        header, payload = parse_aps(data)
    except MalformedFrame:
        pass
    else:
        assert build_aps(header, payload) == data
    try:
        cmd = decode_aps_command(data)
    except MalformedFrame:
        pass
    else:
        assert encode_aps_command(cmd) == data


def _stack(aps: bytes) -> bytes:
    nwk = build_nwk(NwkHeader(NwkFrameType.DATA, 0, 1, 1), aps)
    return build_mac(mac_data(1, 0x1A62, 0, 1, nwk))


@pytest.mark.parametrize(
    "header", [h for h in HEADERS if h.aux is None and h.fragmentation is None]
)
def test_scapy_reads_same_fields(header: ApsHeader, scapy_zigbee: Any) -> None:
    from scapy.layers.dot15d4 import Dot15d4FCS
    from scapy.layers.zigbee import ZigbeeAppDataPayload

    aps: Any = Dot15d4FCS(_stack(build_aps(header, b""))).getlayer(ZigbeeAppDataPayload)
    assert aps.aps_frametype == header.frame_type
    assert aps.delivery_mode == header.delivery_mode
    assert aps.counter == header.counter
    if header.cluster is not None:
        assert aps.cluster == header.cluster
        assert aps.profile == header.profile
        assert aps.src_endpoint == header.src_endpoint
    if header.dst_endpoint is not None:
        assert aps.dst_endpoint == header.dst_endpoint
    if header.group is not None:
        assert aps.group_addr == header.group


def test_scapy_reads_transport_key(scapy_zigbee: Any) -> None:
    from scapy.layers.dot15d4 import Dot15d4FCS
    from scapy.layers.zigbee import ZigbeeAppCommandPayload

    cmd = TransportKey(KeyType.STANDARD_NETWORK, KEY, key_seq=1, dst=ESME, src=CHF)
    frame = _stack(build_aps(aps_command(3), encode_aps_command(cmd)))
    payload: Any = Dot15d4FCS(frame).getlayer(ZigbeeAppCommandPayload)
    assert payload.cmd_identifier == 5
    assert payload.key_type == 1
    assert payload.key == KEY
    assert payload.key_seqnum == 1
    assert payload.dest_addr == int.from_bytes(ESME, "big")
    assert payload.src_addr == int.from_bytes(CHF, "big")
