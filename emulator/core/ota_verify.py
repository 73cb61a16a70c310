"""Signing and verifying s1lab OTA upgrade files (the checks a device runs before Upgrade End).

The layout is in :mod:`emulator.wire.ota_image`. :func:`verify` checks, in order: the file
parses, the size is what the server announced, the image is for this device (manufacturer code,
image type, hardware version), the image integrity code (AES-MMO) matches, the signer
certificate is one the device trusts, and the ECDSA P-256 signature verifies. The first failure
is returned as a reason; a device answers it with INVALID_IMAGE.

Signatures are deterministic (RFC 6979), so rebuilding an image gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from emulator.core.han_crypto import aes_mmo_hash
from emulator.errors import MalformedImage
from emulator.wire.ota_image import OtaHeader, OtaImage, Tag, build_image, parse_image

__all__ = [
    "ImageIdentity",
    "Verdict",
    "public_point",
    "sign_image",
    "verify",
]

_SIG_LEN = 8 + 32 + 32


@dataclass(frozen=True, slots=True)
class ImageIdentity:
    """What a device is, as OTA matching sees it."""

    manufacturer_code: int
    image_type: int
    hardware_version: int | None


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str = ""
    image: OtaImage | None = None


def public_point(key: ec.EllipticCurvePublicKey) -> bytes:
    """A public key as an uncompressed SEC1 point (how devices hold trusted signers)."""
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def sign_image(header: OtaHeader, upgrade_image: bytes, key: ec.EllipticCurvePrivateKey,
               certificate_der: bytes, signer_eui: int) -> bytes:
    """A whole signed file: image, signer certificate, integrity code, signature."""
    elements: list[tuple[int, bytes]] = [
        (Tag.UPGRADE_IMAGE, upgrade_image),
        (Tag.S1LAB_P256_CERTIFICATE, certificate_der),
        (Tag.IMAGE_INTEGRITY_CODE, bytes(16)),
        (Tag.S1LAB_P256_SIGNATURE, bytes(_SIG_LEN)),
    ]
    draft = build_image(header, elements)
    image = parse_image(draft)
    integrity = image.element(Tag.IMAGE_INTEGRITY_CODE)
    signature = image.element(Tag.S1LAB_P256_SIGNATURE)
    assert integrity is not None and signature is not None
    elements[2] = (Tag.IMAGE_INTEGRITY_CODE, aes_mmo_hash(draft[:integrity.offset]))
    draft = build_image(header, elements)
    der = key.sign(draft[:signature.offset],
                   ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    elements[3] = (Tag.S1LAB_P256_SIGNATURE, signer_eui.to_bytes(8, "little")
                   + r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return build_image(header, elements)


def verify(raw: bytes, trusted: Iterable[bytes], *, identity: ImageIdentity | None = None,
           expected_size: int | None = None) -> Verdict:
    """Run every check; ``trusted`` holds the signers' public keys (SEC1 points)."""
    try:
        image = parse_image(raw)
    except MalformedImage as exc:
        return Verdict(False, str(exc))
    h = image.header
    if expected_size is not None and expected_size != len(raw):
        return Verdict(False, f"size {len(raw)} is not the {expected_size} announced", image)
    if identity is not None:
        if h.manufacturer_code != identity.manufacturer_code:
            return Verdict(False, f"manufacturer code 0x{h.manufacturer_code:04X} is not this "
                                  f"device's 0x{identity.manufacturer_code:04X}", image)
        if h.image_type != identity.image_type:
            return Verdict(False, f"image type 0x{h.image_type:04X} is not this device's "
                                  f"0x{identity.image_type:04X}", image)
        if not h.hardware_matches(identity.hardware_version):
            return Verdict(False, f"hardware version 0x{identity.hardware_version:04X} is "
                                  "outside the image's range", image)
    integrity = image.element(Tag.IMAGE_INTEGRITY_CODE)
    if integrity is None:
        return Verdict(False, "no image integrity code", image)
    if aes_mmo_hash(raw[:integrity.offset]) != integrity.data:
        return Verdict(False, "image integrity code does not match", image)
    return _check_signature(image, frozenset(trusted))


def _check_signature(image: OtaImage, trusted: frozenset[bytes]) -> Verdict:
    cert_el = image.element(Tag.S1LAB_P256_CERTIFICATE)
    sig_el = image.element(Tag.S1LAB_P256_SIGNATURE)
    if cert_el is None or sig_el is None:
        return Verdict(False, "no signer certificate or no signature", image)
    if image.elements[-1] is not sig_el:
        return Verdict(False, "the signature is not the last sub-element", image)
    # Imported here, not at the top: cryptography.x509 pulls in email.utils and with it the
    # socket module, which a core must not load at import (tests/test_layers.py). No I/O runs.
    from cryptography import x509

    try:
        key = x509.load_der_x509_certificate(cert_el.data).public_key()
    except ValueError:
        return Verdict(False, "signer certificate does not parse", image)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return Verdict(False, "signer certificate is not an ECDSA P-256 key", image)
    if public_point(key) not in trusted:
        return Verdict(False, "signer is not trusted by this device", image)
    if len(sig_el.data) != _SIG_LEN:
        return Verdict(False, f"signature is {len(sig_el.data)} bytes, not {_SIG_LEN}", image)
    r = int.from_bytes(sig_el.data[8:40], "big")
    s = int.from_bytes(sig_el.data[40:72], "big")
    try:
        key.verify(encode_dss_signature(r, s), image.raw[:sig_el.offset],
                   ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return Verdict(False, "signature does not verify", image)
    return Verdict(True, "", image)
