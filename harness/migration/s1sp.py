"""The S1SP's Device Installation: the steps that move one SMETS1 installation to the DCC.

Over the WAN protocol, on the run's clock (domain.md §3.3 steps 7-11):

1. pre-flight through the SMSO (still the owner): MA112 (WAN contact in the last 7 days, as
   the SMETS1 CSP saw it; a CHF asleep now is waited for) and GT01 (the CHF heard the GSME in
   the last 72 hours), by the rule of :func:`harness.migration.rules.preflight`;
2. secret release by the DCO (the Master Key; TMAD 5.16) starts the GroupID timeout
   (``device_installation_timeout_h`` in ``profiles/cohorts.yaml``);
3. a TLS session with the migration credential from the S1SP group information, pinned to the
   MGF's DeviceCertificate;
4. key rotation authorised by the Master Key: the SMSO's keys stop working;
5. certificate swap: the CHF now trusts the S1SP CA, so the SMSO can no longer complete TLS;
6. a session as the S1SP with its own certificate and keys;
7. SIM move to the DCC APN, then waiting for the CHF to reattach (up to 7 days for FOC): the
   S1SP wakes when the SMETS1 CSP reports the SIM attached, so a CHF that reattaches at any
   moment before the deadline is reached at once;
8. a HAN check (device log, an ESME read).

A failure after the keys moved rolls back: keys, anchor and SIM (to the MGF's PreviousAPN) are
reinstated under the Master Key, so the SMSO regains the installation (TMAD 15.10.3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.keywrap import aes_key_wrap
from cryptography.hazmat.primitives.serialization import Encoding

from emulator.core.timebase import DAY, HOUR, MINUTE, from_zigbee_utc, isoformat
from emulator.core.trace_sink import Emit
from emulator.drivers.clock import current_clock, sleep_until
from emulator.drivers.tls import client_context
from emulator.errors import RemoteProtocolError, S1labError, TransportError
from emulator.fleet import Fleet
from emulator.installation import Installation
from emulator.keystore import KEY_BYTES, ChfKeys, derive_role_keys
from emulator.outputs import SECRET, write_atomic
from emulator.pki import mint_leaf
from emulator.wire import wan
from emulator.wire.eui import eui_from_str
from emulator.wire.vocabulary import (
    DeviceLogAction,
    DeviceLogState,
    ErrorCode,
    MessageType,
    Role,
)
from harness.headend import HeadEnd, HeadEndSession, connect
from harness.migration.dco import Prepayment
from harness.migration.inventory import InstallationRecord, split_previous_apn, timeout_hours
from harness.migration.outcome import Outcome
from harness.migration.reasons import Reason
from harness.migration.rules import ma112, preflight

DCC_APN = "dcc.smets1.example"
DCC_SERVICE_PROFILE = "DCC-SMETS1-CSP"
RECONNECT_POLL = HOUR  # the longest back-off between sessions that fail on an attached SIM
S1SP_KEY_ID = 2


def timeout_for(group_id: str) -> int:
    """S1SP Device Installation timeout in µs (from secret release), from the cohort table."""
    return timeout_hours(group_id) * HOUR


@dataclass
class InstallResult:
    """What happened to one installation's Device Installation (SCF material). ``reason`` is
    set exactly when ``status`` is a failure."""

    installation_id: str
    chf_eui: str
    status: Outcome  # MIGRATED, FAILED or ROLLED_BACK
    step: str = ""
    reason: Reason | None = None
    detail: str = ""
    started_us: int = 0
    ended_us: int = 0
    events: list[tuple[int, str]] = field(default_factory=list)


class _Fail(S1labError):
    def __init__(self, step: str, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.step, self.reason, self.detail = step, reason, detail


class S1sp:
    """The DCC's SMETS1 Service Provider for one fleet."""

    def __init__(self, fleet: Fleet, emit: Emit, seed: int) -> None:
        self.fleet = fleet
        self._emit = emit
        self.seed = seed
        self.keys: dict[str, ChfKeys] = {}
        auth = fleet.pki.authorities
        folder = fleet.pki.folder
        clock_now = fleet.scheduler.clock.now_us()
        # The migration credential: issued under the SMSO CA and handed over inside the
        # (encrypted) S1SP group information, so the S1SP can reach a CHF that still trusts
        # only the SMSO.
        migration = mint_leaf(auth.smso_ca, "s1sp-migration.s1lab.test", "s1lab test S1SP (DCC)",
                              "client", clock_now - HOUR, 3650, seed + 77)
        write_atomic(folder / "migration.pem", migration.cert_pem())
        write_atomic(folder / "migration.key", migration.key_pem(), mode=SECRET)
        device_ca = auth.device_ca.cert_pem()
        self._migration = HeadEnd(Role.SMSO, client_context(
            folder / "migration.pem", folder / "migration.key", device_ca,
            keylog=fleet.keylog), self._no_keys, emit=emit)
        self._s1sp = HeadEnd(Role.S1SP, fleet.headend_context(Role.S1SP),
                             self._own_keys, emit=emit)
        self._smso = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO),
                             fleet.keys_for, emit=emit)
        self.s1sp_ca_der = auth.s1sp_ca.cert.public_bytes(Encoding.DER)

    def _no_keys(self, eui: str) -> ChfKeys:
        return ChfKeys(eui, b"\0" * 16, b"\0" * 16, {})

    def _own_keys(self, eui: str) -> ChfKeys:
        return self.keys.get(eui) or self._no_keys(eui)

    @property
    def smso(self) -> HeadEnd:
        return self._smso

    @property
    def s1sp_headend(self) -> HeadEnd:
        return self._s1sp

    # ---- connections ------------------------------------------------------------------------

    async def _open(self, inst: Installation, headend: HeadEnd, apn: str) -> HeadEndSession:
        # Where a WAN capture puts the head-end: the migration credential speaks as the SMSO
        # but from the S1SP's host; only the pre-flight is the SMSO's own session.
        host = "smso" if headend is self._smso else "s1sp"
        link = self.fleet.link_to(inst, via_apn=apn, headend=host)
        return await connect(link.a, headend, self.fleet.scheduler.clock, timeout_s=60,
                             request_timeout_s=120)

    async def _attached(self, inst: Installation, apn: str, until: int) -> bool:
        """Wait until the SMETS1 CSP reports the CHF's SIM attached on ``apn`` (event-driven:
        the S1SP wakes when it attaches, not on a polling period), at most until ``until``.
        True when it is attached now. The answer is read again at least daily, since a SIM
        move or a new outage changes it."""
        clock = current_clock()
        while True:
            now = clock.now_us()
            at = inst.next_attach(apn)
            if at is not None and at <= now:
                return True
            if now >= until:
                return False
            await sleep_until(min(until, now + DAY) if at is None else min(at, until, now + DAY))

    async def _open_until(self, inst: Installation, headend: HeadEnd, apn: str,
                          deadline: int, step: str) -> HeadEndSession:
        """A session as soon as the CHF is attached on ``apn``, or _Fail(S1SP_TIMEOUT) once
        ``deadline`` passes. A session that fails although the SIM is attached (the awake
        window closing mid-handshake) is retried after a minute, backing off to an hour."""
        clock = current_clock()
        backoff = MINUTE
        while True:
            if not await self._attached(inst, apn, deadline):
                raise _Fail(step, Reason.S1SP_TIMEOUT,
                            f"no WAN session by the deadline: the SIM did not attach on {apn}")
            try:
                return await self._open(inst, headend, apn)
            except TransportError as exc:
                if clock.now_us() >= deadline:
                    raise _Fail(step, Reason.S1SP_TIMEOUT,
                                f"no WAN session by the deadline: {exc}") from None
                await sleep_until(min(deadline, clock.now_us() + backoff))
                backoff = min(2 * backoff, RECONNECT_POLL)

    # ---- pre-flight -------------------------------------------------------------------------

    async def preflight(self, inst: Installation,
                        record: InstallationRecord) -> tuple[Reason, str] | None:
        """MA112 and GT01 (:func:`harness.migration.rules.preflight`), through the SMSO (the
        owner). None when both pass.

        MA112 reads the CHF's last WAN contact as the SMETS1 CSP saw it, not whether it
        answers this minute. A CHF in contact within 7 days that is asleep or briefly
        unreachable now is waited for (it attaches on its own WAN schedule), at most the
        GroupID's Device Installation window; then GT01 reads its device log."""
        clock = current_clock()
        now = clock.now_us()
        last = inst.chf.last_wan_attached(now)
        if ma112(now, last):
            seen = isoformat(last) if last is not None else "never"
            return Reason.MA112, f"no WAN contact in the previous 7 days (last: {seen})"
        try:
            session = await self._open_until(inst, self._smso, inst.chf.sim.apn,
                                             now + timeout_for(record.group_id), "pre-flight")
        except _Fail as fail:
            return fail.reason, fail.detail
        try:
            inventory = await session.read_inventory()
        finally:
            await session.close()
        at = clock.now_us()
        heard: int | None = None
        if record.gsme is not None:
            gsme = eui_from_str(record.gsme.eui)
            entry = next((e for e in inventory.entries if e.eui == gsme), None)
            if entry is not None and entry.last_heard:
                heard = from_zigbee_utc(entry.last_heard)
        contact = from_zigbee_utc(inventory.last_wan_contact) if inventory.last_wan_contact \
            else None
        reason = preflight(record, at, contact, heard)
        if reason is Reason.GT01:
            return reason, "the CHF has not heard the GSME in the previous 72 hours"
        if reason is not None:
            return reason, "no WAN contact in the previous 7 days"
        return None

    # ---- device installation ------------------------------------------------------------------

    async def install(
        self, inst: Installation, *, group_id: str, device_certificate: x509.Certificate,
        master_key: bytes, previous_apn: str, released_at: int, deregister: tuple[str, ...] = (),
        prepayment: Prepayment | None = None,
    ) -> InstallResult:
        """Device Installation from secret release (``released_at``). ``deregister``: devices
        excluded from the migration (the GSME of a partial migration, Consistent GT01 Check
        Failure or 4.26A-C): removed from the CHF's device log once the CHF is reached on the
        DCC APN, and not required by the HAN check. ``prepayment``: the meters' prepayment key
        and the SMSO's last UTRN counters from the MGF (:meth:`Dco.prepayment`); the S1SP
        generates the installation's UTRNs from then on."""
        clock = current_clock()
        out = InstallResult(inst.id, inst.chf.eui, Outcome.FAILED, started_us=released_at)
        deadline = released_at + timeout_for(group_id)
        smso_apn = inst.chf.sim.apn
        keys_moved = False

        def log(what: str) -> None:
            out.events.append((clock.now_us(), what))
            self._emit(clock.now_us(), "s1sp", "DeviceInstallationStep",
                       {"installation": inst.id, "step": what})

        try:
            log("secret-released")
            session = await self._open_until(inst, self._migration, smso_apn, deadline, "connect")
            pin = device_certificate.fingerprint(hashes.SHA256())
            if session.peer_fingerprint != pin:
                await session.close()
                raise _Fail("connect", Reason.CERT_MISMATCH,
                            "the CHF's TLS certificate is not the MGF's DeviceCertificate")
            session.master_key = master_key
            log("connected")

            # Key rotation under the Master Key.
            new = derive_role_keys(self.seed, inst.chf.eui, "s1sp", S1SP_KEY_ID)
            wrapped = aes_key_wrap(master_key, new.command_key + new.response_key)
            session = await self._master_step(
                inst, session, "rotate", MessageType.ROTATE_KEYS,
                wan.RotateKeys(Role.S1SP, S1SP_KEY_ID, wrapped), master_key, smso_apn, deadline,
                done=lambda s: s.owner is Role.S1SP)
            keys_moved = True
            utrn_key = prepayment.key if prepayment is not None and prepayment.key else None
            self.keys[inst.chf.eui] = ChfKeys(inst.chf.eui, master_key,
                                              utrn_key or b"\0" * KEY_BYTES, {"s1sp": new})
            if prepayment is not None:  # the S1SP's UTRNs follow on from the SMSO's
                for meter, counter in prepayment.utrn_counters.items():
                    known = self._s1sp.utrn_counters.get(meter, 0)
                    self._s1sp.utrn_counters[meter] = max(known, counter)
            log("keys-rotated")

            # Certificate swap: the CHF trusts the S1SP CA from now on.
            session = await self._master_step(
                inst, session, "swap", MessageType.SWAP_CERTIFICATE,
                wan.SwapCertificate(Role.S1SP, self.s1sp_ca_der), master_key, smso_apn,
                deadline, done=lambda s: s.anchor is Role.S1SP)
            log("certificate-swapped")
            await session.close()

            # As the S1SP now: its own certificate and keys.
            s1sp = await self._open_until(inst, self._s1sp, smso_apn, deadline, "verify")
            check = await s1sp.request(MessageType.READ_SECURITY_STATE)
            assert isinstance(check, wan.SecurityState)
            log("s1sp-session")

            # SIM move, then wait for the CHF to reattach on the DCC APN.
            try:
                await s1sp.request(MessageType.MOVE_SIM, None,
                                   wan.MoveSim(DCC_APN, DCC_SERVICE_PROFILE))
            except RemoteProtocolError as exc:
                raise _Fail("sim", Reason.SIM_MOVE_FAILED, str(exc)) from None
            except TransportError:
                pass  # the WAN drops as the SIM moves
            log("sim-moved")
            s1sp = await self._open_until(inst, self._s1sp, DCC_APN, deadline, "reconnect")
            log("reattached")

            # Partial migration: the excluded devices leave the device log.
            for eui in deregister:
                try:
                    await s1sp.update_device_log(DeviceLogAction.REMOVE, eui)
                except (RemoteProtocolError, TransportError) as exc:
                    raise _Fail("deregister", Reason.HAN_CHECK_FAILED, str(exc)) from None
                log(f"deregistered:{eui}")

            # HAN check (the excluded devices are not required: they must be gone).
            inventory = await s1sp.read_inventory()
            gone = {eui_from_str(e) for e in deregister}
            if any(e.eui in gone for e in inventory.entries):
                raise _Fail("han-check", Reason.HAN_CHECK_FAILED,
                            "an excluded device is still in the device log")
            if any(e.state is not DeviceLogState.JOINED for e in inventory.entries):
                raise _Fail("han-check", Reason.HAN_CHECK_FAILED, "a device is not joined")
            try:
                await s1sp.read_instantaneous(inst.esme.eui)
            except (RemoteProtocolError, TransportError) as exc:
                raise _Fail("han-check", Reason.HAN_CHECK_FAILED, str(exc)) from None
            await s1sp.close()
            if clock.now_us() > deadline:
                raise _Fail("han-check", Reason.S1SP_TIMEOUT, "finished after the GroupID timeout")
            out.status = Outcome.MIGRATED
            log("migrated")
        except _Fail as fail:
            out.step, out.reason, out.detail = fail.step, fail.reason, fail.detail
            log(f"failed:{fail.step}:{fail.reason.name}")
            if keys_moved:
                await self._rollback(inst, master_key, previous_apn, out)
        out.ended_us = clock.now_us()
        self._emit(out.ended_us, "s1sp", "DeviceInstallationEnded", {
            "installation": inst.id, "status": out.status.value, "step": out.step,
            "reason": out.reason.name if out.reason else "",
            "hours": round((out.ended_us - released_at) / HOUR, 2)})
        return out

    async def _master_step(
        self, inst: Installation, session: HeadEndSession, step: str, msg: MessageType,
        body: object, master_key: bytes, apn: str, deadline: int,
        done: Callable[[wan.SecurityState], bool],
    ) -> HeadEndSession:
        """A Master-Key step; on a dropped session (a CHF restart), reconnect and read the
        security state to learn whether the step took (atomic on the device)."""
        reason = {"rotate": Reason.KEY_ROTATION_FAILED, "swap": Reason.CERT_SWAP_FAILED}[step]
        try:
            await session.master_request(msg, body)
            return session
        except RemoteProtocolError as exc:
            if step == "rotate" and exc.code == ErrorCode.BAD_MAC:
                reason = Reason.MASTER_KEY_WRONG
            elif step == "rotate" and exc.code == ErrorCode.UNKNOWN_KEY:
                reason = Reason.MASTER_KEY_MISSING
            raise _Fail(step, reason, str(exc)) from None
        except TransportError:
            pass
        # The session dropped mid-step: reconnect with whatever the CHF trusts now.
        await sleep_until(current_clock().now_us() + MINUTE)
        for headend in (self._migration, self._s1sp):
            try:
                again = await self._open(inst, headend, apn)
            except TransportError:
                continue
            again.master_key = master_key
            state = await again.master_request(MessageType.READ_SECURITY_STATE)
            assert isinstance(state, wan.SecurityState)
            if done(state):
                return again
            try:  # not taken: once more
                await again.master_request(msg, body)
                return again
            except (RemoteProtocolError, TransportError) as exc:
                raise _Fail(step, reason, f"after a restart: {exc}") from None
        raise _Fail(step, reason, "CHF unreachable after restarting mid-step")

    async def _rollback(self, inst: Installation, master_key: bytes, previous_apn: str,
                        out: InstallResult) -> None:
        """Reinstate the SMSO: keys, trust anchor and SIM (the APN and the ServiceProfile recorded
        in PreviousAPN), under the Master Key."""
        clock = current_clock()
        apn = inst.chf.sim.apn  # the S1SP knows where it moved the SIM
        give_up = clock.now_us() + DAY
        while await self._attached(inst, apn, give_up):
            for headend in (self._s1sp, self._migration):
                try:
                    session = await self._open(inst, headend, apn)
                except TransportError:
                    continue
                session.master_key = master_key
                try:
                    await session.master_request(MessageType.ROLLBACK,
                                                 wan.Rollback(*split_previous_apn(previous_apn)))
                except TransportError:
                    pass  # the WAN drops as the SIM moves back
                except RemoteProtocolError as exc:
                    out.detail += f"; rollback refused: {exc}"
                    return
                self.keys.pop(inst.chf.eui, None)
                out.status = Outcome.ROLLED_BACK
                out.events.append((clock.now_us(), Outcome.ROLLED_BACK.value))
                self._emit(clock.now_us(), "s1sp", "RolledBack",
                           {"installation": inst.id, "apn": previous_apn,
                            "at": isoformat(clock.now_us())})
                return
            if clock.now_us() >= give_up:
                break
            await sleep_until(min(give_up, clock.now_us() + RECONNECT_POLL))
        out.detail += "; rollback not completed within a day (CHF unreachable)"
