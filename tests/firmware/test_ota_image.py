"""The OTA upgrade file: format, errors naming what is wrong, zigpy as an independent parser,
the shipped catalogue rebuilt byte for byte, and ``s1lab firmware``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.ota.image import OTAImage, parse_ota_image

from emulator.core.ota_verify import ImageIdentity, verify
from emulator.errors import MalformedImage
from emulator.firmware import (
    CatalogueEntry,
    build_catalogue,
    catalogue,
    image_bytes,
    manifest,
    manufacturer_signer,
    shipped_image,
    trusted_signers,
)
from emulator.profiles import list_device_models, load_device_model
from emulator.wire.ota_image import MAGIC, OtaHeader, Tag, build_image, parse_image
from harness.cli import main
from tests.firmware.ota_rig import image

ROWS = manifest()


def test_every_device_model_has_two_versions_in_the_manifest() -> None:
    for model in list_device_models():
        versions = [r["version"] for r in ROWS if r["target_model"] == model]
        assert len(versions) >= 2, model
        current = load_device_model(model).firmware_version
        assert any(v > current for v in versions) and any(v < current for v in versions)


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_manifest_matches_the_files_and_zigpy_parses_them(row: dict[str, object]) -> None:
    raw = shipped_image(str(row["file"]))
    assert hashlib.sha256(raw).hexdigest() == row["sha256"]
    assert len(raw) == row["size"]
    ours = parse_image(raw)
    theirs, rest = parse_ota_image(raw)
    assert rest == b"" and isinstance(theirs, OTAImage)
    h = theirs.header
    assert h.upgrade_file_id == MAGIC
    assert (h.manufacturer_id, h.image_type, h.file_version, h.image_size) == (
        ours.header.manufacturer_code, ours.header.image_type, ours.header.file_version,
        len(raw))
    assert f"0x{h.manufacturer_id:04X}" == row["manufacturer_code"]
    assert [int(e.tag_id) for e in theirs.subelements] == [e.tag for e in ours.elements]
    assert theirs.subelements[0].data == ours.upgrade_image
    assert theirs.serialize() == raw
    assert verify(raw, trusted_signers()).ok


def test_images_with_every_optional_header_field_parse_in_zigpy() -> None:
    header = OtaHeader(0x1234, 0x0001, 0x01020300, "all fields", 0,
                       security_credential_version=2, destination=0x001BC50C00000001,
                       min_hardware_version=1, max_hardware_version=3)
    raw = build_image(header, [(Tag.UPGRADE_IMAGE, b"abc"), (0xF0F0, b"")])
    theirs, rest = parse_ota_image(raw)
    assert rest == b""
    assert theirs.header.security_credential_version == 2
    assert str(theirs.header.upgrade_file_destination) == "00:1b:c5:0c:00:00:00:01"
    assert parse_image(raw).header == OtaHeader(0x1234, 0x0001, 0x01020300, "all fields",
                                                len(raw), security_credential_version=2,
                                                destination=0x001BC50C00000001,
                                                min_hardware_version=1, max_hardware_version=3)


def test_rebuilding_the_catalogue_gives_the_same_bytes(tmp_path: Path) -> None:
    rows = build_catalogue(tmp_path, catalogue())
    assert rows == ROWS
    for row in rows:
        assert (tmp_path / row["file"]).read_bytes() == shipped_image(row["file"])


GOOD = shipped_image("acme-esme-credit-2.1.0.ota")


def _patched(offset: int, data: bytes) -> bytes:
    return GOOD[:offset] + data + GOOD[offset + len(data):]


@pytest.mark.parametrize(("raw", "message"), [
    (GOOD[:30], "truncated header: 30 bytes"),
    (GOOD[:-10], "truncated: total image size says"),
    (GOOD + b"\x00", "trailing bytes"),
    (b"\x00\x00\x00\x00" + GOOD[4:], "not an OTA upgrade file: identifier 0x00000000"),
    (_patched(4, b"\x00\x02"), "header version 0x0200"),
    (_patched(6, b"\x38\x00"), "header length 56 does not match field control 0x0004"),
    (_patched(8, b"\x08\x00"), "field control 0x0008 sets reserved bits"),
    (_patched(62, b"\xff\xff\x00\x00"), "sub-element 1 (tag 0x0000) at offset 60 claims"),
])
def test_malformed_files_get_one_line_naming_the_problem(raw: bytes, message: str) -> None:
    with pytest.raises(MalformedImage, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_image(raw)


def test_verification_failures_are_named() -> None:
    identity = ImageIdentity(0x1A5A, 0x0201, 0x0100)
    assert verify(GOOD, trusted_signers(), identity=identity).ok
    assert verify(GOOD, trusted_signers(), identity=ImageIdentity(0x1B5A, 0x0201, 0x0100)
                  ).reason.startswith("manufacturer code 0x1A5A")
    assert "hardware version 0x0200" in verify(
        GOOD, trusted_signers(), identity=ImageIdentity(0x1A5A, 0x0201, 0x0200)).reason
    flipped = bytearray(GOOD)
    flipped[100] ^= 1
    assert verify(bytes(flipped), trusted_signers()).reason == (
        "image integrity code does not match")
    other = ec.generate_private_key(ec.SECP256R1())
    _, cert = manufacturer_signer()
    resigned = image("acme-esme-credit", "2.1.0", 4096)
    assert verify(resigned, trusted_signers()).ok
    forged = image_bytes(CatalogueEntry("acme-esme-credit", "2.1.0", 4096, "forged"), key=other,
                         certificate_der=cert)
    assert verify(forged, trusted_signers()).reason == "signature does not verify"
    assert verify(GOOD, ()).reason == "signer is not trusted by this device"
    assert verify(GOOD, trusted_signers(), expected_size=10).reason.startswith("size ")


def test_cli_inspect_shows_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(Path(__file__).resolve().parents[2] / "firmware_images"
               / "zenith-gsme-prepay-1.3.0.ota")
    main(["firmware", "inspect", path, "--json"])
    info = json.loads(capsys.readouterr().out)
    for key in ("upgrade_file_identifier", "header_version", "header_length", "field_control",
                "manufacturer_code", "image_type", "file_version", "zigbee_stack_version",
                "header_string", "total_image_size", "security_credential_version",
                "upgrade_file_destination", "minimum_hardware_version",
                "maximum_hardware_version"):
        assert key in info
    assert info["file_version"] == "0x01030000 (1.3.0)"
    assert [e["name"] for e in info["sub_elements"]] == [
        "UPGRADE_IMAGE", "S1LAB_P256_CERTIFICATE", "IMAGE_INTEGRITY_CODE",
        "S1LAB_P256_SIGNATURE"]
    assert info["verification"] == "ok"


def test_cli_inspect_of_a_truncated_file_is_one_line(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "cut.ota"
    bad.write_bytes(GOOD[:1000])
    with pytest.raises(SystemExit) as done:
        main(["firmware", "inspect", str(bad)])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err == (f"s1lab firmware: error: {bad}: truncated: total image size says "
                   f"{len(GOOD)} bytes, the file has 1000\n")


def test_cli_inspect_of_a_corrupted_file_shows_it_and_names_the_fault(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "flipped.ota"
    flipped = bytearray(GOOD)
    flipped[500] ^= 0x40
    bad.write_bytes(bytes(flipped))
    with pytest.raises(SystemExit) as done:
        main(["firmware", "inspect", str(bad)])
    assert done.value.code == 2
    out, err = capsys.readouterr()
    assert "header_string: s1lab Volta E1 ESME 2.1.0" in out
    assert err == (f"s1lab firmware: error: {bad}: verification failed: image integrity code "
                   "does not match\n")


def test_cli_build_writes_the_catalogue(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    main(["firmware", "build", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "manifest.json").read_text())["images"] == ROWS
