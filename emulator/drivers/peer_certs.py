"""Peer certificates parsed once per certificate, not once per handshake.

Every CHF of a fleet is dialled by the same one or two head-end client certificates: parsing
the DER again at each handshake was a visible share of a reconnect storm's CPU. The parsed
certificate is kept for the few most recent DER encodings; what is judged of it is cached in
:mod:`emulator.pki` (the client-certificate profile and the issuer, once per certificate),
and validity is still judged against the run's clock at every handshake.

A head-end meets a different CHF certificate at each handshake: the few kept entries are
recycled and it parses each one, as before.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

#: Certificates kept: enough for every head-end role, far fewer than a fleet's CHFs.
KEEP = 64

_parsed: dict[bytes, x509.Certificate] = {}
#: The DER each kept certificate was parsed from, by the object (kept above, so its id is
#: not reused while it is here): ``public_bytes`` encodes the certificate again (~20 µs).
_ders: dict[int, bytes] = {}


def certificate(der: bytes) -> x509.Certificate:
    """``der`` parsed (ValueError if it is not a certificate, as the parser raises)."""
    cert = _parsed.get(der)
    if cert is None:
        cert = x509.load_der_x509_certificate(der)
        if len(_parsed) >= KEEP:
            oldest = next(iter(_parsed))  # the oldest goes first
            del _ders[id(_parsed.pop(oldest))]
        _parsed[der] = cert
        _ders[id(cert)] = der
    return cert


def der_of(cert: x509.Certificate) -> bytes:
    """The DER encoding of ``cert``: the bytes it was parsed from when it is one of the kept
    peer certificates, else encoded again."""
    der = _ders.get(id(cert))
    return cert.public_bytes(Encoding.DER) if der is None else der
