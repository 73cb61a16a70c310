"""Migrate (or roll back) a CHF reached over TCP: the S1SP's key rotation and certificate swap
against ``s1lab serve`` or a real CHF, with the keys kept in the PKI folder's keystore.

On a bench the S1SP's session before the swap rides on a credential the CHF already trusts
(the SMSO head-end's, standing in for the migration credential of the S1SP group
information); the steps themselves are authorised by the CHF's Master Key from the keystore.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.keywrap import aes_key_wrap
from cryptography.hazmat.primitives.serialization import Encoding

from emulator.capture.addresses import headend_address
from emulator.drivers.capture import WanCapture
from emulator.drivers.clock import current_clock
from emulator.drivers.link import LinkEnd
from emulator.drivers.tcp import tcp_connect
from emulator.errors import PkiError, RemoteProtocolError, S1labError, TransportError
from emulator.keystore import ChfKeys, RoleKeys
from emulator.pki import PkiFolder
from emulator.wire import wan
from emulator.wire.vocabulary import ErrorCode, MessageType, Role
from harness.headend import HeadEndSession, connect, headend_from_pki
from harness.jsonable import jsonable

S1SP_KEY_ID = 2
Step = Literal["rotate", "swap", "sim"]


@dataclass(frozen=True)
class Evidence:
    """Where the sessions' TLS secrets and bytes go (``--keylog``, ``--capture``)."""

    keylog: Path | None = None
    wan: WanCapture | None = None


async def _session(pki: PkiFolder, role: Literal["smso", "s1sp"], host: str, port: int,
                   timeout_s: float, evidence: Evidence = Evidence()) -> HeadEndSession:
    headend = headend_from_pki(pki, role, evidence.keylog)
    clock = current_clock()
    tcp = await tcp_connect(host, port)
    link: LinkEnd = tcp
    if evidence.wan is not None:
        link = evidence.wan.tap_tcp(tcp, clock, dialled=True,
                                    fallback=(headend_address(role), bytes((100, 64, 0, 0))))
    return await connect(link, headend, clock, timeout_s, timeout_s)


async def _any_session(pki: PkiFolder, host: str, port: int,
                       timeout_s: float, evidence: Evidence = Evidence()) -> HeadEndSession:
    """Whichever head-end certificate the CHF trusts now."""
    errors = []
    for role in ("s1sp", "smso"):
        try:
            return await _session(pki, role, host, port, timeout_s, evidence)
        except TransportError as exc:
            errors.append(f"{role}: {exc}")
    raise TransportError("no head-end certificate is accepted: " + "; ".join(errors))


async def _rotate(session: HeadEndSession, pki: PkiFolder, keys: ChfKeys) -> None:
    """Rotate the CHF's keys to new S1SP keys, never leaving it with keys nobody holds.

    The new keys go into the keystore (written atomically and synced) *before* the CHF is asked
    to take them: if they cannot be stored, nothing is sent. If the CHF refuses the rotation,
    the keystore is put back as it was. If the answer never comes (the session broke), the
    outcome is unknown and the keystore keeps both the old and the new keys."""
    path = pki.directory / "keystore.json"
    new = RoleKeys(S1SP_KEY_ID, os.urandom(16), os.urandom(16))
    wrapped = aes_key_wrap(keys.master_key, new.command_key + new.response_key)
    pki.keystore.add(keys.with_role("s1sp", new))
    try:
        pki.keystore.save(path)
    except PkiError as exc:
        pki.keystore.add(keys)
        raise PkiError(f"{exc}; the new keys could not be stored, so the CHF was not asked to "
                       "rotate (it still holds its old keys)") from None
    unknown = "the rotation's outcome is unknown: the keystore holds both the old and new keys"
    try:
        await session.master_request(MessageType.ROTATE_KEYS,
                                     wan.RotateKeys(Role.S1SP, new.key_id, wrapped))
    except RemoteProtocolError as exc:
        if exc.code in (0, ErrorCode.INTERNAL_ERROR):  # a reply out of turn, or the CHF broke
            raise RemoteProtocolError(f"{exc}; {unknown}", code=exc.code) from None
        pki.keystore.add(keys)  # refused (steps are atomic): the CHF kept its old keys
        pki.keystore.save(path)
        raise
    except (TransportError, S1labError) as exc:  # no reply, or one that failed its checks
        raise TransportError(f"{exc}; {unknown}") from None


async def migrate_remote(*, pki_dir: Path, host: str, port: int, steps: tuple[Step, ...],
                         apn: str, service_profile: str, timeout_s: float = 30.0,
                         evidence: Evidence = Evidence()) -> dict[str, object]:
    pki = PkiFolder.load(pki_dir)
    session = await _any_session(pki, host, port, timeout_s, evidence)
    eui = session.chf_eui
    keys = pki.keystore.get(eui)
    session.master_key = keys.master_key
    done: list[str] = []
    try:
        if "rotate" in steps:
            await _rotate(session, pki, keys)
            done.append("rotate")
        if "swap" in steps:
            ca = pki.s1sp_ca.cert.public_bytes(Encoding.DER)
            await session.master_request(MessageType.SWAP_CERTIFICATE,
                                         wan.SwapCertificate(Role.S1SP, ca))
            done.append("swap")
        state = await session.master_request(MessageType.READ_SECURITY_STATE)
        if "sim" in steps:
            await session.close()
            s1sp = await _session(pki, "s1sp", host, port, timeout_s, evidence)
            try:
                state = await s1sp.request(MessageType.MOVE_SIM, None,
                                           wan.MoveSim(apn, service_profile))
            finally:
                await s1sp.close()
            done.append("sim")
    finally:
        await session.close()
    return {"chf": eui, "steps": done, "security_state": jsonable(state)}


async def rollback_remote(*, pki_dir: Path, host: str, port: int, apn: str,
                          service_profile: str, timeout_s: float = 30.0,
                          evidence: Evidence = Evidence()) -> dict[str, object]:
    pki = PkiFolder.load(pki_dir)
    session = await _any_session(pki, host, port, timeout_s, evidence)
    try:
        session.master_key = pki.keystore.get(session.chf_eui).master_key
        try:
            state = await session.master_request(MessageType.ROLLBACK,
                                                 wan.Rollback(apn, service_profile))
        except TransportError:
            state = None  # the WAN drops as the SIM moves back
    finally:
        await session.close()
    if state is None:
        raise S1labError("rollback sent; the CHF dropped the session as its SIM moved back")
    return {"chf": session.chf_eui, "security_state": jsonable(state)}
