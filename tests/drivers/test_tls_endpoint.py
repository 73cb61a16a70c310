"""Which TLS session a :class:`~emulator.drivers.tls_endpoint.TlsEndpoint` runs for each context:
s1lab's own (libssl) for a CHF's ``ServerTls`` and a head-end's ``ClientTls``, Python's
``ssl.SSLObject`` for any other ``ssl.SSLContext``; and that each kind completes a mutual
handshake with the other and carries frames both ways."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from emulator.core.timebase import SECOND
from emulator.drivers import tls
from emulator.drivers.libssl import Session
from emulator.drivers.tls import ALPN, ServerTls, client_context, server_context
from emulator.drivers.tls_endpoint import TlsEndpoint
from emulator.errors import TransportError
from emulator.fleet import FleetPki, mint_fleet_pki
from emulator.pki import mint_chf
from emulator.wire.vocabulary import Role

EUI = "00-1B-C5-0C-00-00-00-0B"
NOW = 1_767_654_000 * SECOND


def _contexts(tmp: Path) -> tuple[FleetPki, ServerTls, tls.ClientTls]:
    pki = mint_fleet_pki(tmp, 7, NOW)
    chf = mint_chf(pki.device_ca, EUI, NOW, 365, 7)
    bundle = tmp / "chf.pem"
    bundle.write_bytes(chf.bundle_pem())
    sctx = server_context(bundle, pki.authorities.smso_ca.cert_pem())
    cert, key = pki.headend_paths(Role.SMSO)
    return pki, sctx, client_context(cert, key, pki.device_ca.cert_pem())


def _plain_client(pki: FleetPki) -> ssl.SSLContext:
    """A head-end's context of Python's ssl only (no libssl context beside it)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    cert, key = pki.headend_paths(Role.SMSO)
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(cadata=pki.device_ca.cert_pem().decode())
    ctx.set_alpn_protocols([ALPN])
    return ctx


def _handshake(client: TlsEndpoint, server: TlsEndpoint) -> None:
    to_server = client.start().to_network
    for _ in range(10):  # the flights, and the TLS 1.3 ticket
        out = server.receive(to_server)
        assert out.error is None
        back = client.receive(out.to_network) if out.to_network else None
        assert back is None or back.error is None
        to_server = back.to_network if back is not None else b""
        if server.established and client.established and not to_server:
            return
    raise AssertionError("the handshake did not finish")


def test_s1lab_contexts_run_libssl_sessions_and_others_ssl_objects(tmp_path: Path) -> None:
    pki, sctx, cctx = _contexts(tmp_path)
    assert type(TlsEndpoint(sctx, True)._obj) is Session  # noqa: SLF001
    assert type(TlsEndpoint(cctx, False)._obj) is Session  # noqa: SLF001
    assert isinstance(TlsEndpoint(_plain_client(pki), False)._obj,  # noqa: SLF001
                      ssl.SSLObject)
    with pytest.raises(TransportError, match="server"):
        TlsEndpoint(sctx, False)


@pytest.mark.parametrize("plain", [False, True], ids=["client-tls", "ssl-context"])
def test_each_kind_of_client_handshakes_with_a_chf_and_carries_frames(tmp_path: Path,
                                                                      plain: bool) -> None:
    pki, sctx, cctx = _contexts(tmp_path)
    client = TlsEndpoint(_plain_client(pki) if plain else cctx, False)
    server = TlsEndpoint(sctx, True)
    _handshake(client, server)
    assert client.version == server.version == "TLSv1.3"
    assert server.peer_certificate() is not None and client.peer_certificate() is not None
    for i in range(3):
        out = server.receive(client.send(b"request %d" % i))
        assert b"".join(out.plaintext) == b"request %d" % i
        back = client.receive(server.send(b"reply %d" % i))
        assert b"".join(back.plaintext) == b"reply %d" % i
    end = server.receive(client.close())
    assert end.closed and server.closed
