"""The TLS data path's record reads (:meth:`emulator.drivers.libssl.Session.receive`).

A whole record received on a clean session is read with one ``SSL_read`` and no look at the
output; everything else (two records in one write, a record cut over two writes, a close)
takes the general path. Each way, the plaintext is what was sent, in order, and a close is a
close.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.core.timebase import SECOND
from emulator.drivers.tls import TlsEndpoint, client_context, server_context
from emulator.fleet import mint_fleet_pki
from emulator.pki import mint_chf
from emulator.wire.vocabulary import Role

EUI = "00-1B-C5-0C-00-00-00-0A"
NOW = 1_767_654_000 * SECOND


def _pair(tmp: Path, version: str) -> tuple[TlsEndpoint, TlsEndpoint]:
    pki = mint_fleet_pki(tmp, 5, NOW)
    chf = mint_chf(pki.device_ca, EUI, NOW, 365, 5)
    bundle = tmp / "chf.pem"
    bundle.write_bytes(chf.bundle_pem())
    sctx = server_context(bundle, pki.authorities.smso_ca.cert_pem(), version, version)
    cert, key = pki.headend_paths(Role.SMSO)
    cctx = client_context(cert, key, pki.device_ca.cert_pem(), version, version)
    server, client = TlsEndpoint(sctx, server_side=True), TlsEndpoint(cctx, server_side=False)
    to_server = client.start().to_network
    for _ in range(10):  # the handshake's flights, and the TLS 1.3 ticket
        out = server.receive(to_server)
        to_server = client.receive(out.to_network).to_network if out.to_network else b""
        if server.established and client.established and not to_server:
            break
    assert server.established and client.established
    return server, client


def _records(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = 5 + int.from_bytes(data[i + 3:i + 5], "big")
        out.append(data[i:i + n])
        i += n
    return out


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_records_read_whole_coalesced_and_cut_give_what_was_sent(tmp_path: Path,
                                                                 version: str) -> None:
    server, client = _pair(tmp_path, version)
    session = server._session  # noqa: SLF001
    assert session is not None
    got: list[bytes] = []
    sent: list[bytes] = []

    def send(text: bytes) -> bytes:
        sent.append(text)
        return client.send(text)

    for i in range(3):  # one whole record a write: after the first, the one-read path
        out = server.receive(send(b"frame %d" % i))
        assert not out.to_network and not out.closed
        got += out.plaintext
    assert session._clean  # noqa: SLF001
    both = send(b"first of two") + send(b"second of two")
    assert len(_records(both)) == 2
    out = server.receive(both)  # two records in one write: the general path
    got += out.plaintext
    cut = send(b"a record cut in two" * 20)
    out = server.receive(cut[:7])  # the header and a little: nothing to read yet
    assert out.plaintext == [] and not out.closed
    assert not session._clean  # noqa: SLF001
    got += server.receive(cut[7:]).plaintext
    got += server.receive(send(b"after the cut")).plaintext
    assert b"".join(got) == b"".join(sent)
    close = client.close()
    out = server.receive(close)
    assert out.closed and out.plaintext == []
