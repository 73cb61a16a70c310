"""Migration files: the MGF (build, parse, encryption), the DCO's validation and release, the SCF,
and the documentation (examples and schemas) against the code."""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from emulator.core.timebase import DAY, HOUR, from_datetime
from emulator.errors import BadMac
from emulator.keystore import ChfKeys, derive_chf_keys
from emulator.pki import Authorities, derive_key, mint_authorities, mint_chf, mint_leaf
from emulator.wire.vocabulary import DeviceType, PaymentMode
from harness.migration import mgf, scf
from harness.migration.dco import (
    REASON_STEPS,
    STEPS,
    Dco,
    ReleaseRefused,
    ValidationResult,
)
from harness.migration.inventory import (
    DeviceRecord,
    InstallationRecord,
    MeterState,
    SupplierStatus,
)
from harness.migration.mgf import (
    FIELD_MASTER_KEY,
    MAX_XML_BYTES,
    MigrationFileError,
    build_mgf,
    parse_mgf,
    seal,
    unseal,
)
from harness.migration.outcome import Outcome
from harness.migration.reasons import Reason
from harness.migration.scf import ScfEntry, build_scf, parse_scf

NOW = from_datetime(datetime(2026, 1, 5, tzinfo=UTC))
SEED = 1234
EUIS = ("00-1B-C5-0C-00-00-00-01", "00-1B-C5-0C-00-00-00-02", "00-1B-C5-0C-00-00-00-03")
ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "migration-files.md"
XS = "{http://www.w3.org/2001/XMLSchema}"


def _rng(label: str) -> Callable[[int], bytes]:
    count = 0

    def draw(size: int) -> bytes:
        nonlocal count
        count += 1
        return hashlib.blake2b(f"{label}/{count}".encode(), digest_size=64).digest()[:size]

    return draw


@pytest.fixture(scope="module")
def auth() -> Authorities:
    return mint_authorities(NOW, SEED)


@pytest.fixture(scope="module")
def certs(auth: Authorities) -> dict[str, x509.Certificate]:
    return {eui: mint_chf(auth.device_ca, eui, NOW, 3650, SEED).cert for eui in EUIS}


@pytest.fixture(scope="module")
def keys() -> dict[str, ChfKeys]:
    return {eui: derive_chf_keys(SEED, eui) for eui in EUIS}


@pytest.fixture(scope="module")
def dco_key() -> ec.EllipticCurvePrivateKey:
    return derive_key(SEED, "dco")


@pytest.fixture
def dco(dco_key: ec.EllipticCurvePrivateKey, auth: Authorities) -> Dco:
    return Dco(dco_key, auth.device_ca.cert)


def _record(n: int, eui: str, group: str = "CA", apn: str | None = "smso.example.apn",
            ) -> InstallationRecord:
    return InstallationRecord(
        installation_id=f"INST-{n:04d}", group_id=group, dmc="dmc-example", chf_eui=eui,
        devices=(
            DeviceRecord(f"00-1B-C5-0C-00-00-{n:02X}-01", DeviceType.ESME, "1.2.0", model="E470",
                         mpxn=f"10123456789{n:02d}", state=MeterState.DORMANT,
                         supplier="Supplier A"),
            DeviceRecord(f"00-1B-C5-0C-00-00-{n:02X}-02", DeviceType.GSME, "0.9.3",
                         mpxn=f"12345678{n:02d}", state=MeterState.RECENTLY_DORMANT,
                         payment_mode=PaymentMode.PREPAYMENT),
            DeviceRecord(f"00-1B-C5-0C-00-00-{n:02X}-03", DeviceType.IHD, "3.0",
                         state=MeterState.ACTIVE),
        ),
        supplier="Supplier A" if n != 2 else "Supplier B",
        supplier_status=SupplierStatus.LIVE if n != 3 else SupplierStatus.CEASED_TRADING,
        previous_apn=apn,
    )


def _records() -> list[InstallationRecord]:
    return [_record(i + 1, eui) for i, eui in enumerate(EUIS)]


def _build(records: list[InstallationRecord], certs: dict[str, x509.Certificate],
           keys: dict[str, ChfKeys], dco_key: ec.EllipticCurvePrivateKey,
           group: str = "CA", label: str = "t") -> bytes:
    return build_mgf(group, records, certs, keys, dco_key.public_key(), NOW,
                     b"group info for the S1SP", rng=_rng(label))


@pytest.fixture
def mgf_bytes(certs: dict[str, x509.Certificate], keys: dict[str, ChfKeys],
              dco_key: ec.EllipticCurvePrivateKey) -> bytes:
    return _build(_records(), certs, keys, dco_key)


def _only(result: ValidationResult, installation_id: str) -> tuple[str, str]:
    failure = result.result(installation_id).failure
    assert failure is not None
    return failure.step, failure.reason.scf_code


# --------------------------------------------------------------------------- MGF round trip


def test_mgf_round_trip(mgf_bytes: bytes, certs: dict[str, x509.Certificate]) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    parsed = parse_mgf(mgf_bytes, "group.xml")
    assert parsed.group_id == "CA"
    assert parsed.created_us == NOW
    assert parsed.file_id.startswith("MGF-CA-20260105T000000Z-")
    assert parsed.source == "group.xml"
    assert [i.installation_id for i in parsed.installations] == [
        "INST-0001", "INST-0002", "INST-0003"]
    for record, inst in zip(_records(), parsed.installations, strict=True):
        assert inst.chf_eui == record.chf_eui
        assert inst.device_certificate == certs[record.chf_eui].public_bytes(Encoding.DER)
        assert inst.to_record() == record  # every field the MGF carries survives
    assert parsed.installation("INST-0002").supplier == "Supplier B"
    with pytest.raises(KeyError):
        parsed.installation("INST-9999")


def test_mgf_holds_no_plaintext_keys(mgf_bytes: bytes, keys: dict[str, ChfKeys]) -> None:
    text = mgf_bytes.decode()
    for chf in keys.values():
        assert chf.master_key not in mgf_bytes
        assert chf.master_key.hex() not in text.lower()
        assert base64.b64encode(chf.master_key).decode() not in text
    assert "group info for the S1SP" not in text


def test_mgf_is_reproducible_with_a_seeded_rng(
    certs: dict[str, x509.Certificate], keys: dict[str, ChfKeys],
    dco_key: ec.EllipticCurvePrivateKey,
) -> None:
    one = _build(_records(), certs, keys, dco_key, label="same")
    two = _build(_records(), certs, keys, dco_key, label="same")
    three = _build(_records(), certs, keys, dco_key, label="other")
    assert one == two != three


def test_previous_apn_none_is_omitted(
    certs: dict[str, x509.Certificate], keys: dict[str, ChfKeys],
    dco_key: ec.EllipticCurvePrivateKey,
) -> None:
    data = _build([_record(1, EUIS[0], apn=None)], certs, keys, dco_key)
    assert b"PreviousAPN" not in data
    assert parse_mgf(data, "f").installations[0].previous_apn is None


def test_build_needs_certificate_and_keys(
    certs: dict[str, x509.Certificate], keys: dict[str, ChfKeys],
    dco_key: ec.EllipticCurvePrivateKey,
) -> None:
    from emulator.errors import PkiError

    with pytest.raises(PkiError, match="no device certificate for CHF 00-1B-C5-0C-00-00-00-03"):
        _build(_records(), {EUIS[0]: certs[EUIS[0]], EUIS[1]: certs[EUIS[1]]}, keys, dco_key)
    with pytest.raises(PkiError, match="no keys for CHF"):
        _build(_records(), certs, {EUIS[0]: keys[EUIS[0]]}, dco_key)
    with pytest.raises(MigrationFileError, match="at least one installation"):
        _build([], certs, keys, dco_key)
    with pytest.raises(MigrationFileError, match=r"Installation\[1\]/DMC: empty"):
        _build([replace(_records()[0], dmc="")], certs, keys, dco_key)
    with pytest.raises(MigrationFileError, match=r"Installation\[1\]/Devices/Device: missing"):
        _build([replace(_records()[0], devices=())], certs, keys, dco_key)
    # any EUI spelling is accepted as a dictionary key
    lower = {eui.lower().replace("-", ":"): cert for eui, cert in certs.items()}
    assert parse_mgf(_build(_records(), lower, keys, dco_key), "f").installations


# --------------------------------------------------------------------------- encryption


def test_seal_is_readable_only_by_the_dco(dco_key: ec.EllipticCurvePrivateKey) -> None:
    blob = seal(dco_key.public_key(), b"k" * 16, FIELD_MASTER_KEY, EUIS[0])
    assert len(blob) == mgf.SEALED_OVERHEAD + 16
    assert unseal(dco_key, blob, FIELD_MASTER_KEY, EUIS[0]) == b"k" * 16
    with pytest.raises(BadMac):
        unseal(derive_key(SEED, "not the dco"), blob, FIELD_MASTER_KEY, EUIS[0])
    with pytest.raises(BadMac):  # bound to its CHF
        unseal(dco_key, blob, FIELD_MASTER_KEY, EUIS[1])
    with pytest.raises(BadMac):  # and to its field
        unseal(dco_key, blob, mgf.FIELD_GROUP_INFO, EUIS[0])
    corrupt = bytearray(blob)
    corrupt[-1] ^= 1
    with pytest.raises(BadMac):
        unseal(dco_key, bytes(corrupt), FIELD_MASTER_KEY, EUIS[0])
    with pytest.raises(BadMac, match="too short"):
        unseal(dco_key, blob[:50], FIELD_MASTER_KEY, EUIS[0])
    with pytest.raises(BadMac, match="not on P-256"):
        unseal(dco_key, b"\x04" + b"\x00" * 64 + blob[65:], FIELD_MASTER_KEY, EUIS[0])


def test_dco_decrypts_the_master_keys(
    mgf_bytes: bytes, dco: Dco, keys: dict[str, ChfKeys]
) -> None:
    result = dco.validate(parse_mgf(mgf_bytes, "f"), NOW)
    assert result.group_failure is None
    assert len(result.passed) == 3 and not result.failed
    assert result.scf_entries() == []
    for i, eui in enumerate(EUIS):
        installation_id = f"INST-{i + 1:04d}"
        assert dco.can_release(installation_id)
        master, info = dco.release(installation_id, NOW + i * HOUR)
        assert master == keys[eui].master_key
        assert info == b"group info for the S1SP"
    assert dco.audit == [("INST-0001", NOW), ("INST-0002", NOW + HOUR),
                         ("INST-0003", NOW + 2 * HOUR)]
    assert dco.refusals == []


def test_another_dco_key_cannot_decrypt(mgf_bytes: bytes, auth: Authorities) -> None:
    other = Dco(derive_key(SEED, "someone else"), auth.device_ca.cert)
    result = other.validate(parse_mgf(mgf_bytes, "f"), NOW)
    assert len(result.failed) == 3
    for inst in result.installations:
        reasons = {f.reason for f in inst.failures}
        assert reasons == {Reason.MASTER_KEY_UNDECRYPTABLE, Reason.GROUP_INFO_UNDECRYPTABLE,
                           Reason.PREPAYMENT_KEY_UNDECRYPTABLE}
        assert _only(result, inst.installation_id) == ("15.7.1", "MASTER_KEY_UNDECRYPTABLE")
    with pytest.raises(ReleaseRefused, match=r"15\.7\.1 MASTER_KEY_UNDECRYPTABLE"):
        other.release("INST-0001", NOW)
    assert other.audit == [] and other.refusals == [("INST-0001", NOW)]


def test_ciphertext_moved_to_another_installation_fails(mgf_bytes: bytes, dco: Dco) -> None:
    parsed = parse_mgf(mgf_bytes, "f")
    first, second, third = parsed.installations
    swapped = replace(parsed, installations=(
        replace(first, encrypted_master_key=second.encrypted_master_key), second, third))
    result = dco.validate(swapped, NOW)
    assert _only(result, "INST-0001") == ("15.7.1", "MASTER_KEY_UNDECRYPTABLE")
    assert result.result("INST-0002").passed


def test_wrong_length_master_key_fails(
    mgf_bytes: bytes, dco: Dco, dco_key: ec.EllipticCurvePrivateKey
) -> None:
    parsed = parse_mgf(mgf_bytes, "f")
    bad = seal(dco_key.public_key(), b"short", FIELD_MASTER_KEY, EUIS[0])
    changed = replace(parsed, installations=(
        replace(parsed.installations[0], encrypted_master_key=bad), *parsed.installations[1:]))
    result = dco.validate(changed, NOW)
    assert _only(result, "INST-0001") == ("15.7.1", "MASTER_KEY_INVALID")


# --------------------------------------------------------------------------- behaviour 3


def test_missing_previous_apn_fails_before_any_release(
    certs: dict[str, x509.Certificate], keys: dict[str, ChfKeys],
    dco_key: ec.EllipticCurvePrivateKey, dco: Dco,
) -> None:
    records = _records()
    records[1] = replace(records[1], previous_apn=None)
    result = dco.validate(parse_mgf(_build(records, certs, keys, dco_key), "group.xml"), NOW)
    assert _only(result, "INST-0002") == ("15.6.4", "PREVIOUS_APN_MISSING")
    assert [r.installation_id for r in result.passed] == ["INST-0001", "INST-0003"]
    with pytest.raises(ReleaseRefused, match=r"INST-0002.*15\.6\.4 PREVIOUS_APN_MISSING"):
        dco.release("INST-0002", NOW)
    assert dco.audit == [] and dco.refusals == [("INST-0002", NOW)]
    # the SCF back to the RP names the step and the reason
    entries = result.scf_entries()
    assert [(e.installation_id, e.outcome, e.step, e.reason_code) for e in entries] == [
        ("INST-0002", "failed", "15.6.4", "PREVIOUS_APN_MISSING")]
    assert "TMAD 5.25" in entries[0].message
    back = parse_scf(build_scf("CA", entries, NOW + HOUR, mgf_file_id=result.file_id), "scf")
    assert back.entry("INST-0002").step == "15.6.4"
    assert back.entry("INST-0002").reason_code == "PREVIOUS_APN_MISSING"
    assert back.mgf_file_id == result.file_id


def test_revalidation_drops_secrets_held_earlier(
    certs: dict[str, x509.Certificate], keys: dict[str, ChfKeys],
    dco_key: ec.EllipticCurvePrivateKey, dco: Dco,
) -> None:
    dco.validate(parse_mgf(_build(_records(), certs, keys, dco_key), "first"), NOW)
    assert dco.can_release("INST-0001")
    records = _records()
    records[0] = replace(records[0], previous_apn=None)
    dco.validate(parse_mgf(_build(records, certs, keys, dco_key), "second"), NOW)
    assert not dco.can_release("INST-0001")
    with pytest.raises(ReleaseRefused):
        dco.release("INST-0001", NOW)
    with pytest.raises(ReleaseRefused, match="not in any validated"):
        dco.release("INST-4242", NOW)


# --------------------------------------------------------------------------- malformed files


def _bad(mgf_bytes: bytes, old: str, new: str, count: int = 1) -> bytes:
    text = mgf_bytes.decode()
    assert old in text
    return text.replace(old, new, count).encode()


def _drop(mgf_bytes: bytes, element: str, occurrence: int = 1) -> bytes:
    pattern = re.compile(rf"\s*<{element}>[^<]*</{element}>")
    matches = list(pattern.finditer(mgf_bytes.decode()))
    m = matches[occurrence - 1]
    text = mgf_bytes.decode()
    return (text[:m.start()] + text[m.end():]).encode()


def test_malformed_xml(mgf_bytes: bytes) -> None:
    with pytest.raises(MigrationFileError, match=r"^broken\.xml: malformed XML at line") as info:
        parse_mgf(mgf_bytes[:-40], "broken.xml")
    assert info.value.file == "broken.xml" and info.value.path == ""


@pytest.mark.parametrize(("element", "occurrence", "path"), [
    ("CHFEUI", 2, "/MigrationGroupFile/Installation[2]/CHFEUI"),
    ("FileID", 1, "/MigrationGroupFile/FileID"),
    ("EncryptedMasterKey", 1, "/MigrationGroupFile/Installation[1]/EncryptedMasterKey"),
    ("FirmwareVersion", 4, "/MigrationGroupFile/Installation[2]/Devices/Device[1]/FirmwareVersion"),
])
def test_missing_element(mgf_bytes: bytes, element: str, occurrence: int, path: str) -> None:
    with pytest.raises(MigrationFileError, match="missing required element") as info:
        parse_mgf(_drop(mgf_bytes, element, occurrence), "f.xml")
    assert info.value.path == path


def test_bad_base64(mgf_bytes: bytes) -> None:
    data = _bad(mgf_bytes, "<DeviceCertificate>MII", "<DeviceCertificate>M!I")
    with pytest.raises(MigrationFileError, match="not valid Base64") as info:
        parse_mgf(data, "f.xml")
    assert info.value.path == "/MigrationGroupFile/Installation[1]/DeviceCertificate"
    data = _bad(mgf_bytes, "<EncryptedMasterKey>", "<EncryptedMasterKey>A")
    with pytest.raises(MigrationFileError, match="not valid Base64"):
        parse_mgf(data, "f.xml")


@pytest.mark.parametrize(("old", "new", "path", "reason"), [
    ("<State>dormant</State>", "<State>asleep</State>",
     "/MigrationGroupFile/Installation[1]/Devices/Device[1]/State", "unknown value 'asleep'"),
    ("<DeviceType>GSME</DeviceType>", "<DeviceType>WATER</DeviceType>",
     "/MigrationGroupFile/Installation[1]/Devices/Device[2]/DeviceType", "unknown value"),
    ("<SupplierStatus>live</SupplierStatus>", "<SupplierStatus>dead</SupplierStatus>",
     "/MigrationGroupFile/Installation[1]/SupplierStatus", "unknown value"),
    ("<PaymentMode>credit</PaymentMode>", "<PaymentMode>CREDIT</PaymentMode>",
     "/MigrationGroupFile/Installation[1]/Devices/Device[1]/PaymentMode", "unknown value"),
    ("<CHFEUI>00-1B-C5-0C-00-00-00-01</CHFEUI>", "<CHFEUI>001bc50c00000001</CHFEUI>",
     "/MigrationGroupFile/Installation[1]/CHFEUI", "canonical form"),
    ("<GroupID>CA</GroupID>", "<GroupID>ca</GroupID>", "/MigrationGroupFile/GroupID",
     "not a GroupID"),
    ("<Created>2026-01-05T00:00:00.000000Z</Created>", "<Created>yesterday</Created>",
     "/MigrationGroupFile/Created", "not a UTC date-time"),
    ("<Created>2026-01-05T00:00:00.000000Z</Created>", "<Created>2026-01-05T00:00:00</Created>",
     "/MigrationGroupFile/Created", "not a UTC date-time"),
    ("<DMC>dmc-example</DMC>", "<DMC> </DMC>", "/MigrationGroupFile/Installation[1]/DMC",
     "empty"),
    ("<DMC>dmc-example</DMC>", "<DMC>dmc-example</DMC><Colour>red</Colour>",
     "/MigrationGroupFile/Installation[1]/Colour", "unexpected element"),
    ("<Supplier>Supplier A</Supplier>\n    <SupplierStatus>live</SupplierStatus>",
     "<SupplierStatus>live</SupplierStatus><Supplier>Supplier A</Supplier>",
     "/MigrationGroupFile/Installation[1]/Supplier", "out of order"),
    ("<InstallationID>INST-0001</InstallationID>",
     "<InstallationID>INST-0001</InstallationID><InstallationID>X</InstallationID>",
     "/MigrationGroupFile/Installation[1]/InstallationID", "appears 2 times"),
    ("<DMC>dmc-example</DMC>", "<DMC>dmc-example<b>x</b></DMC>",
     "/MigrationGroupFile/Installation[1]/DMC", "unexpected child elements"),
    ("<Devices>", "<Devices>stray text", "/MigrationGroupFile/Installation[1]/Devices",
     "unexpected text"),
    ('xmlns="urn:s1lab:migration:mgf:1"', 'xmlns="urn:other"', "/{urn:other}MigrationGroupFile",
     "expected root element"),
])
def test_schema_violations_name_the_path(
    mgf_bytes: bytes, old: str, new: str, path: str, reason: str
) -> None:
    with pytest.raises(MigrationFileError) as info:
        parse_mgf(_bad(mgf_bytes, old, new), "f.xml")
    assert info.value.path == path
    assert reason in info.value.reason
    assert str(info.value).startswith(f"f.xml: {path}: ")


def test_dtd_refused(mgf_bytes: bytes) -> None:
    data = mgf_bytes.replace(b"<MigrationGroupFile", b'<!DOCTYPE x [<!ENTITY a "b">]>\n'
                             b"<MigrationGroupFile", 1)
    with pytest.raises(MigrationFileError, match="DTDs"):
        parse_mgf(data, "f.xml")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("declaration", [
    '<!DOCTYPE x [<!ENTITY a "b">]>',
    '<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]>',
    "<!DOCTYPE x>",
])
def test_dtd_refused_in_any_encoding(mgf_bytes: bytes, encoding: str, declaration: str) -> None:
    text = mgf_bytes.decode().replace('encoding="UTF-8"', f'encoding="{encoding}"')
    text = text.replace("<MigrationGroupFile", declaration + "\n<MigrationGroupFile", 1)
    data = text.encode(encoding)
    assert b"<!DOCTYPE" not in data  # a byte search would miss it
    with pytest.raises(MigrationFileError, match="DTDs|encoding|malformed"):
        parse_mgf(data, "f.xml")


def test_oversized_xml_is_refused_before_parsing() -> None:
    with pytest.raises(MigrationFileError, match="larger than"):
        parse_mgf(b" " * (MAX_XML_BYTES + 1), "huge.xml")


def test_dco_validate_bytes_reports_step_15_6_1(mgf_bytes: bytes, dco: Dco) -> None:
    result = dco.validate_bytes(_drop(mgf_bytes, "CHFEUI"), "f.xml", NOW)
    assert result.group_failure is not None
    assert (result.group_failure.step, result.group_failure.reason.name) == (
        "15.6.1", "SCHEMA_INVALID")
    assert "/MigrationGroupFile/Installation[1]/CHFEUI" in result.group_failure.message
    assert result.installations == ()
    assert len(dco.validate_bytes(mgf_bytes, "f.xml", NOW).passed) == 3


# --------------------------------------------------------------------------- GroupID


def test_unknown_group_id_fails_everything(
    certs: dict[str, x509.Certificate], keys: dict[str, ChfKeys],
    dco_key: ec.EllipticCurvePrivateKey, dco: Dco,
) -> None:
    records = [replace(r, group_id="ZZ") for r in _records()]
    result = dco.validate(parse_mgf(_build(records, certs, keys, dco_key, group="ZZ"), "zz"), NOW)
    assert result.group_failure is not None
    assert (result.group_failure.step, result.group_failure.reason.name) == (
        "15.6.2", "GROUP_ID_UNKNOWN")
    assert "'ZZ'" in result.group_failure.message
    assert not result.passed and len(result.failed) == 3
    for inst in result.installations:
        assert inst.failures == (result.group_failure,)
    with pytest.raises(ReleaseRefused, match="GROUP_ID_UNKNOWN"):
        dco.release("INST-0001", NOW)
    assert {e.reason_code for e in result.scf_entries()} == {"GROUP_ID_UNKNOWN"}
    # a GroupID the caller declares known passes that step
    assert len(dco.validate(parse_mgf(_build(records, certs, keys, dco_key, group="ZZ"), "zz"),
                            NOW, known={"ZZ"}).passed) == 3


def test_installation_of_another_group_fails(
    certs: dict[str, x509.Certificate], keys: dict[str, ChfKeys],
    dco_key: ec.EllipticCurvePrivateKey, dco: Dco,
) -> None:
    records = _records()
    records[2] = replace(records[2], group_id="EA")
    result = dco.validate(parse_mgf(_build(records, certs, keys, dco_key), "f"), NOW)
    assert result.group_failure is None
    assert _only(result, "INST-0003") == ("15.6.2", "GROUP_MISMATCH")
    failure = result.result("INST-0003").failure
    assert failure is not None and "EA (FOC)" in failure.message and "CA (IOC)" in failure.message
    assert len(result.passed) == 2


# --------------------------------------------------------------------------- certificates


def _with_cert(parsed: mgf.MigrationGroupFile, der: bytes) -> mgf.MigrationGroupFile:
    return replace(parsed, installations=(
        replace(parsed.installations[0], device_certificate=der), *parsed.installations[1:]))


def _der(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def test_certificate_from_another_ca_fails(mgf_bytes: bytes, dco: Dco) -> None:
    stranger = mint_authorities(NOW, SEED + 1)
    cert = mint_chf(stranger.device_ca, EUIS[0], NOW, 3650, SEED + 1).cert
    result = dco.validate(_with_cert(parse_mgf(mgf_bytes, "f"), _der(cert)), NOW)
    assert _only(result, "INST-0001") == ("15.6.3", "CERT_UNTRUSTED")
    assert result.result("INST-0002").passed


def test_certificate_for_another_eui_fails(
    mgf_bytes: bytes, dco: Dco, certs: dict[str, x509.Certificate]
) -> None:
    result = dco.validate(_with_cert(parse_mgf(mgf_bytes, "f"), _der(certs[EUIS[1]])), NOW)
    assert _only(result, "INST-0001") == ("15.6.3", "CERT_EUI_MISMATCH")
    failure = result.result("INST-0001").failure
    assert failure is not None and EUIS[1] in failure.message


def test_headend_certificate_is_not_a_chf_certificate(
    mgf_bytes: bytes, dco: Dco, auth: Authorities
) -> None:
    parsed = parse_mgf(mgf_bytes, "f")
    result = dco.validate(_with_cert(parsed, _der(auth.headend_smso.cert)), NOW)
    assert _only(result, "INST-0001") == ("15.6.3", "CERT_UNTRUSTED")
    client = mint_leaf(auth.device_ca, "gateway.s1lab.test", "x", "client", NOW, 30, SEED).cert
    result = dco.validate(_with_cert(parsed, _der(client)), NOW)
    assert _only(result, "INST-0001") == ("15.6.3", "CERT_NOT_CHF")
    server = mint_leaf(auth.device_ca, "gateway.s1lab.test", "x", "server", NOW, 30, SEED).cert
    result = dco.validate(_with_cert(parsed, _der(server)), NOW)
    assert _only(result, "INST-0001") == ("15.6.3", "CERT_NOT_CHF")
    result = dco.validate(_with_cert(parsed, _der(auth.device_ca.cert)), NOW)
    assert _only(result, "INST-0001") == ("15.6.3", "CERT_NOT_CHF")
    result = dco.validate(_with_cert(parsed, b"\x30\x03\x02\x01\x00"), NOW)
    assert _only(result, "INST-0001") == ("15.6.3", "CERT_UNPARSABLE")


def test_certificate_must_be_valid_at_now(mgf_bytes: bytes, dco: Dco) -> None:
    parsed = parse_mgf(mgf_bytes, "f")
    later = dco.validate(parsed, NOW + 3651 * DAY)
    assert {_only(later, i.installation_id) for i in later.installations} == {
        ("15.6.3", "CERT_NOT_VALID_NOW")}
    failure = later.result("INST-0001").failure
    assert failure is not None and "expired" in failure.message
    earlier = dco.validate(parsed, NOW - 2 * HOUR)
    failure = earlier.result("INST-0001").failure
    assert failure is not None and "not yet valid" in failure.message


# --------------------------------------------------------------------------- duplicates


def test_duplicate_chf_eui_fails_every_copy(
    certs: dict[str, x509.Certificate], keys: dict[str, ChfKeys],
    dco_key: ec.EllipticCurvePrivateKey, dco: Dco,
) -> None:
    records = _records()
    records[2] = replace(records[2], chf_eui=EUIS[0])
    result = dco.validate(parse_mgf(_build(records, certs, keys, dco_key), "f"), NOW)
    assert _only(result, "INST-0001") == ("15.7.2", "DUPLICATE_CHF_EUI")
    assert _only(result, "INST-0003") == ("15.7.2", "DUPLICATE_CHF_EUI")
    assert [r.installation_id for r in result.passed] == ["INST-0002"]
    with pytest.raises(ReleaseRefused, match="DUPLICATE_CHF_EUI"):
        dco.release("INST-0003", NOW)


def test_duplicate_installation_id_fails(
    certs: dict[str, x509.Certificate], keys: dict[str, ChfKeys],
    dco_key: ec.EllipticCurvePrivateKey, dco: Dco,
) -> None:
    records = _records()
    records[1] = replace(records[1], installation_id="INST-0001")
    result = dco.validate(parse_mgf(_build(records, certs, keys, dco_key), "f"), NOW)
    reasons = {f.reason for r in result.failed for f in r.failures}
    assert reasons == {Reason.DUPLICATE_INSTALLATION_ID}
    assert len(result.failed) == 2
    assert not dco.can_release("INST-0001")


# --------------------------------------------------------------------------- SCF


def test_scf_round_trip() -> None:
    rows: list[tuple[Outcome, str, str, str]] = [
        (Outcome.MIGRATED, "", "", ""),
        (Outcome.FAILED, "15.6.4", "PREVIOUS_APN_MISSING", "no PreviousAPN"),
        (Outcome.PARTIAL, "GT01", "GT01", "GSME excluded after three weeks"),
        (Outcome.ROLLED_BACK, "9(d)", "S1SP_TIMEOUT", "no reconnect inside 48 h"),
        (Outcome.EXCLUDED, "18.9", "FIVE_RETRIES", "five failures in separate weeks"),
        (Outcome.NOT_ATTEMPTED, "", "", "capacity"),
    ]
    entries = [
        ScfEntry(f"INST-{i:04d}", f"00-1b-c5-0c-00-00-00-{i:02x}", outcome, step, code, msg,
                 NOW + i * HOUR)
        for i, (outcome, step, code, msg) in enumerate(rows, start=1)
    ]
    data = build_scf("CA", entries, NOW + DAY, mgf_file_id="MGF-CA-x")
    back = parse_scf(data, "scf.xml")
    assert back.entries == tuple(entries)
    assert back.entries[0].chf_eui == "00-1B-C5-0C-00-00-00-01"
    assert (back.group_id, back.created_us, back.mgf_file_id) == ("CA", NOW + DAY, "MGF-CA-x")
    assert back.file_id.startswith("SCF-CA-20260106T000000Z-")
    assert back.entry("INST-0002").reason_code == "PREVIOUS_APN_MISSING"
    with pytest.raises(KeyError):
        back.entry("nope")
    assert b"<Step>" not in data.split(b"INST-0001")[1].split(b"</Installation>")[0]
    empty = parse_scf(build_scf("EA", [], NOW), "empty")
    assert empty.entries == () and empty.mgf_file_id == ""


def test_scf_errors() -> None:
    data = build_scf("CA", [ScfEntry("I", EUIS[0], Outcome.FAILED, "15.6.4", "X", "m", NOW)], NOW)
    with pytest.raises(MigrationFileError) as info:
        parse_scf(data.replace(b"<Outcome>failed", b"<Outcome>lost"), "scf.xml")
    assert info.value.path == "/SCF/Installation[1]/Outcome"
    with pytest.raises(MigrationFileError, match="missing required element"):
        parse_scf(re.sub(rb"\s*<At>[^<]*</At>", b"", data), "scf.xml")
    with pytest.raises(MigrationFileError, match="expected root element SCF"):
        parse_scf(b'<MigrationGroupFile xmlns="urn:s1lab:migration:mgf:1"/>', "scf.xml")
    with pytest.raises(MigrationFileError, match="unknown outcome"):
        ScfEntry("I", EUIS[0], "vanished", "", "", "", NOW)  # type: ignore[arg-type]
    with pytest.raises(MigrationFileError, match="not an EUI-64"):
        ScfEntry("I", "nope", Outcome.FAILED, "", "", "", NOW)
    with pytest.raises(MigrationFileError, match="not a GroupID"):
        build_scf("C", [], NOW)


# --------------------------------------------------------------------------- docs and schemas


def _doc_examples() -> list[bytes]:
    return [m.encode() for m in re.findall(r"```xml\n(.*?)```", DOC.read_text(), re.S)]


def test_doc_examples_parse_and_validate(auth: Authorities) -> None:
    examples = _doc_examples()
    roots = [ET.fromstring(e).tag for e in examples]
    assert roots == [f"{{{mgf.NAMESPACE}}}MigrationGroupFile", f"{{{scf.NAMESPACE}}}SCF"]
    example = parse_mgf(examples[0], "docs/migration-files.md")
    status = parse_scf(examples[1], "docs/migration-files.md")
    assert status.mgf_file_id == example.file_id
    # the MGF example is real: the doc's DCO key opens it and its certificate is trusted
    dco = Dco(derive_key(1234, "dco"), auth.device_ca.cert)
    result = dco.validate(example, example.created_us)
    assert [r.installation_id for r in result.passed] == ["INST-0001"]
    master, info = dco.release("INST-0001", example.created_us)
    assert master == derive_chf_keys(1234, example.installations[0].chf_eui).master_key
    assert info == mgf.DEFAULT_S1SP_GROUP_INFO


def test_doc_lists_every_step_and_reason() -> None:
    rows = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"\| (15\.\d\.\d) \| (.*)", line)
        if m:
            rows[m.group(1)] = m.group(2)
    assert list(rows) == list(STEPS)
    for reason, step in REASON_STEPS.items():
        assert f"`{reason.name}`" in rows[step], (reason, step)
    assert set(REASON_STEPS) == {r for r in Reason if r.dco_step}


def _xsd_tables(path: Path) -> tuple[dict[str, mgf.ChildSpec], dict[str, tuple[str, ...]],
                                      dict[str, str]]:
    schema = ET.parse(path).getroot()
    sequences: dict[str, mgf.ChildSpec] = {}
    types: dict[str, str] = {}  # element name -> type name (last wins: names are unique per type)
    for ctype in schema.iter(f"{XS}complexType"):
        seq = []
        for el in ctype.iter(f"{XS}element"):
            high = el.get("maxOccurs", "1")
            seq.append((el.attrib["name"], int(el.get("minOccurs", "1")),
                        None if high == "unbounded" else int(high)))
            types[el.attrib["name"]] = el.attrib["type"].split(":")[-1]
        sequences[ctype.attrib["name"]] = tuple(seq)
    enums = {
        stype.attrib["name"]: tuple(e.attrib["value"] for e in stype.iter(f"{XS}enumeration"))
        for stype in schema.iter(f"{XS}simpleType")
    }
    return sequences, enums, types


def test_mgf_xsd_matches_the_parser() -> None:
    sequences, enums, types = _xsd_tables(ROOT / "docs" / "schemas" / "mgf.xsd")
    assert sequences == {
        "MigrationGroupFileType": mgf.SCHEMA["MigrationGroupFile"],
        "InstallationType": mgf.SCHEMA["Installation"],
        "DevicesType": mgf.SCHEMA["Devices"],
        "DeviceType": mgf.SCHEMA["Device"],
    }
    for element, allowed in mgf.ENUMS.items():
        assert enums[types[element]] == allowed, element
    for element in ("DeviceCertificate", mgf.FIELD_GROUP_INFO, FIELD_MASTER_KEY):
        assert types[element] == "Base64Type"
    assert types["CHFEUI"] == types["EUI"] == "EUI64Type"


def test_scf_xsd_matches_the_parser() -> None:
    sequences, enums, types = _xsd_tables(ROOT / "docs" / "schemas" / "scf.xsd")
    assert sequences == {
        "SCFType": scf.SCHEMA["SCF"],
        "InstallationType": scf.SCHEMA["Installation"],
    }
    assert enums[types["Outcome"]] == scf.OUTCOMES


def test_steps_table_is_ordered() -> None:
    assert list(STEPS) == ["15.6.1", "15.6.2", "15.6.3", "15.6.4", "15.7.1", "15.7.2"]
    assert all(step in STEPS for step in REASON_STEPS.values())


# --------------------------------------------------------------------------- prepayment handover


def test_the_prepayment_key_and_utrn_counters_reach_the_s1sp(
        certs: dict[str, x509.Certificate], keys: dict[str, ChfKeys],
        dco_key: ec.EllipticCurvePrivateKey, dco: Dco) -> None:
    """The SMSO seals the meters' prepayment key to the DCO and writes its last UTRN counter
    per meter; after release the S1SP gets both, and an installation whose SMSO has no
    prepayment key (TMAD 18.12) carries none."""
    records = _records()
    records[1] = replace(records[1], prepayment_key_present=False)
    gsme = records[0].devices[1].eui
    data = build_mgf("CA", records, certs, keys, dco_key.public_key(), NOW, rng=_rng("pp"),
                     utrn_counters={gsme.lower(): 41})
    parsed = parse_mgf(data, "f")
    assert parsed.installations[1].encrypted_prepayment_key is None
    assert parsed.installations[0].devices[1].utrn_counter == 41
    assert parsed.installations[0].devices[0].utrn_counter is None
    dco.validate(parsed, NOW)
    with pytest.raises(ReleaseRefused, match="not released"):
        dco.prepayment("INST-0001")
    dco.release("INST-0001", NOW)
    handover = dco.prepayment("INST-0001")
    assert handover.key == keys[EUIS[0]].prepayment_key
    assert handover.utrn_counters == {gsme: 41}
    dco.release("INST-0002", NOW)
    assert dco.prepayment("INST-0002").key is None


def test_a_bad_prepayment_handover_fails_validation_or_parsing(
        mgf_bytes: bytes, dco: Dco) -> None:
    # the master key's blob in the prepayment key's place: bound to another field, it fails
    master = re.search(r"<EncryptedMasterKey>([^<]*)<", mgf_bytes.decode())
    prepay = re.search(r"<EncryptedPrepaymentKey>([^<]*)<", mgf_bytes.decode())
    assert master is not None and prepay is not None
    swapped = _bad(mgf_bytes, prepay[1], master[1])
    result = dco.validate(parse_mgf(swapped, "f"), NOW)
    assert _only(result, "INST-0001") == ("15.7.1", "PREPAYMENT_KEY_UNDECRYPTABLE")
    counter = _bad(mgf_bytes, "</Device>", "<UtrnCounter>16777216</UtrnCounter></Device>")
    with pytest.raises(MigrationFileError, match="UtrnCounter: not a UTRN counter"):
        parse_mgf(counter, "f")
