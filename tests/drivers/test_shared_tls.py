"""CHFs on one shared OpenSSL server context: each presents its own certificate, refusals stay
typed, a trust swap moves a CHF to the context of its new trust set."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from emulator.drivers.clock import current_clock, run_virtual
from emulator.drivers.libssl import Session
from emulator.drivers.scheduler import Scheduler
from emulator.drivers.tls import server_context
from emulator.errors import CertificateError, TransportError
from emulator.fleet import Fleet, mint_fleet_pki
from emulator.pki import mint_chf
from emulator.profiles import default_dmc
from emulator.trace import Trace
from emulator.wire.vocabulary import Role
from harness.headend import HeadEnd, connect


def test_chfs_share_one_server_context_and_each_presents_its_own_certificate() -> None:
    async def main() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]], int]:
        clock = current_clock()
        fleet = Fleet(default_dmc(), 3, 4, Scheduler(clock), Trace(None), han="direct")
        headend = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for)
        seen, expected = [], []
        for inst in fleet.installations:
            session = await connect(fleet.link_to(inst).a, headend, clock)
            seen.append((session.chf_eui, session.peer_fingerprint))
            cert = fleet.chf_certificate(inst)
            expected.append((inst.chf.eui, hashlib.sha256(cert.public_bytes(Encoding.DER))
                             .digest()))
            await session.close()
        contexts = {id(inst.wan.tls.shared_context) for inst in fleet.installations}
        fleet.close()
        return seen, expected, len(contexts)

    seen, expected, contexts = run_virtual(main())
    assert seen == expected
    assert len({eui for eui, _ in seen}) == 3
    assert contexts == 1  # one OpenSSL context for the three CHFs


def test_a_head_end_the_chf_does_not_trust_fails_connect_with_a_transport_error() -> None:
    async def main() -> str:
        clock = current_clock()
        fleet = Fleet(default_dmc(), 2, 4, Scheduler(clock), Trace(None), han="direct")
        # The S1SP's certificate: these CHFs trust the SMSO CA only (before migration).
        s1sp = HeadEnd(Role.S1SP, fleet.headend_context(Role.S1SP), fleet.keys_for)
        try:
            with pytest.raises(TransportError) as info:
                await connect(fleet.link_to(fleet.installations[0]).a, s1sp, clock)
            # ... and the shared context still serves the head-end it trusts.
            smso = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for)
            session = await connect(fleet.link_to(fleet.installations[0]).a, smso, clock)
            assert session.chf_eui == fleet.installations[0].chf.eui
            await session.close()
        finally:
            fleet.close()
        return str(info.value)

    message = run_virtual(main())
    assert "closed" in message and "TLS" in message, message


def test_a_trust_swap_moves_a_chf_to_the_shared_context_of_its_new_trust(tmp_path: Path) -> None:
    now = 1_767_571_200_000_000
    pki = mint_fleet_pki(tmp_path, 2, now)
    smso, s1sp = pki.authorities.smso_ca.cert_pem(), pki.authorities.s1sp_ca.cert_pem()
    sides = []
    for i in (1, 2):
        bundle = tmp_path / f"chf{i}.pem"
        bundle.write_bytes(mint_chf(pki.device_ca, f"00-1B-C5-0C-00-00-00-0{i}", now, 30,
                                    2).bundle_pem())
        sides.append(server_context(bundle, smso))
    assert sides[0].shared_context is sides[1].shared_context
    swapped = [side.with_trust([s1sp]) for side in sides]
    assert swapped[0].shared_context is swapped[1].shared_context
    assert swapped[0].shared_context is not sides[0].shared_context


def test_a_bundle_whose_key_is_not_the_certificates_is_refused_typed(tmp_path: Path) -> None:
    now = 1_767_571_200_000_000
    pki = mint_fleet_pki(tmp_path, 2, now)
    one = mint_chf(pki.device_ca, "00-1B-C5-0C-00-00-00-01", now, 30, 2)
    other = mint_chf(pki.device_ca, "00-1B-C5-0C-00-00-00-02", now, 30, 2)
    bundle = tmp_path / "mixed.pem"
    bundle.write_bytes(one.cert_pem() + other.key_pem())
    with pytest.raises(CertificateError, match="does not match"):
        server_context(bundle, pki.authorities.smso_ca.cert_pem())
    with pytest.raises(CertificateError, match="cannot load"):
        server_context(tmp_path / "missing.pem", pki.authorities.smso_ca.cert_pem())


def test_a_head_end_session_gives_back_its_buffers_once_the_chf_accepted_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    released: list[bool] = []
    original = Session.release_buffers

    def spy(self: Session) -> None:
        released.append(self.version() is not None)
        original(self)

    monkeypatch.setattr(Session, "release_buffers", spy)

    async def main() -> tuple[int, int]:
        clock = current_clock()
        fleet = Fleet(default_dmc(), 1, 4, Scheduler(clock), Trace(None), han="direct")
        headend = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for)
        link = fleet.link_to(fleet.installations[0])
        task = asyncio.ensure_future(connect(link.a, headend, clock))
        await asyncio.sleep(0.001)  # the handshake is under way: nothing given back yet
        before = len(released)
        session = await task
        after = len(released)
        await session.close()
        fleet.close()
        return before, after

    before, after = run_virtual(main())
    # Once, on the head-end side (the ticket read), with the session established; the CHF's
    # side keeps nothing after its handshake.
    assert (before, after) == (0, 1) and released == [True]
