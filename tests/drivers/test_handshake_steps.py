"""The handshake on s1lab's own sessions: each flight is a step that says whether it is done
(no exception while it waits), and the step that finishes it reads what came with the peer's
last flight, but only when something did."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from emulator.drivers.libssl import Session
from emulator.drivers.tls import ServerTls, TlsEndpoint, client_context, server_context
from emulator.fleet import mint_fleet_pki
from emulator.pki import mint_chf
from emulator.wire.vocabulary import Role

NOW = 1_767_571_200_000_000


def _sides(tmp: Path, version: str, seed: int = 3) -> tuple[ssl.SSLContext, ServerTls]:
    tmp.mkdir(exist_ok=True)
    pki = mint_fleet_pki(tmp, seed, NOW)
    bundle = tmp / "chf.pem"
    bundle.write_bytes(mint_chf(pki.device_ca, "00-1B-C5-0C-00-00-00-01", NOW, 30,
                                seed).bundle_pem())
    server = server_context(bundle, pki.authorities.smso_ca.cert_pem(), max_version=version)
    cert, key = pki.headend_paths(Role.SMSO)
    return client_context(cert, key, pki.device_ca.cert_pem(), max_version=version), server


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_handshake_steps_say_when_they_wait_and_when_they_are_done(
        tmp_path: Path, version: str) -> None:
    client_ctx, server_ctx = _sides(tmp_path, version)
    c, s = client_ctx.tls.session(), server_ctx.session()  # type: ignore[attr-defined]
    assert isinstance(c, Session) and isinstance(s, Session)
    steps: list[tuple[str, bool]] = []
    c_done = s_done = False
    for _ in range(6):
        if not c_done:
            c_done = c.handshake_step()
            steps.append(("client", c_done))
            s.incoming.write(c.outgoing.read())
        if not s_done:
            s_done = s.handshake_step()
            steps.append(("server", s_done))
            c.incoming.write(s.outgoing.read())
    assert c_done and s_done
    # Each side waited at least once, and finished exactly once.
    for side in ("client", "server"):
        mine = [done for who, done in steps if who == side]
        assert mine[-1] and not any(mine[:-1]) and len(mine) >= 2
    assert c.version() == s.version() == f"TLSv{version}"
    assert c.handshake_step() and s.handshake_step()  # done stays done
    # What the server sent last (a TLS 1.3 ticket) waits in the client's BIO; not the server.
    assert c.input_pending() == (version == "1.3")
    assert not s.input_pending()
    with pytest.raises(ssl.SSLWantReadError):
        s.read(100)


def test_a_failed_handshake_step_raises_the_ssl_error(tmp_path: Path) -> None:
    client_ctx, _ = _sides(tmp_path, "1.3")
    _, stranger = _sides(tmp_path / "other", "1.3", seed=4)  # another PKI's CHF
    c, s = client_ctx.tls.session(), stranger.session()  # type: ignore[attr-defined]
    assert not c.handshake_step()
    s.incoming.write(c.outgoing.read())
    assert not s.handshake_step()
    c.incoming.write(s.outgoing.read())
    with pytest.raises(ssl.SSLError) as info:
        c.handshake_step()
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value.reason)


def test_records_that_come_with_the_last_flight_are_read_at_once(tmp_path: Path) -> None:
    client_ctx, server_ctx = _sides(tmp_path, "1.3")
    client, server = TlsEndpoint(client_ctx, False), TlsEndpoint(server_ctx, True)
    hello = client.start().to_network
    flight = server.receive(hello).to_network
    finished = client.receive(flight).to_network
    # The client's first record right behind its Finished, in the same delivery.
    record = client.send(b"first request")
    out = server.receive(finished + record)
    assert out.handshake_completed
    assert out.plaintext == [b"first request"]
    # ... and alone, the last flight leaves nothing to read.
    client2, server2 = TlsEndpoint(client_ctx, False), TlsEndpoint(server_ctx, True)
    finished2 = client2.receive(server2.receive(client2.start().to_network).to_network)
    out2 = server2.receive(finished2.to_network)
    assert out2.handshake_completed and out2.plaintext == [] and out2.to_network  # the ticket
    assert client2.receive(out2.to_network).handshake_completed  # accepted: the ticket read
