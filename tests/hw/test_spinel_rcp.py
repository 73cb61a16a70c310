"""Spinel framing and the virtual RCP's device side, without a serial port: frames are built
with aiospinel's own classes (the host library) and fed to the RCP's dispatcher; the radio
behind it is an in-process bus with a second radio as the peer."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiospinel.protocol import HDLCLiteFrame, SpinelFrame, SpinelHeader
from aiospinel.types import CommandID, PropertyID

from emulator.wire.ieee802154 import build_mac, mac_data, parse_mac
from hw import spinel_codec as sc
from hw.memory import MemoryRadio
from hw.radio import AddressFilter, RxFrame
from hw.rcp import VirtualRcp


def host_frame(tid: int, cmd: CommandID, data: bytes) -> bytes:
    """What aiospinel sends."""
    frame = SpinelFrame(SpinelHeader(tid, 0, 0b10), cmd, data)
    return bytes(HDLCLiteFrame(frame.serialize()).serialize())


def test_deframer_splits_escaped_frames_and_skips_bad_ones() -> None:
    a = sc.Frame(1, sc.Cmd.PROP_VALUE_IS, sc.Prop.STREAM_RAW, bytes([0x7E, 0x7D, 0x11, 0x13]))
    b = sc.Frame(0, sc.Cmd.PROP_VALUE_IS, sc.Prop.LAST_STATUS, sc.uint(112))
    raw = a.encode()
    assert b"\x11" not in raw[1:-1] and b"\x13" not in raw[1:-1]  # XON/XOFF escaped
    corrupt = bytearray(b.encode())
    corrupt[3] ^= 0x01
    d = sc.Deframer()
    out = d.feed(raw[:5]) + d.feed(raw[5:] + bytes(corrupt) + b.encode())
    assert out == [a, b] and d.bad == 1


def test_tx_request_and_rx_frame_round_trip() -> None:
    psdu = build_mac(mac_data(7, 0x1A62, 0x0000, 0x1234, b"hello"))
    req = sc.decode_tx_request(sc.TxRequest(psdu, 20, max_frame_retries=4, csma=False).encode(),
                               15)
    assert (req.psdu, req.channel, req.max_frame_retries, req.csma) == (psdu, 20, 4, False)
    value = sc.rx_frame(psdu, rssi=-55, lqi=200, channel=20, timestamp_us=123456,
                        flags=sc.RX_FLAG_ACKED_FP)
    rx = sc.decode_rx_frame(value)
    assert (rx.psdu, rx.rssi, rx.lqi, rx.channel, rx.timestamp_us, rx.flags) == (
        psdu, -55, 200, 20, 123456, sc.RX_FLAG_ACKED_FP)
    assert len(value) - 2 - len(psdu) == 26  # OpenThread's metadata size


class _Wire:
    """Stands in for the serial port: collects what the RCP writes."""

    def __init__(self) -> None:
        self.out = sc.Deframer()
        self.frames: list[sc.Frame] = []
        self.is_open = True

    def write(self, data: bytes) -> bool:
        self.frames += self.out.feed(data)
        return True


@pytest_asyncio.fixture
async def rcp() -> AsyncIterator[tuple[VirtualRcp, _Wire, MemoryRadio]]:
    device = VirtualRcp("/nonexistent", MemoryRadio("unit"), log=lambda line: None)
    wire = _Wire()
    device._port = wire  # type: ignore[assignment]
    await device.radio.open()
    device._tx_task = asyncio.ensure_future(device._tx_loop())
    peer = MemoryRadio("unit")
    await peer.open()
    await peer.configure(channel=15, filter=AddressFilter(pan_id=0x1A62,
                                                          shorts=frozenset({0x1234})))
    yield device, wire, peer
    device._tx_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await device._tx_task
    await device.radio.close()
    await peer.close()


def _ask(device: VirtualRcp, wire: _Wire, tid: int, cmd: CommandID, data: bytes
         ) -> sc.Frame:
    wire.frames.clear()
    device._data(host_frame(tid, cmd, data))
    (reply,) = wire.frames
    return reply


@pytest.mark.asyncio
async def test_rcp_answers_as_openthread_does(rcp: tuple[VirtualRcp, _Wire, MemoryRadio]
                                              ) -> None:
    device, wire, _ = rcp
    reset = _ask(device, wire, 0, CommandID.RESET, b"\x02")
    assert (reset.tid, reset.prop, reset.value) == (0, sc.Prop.LAST_STATUS, sc.uint(112))
    version = _ask(device, wire, 3, CommandID.PROP_VALUE_GET,
                   PropertyID.NCP_VERSION.serialize())
    assert version.tid == 3 and b";" in version.value
    caps = _ask(device, wire, 4, CommandID.PROP_VALUE_GET, PropertyID.CAPS.serialize())
    assert {sc.Cap.MAC_RAW, sc.Cap.CONFIG_RADIO} <= set(_uints(caps.value))
    radio_caps = _ask(device, wire, 5, CommandID.PROP_VALUE_GET, sc.uint(sc.Prop.RADIO_CAPS))
    assert sc.read_uint(radio_caps.value)[0] & sc.RADIO_CAPS_REQUIRED == sc.RADIO_CAPS_REQUIRED
    unknown = _ask(device, wire, 6, CommandID.PROP_VALUE_GET, sc.uint(0x1FFF))
    assert (unknown.prop, unknown.value) == (sc.Prop.LAST_STATUS, sc.uint(13))
    pan = _ask(device, wire, 7, CommandID.PROP_VALUE_SET,
               PropertyID.MAC_15_4_PANID.serialize() + struct.pack("<H", 0x1A62))
    assert (pan.cmd, pan.prop, pan.value) == (sc.Cmd.PROP_VALUE_IS, sc.Prop.MAC_15_4_PANID,
                                              b"\x62\x1a")
    bad = _ask(device, wire, 8, CommandID.PROP_VALUE_SET,
               PropertyID.PHY_CHAN.serialize() + b"\x05")
    assert (bad.prop, bad.value) == (sc.Prop.LAST_STATUS, sc.uint(3))
    ins = _ask(device, wire, 9, CommandID.PROP_VALUE_INSERT,
               sc.uint(sc.Prop.MAC_SRC_MATCH_SHORT_ADDRESSES) + b"\x34\x12")
    assert ins.cmd == sc.Cmd.PROP_VALUE_INSERTED and device.state.src_shorts == [0x1234]


@pytest.mark.asyncio
async def test_rcp_transmits_raw_frames_in_order_and_reports_tx_done(
        rcp: tuple[VirtualRcp, _Wire, MemoryRadio]) -> None:
    device, wire, peer = rcp
    heard: list[RxFrame] = []
    peer.on_receive = heard.append
    for prop, value in ((PropertyID.PHY_ENABLED, b"\x01"), (PropertyID.PHY_CHAN, b"\x0f"),
                        (PropertyID.MAC_15_4_PANID, b"\x62\x1a"),
                        (PropertyID.MAC_15_4_SADDR, b"\x00\x00"),
                        (PropertyID.MAC_RAW_STREAM_ENABLED, b"\x01")):
        _ask(device, wire, 1, CommandID.PROP_VALUE_SET, prop.serialize() + value)
    wire.frames.clear()
    to_peer = build_mac(mac_data(1, 0x1A62, 0x1234, 0x0000, b"one"))
    to_nobody = build_mac(mac_data(2, 0x1A62, 0x0999, 0x0000, b"two"))
    for tid, psdu in ((10, to_peer), (11, to_nobody)):  # sent at once, answered in order
        device._data(host_frame(tid, CommandID.PROP_VALUE_SET, PropertyID.STREAM_RAW.serialize()
                                + sc.TxRequest(psdu, 15, max_frame_retries=1).encode()))
    for _ in range(100):
        if len(wire.frames) >= 2:
            break
        await asyncio.sleep(0.02)
    done = [(f.tid, sc.decode_tx_done(f.value)[0]) for f in wire.frames]
    assert done == [(10, sc.Status.OK), (11, sc.Status.NO_ACK)]
    assert [parse_mac(f.psdu).payload for f in heard] == [b"one"]
    # The peer answers: the RCP acks it (the peer sees OK) and hands it up as STREAM_RAW.
    wire.frames.clear()
    status = await peer.transmit(build_mac(mac_data(9, 0x1A62, 0x0000, 0x1234, b"back")))
    assert status.name == "OK"
    (up,) = [f for f in wire.frames if f.prop == sc.Prop.STREAM_RAW]
    assert up.tid == 0 and parse_mac(sc.decode_rx_frame(up.value).psdu).payload == b"back"


def _uints(data: bytes) -> list[int]:
    out = []
    while data:
        value, data = sc.read_uint(data)
        out.append(value)
    return out
