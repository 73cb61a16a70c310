"""ZigBee security for the Smart Energy HAN: CCM*, AES-MMO, install codes, key rings, replay.

* **CCM\\*** (ZigBee spec annex A, Formal Specification of the CCM* Mode of Operation):
  levels 1-3 authenticate only (a = header || aux header || payload, m empty), level 4 encrypts
  only, levels 5-7 encrypt and authenticate with a 4/8/16-byte MIC. Built on cryptography's
  ``AESCCM`` (CCM* with M > 0 is CCM) and AES-CTR for level 4.
* **Nonce** (13 bytes): source EUI-64 as on air (little-endian) || frame counter (u32 LE) ||
  security control byte *with the real level*. The level field goes out over the air as 0;
  the receiver writes its configured level back before checking the MIC (the MIC covers the
  header with the real level), as Wireshark's ``packet-zbee-security.c`` does.
* **AES-MMO** (Matyas-Meyer-Oseas over AES-128, ZigBee padding) and the keyed **HMAC-MMO** that
  derives the key-transport key (input 0x00) and key-load key (input 0x02) from a link key.
* **Install codes**: 6/8/12/16 bytes followed by CRC-16/X-25 little-endian; the pre-configured
  TC link key is AES-MMO(code || CRC).
* :class:`ReplayGuard` and :class:`NetworkKeyRing` hold the receive-side state.

No clock is read here; nothing here does I/O.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from emulator.errors import (
    BadMac,
    InstallCodeError,
    MalformedFrame,
    ReplayedCounter,
    SecurityError,
    UnknownKeySequence,
)
from emulator.wire.ieee802154 import MacFrame, build_mac_frame, split_mac
from emulator.wire.zigbee_aps import ApsHeader, build_aps, parse_aps_split
from emulator.wire.zigbee_nwk import (
    KeyId,
    NwkHeader,
    SecurityHeader,
    SecurityLevel,
    build_nwk,
    parse_nwk_split,
)

__all__ = [
    "CIPHERS",
    "CipherCache",
    "HanFrame",
    "InstallCodeError",
    "NetworkKeyRing",
    "ReplayGuard",
    "UnknownKeySequence",
    "aes_mmo_hash",
    "aps_decrypt",
    "aps_encrypt",
    "build_secured_frame",
    "ccm_star_decrypt",
    "ccm_star_encrypt",
    "crc16_x25",
    "hmac_mmo",
    "install_code_crc",
    "install_code_link_key",
    "key_load_key",
    "key_transport_key",
    "make_nonce",
    "mic_length",
    "nwk_decrypt",
    "nwk_encrypt",
    "parse_secured_frame",
]

INSTALL_CODE_LENGTHS = (6, 8, 12, 16)


# --- CRC-16/X-25 -----------------------------------------------------------------------------

_REV8 = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (reflected 0x1021, init and xorout 0xFFFF). Check: ``b"123456789"`` -> 0x906E.

    Computed with binascii.crc_hqx on bit-reversed bytes (a reflected CRC is the mirror of the
    plain one)."""
    crc = binascii.crc_hqx(data.translate(_REV8), 0xFFFF)
    return ((_REV8[crc & 0xFF] << 8) | _REV8[crc >> 8]) ^ 0xFFFF


def install_code_crc(code: bytes) -> bytes:
    """The two CRC bytes (little-endian) that follow an install code."""
    if len(code) not in INSTALL_CODE_LENGTHS:
        raise InstallCodeError(f"an install code is 6, 8, 12 or 16 bytes, got {len(code)}")
    return crc16_x25(code).to_bytes(2, "little")


def install_code_link_key(code_with_crc: bytes) -> bytes:
    """Check the CRC of ``code || CRC`` (8/10/14/18 bytes) and derive the TC link key."""
    code, crc = code_with_crc[:-2], code_with_crc[-2:]
    if install_code_crc(code) != crc:
        raise InstallCodeError(
            f"install code CRC mismatch: got {crc.hex().upper()}, "
            f"expected {install_code_crc(code).hex().upper()}"
        )
    return aes_mmo_hash(code_with_crc)


# --- AES-MMO and HMAC-MMO --------------------------------------------------------------------


def _aes_block(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def aes_mmo_hash(data: bytes) -> bytes:
    """The ZigBee cryptographic hash (spec B.6): Matyas-Meyer-Oseas over AES-128.

    Padding: a 1 bit, zeros, then the bit length in 16 bits big-endian (messages under 2**16
    bits) or in 32 bits followed by 16 zero bits (longer messages), to a 16-byte boundary.
    """
    bits = len(data) * 8
    padded = bytearray(data)
    padded.append(0x80)
    if bits < 1 << 16:
        padded.extend(bytes((14 - len(padded)) % 16))
        padded.extend(bits.to_bytes(2, "big"))
    else:
        padded.extend(bytes((10 - len(padded)) % 16))
        padded.extend(bits.to_bytes(4, "big") + b"\x00\x00")
    digest = bytes(16)
    for i in range(0, len(padded), 16):
        block = bytes(padded[i : i + 16])
        out = _aes_block(digest, block)
        digest = bytes(x ^ y for x, y in zip(out, block, strict=True))
    return digest


def hmac_mmo(key: bytes, message: bytes) -> bytes:
    """Keyed hash (spec B.1.4, FIPS 198 with the MMO hash and a 16-byte block)."""
    if len(key) != 16:
        raise SecurityError(f"an HMAC-MMO key is 16 bytes, got {len(key)}")
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    return aes_mmo_hash(opad + aes_mmo_hash(ipad + message))


def key_transport_key(link_key: bytes) -> bytes:
    """Protects Transport Key commands carrying the network key (HMAC-MMO with input 0x00)."""
    return hmac_mmo(link_key, b"\x00")


def key_load_key(link_key: bytes) -> bytes:
    """Protects Transport Key commands carrying link keys (HMAC-MMO with input 0x02)."""
    return hmac_mmo(link_key, b"\x02")


# --- CCM* ------------------------------------------------------------------------------------


def mic_length(level: int) -> int:
    """MIC bytes for a security level: 0, 4, 8 or 16."""
    if not 0 <= level <= 7:
        raise SecurityError(f"security level {level} out of range")
    return (0, 4, 8, 16)[level & 3]


class CipherCache:
    """AESCCM objects by (key, MIC length), bounded in two generations.

    A fleet has a network key and a link key per device for every installation: thousands of
    keys, each used in bursts (a request, its answer and their APS acks within some tens of
    ms), then idle for minutes. A lookup hits the young generation, or moves the entry up from
    the old one; a miss makes the object. When the young generation holds ``limit`` entries it
    becomes the old one (the previous old one is dropped), so a key used within the last
    ``limit`` distinct keys is still there, and at most ``2 * limit`` objects live (an
    AESCCM object is about 0.6 KiB) however many keys a run sees. (Emptying one dict when full
    would throw away the keys in use with the rest, every ``limit`` misses.)
    """

    __slots__ = ("_old", "_young", "limit", "misses")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._young: dict[tuple[bytes, int], AESCCM] = {}
        self._old: dict[tuple[bytes, int], AESCCM] = {}
        self.misses = 0  # objects made (benchmarks read it)

    def get(self, key: bytes, tag: int) -> AESCCM:
        entry = (key, tag)
        ccm = self._young.get(entry)
        if ccm is not None:
            return ccm
        ccm = self._old.pop(entry, None)
        if ccm is None:
            ccm = AESCCM(key, tag_length=tag)  # raises for a bad key or MIC length: not kept
            self.misses += 1
            entry = (bytes(key), tag)
        if len(self._young) >= self.limit:
            self._old, self._young = self._young, {}
        self._young[entry] = ccm
        return ccm

    def __len__(self) -> int:
        return len(self._young) + len(self._old)


#: The process's AESCCM objects (4096 keys per generation, 5 MiB at most; a 1000-installation
#: fleet has 5000 keys and makes about 9 objects per key per simulated day).
CIPHERS = CipherCache(4096)
_aesccm = CIPHERS.get


def _ctr(key: bytes, nonce: bytes, data: bytes) -> bytes:
    # CCM* counter blocks A_i = flags(L-1 = 1) || nonce || i (2 bytes); encryption starts at i=1.
    ctr = Cipher(algorithms.AES(key), modes.CTR(b"\x01" + nonce + b"\x00\x01")).encryptor()
    return ctr.update(data) + ctr.finalize()


def ccm_star_encrypt(key: bytes, nonce: bytes, a: bytes, m: bytes, mic_len: int) -> bytes:
    """CCM* forward transformation: encrypted m followed by the encrypted MIC (length mic_len).

    ``mic_len`` 0 means encryption only (level 4).
    """
    if len(nonce) != 13:
        raise SecurityError(f"a CCM* nonce is 13 bytes, got {len(nonce)}")
    if mic_len == 0:
        return _ctr(key, nonce, m)
    return _aesccm(key, mic_len).encrypt(nonce, m, a)


def ccm_star_decrypt(key: bytes, nonce: bytes, a: bytes, c: bytes, mic_len: int) -> bytes:
    """CCM* inverse transformation; raises BadMac when the MIC does not verify."""
    if len(nonce) != 13:
        raise SecurityError(f"a CCM* nonce is 13 bytes, got {len(nonce)}")
    if mic_len == 0:
        return _ctr(key, nonce, c)
    if len(c) < mic_len:
        raise BadMac(f"secured payload of {len(c)} bytes is shorter than its {mic_len}-byte MIC")
    try:
        return _aesccm(key, mic_len).decrypt(nonce, c, a)
    except InvalidTag:
        raise BadMac("MIC did not verify") from None


def make_nonce(source: bytes, frame_counter: int, control: int) -> bytes:
    """The 13-byte CCM* nonce. ``source`` is the EUI-64 in display order; the nonce carries it
    as on air (little-endian), then the counter (LE) and the security control byte."""
    if len(source) != 8:
        raise SecurityError(f"a nonce source is an 8-byte EUI-64, got {len(source)}")
    return source[::-1] + frame_counter.to_bytes(4, "little") + bytes((control,))


def _nonce(source: bytes, counter: bytes, control: int) -> bytes:
    """:func:`make_nonce` with the frame counter as on air (4 bytes, little-endian)."""
    if len(source) != 8:
        raise SecurityError(f"a nonce source is an 8-byte EUI-64, got {len(source)}")
    return source[::-1] + counter + bytes((control,))


def _secure(
    frame: bytes, aux_offset: int, payload_offset: int, key: bytes, source: bytes, level: int
) -> bytes:
    """Secure ``frame`` (header || aux || plaintext payload) at security ``level``: the MIC
    covers the header with the real level in the security control byte, the transmitted copy
    carries level 0 there. The level already in ``frame`` is ignored."""
    mic = mic_length(level)
    control = (frame[aux_offset] & 0xF8) | (level & 7)
    nonce = _nonce(source, frame[aux_offset + 1 : aux_offset + 5], control)
    head, tail = frame[:aux_offset], frame[aux_offset + 1 : payload_offset]
    on_air = head + bytes((control & 0xF8,)) + tail
    if level & 4:
        a = head + bytes((control,)) + tail
        return on_air + ccm_star_encrypt(key, nonce, a, frame[payload_offset:], mic)
    tag = ccm_star_encrypt(
        key, nonce, head + bytes((control,)) + tail + frame[payload_offset:], b"", mic
    )
    return on_air + frame[payload_offset:] + tag


def _unsecure(
    data: bytes, aux_offset: int, payload_offset: int, key: bytes, source: bytes, level: int
) -> bytes:
    control = (data[aux_offset] & 0xF8) | (level & 7)
    header = data[:aux_offset] + bytes((control,)) + data[aux_offset + 1 : payload_offset]
    nonce = _nonce(source, data[aux_offset + 1 : aux_offset + 5], control)
    mic = mic_length(level)
    body = data[payload_offset:]
    if level & 4:
        return ccm_star_decrypt(key, nonce, header, body, mic)
    if len(body) < mic:
        raise BadMac("secured payload shorter than its MIC")
    plain = body[: len(body) - mic]
    ccm_star_decrypt(key, nonce, header + plain, body[len(body) - mic :], mic)
    return plain


def _nonce_source(aux: SecurityHeader, fallback: bytes | None) -> bytes:
    source = aux.source if aux.source is not None else fallback
    if source is None:
        raise SecurityError("no source EUI-64 for the nonce (extended nonce off, none given)")
    return source


# --- NWK -------------------------------------------------------------------------------------


def nwk_encrypt(
    header: NwkHeader,
    payload: bytes,
    key: bytes,
    *,
    level: int = SecurityLevel.ENC_MIC_32,
    source: bytes | None = None,
) -> bytes:
    """Secure a NWK frame. ``header.aux`` supplies key id (network), counter, key sequence and,
    normally, the source EUI-64 (extended nonce); ``source`` is the nonce source otherwise."""
    aux = header.aux
    if aux is None:
        raise SecurityError("nwk_encrypt needs header.aux (the auxiliary security header)")
    frame = build_nwk(header, payload)  # _secure writes the level into the control byte
    payload_offset = len(frame) - len(payload)
    aux_offset = payload_offset - aux.size
    return _secure(frame, aux_offset, payload_offset, key, _nonce_source(aux, source), level)


def nwk_decrypt(
    data: bytes,
    keys: bytes | NetworkKeyRing,
    *,
    level: int = SecurityLevel.ENC_MIC_32,
    source: bytes | None = None,
    guard: ReplayGuard | None = None,
) -> tuple[NwkHeader, bytes]:
    """Check and decrypt a secured NWK frame (MAC header and FCS already removed).

    ``keys`` is one network key or a :class:`NetworkKeyRing` (the key is then chosen by the
    frame's key sequence number). With a ``guard`` the frame counter must be above the last one
    accepted from that source under that key sequence; it is recorded only after the MIC
    verifies. Returns the header (``aux.level`` set to ``level``) and the plaintext payload.
    """
    header, payload_offset = parse_nwk_split(data, level=level)
    aux = header.aux
    if aux is None:
        raise MalformedFrame("NWK frame is not secured", "nwk.fcf")
    nonce_source = _nonce_source(aux, source if source is not None else header.src_ieee)
    key = keys.key_for(aux.key_seq) if isinstance(keys, NetworkKeyRing) else keys
    if guard is not None:
        guard.check(nonce_source, aux.key_seq, aux.frame_counter)
    plain = _unsecure(data, payload_offset - aux.size, payload_offset, key, nonce_source, level)
    if guard is not None:
        guard.accept(nonce_source, aux.key_seq, aux.frame_counter)
    return header, plain


# --- APS -------------------------------------------------------------------------------------


def _aps_key(key_id: KeyId, key: bytes) -> bytes:
    if key_id == KeyId.KEY_TRANSPORT:
        return key_transport_key(key)
    if key_id == KeyId.KEY_LOAD:
        return key_load_key(key)
    return key


def aps_encrypt(
    header: ApsHeader,
    payload: bytes,
    key: bytes,
    *,
    level: int = SecurityLevel.ENC_MIC_32,
    source: bytes | None = None,
) -> bytes:
    """Secure an APS frame. ``key`` is the link key (or network key for key id NETWORK); the
    key-transport / key-load keys are derived from it by ``header.aux.key_id``."""
    aux = header.aux
    if aux is None:
        raise SecurityError("aps_encrypt needs header.aux (the auxiliary security header)")
    frame = build_aps(header, payload)  # _secure writes the level into the control byte
    payload_offset = len(frame) - len(payload)
    aux_offset = payload_offset - aux.size
    return _secure(
        frame,
        aux_offset,
        payload_offset,
        _aps_key(aux.key_id, key),
        _nonce_source(aux, source),
        level,
    )


def aps_decrypt(
    data: bytes,
    key: bytes,
    *,
    level: int = SecurityLevel.ENC_MIC_32,
    source: bytes | None = None,
    guard: ReplayGuard | None = None,
) -> tuple[ApsHeader, bytes]:
    """Check and decrypt a secured APS frame (the NWK payload). ``source`` is the sender's
    EUI-64 when the frame does not carry it (extended nonce off)."""
    header, payload_offset = parse_aps_split(data, level=level)
    aux = header.aux
    if aux is None:
        raise MalformedFrame("APS frame is not secured", "aps.fcf")
    nonce_source = _nonce_source(aux, source)
    if guard is not None:
        guard.check(nonce_source, aux.key_seq, aux.frame_counter)
    plain = _unsecure(
        data,
        payload_offset - aux.size,
        payload_offset,
        _aps_key(aux.key_id, key),
        nonce_source,
        level,
    )
    if guard is not None:
        guard.accept(nonce_source, aux.key_seq, aux.frame_counter)
    return header, plain


# --- receive-side state ----------------------------------------------------------------------


class ReplayGuard:
    """Highest frame counter accepted per (source EUI-64, key sequence number).

    ``check`` raises :class:`~emulator.errors.ReplayedCounter` for a counter equal to or below
    the highest accepted; ``accept`` checks and records. Link-key (APS) counters use key
    sequence ``None``.
    """

    __slots__ = ("_highest",)

    def __init__(self) -> None:
        self._highest: dict[tuple[bytes, int | None], int] = {}

    def highest(self, source: bytes, key_seq: int | None) -> int | None:
        return self._highest.get((source, key_seq))

    def check(self, source: bytes, key_seq: int | None, counter: int) -> None:
        last = self._highest.get((source, key_seq))
        if last is not None and counter <= last:
            raise ReplayedCounter(
                f"frame counter {counter} from {source.hex()} (key seq {key_seq}) not above {last}"
            )

    def accept(self, source: bytes, key_seq: int | None, counter: int) -> None:
        self.check(source, key_seq, counter)
        self._highest[(source, key_seq)] = counter

    def forget(self, source: bytes) -> None:
        """Drop every counter of ``source`` (it left, or was reset by the Trust Center)."""
        for k in [k for k in self._highest if k[0] == source]:
            del self._highest[k]

    def forget_key_seq(self, key_seq: int) -> None:
        """Drop counters kept under a superseded network key."""
        for k in [k for k in self._highest if k[1] == key_seq]:
            del self._highest[k]


class NetworkKeyRing:
    """The network key in use and, after a Transport Key, the next one.

    ``install`` stores a pending key (Transport Key of a network key); ``switch`` makes it
    current (Switch Key) and forgets the old one. ``key_for`` finds the key of a frame's key
    sequence number: the current one, or the pending one (a device that switched earlier);
    anything else, including a superseded sequence number, raises :class:`UnknownKeySequence`.
    """

    __slots__ = ("_current", "_pending")

    def __init__(self, key: bytes, seq: int = 0) -> None:
        _check_key(key, seq)
        self._current = (seq, key)
        self._pending: tuple[int, bytes] | None = None

    @property
    def current_seq(self) -> int:
        return self._current[0]

    @property
    def current_key(self) -> bytes:
        return self._current[1]

    @property
    def pending_seq(self) -> int | None:
        return None if self._pending is None else self._pending[0]

    def install(self, key: bytes, seq: int) -> None:
        _check_key(key, seq)
        if seq == self._current[0]:
            raise UnknownKeySequence(f"key sequence {seq} is already the current key")
        self._pending = (seq, key)

    def switch(self, seq: int) -> None:
        if self._pending is None or self._pending[0] != seq:
            raise UnknownKeySequence(f"Switch Key to {seq} without that key installed")
        self._current, self._pending = self._pending, None

    def key_for(self, seq: int | None) -> bytes:
        if seq == self._current[0]:
            return self._current[1]
        if self._pending is not None and seq == self._pending[0]:
            return self._pending[1]
        raise UnknownKeySequence(f"no network key with sequence number {seq}")


def _check_key(key: bytes, seq: int) -> None:
    if len(key) != 16:
        raise SecurityError(f"a network key is 16 bytes, got {len(key)}")
    if not 0 <= seq <= 255:
        raise SecurityError(f"key sequence number {seq} out of range")


# --- the whole stack in one call -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HanFrame:
    """A received frame taken apart: MAC, NWK and APS headers (security levels restored) and
    the APS payload (ZCL bytes for data frames, the APS command for command frames)."""

    mac: MacFrame
    nwk: NwkHeader
    aps: ApsHeader
    payload: bytes


def build_secured_frame(
    mac: MacFrame,
    nwk: NwkHeader,
    aps: ApsHeader,
    payload: bytes,
    *,
    network_key: bytes | None,
    link_key: bytes | None = None,
    level: int = SecurityLevel.ENC_MIC_32,
    aps_source: bytes | None = None,
) -> bytes:
    """MAC(NWK(APS(payload))) with the FCS; NWK secured when ``nwk.aux`` is set (with
    ``network_key``), APS secured when ``aps.aux`` is set (with ``link_key``). ``mac.payload``
    is ignored."""
    if aps.aux is not None:
        if link_key is None:
            raise SecurityError("APS security needs a link key")
        aps_bytes = aps_encrypt(aps, payload, link_key, level=level, source=aps_source)
    else:
        aps_bytes = build_aps(aps, payload)
    if nwk.aux is not None:
        if network_key is None:
            raise SecurityError("NWK security needs a network key")
        nwk_bytes = nwk_encrypt(nwk, aps_bytes, network_key, level=level)
    else:
        nwk_bytes = build_nwk(nwk, aps_bytes)
    return build_mac_frame(mac, nwk_bytes)


def parse_secured_frame(
    data: bytes,
    *,
    network_keys: bytes | NetworkKeyRing | None,
    link_key: bytes | None = None,
    level: int = SecurityLevel.ENC_MIC_32,
    aps_source: bytes | None = None,
    guard: ReplayGuard | None = None,
    link_key_for: Callable[[MacFrame], bytes | None] | None = None,
) -> HanFrame:
    """Check the FCS, unsecure NWK (and APS when secured) and split the frame.

    ``aps_source`` is the sender's EUI-64 for an APS frame without extended nonce; by default
    the NWK source IEEE address or the NWK nonce source is used. ``link_key_for``, when given,
    picks the link key from the MAC header (a receiver that knows its senders by address)."""
    mac, nwk_raw = split_mac(data)
    if link_key_for is not None:
        link_key = link_key_for(mac)
    if len(nwk_raw) > 1 and nwk_raw[1] & 0x02:  # NWK security bit (frame control bit 9)
        if network_keys is None:
            raise SecurityError("secured NWK frame and no network key")
        nwk_header, aps_bytes = nwk_decrypt(nwk_raw, network_keys, level=level, guard=guard)
    else:
        nwk_header, nwk_offset = parse_nwk_split(nwk_raw)
        aps_bytes = nwk_raw[nwk_offset:]
    if aps_bytes and aps_bytes[0] & 0x20:  # APS security bit
        if link_key is None:
            raise SecurityError("secured APS frame and no link key")
        fallback = aps_source
        if fallback is None:
            fallback = nwk_header.src_ieee
        if fallback is None and nwk_header.aux is not None:
            fallback = nwk_header.aux.source
        aps_header, payload = aps_decrypt(
            aps_bytes, link_key, level=level, source=fallback, guard=guard
        )
    else:
        aps_header, aps_offset = parse_aps_split(aps_bytes)
        payload = aps_bytes[aps_offset:]
    return HanFrame(mac, nwk_header, aps_header, payload)
