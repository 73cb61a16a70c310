"""A shard's credentials from a `s1lab pki init` folder: only its own CHFs' files are read.

:class:`emulator.pki.PkiFolder` loads and cross-checks every CHF of a folder (about 1.5 ms and
8 KiB each); a shard of 10,000 in a folder of a million cannot afford that. Here the CAs and the
keystore are loaded, and for each CHF of the slice only its bundle (certificate and key, as the
CHF's SSLContext will load it) is located and its certificate's fingerprint taken from the PEM.
A bundle that does not hold the right key fails when its SSLContext loads it.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from emulator.errors import PkiError
from emulator.keystore import ChfKeys, Keystore
from emulator.pki import load_pem_cert

_BEGIN, _END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"


@dataclass(frozen=True, slots=True)
class ChfFiles:
    eui: str
    bundle: Path
    fingerprint: str  # SHA-256 of the DER certificate, AA:BB:... as openssl prints it


class ShardCredentials:
    def __init__(self, directory: Path) -> None:
        if not (directory / "chf").is_dir():
            raise PkiError(f"{directory}: no PKI folder (run `s1lab pki init {directory}`)")
        self.directory = directory
        self.smso_ca = self._ca("smso")
        self.device_ca = self._ca("device")
        self.keystore = Keystore.load(directory / "keystore.json")

    def _ca(self, name: str) -> x509.Certificate:
        path = self.directory / f"{name}-ca.pem"
        try:
            return load_pem_cert(path.read_bytes(), str(path))
        except FileNotFoundError:
            raise PkiError(f"{path}: missing (run `s1lab pki init {self.directory}`)") from None

    def chf(self, eui: str) -> ChfFiles:
        bundle = self.directory / "chf" / eui / "chf-bundle.pem"
        try:
            text = bundle.read_text(encoding="ascii")
        except FileNotFoundError:
            raise PkiError(f"{self.directory}: no certificate for CHF {eui}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PkiError(f"{bundle}: cannot read: {exc}") from None
        start, end = text.find(_BEGIN), text.find(_END)
        if start < 0 or end < start:
            raise PkiError(f"{bundle}: holds no PEM certificate")
        der = ssl.PEM_cert_to_DER_cert(text[start:end + len(_END)])
        digest = hashlib.sha256(der).hexdigest().upper()
        return ChfFiles(eui, bundle, ":".join(digest[i:i + 2] for i in range(0, 64, 2)))

    def keys(self, eui: str) -> ChfKeys:
        return self.keystore.get(eui)
