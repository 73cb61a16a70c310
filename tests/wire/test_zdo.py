"""ZDO frames s1lab declares: layouts by the ZigBee spec's field tables, and bad input."""

from __future__ import annotations

import pytest

from emulator.errors import MalformedFrame
from emulator.wire.zdo import (
    LogicalType,
    NodeDescriptor,
    SimpleDescriptor,
    ZdoCluster,
    active_ep_rsp,
    decode_device_annce,
    decode_request,
    device_annce,
    node_desc_rsp,
    simple_desc_rsp,
)

EUI = bytes.fromhex("001BC50C02000001")


def test_device_annce_carries_the_eui_little_endian_and_round_trips() -> None:
    raw = device_annce(0x21, 0x6EA1, EUI, 0x8C)
    assert raw == bytes.fromhex("21A16E" "010000020CC51B00" "8C")
    annce = decode_device_annce(raw)
    assert (annce.tsn, annce.nwk, annce.eui, annce.capability) == (0x21, 0x6EA1, EUI, 0x8C)


def test_node_descriptor_is_13_bytes_in_spec_order() -> None:
    desc = NodeDescriptor(LogicalType.END_DEVICE, 0x8C, 0x1F5A)
    raw = node_desc_rsp(5, 0, 0x6EA1, desc)
    assert raw[:4] == bytes.fromhex("0500A16E")
    body = raw[4:]
    assert len(body) == 13
    assert body[0] & 0x07 == 2 and body[1] == 0x40 and body[2] == 0x8C
    assert body[3:5] == b"\x5a\x1f"
    assert node_desc_rsp(5, 0x81, 0x6EA1, desc) == bytes.fromhex("0581A16E")  # no body


def test_simple_descriptor_and_active_endpoints() -> None:
    desc = SimpleDescriptor(1, 0x0109, 0x0501, 0, (0x0000, 0x0702), (0x000A,))
    raw = simple_desc_rsp(7, 0, 0x0002, desc)
    assert raw == bytes.fromhex("07000200" "0E" "01" "0901" "0105" "00" "02" "0000" "0207" "01"
                                "0A00")
    assert active_ep_rsp(8, 0, 0x0002, (1,)) == bytes.fromhex("080002000101")


def test_requests_decode_and_bad_ones_are_malformed() -> None:
    req = decode_request(ZdoCluster.SIMPLE_DESC_REQ, bytes.fromhex("04A16E01"))
    assert (req.tsn, req.nwk_addr, req.endpoint) == (4, 0x6EA1, 1)
    assert decode_request(0x0002, bytes.fromhex("02A16E")).endpoint is None
    with pytest.raises(MalformedFrame):
        decode_request(0x0004, b"\x04\xa1")
    with pytest.raises(MalformedFrame):
        decode_request(0x0031, b"\x01\x00")  # Mgmt_Lqi: not answered here
    with pytest.raises(MalformedFrame):
        decode_device_annce(b"\x00" * 11)
