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

#: Certificates kept: enough for every head-end role, far fewer than a fleet's CHFs.
KEEP = 64

_parsed: dict[bytes, x509.Certificate] = {}


def certificate(der: bytes) -> x509.Certificate:
    """``der`` parsed (ValueError if it is not a certificate, as the parser raises)."""
    cert = _parsed.get(der)
    if cert is None:
        cert = x509.load_der_x509_certificate(der)
        if len(_parsed) >= KEEP:
            del _parsed[next(iter(_parsed))]  # the oldest goes first
        _parsed[der] = cert
    return cert
