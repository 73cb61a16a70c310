"""ZCL header, foundation commands and typed values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.errors import MalformedFrame
from emulator.wire.ieee802154 import build_mac, mac_data
from emulator.wire.zcl import (
    Attribute,
    ConfigureReporting,
    ConfigureReportingResponse,
    ConfigureReportingStatus,
    DataType,
    DefaultResponse,
    Direction,
    DiscoverAttributes,
    DiscoverAttributesResponse,
    FoundationCommand,
    FoundationId,
    ReadAttributeRecord,
    ReadAttributes,
    ReadAttributesResponse,
    ReportAttributes,
    ReportingConfig,
    Status,
    WriteAttributes,
    WriteAttributesResponse,
    WriteStatusRecord,
    ZclFrameType,
    ZclHeader,
    build_zcl,
    decode_foundation,
    encode_foundation,
    parse_zcl,
    zcl_foundation_frame,
)
from emulator.wire.zigbee_aps import aps_data, build_aps
from emulator.wire.zigbee_nwk import NwkFrameType, NwkHeader, build_nwk

EUI = bytes.fromhex("001BC50C00000002")

COMMANDS: list[FoundationCommand] = [
    ReadAttributes((0x0000, 0x0200, 0x0300)),
    ReadAttributesResponse(
        (
            ReadAttributeRecord(0x0000, Status.SUCCESS, DataType.UINT48, 123_456_789_012),
            ReadAttributeRecord(0x0400, Status.SUCCESS, DataType.INT24, -1200),
            ReadAttributeRecord(0x0301, Status.UNSUPPORTED_ATTRIBUTE),
            ReadAttributeRecord(0x0004, Status.SUCCESS, DataType.CHAR_STRING, "Acme Meters"),
            ReadAttributeRecord(0x0000, Status.SUCCESS, DataType.EUI64, EUI),
            ReadAttributeRecord(0x0001, Status.SUCCESS, DataType.OCTET_STRING, b"\x00\xff"),
            ReadAttributeRecord(0x0002, Status.SUCCESS, DataType.BOOL, 1),
        )
    ),
    WriteAttributes((Attribute(0x0000, DataType.UTC_TIME, 820_000_000),)),
    WriteAttributesResponse((WriteStatusRecord(Status.SUCCESS),)),
    WriteAttributesResponse((WriteStatusRecord(Status.READ_ONLY, 0x0007),)),
    ConfigureReporting(
        (
            ReportingConfig(0x0000, 0, DataType.UINT48, 1, 1800, 10),
            ReportingConfig(0x0200, 0, DataType.BITMAP8, 0, 3600),
            ReportingConfig(0x0000, 1, timeout=3600),
        )
    ),
    ConfigureReportingResponse((ConfigureReportingStatus(Status.SUCCESS),)),
    ConfigureReportingResponse(
        (ConfigureReportingStatus(Status.UNREPORTABLE_ATTRIBUTE, 0, 0x0302),)
    ),
    ReportAttributes(
        (
            Attribute(0x0000, DataType.UINT48, 987_654_321),
            Attribute(0x0400, DataType.INT24, -5),
            Attribute(0x0306, DataType.BITMAP8, 0x80),
        )
    ),
    DefaultResponse(0x00, Status.UNSUP_CLUSTER_COMMAND),
    DiscoverAttributes(0x0000, 20),
    DiscoverAttributesResponse(True, ((0x0000, DataType.UINT48), (0x0200, DataType.BITMAP8))),
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: type(c).__name__)
def test_foundation_round_trip(cmd: FoundationCommand) -> None:
    payload = encode_foundation(cmd)
    decoded = decode_foundation(cmd.command_id, payload)
    assert decoded == cmd
    assert encode_foundation(decoded) == payload


def test_layouts() -> None:
    assert encode_foundation(ReadAttributes((0x0000, 0x0200))) == bytes.fromhex("00000002")
    rsp = ReadAttributesResponse((ReadAttributeRecord(0, 0, DataType.UINT48, 0x010203040506),))
    assert encode_foundation(rsp) == bytes.fromhex("00000025060504030201")
    failed = ReadAttributesResponse((ReadAttributeRecord(0x0301, Status.UNSUPPORTED_ATTRIBUTE),))
    assert encode_foundation(failed) == bytes.fromhex("010386")
    demand = ReportAttributes((Attribute(0x0400, DataType.INT24, -2),))
    assert encode_foundation(demand) == bytes.fromhex("00042afeffff")
    assert encode_foundation(DefaultResponse(0x0A, 0)) == b"\x0a\x00"


@pytest.mark.parametrize(
    "header",
    [
        ZclHeader(ZclFrameType.GLOBAL, 0x00, 1),
        ZclHeader(ZclFrameType.CLUSTER, 0x05, 2, Direction.SERVER_TO_CLIENT, True),
        ZclHeader(ZclFrameType.CLUSTER, 0x01, 3, manufacturer_code=0x121D),
    ],
)
def test_header_round_trip(header: ZclHeader) -> None:
    data = build_zcl(header, b"\x01\x02")
    assert parse_zcl(data) == (header, b"\x01\x02")
    assert build_zcl(*parse_zcl(data)) == data


def test_header_layout() -> None:
    data = zcl_foundation_frame(
        ReportAttributes(()),
        0x33,
        direction=Direction.SERVER_TO_CLIENT,
        disable_default_response=True,
    )
    assert data == bytes.fromhex("18330a")


@pytest.mark.parametrize(
    ("data_type", "value"),
    [
        (DataType.UINT8, 256),
        (DataType.INT24, 1 << 23),
        (DataType.UINT48, -1),
        (DataType.EUI64, b"short"),
        (0x4C, 1),  # structure: not a type we encode
    ],
)
def test_bad_values_rejected(data_type: int, value: Any) -> None:
    with pytest.raises(MalformedFrame):
        encode_foundation(ReportAttributes((Attribute(0, data_type, value),)))


_INT_RANGES = {
    DataType.UINT8: (0, 0xFF),
    DataType.UINT16: (0, 0xFFFF),
    DataType.UINT24: (0, 0xFFFFFF),
    DataType.UINT32: (0, 0xFFFFFFFF),
    DataType.UINT48: (0, (1 << 48) - 1),
    DataType.INT8: (-128, 127),
    DataType.INT16: (-(1 << 15), (1 << 15) - 1),
    DataType.INT24: (-(1 << 23), (1 << 23) - 1),
    DataType.INT32: (-(1 << 31), (1 << 31) - 1),
    DataType.BITMAP8: (0, 0xFF),
    DataType.ENUM8: (0, 0xFF),
    DataType.UTC_TIME: (0, 0xFFFFFFFF),
}


@st.composite
def _attribute(draw: st.DrawFn) -> Attribute:
    data_type = draw(st.sampled_from(sorted(_INT_RANGES)))
    lo, hi = _INT_RANGES[data_type]
    return Attribute(draw(st.integers(0, 0xFFFF)), data_type, draw(st.integers(lo, hi)))


@given(st.lists(_attribute(), max_size=8))
def test_report_round_trip_property(attrs: list[Attribute]) -> None:
    cmd = ReportAttributes(tuple(attrs))
    assert decode_foundation(FoundationId.REPORT_ATTRIBUTES, encode_foundation(cmd)) == cmd


@given(st.integers(0, 0x0D), st.binary(max_size=40))
def test_decode_raises_only_malformed(command_id: int, payload: bytes) -> None:
    try:
        cmd = decode_foundation(command_id, payload)
    except MalformedFrame:
        return
    assert encode_foundation(cmd) == payload


@given(st.binary(max_size=20))
def test_parse_zcl_raises_only_malformed(data: bytes) -> None:
    try:
        header, payload = parse_zcl(data)
    except MalformedFrame:
        return
    assert build_zcl(header, payload) == data


# --- scapy as an independent decoder ---------------------------------------------------------


def _scapy_zcl(zcl: bytes, cluster: int = 0x0702) -> Any:
    from scapy.layers.dot15d4 import Dot15d4FCS
    from scapy.layers.zigbee import ZigbeeClusterLibrary

    aps = build_aps(aps_data(1, cluster), zcl)
    nwk = build_nwk(NwkHeader(NwkFrameType.DATA, 0, 1, 1), aps)
    return Dot15d4FCS(build_mac(mac_data(1, 0x1A62, 0, 1, nwk))).getlayer(ZigbeeClusterLibrary)


def test_scapy_reads_report_attributes(scapy_zigbee: Any) -> None:
    cmd = ReportAttributes(
        (Attribute(0x0000, DataType.UINT48, 987_654_321), Attribute(0x0400, DataType.INT24, -5))
    )
    zcl = _scapy_zcl(zcl_foundation_frame(cmd, 9, direction=Direction.SERVER_TO_CLIENT))
    assert zcl.zcl_frametype == 0
    assert zcl.command_direction == 1
    assert zcl.transaction_sequence == 9
    assert zcl.command_identifier == 0x0A
    reports = zcl.payload.attribute_reports
    assert [r.attribute_identifier for r in reports] == [0x0000, 0x0400]
    assert [r.attribute_data_type for r in reports] == [0x25, 0x2A]
    assert int.from_bytes(reports[0].attribute_data, "little") == 987_654_321
    assert int.from_bytes(reports[1].attribute_data, "little", signed=True) == -5


def test_scapy_reads_read_attributes(scapy_zigbee: Any) -> None:
    zcl = _scapy_zcl(zcl_foundation_frame(ReadAttributes((0x0000, 0x0200)), 4))
    assert zcl.command_identifier == 0x00
    assert zcl.command_direction == 0
    assert list(zcl.payload.attribute_identifiers) == [0x0000, 0x0200]


def test_scapy_reads_default_response(scapy_zigbee: Any) -> None:
    zcl = _scapy_zcl(
        zcl_foundation_frame(DefaultResponse(0x00, 0x81), 5, disable_default_response=True)
    )
    assert zcl.command_identifier == 0x0B
    assert zcl.disable_default_response == 1
    assert zcl.payload.response_command_identifier == 0x00
    assert zcl.payload.status == 0x81
