"""Smart Energy cluster tables and command payloads."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.errors import MalformedFrame
from emulator.wire.ieee802154 import build_mac, mac_data
from emulator.wire.pcap import PcapWriter
from emulator.wire.se_clusters import (
    CLUSTERS,
    ClusterId,
    MeteringAttr,
    PrepaymentAttr,
    cluster_command_frame,
    decode_command,
    encode_command,
)
from emulator.wire.zcl import DataType, Direction, parse_zcl
from emulator.wire.zigbee_aps import aps_data, build_aps
from emulator.wire.zigbee_nwk import NwkFrameType, NwkHeader, build_nwk
from tests.wire.samples import PUBLISH_PRICE as SHARED_PUBLISH_PRICE

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT
IMAGE = {"manufacturer_code": 0x121D, "image_type": 0, "file_version": 0xACDCACDC}

PUBLISH_PRICE = {
    **SHARED_PUBLISH_PRICE,
    "provider_id": 0x01020304,
    "issuer_event_id": 77,
    "current_time": 820_000_000,
}

SAMPLES: dict[tuple[int, str], dict[str, Any]] = {
    (ClusterId.BASIC, "ResetToFactoryDefaults"): {},
    (ClusterId.OTA, "ImageNotify"): {"payload_type": 3, "query_jitter": 100, **IMAGE},
    (ClusterId.OTA, "QueryNextImageRequest"): {
        "field_control": 1,
        "manufacturer_code": 0x121D,
        "image_type": 0,
        "current_file_version": 1,
        "hardware_version": 0x1111,
    },
    (ClusterId.OTA, "QueryNextImageResponse"): {"status": 0, **IMAGE, "image_size": 361},
    (ClusterId.OTA, "ImageBlockRequest"): {
        "field_control": 0,
        **IMAGE,
        "file_offset": 64,
        "max_data_size": 48,
    },
    (ClusterId.OTA, "ImagePageRequest"): {
        "field_control": 0,
        **IMAGE,
        "file_offset": 0,
        "max_data_size": 48,
        "page_size": 1024,
        "response_spacing": 100,
    },
    (ClusterId.OTA, "ImageBlockResponse"): {
        "status": 0,
        **IMAGE,
        "file_offset": 64,
        "data": bytes(range(48)),
    },
    (ClusterId.OTA, "UpgradeEndRequest"): {"status": 0, **IMAGE},
    (ClusterId.OTA, "UpgradeEndResponse"): {**IMAGE, "current_time": 1, "upgrade_time": 2},
    (ClusterId.OTA, "QuerySpecificFileRequest"): {
        "request_node_address": 0x001BC50C00000002,
        **IMAGE,
        "zigbee_stack_version": 2,
    },
    (ClusterId.OTA, "QuerySpecificFileResponse"): {"status": 0x98},
    (ClusterId.PRICE, "GetCurrentPrice"): {"command_options": 1},
    (ClusterId.PRICE, "GetScheduledPrices"): {"start_time": 0, "number_of_events": 3},
    (ClusterId.PRICE, "PriceAcknowledgement"): {
        "provider_id": 1,
        "issuer_event_id": 2,
        "price_ack_time": 3,
        "control": 1,
    },
    (ClusterId.PRICE, "PublishPrice"): PUBLISH_PRICE,
    (ClusterId.METERING, "GetProfile"): {
        "interval_channel": 0,
        "end_time": 820_000_000,
        "number_of_periods": 4,
    },
    (ClusterId.METERING, "GetProfileResponse"): {
        "end_time": 820_000_000,
        "status": 0,
        "profile_interval_period": 2,
        "number_of_periods_delivered": 3,
        "intervals": [10, 20, 0xFFFFFF],
    },
    (ClusterId.METERING, "RequestMirror"): {},
    (ClusterId.METERING, "RequestMirrorResponse"): {"endpoint_id": 2},
    (ClusterId.METERING, "RemoveMirror"): {},
    (ClusterId.METERING, "MirrorRemoved"): {"endpoint_id": 2},
    (ClusterId.METERING, "RequestFastPollMode"): {"fast_poll_update_period": 2, "duration": 15},
    (ClusterId.METERING, "RequestFastPollModeResponse"): {
        "applied_update_period": 2,
        "fast_poll_end_time": 820_000_900,
    },
    (ClusterId.MESSAGING, "DisplayMessage"): {
        "message_id": 1,
        "message_control": 0x80,
        "start_time": 0,
        "duration_in_minutes": 60,
        "message": "Low credit",
    },
    (ClusterId.MESSAGING, "CancelMessage"): {"message_id": 1, "message_control": 0},
    (ClusterId.MESSAGING, "GetLastMessage"): {},
    (ClusterId.MESSAGING, "MessageConfirmation"): {"message_id": 1, "confirmation_time": 5},
    (ClusterId.PREPAYMENT, "SelectAvailableEmergencyCredit"): {
        "command_date_time": 820_000_000,
        "originating_device": 2,
        "site_id": b"1234567890",
        "meter_serial_number": b"E12Z000001",
    },
    (ClusterId.KEY_ESTABLISHMENT, "InitiateKeyEstablishmentRequest"): {
        "suite": 1,
        "ephemeral_data_generate_time": 10,
        "confirm_key_generate_time": 10,
        "identity": bytes(range(48)),
    },
    (ClusterId.KEY_ESTABLISHMENT, "InitiateKeyEstablishmentResponse"): {
        "suite": 1,
        "ephemeral_data_generate_time": 10,
        "confirm_key_generate_time": 10,
        "identity": bytes(range(48, 96)),
    },
    (ClusterId.KEY_ESTABLISHMENT, "EphemeralDataRequest"): {"ephemeral_data": bytes(22)},
    (ClusterId.KEY_ESTABLISHMENT, "EphemeralDataResponse"): {"ephemeral_data": bytes(22)},
    (ClusterId.KEY_ESTABLISHMENT, "ConfirmKeyDataRequest"): {"mac": bytes(16)},
    (ClusterId.KEY_ESTABLISHMENT, "ConfirmKeyDataResponse"): {"mac": bytes(16)},
    (ClusterId.KEY_ESTABLISHMENT, "TerminateKeyEstablishment"): {
        "status_code": 3,
        "wait_time": 5,
        "suite": 1,
    },
    (ClusterId.KEY_ESTABLISHMENT, "TerminateKeyEstablishmentFromServer"): {
        "status_code": 1,
        "wait_time": 5,
        "suite": 1,
    },
}

ALL_COMMANDS = [(cluster.id, cmd) for cluster in CLUSTERS.values() for cmd in cluster.commands]


def test_every_command_has_a_sample() -> None:
    assert {(cid, cmd.name) for cid, cmd in ALL_COMMANDS} == set(SAMPLES)


@pytest.mark.parametrize(("cluster_id", "name"), sorted(SAMPLES))
def test_command_round_trip(cluster_id: int, name: str) -> None:
    cmd = CLUSTERS[cluster_id].command_named(name)
    fields = SAMPLES[(cluster_id, name)]
    payload = encode_command(cluster_id, cmd.id, cmd.direction, fields)
    decoded = decode_command(cluster_id, cmd.id, cmd.direction, payload)
    assert {k: v for k, v in decoded.items() if v is not None} == fields
    assert encode_command(cluster_id, cmd.id, cmd.direction, decoded) == payload


@pytest.mark.parametrize(
    ("cluster_id", "name", "command_id", "direction"),
    [
        (ClusterId.METERING, "GetProfile", 0x00, C2S),
        (ClusterId.METERING, "GetProfileResponse", 0x00, S2C),
        (ClusterId.METERING, "RequestMirror", 0x01, S2C),
        (ClusterId.METERING, "RequestMirrorResponse", 0x01, C2S),
        (ClusterId.METERING, "RemoveMirror", 0x02, S2C),
        (ClusterId.METERING, "MirrorRemoved", 0x02, C2S),
        (ClusterId.MESSAGING, "DisplayMessage", 0x00, S2C),
        (ClusterId.MESSAGING, "MessageConfirmation", 0x01, C2S),
        (ClusterId.PRICE, "PublishPrice", 0x00, S2C),
        (ClusterId.PRICE, "GetCurrentPrice", 0x00, C2S),
        (ClusterId.PREPAYMENT, "SelectAvailableEmergencyCredit", 0x00, C2S),
        (ClusterId.OTA, "QueryNextImageRequest", 0x01, C2S),
        (ClusterId.OTA, "ImageBlockResponse", 0x05, S2C),
    ],
)
def test_directions_follow_the_se_spec(
    cluster_id: int, name: str, command_id: int, direction: Direction
) -> None:
    cmd = CLUSTERS[cluster_id].command(command_id, direction)
    assert cmd.name == name


def test_attribute_tables() -> None:
    metering = CLUSTERS[ClusterId.METERING].attributes
    assert metering[MeteringAttr.CURRENT_SUMMATION_DELIVERED].data_type == DataType.UINT48
    assert metering[MeteringAttr.INSTANTANEOUS_DEMAND].data_type == DataType.INT24
    assert metering[MeteringAttr.MULTIPLIER].data_type == DataType.UINT24
    assert metering[MeteringAttr.UNIT_OF_MEASURE].data_type == DataType.ENUM8
    prepay = CLUSTERS[ClusterId.PREPAYMENT]
    assert prepay.attribute_named("CreditRemaining").id == PrepaymentAttr.CREDIT_REMAINING
    assert int(PrepaymentAttr.CREDIT_REMAINING) == 0x0001
    assert CLUSTERS[ClusterId.TIME].attributes[0].data_type == DataType.UTC_TIME


def test_cluster_command_frame_header() -> None:
    header, payload = parse_zcl(cluster_command_frame(ClusterId.METERING, "RequestMirror", 9))
    assert (header.frame_type, header.command_id, header.direction) == (1, 0x01, S2C)
    assert payload == b""


def test_unknown_cluster_and_command() -> None:
    with pytest.raises(MalformedFrame):
        decode_command(0x0B04, 0, C2S, b"")
    with pytest.raises(MalformedFrame):
        decode_command(ClusterId.METERING, 0x7F, C2S, b"")
    with pytest.raises(MalformedFrame):
        encode_command(ClusterId.METERING, 0x01, C2S, {})  # endpoint_id missing


@given(st.sampled_from(ALL_COMMANDS), st.binary(max_size=60))
def test_decode_raises_only_malformed(command: Any, payload: bytes) -> None:
    cluster_id, cmd = command
    try:
        fields = decode_command(cluster_id, cmd.id, cmd.direction, payload)
    except MalformedFrame:
        return
    assert encode_command(cluster_id, cmd.id, cmd.direction, fields) == payload


# --- oracles ---------------------------------------------------------------------------------


def _frame(cluster: int, zcl: bytes, seq: int = 1) -> bytes:
    aps = build_aps(aps_data(seq, cluster), zcl)
    nwk = build_nwk(NwkHeader(NwkFrameType.DATA, 0, 1, seq), aps)
    return build_mac(mac_data(seq, 0x1A62, 0, 1, nwk))


def test_scapy_reads_price_and_metering(scapy_zigbee: Any) -> None:
    from scapy.layers.dot15d4 import Dot15d4FCS
    from scapy.layers.zigbee import ZCLMeteringGetProfile, ZCLPriceGetCurrentPrice

    get_price = cluster_command_frame(ClusterId.PRICE, "GetCurrentPrice", 3, {"command_options": 1})
    pkt = Dot15d4FCS(_frame(ClusterId.PRICE, get_price))[ZCLPriceGetCurrentPrice]
    assert pkt.Requestor_Rx_On_When_Idle == 1
    # scapy does not dispatch Metering commands; decode the payload with its class directly.
    fields = SAMPLES[(ClusterId.METERING, "GetProfile")]
    payload = encode_command(ClusterId.METERING, 0x00, C2S, fields)
    profile = ZCLMeteringGetProfile(payload)
    assert profile.Interval_Channel == fields["interval_channel"]
    assert profile.End_Time == fields["end_time"]
    assert profile.NumberOfPeriods == fields["number_of_periods"]


def test_scapy_cannot_decode_publish_price(scapy_zigbee: Any) -> None:
    """scapy's ZCLPricePublishPrice marks rate_label "TODO verify": its length is taken from
    the field's own (not yet parsed) value, so dissection fails and scapy falls back to Raw.
    scapy still agrees on the ZCL header; Wireshark (below) decodes every field."""
    from scapy.layers.dot15d4 import Dot15d4FCS
    from scapy.layers.zigbee import ZCLPricePublishPrice, ZigbeeClusterLibrary

    zcl = cluster_command_frame(ClusterId.PRICE, "PublishPrice", 4, PUBLISH_PRICE)
    pkt = Dot15d4FCS(_frame(ClusterId.PRICE, zcl))
    assert ZCLPricePublishPrice not in pkt
    header = pkt[ZigbeeClusterLibrary]
    assert (header.zcl_frametype, header.command_direction) == (1, 1)
    assert (header.transaction_sequence, header.command_identifier) == (4, 0)
    assert bytes(header.payload) == zcl[3:]


def _tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.fail("tshark is missing: run scripts/setup.sh (make test does)")
    return path


@pytest.mark.io
def test_tshark_decodes_se_commands(tmp_path: Path) -> None:
    tshark = _tshark()
    pcap = tmp_path / "se.pcap"
    names = [
        (ClusterId.PRICE, "PublishPrice"),
        (ClusterId.PRICE, "GetCurrentPrice"),
        (ClusterId.METERING, "GetProfile"),
        (ClusterId.METERING, "GetProfileResponse"),
        (ClusterId.METERING, "RequestMirror"),
        (ClusterId.METERING, "RequestMirrorResponse"),
        (ClusterId.METERING, "MirrorRemoved"),
        (ClusterId.MESSAGING, "DisplayMessage"),
        (ClusterId.MESSAGING, "MessageConfirmation"),
        (ClusterId.KEY_ESTABLISHMENT, "InitiateKeyEstablishmentRequest"),
        (ClusterId.KEY_ESTABLISHMENT, "EphemeralDataResponse"),
        (ClusterId.KEY_ESTABLISHMENT, "TerminateKeyEstablishment"),
    ]
    with PcapWriter(pcap) as writer:
        for i, (cluster, name) in enumerate(names):
            zcl = cluster_command_frame(cluster, name, i, SAMPLES[(cluster, name)])
            writer.write(_frame(cluster, zcl, i + 1), 1_767_225_600_000_000 + i)
    fields = [
        "-T", "fields", "-E", "separator=|",
        "-e", "zbee_zcl_se.price.rate_label",
        "-e", "zbee_zcl_se.price.price",
        "-e", "zbee_zcl_se.price.control",
        "-e", "zbee_zcl_se.met.get_profile.number_of_periods",
        "-e", "zbee_zcl_se.met.request_mirror_rsp.endpoint_id",
        "-e", "zbee_zcl_se.msg.message",
        "-e", "zbee_zcl_se.ke.terminate.status",
        "-e", "_ws.col.Info",
    ]  # fmt: skip
    out = subprocess.run(
        [tshark, "-r", str(pcap), *fields], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0].startswith("Standard|2873|0x00|")
    assert "Publish Price" in out[0]
    assert "Get Current Price" in out[1]
    assert out[2].split("|")[3] == "4"
    assert "Get Profile Response" in out[3]
    assert "Request Mirror" in out[4]
    assert out[5].split("|")[4] == "2"
    assert "Mirror Removed" in out[6]
    assert out[7].split("|")[5] == "Low credit"
    assert "Message Confirmation" in out[8]
    assert "Initiate Key Establishment Request" in out[9]
    assert "Ephemeral Data Response" in out[10]
    assert out[11].split("|")[6] == "0x03"
    malformed = subprocess.run(
        [tshark, "-r", str(pcap), "-Y", "_ws.malformed || _ws.expert.severity >= warning"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert malformed == ""
