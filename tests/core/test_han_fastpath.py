"""The HAN wire fast paths agree with the construct declarations they shortcut.

Every wire module keeps its construct format as the declaration and runs a hand-written path
for the common shapes. Here both paths see the same random inputs (valid, invalid and plain
random bytes) and must give the same bytes, the same objects, or the same error. The secured
frame path is also compared with a reference written the way han_crypto was before the fast
paths: construct encoders, headers rebuilt with the real level, make_nonce.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.core import han_crypto
from emulator.core.han_crypto import (
    HanFrame,
    build_secured_frame,
    ccm_star_decrypt,
    ccm_star_encrypt,
    make_nonce,
    mic_length,
    parse_secured_frame,
)
from emulator.errors import MalformedFrame, SecurityError
from emulator.wire import ieee802154, zcl, zigbee_aps, zigbee_nwk
from emulator.wire.ieee802154 import MacFrame, MacFrameType, crc16_kermit
from emulator.wire.zcl import (
    Attribute,
    ReadAttributeRecord,
    ReadAttributes,
    ReadAttributesResponse,
    ReportAttributes,
    WriteAttributes,
    ZclHeader,
)
from emulator.wire.zigbee_aps import ApsFrameType, ApsHeader, DeliveryMode
from emulator.wire.zigbee_nwk import KeyId, NwkFrameType, NwkHeader, SecurityHeader

FAST = settings(max_examples=400, deadline=None)


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """What a call gives: its value, or the type and text of what it raised."""
    try:
        return "ok", repr(fn())  # repr: NaN floats compare equal this way
    except Exception as exc:
        return "error", (type(exc).__name__, str(exc))


# --- strategies ------------------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
eui = st.binary(min_size=8, max_size=8)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` nine times in ten."""
    return st.integers(0, 9).flatmap(lambda i: bad if i == 0 else good)


# Mostly valid values, sometimes out of range or of the wrong size: errors must match too.
some_u8 = mostly(u8, st.integers(-2, 300))
some_u16 = mostly(u16, st.integers(-2, 70000))
some_eui = mostly(eui, st.binary(max_size=10))
payload = st.binary(max_size=40)


@st.composite
def mac_frames(draw: st.DrawFn) -> MacFrame:
    addr = st.one_of(st.none(), some_u16, some_eui)
    dst_addr, src_addr = draw(addr), draw(addr)
    pan = st.one_of(st.none(), some_u16)
    frame_type = draw(st.sampled_from(MacFrameType))
    return MacFrame(
        frame_type,
        draw(some_u8),
        dst_pan=draw(pan) if dst_addr is not None or draw(st.booleans()) else None,
        dst_addr=dst_addr,
        src_pan=draw(pan),
        src_addr=src_addr,
        payload=draw(payload),
        command=draw(st.one_of(st.none(), u8)) if frame_type == MacFrameType.COMMAND else None,
        ack_request=draw(st.booleans()),
        frame_pending=draw(st.booleans()),
        pan_id_compression=draw(st.booleans()),
        security=draw(st.booleans()),
        frame_version=draw(st.integers(0, 3)),
    )


@st.composite
def aux_headers(draw: st.DrawFn) -> SecurityHeader:
    key_id = draw(st.sampled_from(KeyId))
    key_seq = draw(some_u8) if key_id == KeyId.NETWORK else None
    if draw(st.integers(0, 20)) == 0:  # key_seq where it must not be, or missing
        key_seq = None if key_seq is not None else draw(u8)
    return SecurityHeader(
        key_id,
        draw(mostly(st.integers(0, 0xFFFFFFFF), st.integers(-1, 1 << 33))),
        source=draw(st.one_of(st.none(), some_eui)),
        key_seq=key_seq,
        level=draw(st.integers(0, 7)),
    )


@st.composite
def nwk_headers(draw: st.DrawFn) -> NwkHeader:
    relays = draw(st.one_of(st.none(), st.none(), st.tuples(u16), st.tuples(u16, u16)))
    return NwkHeader(
        draw(st.sampled_from(NwkFrameType)),
        draw(some_u16),
        draw(some_u16),
        draw(some_u8),
        radius=draw(some_u8),
        protocol_version=draw(st.integers(0, 15)),
        discover_route=draw(st.integers(0, 3)),
        dst_ieee=draw(st.one_of(st.none(), some_eui)),
        src_ieee=draw(st.one_of(st.none(), some_eui)),
        multicast_control=draw(st.one_of(st.none(), some_u8)),
        relay_index=None if relays is None else draw(u8),
        relays=relays,
        end_device_initiator=draw(st.booleans()),
        aux=draw(st.one_of(st.none(), aux_headers())),
    )


@st.composite
def aps_headers(draw: st.DrawFn) -> ApsHeader:
    opt8, opt16 = mostly(some_u8, st.none()), mostly(some_u16, st.none())
    fragmentation = draw(st.one_of(st.none(), st.none(), st.integers(0, 3)))
    return ApsHeader(
        draw(st.sampled_from(ApsFrameType)),
        draw(some_u8),
        delivery_mode=draw(st.sampled_from(DeliveryMode)),
        dst_endpoint=draw(opt8),
        group=draw(opt16),
        cluster=draw(opt16),
        profile=draw(opt16),
        src_endpoint=draw(opt8),
        ack_request=draw(st.booleans()),
        command_ack=draw(st.booleans()),
        fragmentation=fragmentation,
        block_number=None if fragmentation is None else draw(opt8),
        ack_bitfield=None if fragmentation is None else draw(opt8),
        aux=draw(st.one_of(st.none(), aux_headers())),
    )


# Every type the module knows, with values that mostly fit it. Integer types: (size, signed),
# written out here rather than taken from the module under test.
_ZCL_TYPES = sorted(zcl._VALUE_TYPES)
_INTS = {
    **dict.fromkeys([0x10, 0x18, 0x20, 0x30], (1, False)),
    **dict.fromkeys([0x19, 0x21, 0x31, 0xE8, 0xE9], (2, False)),
    **dict.fromkeys([0x1B, 0x23, 0xE0, 0xE1, 0xE2], (4, False)),
    0x22: (3, False),
    0x24: (5, False),
    0x25: (6, False),
    0x26: (7, False),
    0x27: (8, False),
    0x28: (1, True),
    0x29: (2, True),
    0x2A: (3, True),
    0x2B: (4, True),
}


def _zcl_value(data_type: int) -> st.SearchStrategy[Any]:
    if data_type in _INTS:
        size, signed = _INTS[data_type]
        lo, hi = (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if signed else (0, 256**size)
        return mostly(st.integers(lo, hi - (0 if signed else 1)), st.integers(lo - 2, hi + 2))
    if data_type in (0x38, 0x39):
        return mostly(st.floats(width=16 if data_type == 0x38 else 32), st.floats())
    if data_type == zcl.DataType.EUI64:
        return mostly(eui, st.one_of(st.binary(max_size=9), st.integers(0, 1 << 64)))
    if data_type == zcl.DataType.CHAR_STRING:
        return st.text(max_size=5)
    return st.binary(max_size=5)


@st.composite
def zcl_attributes(draw: st.DrawFn) -> Attribute:
    data_type = draw(mostly(st.sampled_from(_ZCL_TYPES), u8))
    value = draw(_zcl_value(data_type)) if draw(st.integers(0, 20)) else draw(st.booleans())
    return Attribute(draw(some_u16), data_type, value)


@st.composite
def read_records(draw: st.DrawFn) -> ReadAttributeRecord:
    if draw(st.booleans()):
        return ReadAttributeRecord(draw(u16), draw(st.integers(1, 0xFF)))
    attr = draw(zcl_attributes())
    return ReadAttributeRecord(attr.attribute_id, 0, attr.data_type, attr.value)


foundation_commands = st.one_of(
    st.builds(ReportAttributes, st.lists(zcl_attributes(), max_size=4).map(tuple)),
    st.builds(WriteAttributes, st.lists(zcl_attributes(), max_size=4).map(tuple)),
    st.builds(ReadAttributesResponse, st.lists(read_records(), max_size=4).map(tuple)),
    st.builds(ReadAttributes, st.lists(some_u16, max_size=4).map(tuple)),
)


def _with_fcs(data: bytes) -> bytes:
    return data + crc16_kermit(data).to_bytes(2, "little")


# --- MAC -------------------------------------------------------------------------------------


def test_fcs_residue_is_the_kermit_check() -> None:
    for size in range(130):
        data = os.urandom(size)
        good = _with_fcs(data)
        assert binascii.crc_hqx(good.translate(ieee802154._REV8), 0) == 0
        bad = good[:-1] + bytes((good[-1] ^ 1 << (size % 8),))
        assert binascii.crc_hqx(bad.translate(ieee802154._REV8), 0) != 0
    assert crc16_kermit(b"123456789") == 0x2189


@FAST
@given(mac_frames(), payload, st.booleans())
def test_mac_build_fast_equals_construct(frame: MacFrame, body: bytes, fcs: bool) -> None:
    fast = outcome(lambda: ieee802154._encode(frame, body, fcs, True))
    slow = outcome(lambda: ieee802154._encode(frame, body, fcs, False))
    assert fast == slow


@FAST
@given(st.one_of(mac_frames(), st.binary(max_size=40)), st.booleans(), st.booleans())
def test_mac_parse_fast_equals_construct(source: MacFrame | bytes, fcs: bool, keep: bool) -> None:
    if isinstance(source, MacFrame):
        try:
            data = ieee802154._encode(source, source.payload, fcs, False)
        except MalformedFrame:
            return
    else:
        data = _with_fcs(source) if fcs else source
    fast = outcome(lambda: ieee802154._decode(data, fcs, True, keep))
    slow = outcome(lambda: ieee802154._decode(data, fcs, False, keep))
    assert fast == slow


# --- NWK and APS -----------------------------------------------------------------------------


@FAST
@given(nwk_headers(), payload)
def test_nwk_build_fast_equals_construct(header: NwkHeader, body: bytes) -> None:
    fast = outcome(lambda: zigbee_nwk._encode(header, body, True))
    assert fast == outcome(lambda: zigbee_nwk._encode(header, body, False))


@FAST
@given(st.one_of(nwk_headers(), st.binary(max_size=50)), st.one_of(st.none(), st.integers(0, 7)))
def test_nwk_parse_fast_equals_construct(source: NwkHeader | bytes, level: int | None) -> None:
    if isinstance(source, NwkHeader):
        try:
            data = zigbee_nwk._encode(source, b"\x01\x02", False)
        except MalformedFrame:
            return
    else:
        data = source
    fast = outcome(lambda: zigbee_nwk.parse_nwk_split(data, level=level))
    assert fast == outcome(lambda: zigbee_nwk._split(data, level))
    if level is None:
        assert fast == outcome(lambda: zigbee_nwk.parse_nwk_split(data))


@FAST
@given(aps_headers(), payload)
def test_aps_build_fast_equals_construct(header: ApsHeader, body: bytes) -> None:
    fast = outcome(lambda: zigbee_aps._encode(header, body, True))
    assert fast == outcome(lambda: zigbee_aps._encode(header, body, False))


@FAST
@given(st.one_of(aps_headers(), st.binary(max_size=40)), st.one_of(st.none(), st.integers(0, 7)))
def test_aps_parse_fast_equals_construct(source: ApsHeader | bytes, level: int | None) -> None:
    if isinstance(source, ApsHeader):
        try:
            data = zigbee_aps._encode(source, b"\x01\x02", False)
        except MalformedFrame:
            return
    else:
        data = source
    fast = outcome(lambda: zigbee_aps.parse_aps_split(data, level=level))
    assert fast == outcome(lambda: zigbee_aps._split(data, level))


# --- ZCL -------------------------------------------------------------------------------------


@FAST
@given(
    st.builds(
        ZclHeader,
        st.sampled_from(zcl.ZclFrameType),
        some_u8,
        some_u8,
        st.sampled_from(zcl.Direction),
        st.booleans(),
        st.one_of(st.none(), st.none(), some_u16),
    ),
    payload,
)
def test_zcl_header_fast_equals_construct(header: ZclHeader, body: bytes) -> None:
    fast = outcome(lambda: zcl._build_zcl(header, body, True))
    assert fast == outcome(lambda: zcl._build_zcl(header, body, False))
    data = zcl._build_zcl(header, body, False) if fast[0] == "ok" else body
    assert outcome(lambda: zcl.parse_zcl(data)) == outcome(lambda: zcl._parse_zcl(data))


@FAST
@given(foundation_commands)
def test_zcl_encode_fast_equals_construct(cmd: Any) -> None:
    fast = outcome(lambda: zcl.encode_foundation(cmd))
    assert fast == outcome(lambda: zcl._encode_foundation(cmd))


@FAST
@given(
    st.one_of(foundation_commands, st.binary(max_size=30)),
    st.sampled_from([0x00, 0x01, 0x02, 0x0A]),
)
def test_zcl_decode_fast_equals_construct(source: Any, command_id: int) -> None:
    if isinstance(source, bytes):
        data = source
    else:
        try:
            data = zcl._encode_foundation(source)
        except MalformedFrame:
            return
        command_id = source.command_id
    fast = outcome(lambda: zcl.decode_foundation(command_id, data))
    assert fast == outcome(lambda: zcl._decode_foundation(command_id, data))


# --- the secured stack against the pre-fast-path reference -----------------------------------

NWK_KEY = bytes.fromhex("0102030405060708090A0B0C0D0E0F10")
LINK_KEY = bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB")


def _reference_secure(
    frame: bytes, aux_size: int, payload_len: int, key: bytes, source: bytes, level: int
) -> bytes:
    # frame was built with the real level in the control byte (as the old code did).
    payload_offset = len(frame) - payload_len
    aux_offset = payload_offset - aux_size
    control = frame[aux_offset]
    counter = int.from_bytes(frame[aux_offset + 1 : aux_offset + 5], "little")
    nonce = make_nonce(source, counter, control)
    mic = mic_length(level)
    if level & 4:
        body = ccm_star_encrypt(key, nonce, frame[:payload_offset], frame[payload_offset:], mic)
    else:
        body = frame[payload_offset:] + ccm_star_encrypt(key, nonce, frame, b"", mic)
    header = bytearray(frame[:payload_offset])
    header[aux_offset] = control & ~7
    return bytes(header) + body


def _reference_build(
    mac: MacFrame, nwk: NwkHeader, aps: ApsHeader, body: bytes, level: int
) -> bytes:
    """build_secured_frame as it was: construct encoders, headers copied with the level."""
    aps_bytes = zigbee_aps._encode(aps, body, False)
    if aps.aux is not None:
        aux = SecurityHeader(
            aps.aux.key_id, aps.aux.frame_counter, aps.aux.source, aps.aux.key_seq, level
        )
        frame = zigbee_aps._encode(
            ApsHeader(
                aps.frame_type,
                aps.counter,
                aps.delivery_mode,
                aps.dst_endpoint,
                aps.group,
                aps.cluster,
                aps.profile,
                aps.src_endpoint,
                aps.ack_request,
                aps.command_ack,
                aps.fragmentation,
                aps.block_number,
                aps.ack_bitfield,
                aux,
            ),
            body,
            False,
        )
        assert aux.source is not None
        aps_bytes = _reference_secure(
            frame, aux.size, len(body), han_crypto._aps_key(aux.key_id, LINK_KEY), aux.source, level
        )
    assert nwk.aux is not None and nwk.aux.source is not None
    source = nwk.aux.source
    aux = SecurityHeader(nwk.aux.key_id, nwk.aux.frame_counter, source, nwk.aux.key_seq, level)
    frame = zigbee_nwk._encode(nwk.with_aux(aux), aps_bytes, False)
    nwk_bytes = _reference_secure(frame, aux.size, len(aps_bytes), NWK_KEY, source, level)
    return ieee802154._encode(mac, nwk_bytes, True, False)


@st.composite
def secured_frames(draw: st.DrawFn) -> tuple[MacFrame, NwkHeader, ApsHeader, bytes, int]:
    src, dst = draw(u16), draw(u16)
    mac = ieee802154.mac_data(draw(u8), draw(u16), dst, src, b"")
    nwk_aux = SecurityHeader(
        KeyId.NETWORK,
        draw(st.integers(0, 0xFFFFFFFF)),
        source=draw(eui),
        key_seq=draw(u8),
        level=draw(st.integers(0, 7)),
    )
    nwk = NwkHeader(
        NwkFrameType.DATA,
        dst,
        src,
        draw(u8),
        radius=draw(u8),
        src_ieee=draw(st.one_of(st.none(), eui)),
        aux=nwk_aux,
    )
    aps_aux = None
    if draw(st.booleans()):
        aps_aux = SecurityHeader(
            draw(st.sampled_from([KeyId.DATA, KeyId.KEY_TRANSPORT])),
            draw(st.integers(0, 0xFFFFFFFF)),
            source=draw(eui),
        )
    if draw(st.booleans()):
        aps = zigbee_aps.aps_data(draw(u8), draw(u16), dst_endpoint=draw(u8), aux=aps_aux)
    else:
        aps = zigbee_aps.aps_command(draw(u8), aux=aps_aux)
    return mac, nwk, aps, draw(st.binary(max_size=30)), draw(st.integers(1, 7))


@settings(max_examples=300, deadline=None)
@given(secured_frames())
def test_secured_frame_matches_reference(
    case: tuple[MacFrame, NwkHeader, ApsHeader, bytes, int],
) -> None:
    mac, nwk, aps, body, level = case
    try:
        expected = _reference_build(mac, nwk, aps, body, level)
    except MalformedFrame:  # too long for one PSDU
        return
    data = build_secured_frame(
        mac, nwk, aps, body, network_key=NWK_KEY, link_key=LINK_KEY, level=level
    )
    assert data == expected
    got = parse_secured_frame(data, network_keys=NWK_KEY, link_key=LINK_KEY, level=level)
    assert isinstance(got, HanFrame)
    assert got.payload == body
    assert got.mac == ieee802154._decode(data, True, False, False)[0]
    assert got.nwk == nwk.with_aux(_level(nwk.aux, level))
    assert got.aps.aux == _level(aps.aux, level)
    nwk_raw = ieee802154._decode(data, True, False, True)[1]
    on_air, _ = zigbee_nwk._split(nwk_raw)
    assert on_air.aux is not None and on_air.aux.level == 0


def _level(aux: SecurityHeader | None, level: int) -> SecurityHeader | None:
    if aux is None:
        return None
    return SecurityHeader(aux.key_id, aux.frame_counter, aux.source, aux.key_seq, level)


def test_ccm_decrypt_with_tampered_frame_fails() -> None:
    mac = ieee802154.mac_data(1, 0x1A62, 0, 1, b"")
    aux = SecurityHeader(KeyId.NETWORK, 9, source=bytes(range(8)), key_seq=0)
    nwk = NwkHeader(NwkFrameType.DATA, 0, 1, 1, aux=aux)
    data = bytearray(
        build_secured_frame(
            mac, nwk, zigbee_aps.aps_data(1, 0x0702), b"\x18\x01", network_key=NWK_KEY
        )
    )
    data[12] ^= 1  # a NWK header byte, covered by the MIC
    data[-2:] = crc16_kermit(bytes(data[:-2])).to_bytes(2, "little")
    try:
        parse_secured_frame(bytes(data), network_keys=NWK_KEY)
    except SecurityError:
        pass
    else:
        raise AssertionError("tampered frame accepted")
    assert ccm_star_decrypt is han_crypto.ccm_star_decrypt


def test_aesccm_cache_is_bounded() -> None:
    cache = han_crypto.CipherCache(8)
    for i in range(100):
        cache.get(i.to_bytes(16, "big"), 4)
        assert len(cache) <= 16
    assert cache.misses == 100
    key = bytes(16)
    assert cache.get(key, 4) is cache.get(key, 4)
    assert han_crypto._aesccm(key, 4) is han_crypto._aesccm(key, 4)  # the process's cache


def test_aesccm_cache_keeps_the_keys_in_use_across_a_rollover() -> None:
    """A fleet's keys in use stay cached while many others pass through (no thrash): a key
    touched every few lookups is made once, whatever the number of other keys."""
    cache = han_crypto.CipherCache(8)
    hot = b"\x01" * 16
    for i in range(1000):
        if i % 4 == 0:
            cache.get(hot, 4)
        cache.get((1000 + i).to_bytes(16, "big"), 4)  # a stream of keys used once
    assert cache.misses == 1 + 1000
    ccm = cache.get(hot, 4)
    assert cache.get(hot, 4) is ccm
    # ... and the object works: it is AES-CCM with that key and MIC length
    nonce = bytes(13)
    assert ccm.decrypt(nonce, ccm.encrypt(nonce, b"frame", b"hdr"), b"hdr") == b"frame"
    assert len(ccm.encrypt(nonce, b"", b"hdr")) == 4


def test_aesccm_cache_makes_nothing_for_a_bad_key() -> None:
    cache = han_crypto.CipherCache(8)
    try:
        cache.get(b"short", 4)
    except ValueError:
        pass
    else:
        raise AssertionError("a 5-byte AES key accepted")
    assert len(cache) == 0 and cache.misses == 0
