"""TLS over MemoryBIO on an in-memory link, with s1lab's own PKI: mutual auth, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from emulator.core.timebase import DAY, HOUR
from emulator.drivers.clock import current_clock, run_virtual
from emulator.drivers.memory import MemoryLink
from emulator.drivers.scheduler import Scheduler
from emulator.drivers.tls import client_context, server_context
from emulator.drivers.wan_channel import WanChannel
from emulator.fleet import mint_fleet_pki
from emulator.pki import mint_chf
from emulator.wire.vocabulary import Role

EUI = "00-1B-C5-0C-00-00-00-09"


async def _pair(tmp: Path, role: Role, version: str, cert_days: int = 365,
                skew_us: int = 0) -> tuple[WanChannel, WanChannel, list[str]]:
    clock = current_clock()
    sched = Scheduler(clock)
    now = clock.now_us()
    pki = mint_fleet_pki(tmp, 5, now)
    chf = mint_chf(pki.device_ca, EUI, now + skew_us, cert_days, 5)
    bundle = tmp / "chf.pem"
    bundle.write_bytes(chf.bundle_pem())
    sctx = server_context(bundle, pki.authorities.smso_ca.cert_pem(), version, version)
    cert, key = pki.headend_paths(role)
    cctx = client_context(cert, key, pki.device_ca.cert_pem(), version, version)
    link = MemoryLink(sched, 100_000)
    server = WanChannel(link.b, sctx, server_side=True, clock=clock)
    client = WanChannel(link.a, cctx, server_side=False, clock=clock)
    log: list[str] = []
    for name, ch in (("server", server), ("client", client)):
        ch.on_established = lambda c, n=name: log.append(f"{n} up {_cn(c)}")
        ch.on_closed = lambda r, n=name: log.append(f"{n} closed: {r}")
        ch.on_frame = lambda f, n=name: log.append(f"{n} got {f!r}")
    client.start()
    return server, client, log


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_mutual_tls_then_frames_both_ways(tmp_path: Path, version: str) -> None:
    async def main() -> list[str]:
        import asyncio

        server, client, log = await _pair(tmp_path, Role.SMSO, version)
        await asyncio.sleep(2)
        assert server.tls_version == client.tls_version == f"TLSv{version}"
        client.send_frame(b"ping")
        await asyncio.sleep(1)
        server.send_frame(b"pong")
        await asyncio.sleep(1)
        client.close()
        await asyncio.sleep(1)
        return log

    log = run_virtual(main())
    assert "client up " + EUI in log
    assert "server up smso-headend.s1lab.test" in log
    assert "server got b'ping'" in log and "client got b'pong'" in log
    assert log[-1] == "server closed: closed by peer"


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_headend_from_untrusted_ca_is_refused(tmp_path: Path, version: str) -> None:
    async def main() -> list[str]:
        import asyncio

        server, client, log = await _pair(tmp_path, Role.S1SP, version)
        await asyncio.sleep(2)
        assert not server.established
        return log

    log = run_virtual(main())
    assert any(e.startswith("server closed: TLS:") for e in log)
    assert any(e.startswith("client closed") for e in log)
    assert not any(e.startswith("server up") for e in log)


def test_certificate_validity_is_judged_by_the_run_clock(tmp_path: Path) -> None:
    """A CHF certificate that is not yet valid on the *run's* clock is refused, although
    OpenSSL's own (machine-clock) check is off."""

    async def main() -> list[str]:
        import asyncio

        _, _, log = await _pair(tmp_path, Role.SMSO, "1.3", skew_us=10 * DAY + HOUR)
        await asyncio.sleep(2)
        return log

    log = run_virtual(main())
    assert any("not yet valid" in e for e in log), log
