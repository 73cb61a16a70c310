"""Key logs: NSS lines written by OpenSSL for MemoryBIO sessions, files 0600, env and options."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest

from emulator.capture.keylog import ENV, enable_keylog, keylog_path, prepare_secret_file
from emulator.drivers.tls import ALPN, TlsEndpoint, client_context, server_context
from emulator.errors import CaptureError
from emulator.fleet import mint_fleet_pki
from emulator.pki import mint_chf
from emulator.wire.vocabulary import Role

NOW = 1_767_571_200_000_000
EUI = "00-1B-C5-0C-00-00-00-01"


def _contexts(tmp: Path, version: str, client_log: Path | None = None,
              server_log: Path | None = None) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    pki = mint_fleet_pki(tmp, 3, NOW)
    bundle = tmp / "chf.pem"
    bundle.write_bytes(mint_chf(pki.device_ca, EUI, NOW, 30, 3).bundle_pem())
    cert, key = pki.headend_paths(Role.SMSO)
    return (client_context(cert, key, pki.device_ca.cert_pem(), version, version,
                           keylog=client_log),
            server_context(bundle, pki.authorities.smso_ca.cert_pem(), version, version,
                           keylog=server_log))


def _handshake(cctx: ssl.SSLContext, sctx: ssl.SSLContext) -> tuple[TlsEndpoint, TlsEndpoint]:
    client, server = TlsEndpoint(cctx, False), TlsEndpoint(sctx, True)
    to_server = client.start().to_network
    for _ in range(6):
        out = server.receive(to_server)
        back = client.receive(out.to_network)
        to_server = back.to_network
        if client.established and server.established and not to_server:
            break
    assert client.established and server.established
    return client, server


@pytest.mark.parametrize(("version", "labels"), [
    ("1.2", {"CLIENT_RANDOM"}),
    ("1.3", {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
             "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"}),
])
def test_both_sides_log_nss_lines_for_memory_bio_sessions(
        tmp_path: Path, version: str, labels: set[str]) -> None:
    client_log, server_log = tmp_path / "client.keys", tmp_path / "server.keys"
    client, server = _handshake(*_contexts(tmp_path, version, client_log, server_log))
    assert client._obj.selected_alpn_protocol() == ALPN == server._obj.selected_alpn_protocol()
    for path in (client_log, server_log):
        assert path.stat().st_mode & 0o777 == 0o600
        lines = [line.split(" ") for line in path.read_text().splitlines()
                 if not line.startswith("#")]
        assert {label for label, _, _ in lines} == labels
        assert all(len(bytes.fromhex(random)) == 32 and bytes.fromhex(secret)
                   for _, random, secret in lines)
    assert client_log.read_text().splitlines()[-1] in server_log.read_text()


def test_sslkeylogfile_reaches_head_end_contexts_not_chf_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_log = tmp_path / "env.keys"
    monkeypatch.setenv(ENV, str(env_log))
    assert keylog_path() == env_log and keylog_path(tmp_path / "x") == tmp_path / "x"
    _handshake(*_contexts(tmp_path, "1.3"))
    assert "CLIENT_TRAFFIC_SECRET_0" in env_log.read_text()
    lines = len(env_log.read_text().splitlines())
    # An explicit key log wins over the environment; a CHF context never reads it.
    explicit = tmp_path / "explicit.keys"
    _handshake(*_contexts(tmp_path, "1.3", client_log=explicit))
    assert len(env_log.read_text().splitlines()) == lines
    assert "CLIENT_TRAFFIC_SECRET_0" in explicit.read_text()
    monkeypatch.delenv(ENV)
    assert keylog_path() is None


def test_secret_files_are_0600_regular_and_not_followed(tmp_path: Path) -> None:
    loose = tmp_path / "loose.keys"
    loose.write_text("# old\n")
    loose.chmod(0o644)
    prepare_secret_file(loose)
    assert loose.stat().st_mode & 0o777 == 0o600 and loose.read_text() == "# old\n"
    target = tmp_path / "target"
    target.write_text("")
    link = tmp_path / "link.keys"
    link.symlink_to(target)
    with pytest.raises(CaptureError, match="link.keys"):
        prepare_secret_file(link)
    fifo = tmp_path / "fifo.keys"
    os.mkfifo(fifo)
    with pytest.raises(CaptureError, match="fifo.keys"):
        enable_keylog(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), fifo)
    with pytest.raises(CaptureError, match="regular file"):
        prepare_secret_file(Path("/dev/null"))
    with pytest.raises(CaptureError, match="cannot write"):
        prepare_secret_file(tmp_path / "missing" / "x.keys")
