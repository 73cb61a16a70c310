"""The Migration Group File (MGF): the Requesting Party's file to DCC, built and parsed.

The RP lists the installations of one GroupID. For each installation the file carries the CHF's
device certificate, the rows of its devices, and two fields only the DCO can read (TMAD 11.1: the
SMSO supplies them and the RP never sees the plaintext). Format, encryption scheme and examples
are in ``docs/migration-files.md``; ``docs/schemas/mgf.xsd`` is the schema, and the parser here
enforces the same structure with the standard library alone (element order, occurrences, enums,
Base64), so a file that parses conforms.

Encryption of the DCO-only fields (:func:`seal` / :func:`unseal`), ECIES over P-256::

    e        = fresh P-256 key pair (the ephemeral key)
    Z        = ECDH(e, DCO public key)
    key      = HKDF-SHA256(Z, salt=none, info="s1lab-mgf/1 ECIES" || E || R, 32 bytes)
    blob     = E || nonce(12) || AES-256-GCM(key, nonce, plaintext, aad)
    aad      = "s1lab-mgf/1" 0x1F field-name 0x1F CHF-EUI

where E and R are the uncompressed (65-byte) points of the ephemeral and the DCO public keys. The
AAD binds each ciphertext to its field and its CHF, so moving a blob to another installation or
field makes it undecryptable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import defusedxml.ElementTree as safe_xml
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from defusedxml import DefusedXmlException

from emulator.core.timebase import from_datetime, isoformat
from emulator.errors import BadMac, MigrationFileError, PkiError, WireError
from emulator.keystore import ChfKeys
from emulator.wire.eui import normalise
from emulator.wire.vocabulary import DeviceType, PaymentMode
from harness.migration.inventory import (
    DeviceRecord,
    InstallationRecord,
    MeterState,
    SupplierStatus,
)

#: XML namespace of the MGF.
NAMESPACE = "urn:s1lab:migration:mgf:1"
#: What the SMSO puts in EncryptedS1SPGroupInformation unless told otherwise.
DEFAULT_S1SP_GROUP_INFO = b"s1lab S1SP group information/1"

#: Field names, as used in the AAD of :func:`seal`.
FIELD_MASTER_KEY = "EncryptedMasterKey"
FIELD_GROUP_INFO = "EncryptedS1SPGroupInformation"
FIELD_PREPAYMENT_KEY = "EncryptedPrepaymentKey"
#: The largest UTRN counter (emulator.core.utrn: 24 bits).
MAX_UTRN_COUNTER = (1 << 24) - 1

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_POINT_BYTES = 65
_NONCE_BYTES = 12
_TAG_BYTES = 16
#: The smallest possible sealed blob (empty plaintext).
SEALED_OVERHEAD = _POINT_BYTES + _NONCE_BYTES + _TAG_BYTES

_GROUP_ID = re.compile(r"^[A-Z]{2}$")
_CANONICAL_EUI = re.compile(r"^[0-9A-F]{2}(-[0-9A-F]{2}){7}$")

Rng = Callable[[int], bytes]


# --------------------------------------------------------------------------- encryption


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _aead_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None,
        info=b"s1lab-mgf/1 ECIES" + ephemeral + recipient,
    )
    return hkdf.derive(shared)


def _aad(field: str, chf_eui: str) -> bytes:
    return b"\x1f".join((b"s1lab-mgf/1", field.encode(), normalise(chf_eui).encode()))


def seal(
    recipient: ec.EllipticCurvePublicKey,
    plaintext: bytes,
    field: str,
    chf_eui: str,
    rng: Rng = os.urandom,
) -> bytes:
    """Encrypt ``plaintext`` so only the holder of ``recipient``'s private key can read it.

    Returns ephemeral point (65) || nonce (12) || ciphertext || tag (16). ``rng`` supplies the
    ephemeral key and nonce material (pass a seeded one for reproducible files).
    """
    if not isinstance(recipient.curve, ec.SECP256R1):
        raise PkiError("the DCO key must be a P-256 key")
    scalar = int.from_bytes(rng(40), "big") % (_P256_ORDER - 1) + 1
    ephemeral = ec.derive_private_key(scalar, ec.SECP256R1())
    e_point = _point(ephemeral.public_key())
    shared = ephemeral.exchange(ec.ECDH(), recipient)
    key = _aead_key(shared, e_point, _point(recipient))
    nonce = rng(_NONCE_BYTES)
    return e_point + nonce + AESGCM(key).encrypt(nonce, plaintext, _aad(field, chf_eui))


def unseal(private_key: ec.EllipticCurvePrivateKey, blob: bytes, field: str, chf_eui: str) -> bytes:
    """Decrypt a :func:`seal` blob; BadMac if it is for another key, field or CHF, or corrupt."""
    if len(blob) < SEALED_OVERHEAD:
        raise BadMac(f"{field}: {len(blob)} bytes is too short for a sealed value "
                     f"(at least {SEALED_OVERHEAD})")
    e_point = blob[:_POINT_BYTES]
    nonce = blob[_POINT_BYTES:_POINT_BYTES + _NONCE_BYTES]
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), e_point)
    except ValueError:
        raise BadMac(f"{field}: the ephemeral point is not on P-256") from None
    shared = private_key.exchange(ec.ECDH(), ephemeral)
    key = _aead_key(shared, e_point, _point(private_key.public_key()))
    try:
        return AESGCM(key).decrypt(
            nonce, blob[_POINT_BYTES + _NONCE_BYTES:], _aad(field, chf_eui)
        )
    except InvalidTag:
        raise BadMac(f"{field}: does not decrypt with this key (wrong recipient, wrong CHF, "
                     "or corrupt)") from None


# --------------------------------------------------------------------------- parsed form


@dataclass(frozen=True)
class MgfDevice:
    """One Device row."""

    eui: str
    device_type: DeviceType
    firmware_version: str
    payment_mode: PaymentMode
    state: MeterState
    mpxn: str = ""
    model: str = ""
    supplier: str = ""
    #: The last UTRN counter the SMSO issued for this meter (the S1SP goes on from it).
    utrn_counter: int | None = None

    def to_record(self) -> DeviceRecord:
        return DeviceRecord(
            eui=self.eui, device_type=self.device_type, firmware_version=self.firmware_version,
            model=self.model, mpxn=self.mpxn, state=self.state, payment_mode=self.payment_mode,
            supplier=self.supplier,
        )


@dataclass(frozen=True)
class MgfInstallation:
    """One Installation element. The encrypted fields stay opaque (Base64-decoded bytes)."""

    installation_id: str
    group_id: str
    chf_eui: str
    device_certificate: bytes  # DER
    encrypted_s1sp_group_info: bytes
    encrypted_master_key: bytes
    previous_apn: str | None
    supplier: str
    supplier_status: SupplierStatus
    dmc: str
    devices: tuple[MgfDevice, ...]
    #: The meters' prepayment (UTRN) key, sealed to the DCO; None when the SMSO has none.
    encrypted_prepayment_key: bytes | None = None
    path: str = ""  # element path in the file, for messages

    def to_record(self) -> InstallationRecord:
        """What the file says, as an inventory record (fields the MGF lacks take defaults)."""
        return InstallationRecord(
            installation_id=self.installation_id, group_id=self.group_id, dmc=self.dmc,
            chf_eui=self.chf_eui, devices=tuple(d.to_record() for d in self.devices),
            supplier=self.supplier, supplier_status=self.supplier_status,
            previous_apn=self.previous_apn,
        )


@dataclass(frozen=True)
class MigrationGroupFile:
    group_id: str
    created_us: int
    file_id: str
    installations: tuple[MgfInstallation, ...]
    source: str = ""

    def installation(self, installation_id: str) -> MgfInstallation:
        for inst in self.installations:
            if inst.installation_id == installation_id:
                return inst
        raise KeyError(installation_id)


# --------------------------------------------------------------------------- schema as data

#: Child sequences: element name -> (child name, minOccurs, maxOccurs or None = unbounded).
#: ``tests/migration/test_files.py`` checks these against ``docs/schemas/mgf.xsd``.
ChildSpec = tuple[tuple[str, int, int | None], ...]
ROOT_ELEMENT = "MigrationGroupFile"
SCHEMA: dict[str, ChildSpec] = {
    "MigrationGroupFile": (
        ("GroupID", 1, 1), ("Created", 1, 1), ("FileID", 1, 1), ("Installation", 1, None),
    ),
    "Installation": (
        ("InstallationID", 1, 1), ("GroupID", 1, 1), ("CHFEUI", 1, 1),
        ("DeviceCertificate", 1, 1), ("EncryptedS1SPGroupInformation", 1, 1),
        ("EncryptedMasterKey", 1, 1), ("EncryptedPrepaymentKey", 0, 1), ("PreviousAPN", 0, 1),
        ("Supplier", 1, 1),
        ("SupplierStatus", 1, 1), ("DMC", 1, 1), ("Devices", 1, 1),
    ),
    "Devices": (("Device", 1, None),),
    "Device": (
        ("EUI", 1, 1), ("DeviceType", 1, 1), ("Model", 0, 1), ("MPxN", 0, 1),
        ("FirmwareVersion", 1, 1), ("PaymentMode", 1, 1), ("State", 1, 1), ("Supplier", 0, 1),
        ("UtrnCounter", 0, 1),
    ),
}
#: Enumerated simple types: element name -> allowed texts.
ENUMS: dict[str, tuple[str, ...]] = {
    "SupplierStatus": tuple(s.value for s in SupplierStatus),
    "DeviceType": tuple(d.name for d in DeviceType),
    "PaymentMode": tuple(p.name.lower() for p in PaymentMode),
    "State": tuple(s.value for s in MeterState),
}


# --------------------------------------------------------------------------- shared XML helpers
# (also used by scf.py)


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def sub(parent: ET.Element, namespace: str, name: str, text: str | None = None) -> ET.Element:
    child = ET.SubElement(parent, q(namespace, name))
    if text is not None:
        child.text = text
    return child


def serialise(root: ET.Element, namespace: str) -> bytes:
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode", default_namespace=namespace)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode()


def file_id(prefix: str, group_id: str, now_us: int, parts: Sequence[str]) -> str:
    """``PREFIX-GG-yyyymmddThhmmssZ-xxxxxxxx``: deterministic from the group, time and content."""
    stamp = isoformat(now_us)
    compact = stamp[:19].replace("-", "").replace(":", "") + "Z"
    digest = hashlib.sha256("\x1f".join((group_id, stamp, *parts)).encode()).hexdigest()[:8]
    return f"{prefix}-{group_id}-{compact}-{digest}"


#: The largest MGF or SCF read (bytes): far above a full group file, far below a memory problem.
MAX_XML_BYTES = 64 << 20


def parse_root(data: bytes, source: str, namespace: str, root_name: str) -> ET.Element:
    """Well-formed XML with the expected root element, at most MAX_XML_BYTES; no DTDs, entity
    declarations or external references in any encoding (defusedxml refuses them while parsing,
    so a UTF-16 ``<!DOCTYPE`` is caught as surely as an ASCII one)."""
    if len(data) > MAX_XML_BYTES:
        raise MigrationFileError(source, "", f"larger than {MAX_XML_BYTES} bytes")
    try:
        root = safe_xml.fromstring(data, forbid_dtd=True, forbid_entities=True,
                                   forbid_external=True)
    except DefusedXmlException:
        raise MigrationFileError(source, "", "DTDs and entity declarations are not allowed") \
            from None
    except ValueError as exc:  # expat: "multi-byte encodings are not supported" (UTF-16-BE...)
        raise MigrationFileError(source, "", f"unreadable XML encoding: {exc}") from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise MigrationFileError(
            source, "", f"malformed XML at line {line}, column {column + 1}"
        ) from None
    if root.tag != q(namespace, root_name):
        raise MigrationFileError(
            source, f"/{root.tag}", f"expected root element {root_name} in namespace {namespace}"
        )
    return root


class Reader:
    """Checks one element's children against a sequence spec and hands out their texts."""

    def __init__(
        self, elem: ET.Element, spec: ChildSpec, namespace: str, source: str, path: str
    ) -> None:
        self.source = source
        self.path = path
        self.namespace = namespace
        self._children: dict[str, list[ET.Element]] = {name: [] for name, _, _ in spec}
        if elem.text is not None and elem.text.strip():
            raise self.error(path, "unexpected text content")
        order = [name for name, _, _ in spec]
        position = 0
        for child in elem:
            if not isinstance(child.tag, str):  # comments, processing instructions
                continue
            name = self._local(child.tag)
            if name not in self._children:
                raise self.error(f"{path}/{name}", "unexpected element (not in the schema)")
            index = order.index(name)
            if index < position:
                raise self.error(
                    f"{path}/{name}", f"out of order (must come before {order[position]})"
                )
            position = index
            self._children[name].append(child)
            if child.tail is not None and child.tail.strip():
                raise self.error(path, "unexpected text content")
        for name, low, high in spec:
            count = len(self._children[name])
            if count < low:
                raise self.error(f"{path}/{name}", "missing required element")
            if high is not None and count > high:
                raise self.error(f"{path}/{name}", f"appears {count} times (at most {high})")

    def _local(self, tag: str) -> str:
        prefix = f"{{{self.namespace}}}"
        if not tag.startswith(prefix):
            raise self.error(f"{self.path}/{tag}", f"element not in namespace {self.namespace}")
        return tag[len(prefix):]

    def error(self, path: str, reason: str) -> MigrationFileError:
        return MigrationFileError(self.source, path, reason)

    def elements(self, name: str) -> list[tuple[str, ET.Element]]:
        many = len(self._children[name]) > 1 or name in ("Installation", "Device")
        return [
            (f"{self.path}/{name}[{i + 1}]" if many else f"{self.path}/{name}", child)
            for i, child in enumerate(self._children[name])
        ]

    def optional(self, name: str) -> str | None:
        found = self._children[name]
        if not found:
            return None
        child = found[0]
        where = f"{self.path}/{name}"
        if len(child):
            raise self.error(where, "unexpected child elements (a text value is expected)")
        text = (child.text or "").strip()
        if not text:
            raise self.error(where, "empty (omit the element instead)")
        return text

    def text(self, name: str) -> str:
        value = self.optional(name)
        if value is None:  # pragma: no cover - the constructor already checked occurrences
            raise self.error(f"{self.path}/{name}", "missing required element")
        return value

    def enum(self, name: str, allowed: Sequence[str]) -> str:
        value = self.text(name)
        if value not in allowed:
            raise self.error(
                f"{self.path}/{name}", f"unknown value {value!r} (expected one of "
                f"{', '.join(allowed)})"
            )
        return value

    def base64(self, name: str) -> bytes:
        value = re.sub(r"\s+", "", self.text(name))
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise self.error(f"{self.path}/{name}", "not valid Base64") from None

    def eui(self, name: str) -> str:
        value = self.text(name)
        if not _CANONICAL_EUI.match(value):
            raise self.error(
                f"{self.path}/{name}",
                f"not an EUI-64 in canonical form (e.g. 00-1B-C5-0C-00-00-00-01): {value!r}",
            )
        return value

    def group_id(self, name: str) -> str:
        value = self.text(name)
        if not _GROUP_ID.match(value):
            raise self.error(f"{self.path}/{name}", f"not a GroupID (two capitals): {value!r}")
        return value

    def time(self, name: str) -> int:
        value = self.text(name)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise self.error(
                f"{self.path}/{name}",
                f"not a UTC date-time like 2026-01-05T00:00:00.000000Z: {value!r}",
            )
        return from_datetime(parsed)


# --------------------------------------------------------------------------- build


def _canonical_map(items: Mapping[str, object], what: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for eui, value in items.items():
        try:
            out[normalise(eui)] = value
        except WireError:
            raise PkiError(f"{what}: key {eui!r} is not an EUI-64") from None
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_mgf(
    group_id: str,
    records: list[InstallationRecord],
    chf_certs: dict[str, x509.Certificate],
    chf_keys: dict[str, ChfKeys],
    dco_public_key: ec.EllipticCurvePublicKey,
    now_us: int,
    s1sp_group_info: bytes = DEFAULT_S1SP_GROUP_INFO,
    *,
    rng: Rng = os.urandom,
    utrn_counters: Mapping[str, int] | None = None,
) -> bytes:
    """The RP's Migration Group File for ``records``, as UTF-8 XML.

    ``chf_certs`` and ``chf_keys`` (keyed by CHF EUI, any spelling) come from the SMSO; the master
    key and ``s1sp_group_info`` leave this function only sealed to ``dco_public_key``. Each
    Installation carries its record's own GroupID (normally equal to ``group_id``; the DCO checks).
    PkiError if a CHF has no certificate or no keys; MigrationFileError if a record cannot be
    written as a conforming file (an empty text field, an installation without devices).
    The meters' prepayment key goes in sealed too, unless the record says the SMSO has none
    (TMAD 18.12); ``utrn_counters`` (meter EUI -> the last UTRN counter the SMSO issued) go
    in each meter's row, so the S1SP's first UTRN follows on.
    """
    if not _GROUP_ID.match(group_id):
        raise MigrationFileError("MGF", "/MigrationGroupFile/GroupID",
                                 f"not a GroupID (two capitals): {group_id!r}")
    if not records:
        raise MigrationFileError("MGF", "/MigrationGroupFile/Installation",
                                 "a file needs at least one installation")
    certs = _canonical_map(chf_certs, "chf_certs")
    keys = _canonical_map(chf_keys, "chf_keys")
    counters = _canonical_map(utrn_counters or {}, "utrn_counters")
    root = ET.Element(q(NAMESPACE, ROOT_ELEMENT))
    sub(root, NAMESPACE, "GroupID", group_id)
    sub(root, NAMESPACE, "Created", isoformat(now_us))
    sub(root, NAMESPACE, "FileID",
        file_id("MGF", group_id, now_us, [r.installation_id for r in records]))
    for record in records:
        eui = normalise(record.chf_eui)
        cert = certs.get(eui)
        if not isinstance(cert, x509.Certificate):
            raise PkiError(f"no device certificate for CHF {eui} ({record.installation_id})")
        chf = keys.get(eui)
        if not isinstance(chf, ChfKeys):
            raise PkiError(f"no keys for CHF {eui} ({record.installation_id})")
        inst = sub(root, NAMESPACE, "Installation")
        sub(inst, NAMESPACE, "InstallationID", record.installation_id)
        sub(inst, NAMESPACE, "GroupID", record.group_id)
        sub(inst, NAMESPACE, "CHFEUI", eui)
        sub(inst, NAMESPACE, "DeviceCertificate",
            _b64(cert.public_bytes(serialization.Encoding.DER)))
        sub(inst, NAMESPACE, FIELD_GROUP_INFO,
            _b64(seal(dco_public_key, s1sp_group_info, FIELD_GROUP_INFO, eui, rng)))
        sub(inst, NAMESPACE, FIELD_MASTER_KEY,
            _b64(seal(dco_public_key, chf.master_key, FIELD_MASTER_KEY, eui, rng)))
        if record.prepayment_key_present:
            sub(inst, NAMESPACE, FIELD_PREPAYMENT_KEY,
                _b64(seal(dco_public_key, chf.prepayment_key, FIELD_PREPAYMENT_KEY, eui, rng)))
        if record.previous_apn is not None:
            sub(inst, NAMESPACE, "PreviousAPN", record.previous_apn)
        sub(inst, NAMESPACE, "Supplier", record.supplier)
        sub(inst, NAMESPACE, "SupplierStatus", record.supplier_status.value)
        sub(inst, NAMESPACE, "DMC", record.dmc)
        devices = sub(inst, NAMESPACE, "Devices")
        for device in record.devices:
            row = sub(devices, NAMESPACE, "Device")
            sub(row, NAMESPACE, "EUI", normalise(device.eui))
            sub(row, NAMESPACE, "DeviceType", device.device_type.name)
            if device.model:
                sub(row, NAMESPACE, "Model", device.model)
            if device.mpxn:
                sub(row, NAMESPACE, "MPxN", device.mpxn)
            sub(row, NAMESPACE, "FirmwareVersion", device.firmware_version)
            sub(row, NAMESPACE, "PaymentMode", device.payment_mode.name.lower())
            sub(row, NAMESPACE, "State", device.state.value)
            if device.supplier:
                sub(row, NAMESPACE, "Supplier", device.supplier)
            counter = counters.get(normalise(device.eui))
            if counter is not None:
                sub(row, NAMESPACE, "UtrnCounter", str(counter))
    data = serialise(root, NAMESPACE)
    parse_mgf(data, "MGF being built")  # what we write must conform (no empty DMC, no devices)
    return data


# --------------------------------------------------------------------------- parse


def _device(reader: Reader) -> MgfDevice:
    return MgfDevice(
        eui=reader.eui("EUI"),
        device_type=DeviceType[reader.enum("DeviceType", ENUMS["DeviceType"])],
        model=reader.optional("Model") or "",
        mpxn=reader.optional("MPxN") or "",
        firmware_version=reader.text("FirmwareVersion"),
        payment_mode=PaymentMode[reader.enum("PaymentMode", ENUMS["PaymentMode"]).upper()],
        state=MeterState(reader.enum("State", ENUMS["State"])),
        supplier=reader.optional("Supplier") or "",
        utrn_counter=_counter(reader),
    )


def _counter(reader: Reader) -> int | None:
    text = reader.optional("UtrnCounter")
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or int(text) > MAX_UTRN_COUNTER:
        raise reader.error(f"{reader.path}/UtrnCounter",
                           f"not a UTRN counter (0 to {MAX_UTRN_COUNTER}): {text!r}")
    return int(text)


def _installation(reader: Reader, source: str) -> MgfInstallation:
    devices_path, devices_elem = reader.elements("Devices")[0]
    devices = Reader(devices_elem, SCHEMA["Devices"], NAMESPACE, source, devices_path)
    return MgfInstallation(
        installation_id=reader.text("InstallationID"),
        group_id=reader.group_id("GroupID"),
        chf_eui=reader.eui("CHFEUI"),
        device_certificate=reader.base64("DeviceCertificate"),
        encrypted_s1sp_group_info=reader.base64(FIELD_GROUP_INFO),
        encrypted_master_key=reader.base64(FIELD_MASTER_KEY),
        encrypted_prepayment_key=(reader.base64(FIELD_PREPAYMENT_KEY)
                                  if reader.optional(FIELD_PREPAYMENT_KEY) is not None else None),
        previous_apn=reader.optional("PreviousAPN"),
        supplier=reader.text("Supplier"),
        supplier_status=SupplierStatus(reader.enum("SupplierStatus", ENUMS["SupplierStatus"])),
        dmc=reader.text("DMC"),
        devices=tuple(
            _device(Reader(elem, SCHEMA["Device"], NAMESPACE, source, path))
            for path, elem in devices.elements("Device")
        ),
        path=reader.path,
    )


def parse_mgf(data: bytes, source: str) -> MigrationGroupFile:
    """Parse and structurally validate an MGF; MigrationFileError naming ``source`` and the path."""
    root = parse_root(data, source, NAMESPACE, ROOT_ELEMENT)
    top = Reader(root, SCHEMA[ROOT_ELEMENT], NAMESPACE, source, f"/{ROOT_ELEMENT}")
    installations = tuple(
        _installation(Reader(elem, SCHEMA["Installation"], NAMESPACE, source, path), source)
        for path, elem in top.elements("Installation")
    )
    return MigrationGroupFile(
        group_id=top.group_id("GroupID"),
        created_us=top.time("Created"),
        file_id=top.text("FileID"),
        installations=installations,
        source=source,
    )
