"""Peer certificates judged once per certificate, not once per handshake.

Every CHF of a fleet is dialled by the same one or two head-end client certificates: parsing
the DER and judging the certificate again at each handshake was a tenth of a reconnect storm's
CPU. What does not depend on the clock (the parsed certificate, whether it can be a head-end's
client certificate, which trust anchor issued it) is kept for the few most recent certificates;
validity is still judged against the run's clock at every handshake, from the kept window.

A head-end meets a different CHF certificate at each handshake: the few kept entries are
recycled and it parses each one, as before.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from cryptography import x509

from emulator.core.timebase import from_datetime
from emulator.errors import CertificateError
from emulator.pki import check_client_certificate, check_validity

#: Certificates kept per cache: enough for every head-end role, far fewer than a fleet's CHFs.
KEEP = 64

K = TypeVar("K")
V = TypeVar("V")


class _Recent(Generic[K, V]):
    """At most ``KEEP`` entries; the oldest goes first."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> V:
        if len(self._items) >= KEEP:
            del self._items[next(iter(self._items))]
        self._items[key] = value
        return value


_parsed: _Recent[bytes, x509.Certificate] = _Recent()
_windows: _Recent[x509.Certificate, tuple[int, int]] = _Recent()
_client_verdicts: _Recent[x509.Certificate, str] = _Recent()  # "" when it can be a client
_issuers: _Recent[tuple[x509.Certificate, x509.Certificate], bool] = _Recent()


def certificate(der: bytes) -> x509.Certificate:
    """``der`` parsed (ValueError if it is not a certificate, as the parser raises)."""
    cert = _parsed.get(der)
    return cert if cert is not None else _parsed.put(der, x509.load_der_x509_certificate(der))


def judge_validity(cert: x509.Certificate, now: int) -> None:
    """:func:`emulator.pki.check_validity`, from the certificate's kept validity window."""
    window = _windows.get(cert)
    if window is None:
        window = _windows.put(cert, (from_datetime(cert.not_valid_before_utc),
                                     from_datetime(cert.not_valid_after_utc)))
    if not window[0] <= now <= window[1]:
        check_validity(cert, now)  # raises, with its message


def judge_client(cert: x509.Certificate, now: int) -> None:
    """CertificateError unless ``cert`` is valid at ``now`` and can be a head-end's client
    certificate (:func:`emulator.pki.check_client_certificate`)."""
    judge_validity(cert, now)
    verdict = _client_verdicts.get(cert)
    if verdict is None:
        try:
            check_client_certificate(cert)
            verdict = _client_verdicts.put(cert, "")
        except CertificateError as exc:
            verdict = _client_verdicts.put(cert, str(exc))
    if verdict:
        raise CertificateError(verdict)


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``cert`` names ``ca``'s subject as its issuer."""
    verdict = _issuers.get((cert, ca))
    if verdict is None:
        verdict = _issuers.put((cert, ca), cert.issuer == ca.subject)
    return verdict
