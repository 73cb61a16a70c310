"""s1lab's synthetic firmware images: the catalogue, the reproducible build, and inspection.

``firmware_images/catalogue.yaml`` lists the images to make (device model, version, payload
size). :func:`build_catalogue` writes each as a signed ZigBee OTA upgrade file
(:mod:`emulator.wire.ota_image`, :mod:`emulator.core.ota_verify`) plus ``manifest.json``. The
payload is a SHA-256 stream of (model, version), the signature deterministic (RFC 6979), the key
and certificate those of the fictional test manufacturer kept beside the images: the same
catalogue gives the same bytes, so ``s1lab firmware build`` is checked against the committed
files. No vendor binary is involved anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from pydantic import BaseModel, ConfigDict, Field

from emulator.core.ota import OtaPolicy
from emulator.core.ota_verify import ImageIdentity, public_point, sign_image, verify
from emulator.errors import MalformedImage, ProfileError
from emulator.profiles import ResolvedDmc, load_device_model, parse_yaml, validate_model
from emulator.wire.ota_image import OtaHeader, OtaImage, parse_image, version_code, version_text
from emulator.wire.vocabulary import DeviceType

__all__ = [
    "KEY_FILE",
    "CERT_FILE",
    "MANIFEST",
    "CatalogueEntry",
    "build_catalogue",
    "catalogue",
    "image_bytes",
    "inspect_image",
    "manifest",
    "ota_policies",
    "shipped_image",
    "signer_eui",
    "manufacturer_signer",
    "trusted_signers",
]

KEY_FILE = "test-manufacturer.key.pem"
CERT_FILE = "test-manufacturer.cert.pem"
MANIFEST = "manifest.json"
CATALOGUE = "catalogue.yaml"
#: The test manufacturer's signer EUI-64 (fictional), carried in each signature sub-element.
SIGNER_EUI = 0x001BC50CF1F1F1F1


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    model: str
    version: str
    size: int
    header_string: str
    hardware_min: int | None = None  # default: the model's hardware version
    hardware_max: int | None = None

    @property
    def file_name(self) -> str:
        return f"{self.model}-{self.version}.ota"


def _folder() -> Traversable:
    return files("firmware_images")


def _read(name: str) -> bytes:
    return _folder().joinpath(name).read_bytes()


@lru_cache(maxsize=1)
def manufacturer_signer() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """The fictional test manufacturer's signing key and its certificate (DER)."""
    key = load_pem_private_key(_read(KEY_FILE), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise MalformedImage(f"{KEY_FILE} is not an EC key")
    cert = x509.load_pem_x509_certificate(_read(CERT_FILE))
    return key, cert.public_bytes(Encoding.DER)


def trusted_signers() -> tuple[bytes, ...]:
    """The signer keys emulated devices trust (SEC1 points): the test manufacturer's."""
    key, _ = manufacturer_signer()
    return (public_point(key.public_key()),)


def ota_policies(dmc: ResolvedDmc) -> dict[DeviceType, OtaPolicy | None]:
    """Each device kind of a DMC -> its model's ``ota:`` section (None: takes no images)."""
    return {
        DeviceType.CHF: dmc.chf.ota, DeviceType.ESME: dmc.esme.ota,
        DeviceType.GSME: dmc.gsme.ota if dmc.gsme is not None else None,
        DeviceType.PPMID: dmc.ppmid.ota if dmc.ppmid is not None else None,
        DeviceType.IHD: dmc.ihd.ota if dmc.ihd is not None else None,
    }


def signer_eui() -> int:
    return SIGNER_EUI


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str
    version: str
    size: int = Field(ge=1, le=16 * 1024 * 1024)
    header_string: str = Field(max_length=32)
    hardware_min: int | None = None
    hardware_max: int | None = None


class _CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int
    images: list[_Entry]


def _entries(raw: Any, file: str) -> tuple[CatalogueEntry, ...]:
    parsed = validate_model(_CatalogueFile, raw, file)
    return tuple(CatalogueEntry(**e.model_dump()) for e in parsed.images)


def catalogue(path: Path | None = None) -> tuple[CatalogueEntry, ...]:
    """The images to build (default: the shipped ``firmware_images/catalogue.yaml``)."""
    if path is None:
        text, file = _read(CATALOGUE).decode(), f"firmware_images/{CATALOGUE}"
    else:
        text, file = path.read_text(encoding="utf-8"), str(path)
    return _entries(parse_yaml(text, file), file)


def _payload(model: str, version: str, size: int) -> bytes:
    out = bytearray()
    counter = 0
    seed = f"s1lab synthetic firmware|{model}|{version}".encode()
    while len(out) < size:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:size])


def image_bytes(entry: CatalogueEntry, *, key: ec.EllipticCurvePrivateKey | None = None,
                certificate_der: bytes | None = None) -> bytes:
    """One signed image (the test manufacturer's key unless another is given)."""
    model = load_device_model(entry.model)
    if model.ota is None:
        raise ProfileError(f"profiles/devices/{entry.model}.yaml", "ota",
                           "the model has no OTA section")
    try:
        code = version_code(entry.version)
    except ValueError as exc:
        raise ProfileError(f"firmware_images/{CATALOGUE}", entry.model, str(exc)) from None
    header = OtaHeader(
        manufacturer_code=model.ota.manufacturer_code, image_type=model.ota.image_type,
        file_version=code, header_string=entry.header_string, total_size=0,
        min_hardware_version=(entry.hardware_min if entry.hardware_min is not None
                              else model.ota.hardware_version),
        max_hardware_version=(entry.hardware_max if entry.hardware_max is not None
                              else model.ota.hardware_version),
    )
    default_key, default_cert = manufacturer_signer()
    return sign_image(header, _payload(entry.model, entry.version, entry.size),
                      key or default_key, certificate_der or default_cert, SIGNER_EUI)


def _manifest_row(entry: CatalogueEntry, raw: bytes) -> dict[str, Any]:
    model = load_device_model(entry.model)
    h = parse_image(raw).header
    return {
        "file": entry.file_name,
        "target_model": entry.model,
        "device_kind": model.kind,
        "manufacturer_code": f"0x{h.manufacturer_code:04X}",
        "image_type": f"0x{h.image_type:04X}",
        "version": entry.version,
        "file_version": f"0x{h.file_version:08X}",
        "hardware_versions": [f"0x{h.min_hardware_version or 0:04X}",
                              f"0x{h.max_hardware_version or 0:04X}"],
        "size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_catalogue(out: Path, entries: tuple[CatalogueEntry, ...] | None = None,
                    ) -> list[dict[str, Any]]:
    """Write every catalogue image and ``manifest.json`` into ``out``; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for entry in entries if entries is not None else catalogue():
        raw = image_bytes(entry)
        _write_atomic(out / entry.file_name, raw)
        rows.append(_manifest_row(entry, raw))
    text = json.dumps({"images": rows}, indent=2) + "\n"
    _write_atomic(out / MANIFEST, text.encode())
    return rows


def manifest() -> list[dict[str, Any]]:
    """The shipped manifest."""
    rows: list[dict[str, Any]] = json.loads(_read(MANIFEST))["images"]
    return rows


def shipped_image(file_name: str) -> bytes:
    return _read(file_name)


def inspect_image(raw: bytes, model: str | None = None) -> dict[str, Any]:
    """Every header field, the sub-elements and the verification verdict of one file.

    Raises :class:`MalformedImage` when the file does not parse (the message says why).
    """
    image: OtaImage = parse_image(raw)
    h = image.header
    identity = None
    if model is not None:
        spec = load_device_model(model).ota
        if spec is not None:
            identity = ImageIdentity(spec.manufacturer_code, spec.image_type,
                                     spec.hardware_version)
    verdict = verify(raw, trusted_signers(), identity=identity)
    return {
        "upgrade_file_identifier": "0x0BEEF11E",
        "header_version": f"0x{h.header_version:04X}",
        "header_length": h.header_length,
        "field_control": f"0x{h.field_control:04X}",
        "manufacturer_code": f"0x{h.manufacturer_code:04X}",
        "image_type": f"0x{h.image_type:04X}",
        "file_version": f"0x{h.file_version:08X} ({version_text(h.file_version)})",
        "zigbee_stack_version": f"0x{h.stack_version:04X}",
        "header_string": h.header_string,
        "total_image_size": h.total_size,
        "security_credential_version": h.security_credential_version,
        "upgrade_file_destination": (None if h.destination is None
                                     else f"{h.destination:016X}"),
        "minimum_hardware_version": (None if h.min_hardware_version is None
                                     else f"0x{h.min_hardware_version:04X}"),
        "maximum_hardware_version": (None if h.max_hardware_version is None
                                     else f"0x{h.max_hardware_version:04X}"),
        "sub_elements": [
            {"tag": f"0x{e.tag:04X}", "name": e.name, "offset": e.offset, "length": len(e.data),
             "sha256": hashlib.sha256(e.data).hexdigest()}
            for e in image.elements
        ],
        "sha256": hashlib.sha256(raw).hexdigest(),
        "verification": "ok" if verdict.ok else f"FAILED: {verdict.reason}",
    }
