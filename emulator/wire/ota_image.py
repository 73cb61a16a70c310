"""The ZigBee OTA upgrade file: header and tagged sub-elements, declared with construct.

Layout (little-endian; ZigBee OTA Upgrade cluster specification, file format)::

    header   0x0BEEF11E identifier, header version 0x0100, header length, field control,
             manufacturer code, image type, file version, ZigBee stack version,
             32-byte header string, total image size (header included), then as the field
             control says: security credential version (bit 0), upgrade file destination
             EUI-64 (bit 1), minimum and maximum hardware version (bit 2)
    elements tag (2) + length (4) + data, up to the total image size

s1lab's images carry, in this order: the upgrade image (tag 0x0000), the signer certificate
(0xF002, DER X.509, P-256), the image integrity code (0x0003: the ZigBee AES-MMO hash of every
byte before that sub-element) and the signature (0xF001: the signer's EUI-64 then r and s of an
ECDSA P-256 / SHA-256 signature over every byte before that sub-element). The suite-1 and
suite-2 tags (0x0001/0x0002, 0x0005/0x0006) name sect163k1 and sect283k1 curves, which s1lab
does not use, so its P-256 signature and certificate take tags from the manufacturer-specific
range (0xF000-0xFFFF) rather than borrowing a standard tag for another curve.

:func:`parse_image` checks the file in order and raises :class:`MalformedImage` with one line
naming the first thing that is wrong. It does not verify hashes or signatures: that is
:mod:`emulator.core.ota_verify`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from construct import Bytes, If, Int8ul, Int16ul, Int32ul, Int64ul, Struct, this

from emulator.errors import MalformedImage
from emulator.wire.codec_errors import CODEC_ERRORS

__all__ = [
    "HEADER_VERSION",
    "MAGIC",
    "FieldControl",
    "OtaHeader",
    "OtaImage",
    "SubElement",
    "Tag",
    "build_image",
    "header_length",
    "parse_image",
    "version_code",
    "version_text",
]

MAGIC = 0x0BEEF11E
HEADER_VERSION = 0x0100
_FIXED = 56  # bytes up to and including the total image size
_ELEMENT_HEAD = 6


class FieldControl:
    SECURITY_CREDENTIAL = 0x0001
    DEVICE_SPECIFIC = 0x0002
    HARDWARE_VERSIONS = 0x0004


class Tag(IntEnum):
    UPGRADE_IMAGE = 0x0000
    ECDSA_SIGNATURE_SUITE_1 = 0x0001
    ECDSA_CERTIFICATE_SUITE_1 = 0x0002
    IMAGE_INTEGRITY_CODE = 0x0003
    PICTURE_DATA = 0x0004
    ECDSA_SIGNATURE_SUITE_2 = 0x0005
    ECDSA_CERTIFICATE_SUITE_2 = 0x0006
    S1LAB_P256_SIGNATURE = 0xF001
    S1LAB_P256_CERTIFICATE = 0xF002


_HEADER = Struct(
    "file_id" / Int32ul,
    "header_version" / Int16ul,
    "header_length" / Int16ul,
    "field_control" / Int16ul,
    "manufacturer_code" / Int16ul,
    "image_type" / Int16ul,
    "file_version" / Int32ul,
    "stack_version" / Int16ul,
    "header_string" / Bytes(32),
    "total_size" / Int32ul,
    "security_credential_version" / If(this.field_control & FieldControl.SECURITY_CREDENTIAL,
                                       Int8ul),
    "destination" / If(this.field_control & FieldControl.DEVICE_SPECIFIC, Int64ul),
    "min_hardware_version" / If(this.field_control & FieldControl.HARDWARE_VERSIONS, Int16ul),
    "max_hardware_version" / If(this.field_control & FieldControl.HARDWARE_VERSIONS, Int16ul),
)
_ELEMENT_HEADER = Struct("tag" / Int16ul, "length" / Int32ul)


@dataclass(frozen=True, slots=True)
class OtaHeader:
    manufacturer_code: int
    image_type: int
    file_version: int
    header_string: str
    total_size: int
    stack_version: int = 0x0002  # ZigBee PRO
    security_credential_version: int | None = None
    destination: int | None = None  # EUI-64 as read little-endian
    min_hardware_version: int | None = None
    max_hardware_version: int | None = None
    header_version: int = HEADER_VERSION

    @property
    def field_control(self) -> int:
        fc = 0
        if self.security_credential_version is not None:
            fc |= FieldControl.SECURITY_CREDENTIAL
        if self.destination is not None:
            fc |= FieldControl.DEVICE_SPECIFIC
        if self.min_hardware_version is not None or self.max_hardware_version is not None:
            fc |= FieldControl.HARDWARE_VERSIONS
        return fc

    @property
    def header_length(self) -> int:
        return header_length(self.field_control)

    def hardware_matches(self, hardware_version: int | None) -> bool:
        """Whether a client of this hardware version may take the image (no range: any)."""
        if self.min_hardware_version is None or self.max_hardware_version is None:
            return True
        if hardware_version is None:
            return True  # the client did not say; the server cannot refuse on it
        return self.min_hardware_version <= hardware_version <= self.max_hardware_version


@dataclass(frozen=True, slots=True)
class SubElement:
    tag: int
    data: bytes
    offset: int  # where the sub-element (its tag) starts in the file

    @property
    def name(self) -> str:
        try:
            return Tag(self.tag).name
        except ValueError:
            return f"TAG_0x{self.tag:04X}"


@dataclass(frozen=True, slots=True)
class OtaImage:
    header: OtaHeader
    elements: tuple[SubElement, ...]
    raw: bytes

    def element(self, tag: int) -> SubElement | None:
        return next((e for e in self.elements if e.tag == tag), None)

    @property
    def upgrade_image(self) -> bytes:
        element = self.element(Tag.UPGRADE_IMAGE)
        return b"" if element is None else element.data


def header_length(field_control: int) -> int:
    n = _FIXED
    if field_control & FieldControl.SECURITY_CREDENTIAL:
        n += 1
    if field_control & FieldControl.DEVICE_SPECIFIC:
        n += 8
    if field_control & FieldControl.HARDWARE_VERSIONS:
        n += 4
    return n


def version_code(text: str) -> int:
    """s1lab's file-version scheme: "major.minor.patch" -> 0xMMmmpp00 (one byte each)."""
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError(f"firmware version {text!r} is not major.minor.patch (each 0-255)")
    major, minor, patch = (int(p) for p in parts)
    return major << 24 | minor << 16 | patch << 8


def version_text(code: int) -> str:
    """The inverse of :func:`version_code` (a version s1lab did not make shows as hex)."""
    if code & 0xFF or not 0 <= code <= 0xFFFFFFFF:
        return f"0x{code:08X}"
    return f"{code >> 24}.{(code >> 16) & 0xFF}.{(code >> 8) & 0xFF}"


def _header_string(text: str) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > 32:
        raise ValueError(f"header string is {len(raw)} bytes, at most 32")
    return raw.ljust(32, b"\x00")


def build_image(header: OtaHeader, elements: list[tuple[int, bytes]]) -> bytes:
    """A whole file; ``header.total_size`` is ignored and computed."""
    body = b"".join(_ELEMENT_HEADER.build({"tag": tag, "length": len(data)}) + data
                    for tag, data in elements)
    total = header.header_length + len(body)
    head = _HEADER.build({
        "file_id": MAGIC,
        "header_version": header.header_version,
        "header_length": header.header_length,
        "field_control": header.field_control,
        "manufacturer_code": header.manufacturer_code,
        "image_type": header.image_type,
        "file_version": header.file_version,
        "stack_version": header.stack_version,
        "header_string": _header_string(header.header_string),
        "total_size": total,
        "security_credential_version": header.security_credential_version,
        "destination": header.destination,
        "min_hardware_version": header.min_hardware_version,
        "max_hardware_version": header.max_hardware_version,
    })
    return head + body


def parse_image(data: bytes) -> OtaImage:
    """Decode an OTA upgrade file; :class:`MalformedImage` names the first problem."""
    if len(data) < 4 or int.from_bytes(data[:4], "little") != MAGIC:
        seen = f"0x{int.from_bytes(data[:4], 'little'):08X}" if len(data) >= 4 else "none"
        raise MalformedImage(f"not an OTA upgrade file: identifier {seen}, expected 0x0BEEF11E")
    if len(data) < _FIXED:
        raise MalformedImage(f"truncated header: {len(data)} bytes, a header has at least "
                             f"{_FIXED}")
    try:
        h = _HEADER.parse(data)
    except CODEC_ERRORS:
        fc = int.from_bytes(data[8:10], "little")
        raise MalformedImage(f"truncated header: {len(data)} bytes, field control 0x{fc:04X} "
                             f"needs {header_length(fc)}") from None
    if h.header_version != HEADER_VERSION:
        raise MalformedImage(f"header version 0x{h.header_version:04X} is not 0x0100")
    if h.field_control & ~0x0007:
        raise MalformedImage(f"field control 0x{h.field_control:04X} sets reserved bits")
    expected = header_length(h.field_control)
    if h.header_length != expected:
        raise MalformedImage(f"header length {h.header_length} does not match field control "
                             f"0x{h.field_control:04X} (expects {expected})")
    if h.total_size != len(data):
        what = "truncated" if len(data) < h.total_size else "trailing bytes"
        raise MalformedImage(f"{what}: total image size says {h.total_size} bytes, the file "
                             f"has {len(data)}")
    try:
        text = bytes(h.header_string).rstrip(b"\x00").decode("ascii")
    except UnicodeDecodeError:
        raise MalformedImage("header string is not ASCII") from None
    if (h.min_hardware_version is not None and h.max_hardware_version is not None
            and h.min_hardware_version > h.max_hardware_version):
        raise MalformedImage(f"minimum hardware version 0x{h.min_hardware_version:04X} is above "
                             f"the maximum 0x{h.max_hardware_version:04X}")
    header = OtaHeader(
        manufacturer_code=h.manufacturer_code, image_type=h.image_type,
        file_version=h.file_version, header_string=text, total_size=h.total_size,
        stack_version=h.stack_version, security_credential_version=h.security_credential_version,
        destination=h.destination, min_hardware_version=h.min_hardware_version,
        max_hardware_version=h.max_hardware_version, header_version=h.header_version,
    )
    elements: list[SubElement] = []
    offset = expected
    while offset < len(data):
        n = len(elements) + 1
        if len(data) - offset < _ELEMENT_HEAD:
            raise MalformedImage(f"sub-element {n} at offset {offset}: {len(data) - offset} "
                                 f"bytes left, a tag and length take {_ELEMENT_HEAD}")
        head = _ELEMENT_HEADER.parse(data[offset:offset + _ELEMENT_HEAD])
        tag, length = head.tag, head.length
        start = offset + _ELEMENT_HEAD
        if start + length > len(data):
            raise MalformedImage(f"sub-element {n} (tag 0x{tag:04X}) at offset {offset} claims "
                                 f"{length} bytes, {len(data) - start} left")
        elements.append(SubElement(tag, data[start:start + length], offset))
        offset = start + length
    if not any(e.tag == Tag.UPGRADE_IMAGE for e in elements):
        raise MalformedImage("no upgrade image sub-element (tag 0x0000)")
    return OtaImage(header, tuple(elements), bytes(data))
