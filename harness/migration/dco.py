"""The DCO: validates a Migration Group File and releases its secrets to the S1SP.

Validation runs the numbered steps of :data:`STEPS` (modelled on TMAD Tables 15.6 and 15.7; the
real tables' text is not public to us, so the checks are ours and the numbering follows the TMAD
style). A group-level failure (an unknown GroupID) fails every installation before any device is
touched. An installation that passes every step has its master key and S1SP group information
held by the DCO; the S1SP gets them with :meth:`Dco.release` (TMAD 5.16), and every release is
recorded in :attr:`Dco.audit`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from emulator.errors import (
    CertificateError,
    MigrationFileError,
    PkiError,
    ReleaseRefused,
    SecurityError,
)
from emulator.keystore import KEY_BYTES
from emulator.pki import check_validity, eui_of_chf_cert
from harness.migration.inventory import cohort_name, group_ids
from harness.migration.mgf import (
    FIELD_GROUP_INFO,
    FIELD_MASTER_KEY,
    FIELD_PREPAYMENT_KEY,
    MgfInstallation,
    MigrationGroupFile,
    parse_mgf,
    unseal,
)
from harness.migration.outcome import Outcome
from harness.migration.reasons import Reason
from harness.migration.scf import ScfEntry

#: The validation steps, in the order they run: number -> what is checked.
STEPS: dict[str, str] = {
    "15.6.1": "The file is well-formed XML and matches the MGF schema",
    "15.6.2": "The GroupID is known, and every installation belongs to it",
    "15.6.3": "The DeviceCertificate parses, is a CHF certificate issued by the device CA, its CN "
              "is the CHF EUI, and it is valid now",
    "15.6.4": "PreviousAPN is present (TMAD 5.25: rollback needs it)",
    "15.7.1": "EncryptedMasterKey and EncryptedS1SPGroupInformation decrypt with the DCO key, "
              "and the master key is 16 bytes",
    "15.7.2": "No CHF EUI or InstallationID appears twice in the file",
}


#: Which step raises which reason (the docs table is checked against this); the reasons are
#: members of :class:`~harness.migration.reasons.Reason` that name a DCO step.
REASON_STEPS: dict[Reason, str] = {r: r.dco_step for r in Reason if r.dco_step}


@dataclass(frozen=True)
class Failure:
    step: str
    reason: Reason
    message: str

    @classmethod
    def of(cls, reason: Reason, message: str) -> Failure:
        return cls(step=REASON_STEPS[reason], reason=reason, message=message)

    def __str__(self) -> str:
        return f"{self.step} {self.reason.scf_code}"


@dataclass(frozen=True)
class InstallationResult:
    installation_id: str
    chf_eui: str
    failures: tuple[Failure, ...]  # every failed check, in step order

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failure(self) -> Failure | None:
        """The first failing step (what the SCF reports), or None."""
        return self.failures[0] if self.failures else None


@dataclass(frozen=True)
class ValidationResult:
    source: str
    group_id: str
    file_id: str
    at_us: int
    group_failure: Failure | None
    installations: tuple[InstallationResult, ...]

    @property
    def passed(self) -> tuple[InstallationResult, ...]:
        return tuple(r for r in self.installations if r.passed)

    @property
    def failed(self) -> tuple[InstallationResult, ...]:
        return tuple(r for r in self.installations if not r.passed)

    def result(self, installation_id: str) -> InstallationResult:
        for item in self.installations:
            if item.installation_id == installation_id:
                return item
        raise KeyError(installation_id)

    def scf_entries(self) -> list[ScfEntry]:
        """SCF rows (outcome "failed") for every installation that failed validation."""
        entries = []
        for item in self.failed:
            first = item.failure
            assert first is not None
            entries.append(ScfEntry.failure(
                installation_id=item.installation_id, chf_eui=item.chf_eui,
                outcome=Outcome.FAILED, step=first.step, reason=first.reason,
                message=first.message, at_us=self.at_us,
            ))
        return entries


class ReleaseRecord(NamedTuple):
    """One release of secrets to the S1SP (TMAD 5.16)."""

    installation_id: str
    at_us: int


@dataclass(frozen=True)
class _Secrets:
    chf_eui: str
    master_key: bytes
    s1sp_group_info: bytes
    prepayment: Prepayment


@dataclass(frozen=True)
class Prepayment:
    """What the S1SP needs to go on generating UTRNs for an installation's meters: their
    prepayment key (None: the SMSO had none) and the last UTRN counter the SMSO issued to each
    meter (by EUI)."""

    key: bytes | None
    utrn_counters: dict[str, int]


class Dco:
    """The DCO: holds the private key the SMSO sealed the MGF secrets to.

    ``device_ca`` is the trust anchor for MGF DeviceCertificates (the CHF manufacturer CA).
    """

    def __init__(
        self, private_key: ec.EllipticCurvePrivateKey, device_ca: x509.Certificate
    ) -> None:
        self._key = private_key
        self._device_ca = device_ca
        self._held: dict[str, _Secrets] = {}
        self._refused: dict[str, str] = {}
        self.audit: list[ReleaseRecord] = []
        self.refusals: list[ReleaseRecord] = []

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    # ---- validation

    def validate_bytes(
        self, data: bytes, source: str, now_us: int,
        known: Collection[str] | None = None,
    ) -> ValidationResult:
        """Step 15.6.1 (parse), then :meth:`validate`. A file that does not parse fails as a
        whole (no installation can be named)."""
        try:
            mgf = parse_mgf(data, source)
        except MigrationFileError as exc:
            return ValidationResult(
                source=source, group_id="", file_id="", at_us=now_us,
                group_failure=Failure.of(Reason.SCHEMA_INVALID, str(exc)), installations=(),
            )
        return self.validate(mgf, now_us, known)

    def validate(
        self, mgf: MigrationGroupFile, now_us: int, known: Collection[str] | None = None
    ) -> ValidationResult:
        """Run steps 15.6.2 to 15.7.2 (15.6.1 is :func:`parse_mgf`). ``known``: the GroupIDs
        the DCC knows (None: those of ``profiles/cohorts.yaml``). Secrets of the installations
        that pass are held for :meth:`release`; anything held from an earlier file for the same
        installation IDs is dropped first."""
        known = group_ids() if known is None else known
        for inst in mgf.installations:
            self._held.pop(inst.installation_id, None)
        group_failure = None
        if mgf.group_id not in known:
            group_failure = Failure.of(
                Reason.GROUP_ID_UNKNOWN,
                f"{mgf.source}: GroupID {mgf.group_id!r} is not known "
                f"(known: {', '.join(sorted(known))}); the whole file fails",
            )
        results: list[InstallationResult] = []
        if group_failure is not None:
            for inst in mgf.installations:
                results.append(InstallationResult(inst.installation_id, inst.chf_eui,
                                                  (group_failure,)))
                self._refused[inst.installation_id] = str(group_failure)
            return ValidationResult(mgf.source, mgf.group_id, mgf.file_id, now_us,
                                    group_failure, tuple(results))
        eui_count = Counter(inst.chf_eui for inst in mgf.installations)
        id_count = Counter(inst.installation_id for inst in mgf.installations)
        for inst in mgf.installations:
            failures: list[Failure] = []
            failures += self._check_group(mgf, inst, known)
            failures += self._check_certificate(inst, now_us)
            if inst.previous_apn is None:
                failures.append(Failure.of(
                    Reason.PREVIOUS_APN_MISSING,
                    f"{inst.path}: no PreviousAPN; rollback would be impossible (TMAD 5.25)",
                ))
            secrets, decrypt_failures = self._decrypt(inst)
            failures += decrypt_failures
            if eui_count[inst.chf_eui] > 1:
                failures.append(Failure.of(
                    Reason.DUPLICATE_CHF_EUI,
                    f"{inst.path}: CHF {inst.chf_eui} appears {eui_count[inst.chf_eui]} times "
                    "in the file",
                ))
            if id_count[inst.installation_id] > 1:
                failures.append(Failure.of(
                    Reason.DUPLICATE_INSTALLATION_ID,
                    f"{inst.path}: InstallationID {inst.installation_id} appears "
                    f"{id_count[inst.installation_id]} times in the file",
                ))
            results.append(InstallationResult(inst.installation_id, inst.chf_eui,
                                              tuple(failures)))
            if failures:
                self._refused[inst.installation_id] = str(failures[0])
            elif secrets is not None:
                self._held[inst.installation_id] = secrets
                self._refused.pop(inst.installation_id, None)
        # a duplicated InstallationID must never leave secrets behind
        for installation_id, count in id_count.items():
            if count > 1:
                self._held.pop(installation_id, None)
        return ValidationResult(mgf.source, mgf.group_id, mgf.file_id, now_us, None,
                                tuple(results))

    @staticmethod
    def _check_group(
        mgf: MigrationGroupFile, inst: MgfInstallation, known: Collection[str]
    ) -> list[Failure]:
        if inst.group_id == mgf.group_id:
            return []
        cohort = cohort_name(inst.group_id) or "unknown cohort"
        return [Failure.of(
            Reason.GROUP_MISMATCH,
            f"{inst.path}/GroupID: {inst.group_id} ({cohort}) in a file for {mgf.group_id} "
            f"({cohort_name(mgf.group_id) or 'unknown cohort'})"
            + ("" if inst.group_id in known else "; and it is not a known GroupID"),
        )]

    def _check_certificate(self, inst: MgfInstallation, now_us: int) -> list[Failure]:
        where = f"{inst.path}/DeviceCertificate"
        try:
            cert = x509.load_der_x509_certificate(inst.device_certificate)
        except ValueError:
            return [Failure.of(Reason.CERT_UNPARSABLE, f"{where}: not a DER X.509 certificate")]
        try:
            cert.verify_directly_issued_by(self._device_ca)
        except (ValueError, TypeError, InvalidSignature):
            return [Failure.of(
                Reason.CERT_UNTRUSTED,
                f"{where}: not issued by the device CA {self._device_ca.subject.rfc4514_string()}",
            )]
        try:
            basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (x509.ExtensionNotFound, ValueError):
            basic, usage = None, None
        if basic is None or basic.ca or usage is None \
                or ExtendedKeyUsageOID.SERVER_AUTH not in usage:
            return [Failure.of(Reason.CERT_NOT_CHF,
                               f"{where}: not a CHF server certificate (CA flag or EKU)")]
        try:
            cert_eui = eui_of_chf_cert(cert)
        except PkiError as exc:
            return [Failure.of(Reason.CERT_NOT_CHF, f"{where}: {exc}")]
        failures = []
        if cert_eui != inst.chf_eui:
            failures.append(Failure.of(
                Reason.CERT_EUI_MISMATCH,
                f"{where}: certificate is for CHF {cert_eui}, the installation's CHF is "
                f"{inst.chf_eui}",
            ))
        try:
            check_validity(cert, now_us)
        except CertificateError as exc:
            failures.append(Failure.of(Reason.CERT_NOT_VALID_NOW, f"{where}: {exc}"))
        return failures

    def _decrypt(self, inst: MgfInstallation) -> tuple[_Secrets | None, list[Failure]]:
        failures: list[Failure] = []
        master: bytes | None = None
        info: bytes | None = None
        try:
            master = unseal(self._key, inst.encrypted_master_key, FIELD_MASTER_KEY, inst.chf_eui)
        except SecurityError as exc:
            failures.append(Failure.of(Reason.MASTER_KEY_UNDECRYPTABLE,
                                       f"{inst.path}/{FIELD_MASTER_KEY}: {exc}"))
        if master is not None and len(master) != KEY_BYTES:
            failures.append(Failure.of(
                Reason.MASTER_KEY_INVALID,
                f"{inst.path}/{FIELD_MASTER_KEY}: decrypts to {len(master)} bytes, "
                f"a master key is {KEY_BYTES}",
            ))
        try:
            info = unseal(self._key, inst.encrypted_s1sp_group_info, FIELD_GROUP_INFO,
                          inst.chf_eui)
        except SecurityError as exc:
            failures.append(Failure.of(Reason.GROUP_INFO_UNDECRYPTABLE,
                                       f"{inst.path}/{FIELD_GROUP_INFO}: {exc}"))
        prepayment_key: bytes | None = None
        if inst.encrypted_prepayment_key is not None:
            try:
                prepayment_key = unseal(self._key, inst.encrypted_prepayment_key,
                                        FIELD_PREPAYMENT_KEY, inst.chf_eui)
            except SecurityError as exc:
                failures.append(Failure.of(Reason.PREPAYMENT_KEY_UNDECRYPTABLE,
                                           f"{inst.path}/{FIELD_PREPAYMENT_KEY}: {exc}"))
            else:
                if len(prepayment_key) != KEY_BYTES:
                    failures.append(Failure.of(
                        Reason.PREPAYMENT_KEY_UNDECRYPTABLE,
                        f"{inst.path}/{FIELD_PREPAYMENT_KEY}: decrypts to "
                        f"{len(prepayment_key)} bytes, a prepayment key is {KEY_BYTES}"))
        if failures or master is None or info is None:
            return None, failures
        counters = {d.eui: d.utrn_counter for d in inst.devices if d.utrn_counter is not None}
        return _Secrets(inst.chf_eui, master, info, Prepayment(prepayment_key, counters)), []

    # ---- release (TMAD 5.16)

    def can_release(self, installation_id: str) -> bool:
        return installation_id in self._held

    def release(self, installation_id: str, now_us: int) -> tuple[bytes, bytes]:
        """(master_key, s1sp_group_info) for an installation that passed validation, recorded in
        :attr:`audit`; ReleaseRefused (recorded in :attr:`refusals`) otherwise."""
        secrets = self._held.get(installation_id)
        if secrets is None:
            self.refusals.append(ReleaseRecord(installation_id, now_us))
            why = self._refused.get(installation_id, "not in any validated Migration Group File")
            raise ReleaseRefused(installation_id, f"failed validation ({why})"
                                 if installation_id in self._refused else why)
        self.audit.append(ReleaseRecord(installation_id, now_us))
        return secrets.master_key, secrets.s1sp_group_info

    def prepayment(self, installation_id: str) -> Prepayment:
        """The prepayment handover of an installation whose secrets were released (the S1SP
        takes it with them); ReleaseRefused for one never released."""
        secrets = self._held.get(installation_id)
        if secrets is None or not any(r.installation_id == installation_id
                                      for r in self.audit):
            raise ReleaseRefused(installation_id, "its secrets were not released")
        return secrets.prepayment
