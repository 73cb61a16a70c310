"""The S1SP's Device Installation against emulated CHFs, on the virtual clock:
domain.md §8 behaviours 1, 2, 4, 5, 7 (pre-flight) and 8."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from emulator.core.chf import WanSchedule
from emulator.core.timebase import DAY, HOUR, MINUTE, SECOND
from emulator.drivers.clock import current_clock, run_virtual, sleep_us
from emulator.drivers.scheduler import Scheduler
from emulator.errors import RemoteProtocolError, TransportError
from emulator.fleet import Fleet
from emulator.installation import Installation
from emulator.profiles import default_dmc
from emulator.wire import wan
from emulator.wire.vocabulary import DeviceType, ErrorCode, MessageType, Role
from harness.headend import HeadEndSession, connect
from harness.migration.history import History
from harness.migration.inventory import DeviceRecord, InstallationRecord, previous_apn
from harness.migration.outcome import Outcome
from harness.migration.reasons import Reason
from harness.migration.s1sp import DCC_APN, S1sp
from tests.e2e.conftest import ListTrace


@dataclass
class Lab:
    fleet: Fleet
    s1sp: S1sp
    trace: ListTrace

    @property
    def inst(self) -> Installation:
        return self.fleet.installations[0]

    async def smso(self, apn: str | None = None) -> HeadEndSession:
        inst = self.inst
        link = self.fleet.link_to(inst, via_apn=apn or self.smso_apn)
        return await connect(link.a, self.s1sp.smso, current_clock(), timeout_s=30)

    async def as_s1sp(self) -> HeadEndSession:
        link = self.fleet.link_to(self.inst, via_apn=DCC_APN)
        return await connect(link.a, self.s1sp.s1sp_headend, current_clock(), timeout_s=30)

    smso_apn: str = ""

    def record(self, group: str = "EA") -> InstallationRecord:
        """What the inventory says of the installation (its CHF, ESME and GSME)."""
        inst = self.inst
        devices = [DeviceRecord(inst.chf.eui, DeviceType.CHF, inst.chf.firmware_version),
                   DeviceRecord(inst.esme.eui, DeviceType.ESME, inst.esme.firmware_version,
                                mpxn="1900000000001")]
        if inst.gsme is not None:
            devices.append(DeviceRecord(inst.gsme.eui, DeviceType.GSME,
                                        inst.gsme.firmware_version, mpxn="9000000001"))
        return InstallationRecord(inst.id, group, "default", inst.chf.eui, tuple(devices))

    async def install(self, group: str = "EA", master_key: bytes | None = None,  # type: ignore[no-untyped-def]
                      previous_apn: str | None = None):
        inst = self.inst
        keys = self.fleet.keys_for(inst.chf.eui)
        cert = self.fleet.chf_certificate(inst)
        return await self.s1sp.install(
            inst, group_id=group, device_certificate=cert,
            master_key=master_key or keys.master_key,
            previous_apn=self.smso_apn if previous_apn is None else previous_apn,
            released_at=current_clock().now_us())


@asynccontextmanager
async def lab(seed: int = 5) -> AsyncIterator[Lab]:
    clock = current_clock()
    scheduler = Scheduler(clock)
    trace = ListTrace()
    fleet = Fleet(default_dmc(), 1, seed, scheduler, trace)
    try:
        s1sp = S1sp(fleet, trace.emitter("dcc"), seed)
        result = Lab(fleet, s1sp, trace)
        result.smso_apn = fleet.installations[0].chf.sim.apn
        yield result
    finally:
        fleet.close()
        scheduler.close()


async def _refused(coro: object) -> str:
    try:
        session = await coro  # type: ignore[misc]
    except TransportError as exc:
        return str(exc)
    await session.close()
    raise AssertionError("expected the connection to be refused")


def test_behaviour_1_migration_locks_out_the_smso_and_admits_the_s1sp() -> None:
    async def main() -> None:
        async with lab() as b:
            early = await b.smso()  # an SMSO session opened before migration
            await early.read_inventory()
            outcome = await b.install("EA")
            assert outcome.status == "migrated", outcome
            # The SMSO's keys no longer work on its old session...
            with pytest.raises((RemoteProtocolError, TransportError)):
                await early.read_inventory()
            # ...it cannot complete TLS any more (trust anchor gone), on either APN...
            assert "TLS" in await _refused(b.smso(apn=DCC_APN))
            # ...and the S1SP, on the DCC APN, with its certificate and keys, is served.
            s1sp = await b.as_s1sp()
            state = await s1sp.request(MessageType.READ_SECURITY_STATE)
            assert isinstance(state, wan.SecurityState) and state.owner is Role.S1SP
            inv = await s1sp.read_inventory()
            assert inv.apn == DCC_APN
            reading = await s1sp.read_instantaneous(b.inst.esme.eui)
            assert isinstance(reading, wan.EsmeInstantaneous)
            assert b.inst.chf.snapshot().owner is Role.S1SP
            await s1sp.close()

    run_virtual(main())


def test_behaviour_2_rollback_restores_the_smso_and_the_previous_apn() -> None:
    async def main() -> None:
        async with lab() as b:
            b.inst.fail_step("sim")  # the SIM move fails on the device: roll back
            outcome = await b.install("EA")
            assert outcome.status == "rolled-back" and outcome.reason is Reason.SIM_MOVE_FAILED
            await sleep_us(b.inst.chf.reconnect_delay_us + HOUR)
            assert b.inst.chf.sim.apn == b.smso_apn
            smso = await b.smso()
            inv = await smso.read_inventory()  # SMSO TLS and keys work again
            assert inv.apn == b.smso_apn
            # ...and frames it sent before the migration are still replays (counters kept).
            txn, old = smso.build_frame(MessageType.READ_TIME, b.inst.chf.eui, counter=1)
            _, body = await smso.send_raw(old, txn)
            assert isinstance(body, wan.ErrorPayload)
            assert body.error_code is ErrorCode.REPLAYED_COUNTER
            await smso.close()
            assert "TLS" in await _refused(_s1sp_on(b, b.smso_apn))  # S1SP refused again
            assert b.inst.chf.snapshot().owner is Role.SMSO

    run_virtual(main())


def test_rollback_restores_the_service_profile_recorded_in_previous_apn() -> None:
    """PreviousAPN carries the SIM's ServiceProfile [S1]: rollback puts back that profile, not
    the one the CHF happened to save."""
    async def main() -> None:
        async with lab() as b:
            saved = b.inst.chf.sim.service_profile
            b.inst.fail_step("sim")
            outcome = await b.install(
                "EA", previous_apn=previous_apn(b.smso_apn, "smso-restored-profile"))
            assert outcome.status == "rolled-back"
            assert saved != "smso-restored-profile"
            assert b.inst.chf.sim.apn == b.smso_apn
            assert b.inst.chf.sim.service_profile == "smso-restored-profile"
            rolled = b.trace.named("RolledBack")
            assert rolled and str(rolled[-1]["apn"]).startswith(b.smso_apn)

    run_virtual(main())


async def _s1sp_on(b: Lab, apn: str) -> HeadEndSession:
    link = b.fleet.link_to(b.inst, via_apn=apn)
    return await connect(link.a, b.s1sp.s1sp_headend, current_clock(), timeout_s=30)


@pytest.mark.parametrize("fault, reason", [("wrong", "MASTER_KEY_WRONG"),
                                           ("missing", "MASTER_KEY_MISSING")])
def test_behaviour_4_master_key_errors_leave_the_installation_with_the_smso(
        fault: str, reason: str) -> None:
    async def main() -> None:
        async with lab() as b:
            if fault == "missing":
                b.inst.lose_master_key()
                outcome = await b.install("CA")
            else:
                outcome = await b.install("CA", master_key=b"\x13" * 16)
            assert outcome.status == "failed" and outcome.reason is Reason[reason]
            assert outcome.step == "rotate"
            smso = await b.smso()
            await smso.read_inventory()  # still the SMSO's
            await smso.close()
            assert b.inst.chf.snapshot().owner is Role.SMSO

    run_virtual(main())


def test_behaviour_5_gt01_preflight() -> None:
    async def main() -> None:
        async with lab() as b:
            now = current_clock().now_us()
            assert await b.s1sp.preflight(b.inst, b.record()) is None
            b.inst.link_down("gsme", now, now + 80 * HOUR)
            await sleep_us(73 * HOUR)
            result = await b.s1sp.preflight(b.inst, b.record())
            assert result is not None and result[0] is Reason.GT01

    run_virtual(main())


def test_behaviour_7_ma112_preflight() -> None:
    async def main() -> None:
        async with lab() as b:
            smso = await b.smso()
            await smso.read_inventory()
            await smso.close()
            b.inst.wan_outage(current_clock().now_us() + 10 * DAY)
            await sleep_us(8 * DAY)
            start = current_clock().now_us()
            result = await b.s1sp.preflight(b.inst, b.record())
            assert result is not None and result[0] is Reason.MA112
            assert current_clock().now_us() == start  # decided on the last contact, no waiting

    run_virtual(main())


@pytest.mark.parametrize("group, reconnect_h, expected", [
    ("CA", 50, "rolled-back"),  # IOC: 48 h timeout, a 50 h reconnect fails
    ("EA", 7 * 24, "migrated"),  # FOC: 192 h, reconnecting 7 days after the SIM move is fine
    ("EA", 8.5 * 24, "rolled-back"),  # FOC: 8.5 days is too long
])
def test_behaviour_8_s1sp_timeout_by_group(group: str, reconnect_h: float, expected: str) -> None:
    async def main() -> None:
        async with lab() as b:
            b.inst.chf.reconnect_delay_us = int(reconnect_h * HOUR)
            outcome = await b.install(group)
            assert outcome.status == expected, outcome
            if expected != "migrated":
                assert outcome.reason is Reason.S1SP_TIMEOUT
            hours = (outcome.ended_us - outcome.started_us) / HOUR
            assert hours < 48 + 25 if group == "CA" else hours < 192 + 25

    run_virtual(main())


@pytest.mark.parametrize("group, hours", [("CA", 48), ("EA", 192)])
@pytest.mark.parametrize("minutes", [-3, 3])
def test_timeout_is_exact_minutes_either_side_of_the_deadline(
        group: str, hours: int, minutes: int) -> None:
    """48 h / 192 h from secret release: a CHF reattaching 3 minutes before the deadline
    migrates, one reattaching 3 minutes after fails. The S1SP wakes when the SIM attaches, so
    it reaches the CHF within seconds of reattaching, not on a polling period."""
    async def main() -> None:
        async with lab() as b:
            b.inst.chf.reconnect_delay_us = (hours * 60 + minutes) * MINUTE
            outcome = await b.install(group)
            deadline = outcome.started_us + hours * HOUR
            events = {what: at for at, what in outcome.events}
            if minutes < 0:
                assert outcome.status == "migrated", outcome
                assert events["reattached"] - events["sim-moved"] - \
                    b.inst.chf.reconnect_delay_us < 10 * SECOND
                assert outcome.ended_us <= deadline
            else:
                assert outcome.status == "rolled-back" and outcome.reason is Reason.S1SP_TIMEOUT
                assert outcome.step == "reconnect"
                assert "reattached" not in events
                # it gave up at the deadline, not an hour early
                failed_at = next(at for at, what in outcome.events if what.startswith("failed"))
                assert failed_at == deadline

    run_virtual(main())


def test_ma112_passes_a_chf_asleep_at_preflight_and_the_s1sp_waits_for_it() -> None:
    """A CHF whose modem attaches 15 minutes every 6 hours was in contact within 7 days:
    asleep at pre-flight, it passes MA112; the S1SP waits for its next wake-up (its WAN
    schedule), then runs GT01 and migrates it, following the schedule at every session."""
    async def main() -> None:
        async with lab() as b:
            now = current_clock().now_us()
            b.inst.chf.wan_schedule = WanSchedule(6 * HOUR, 15 * MINUTE, now - HOUR)
            assert not b.inst.wan_available(now)  # asleep
            start = current_clock().now_us()
            assert await b.s1sp.preflight(b.inst, b.record("CA")) is None
            woke = current_clock().now_us()
            # its next wake-up (plus a session's round trips), not a polling period
            assert 5 * HOUR <= woke - start < 5 * HOUR + 10 * SECOND
            outcome = await b.install("CA")
            assert outcome.status == "migrated", outcome

    run_virtual(main())


def test_ma112_briefly_unreachable_waits_and_asleep_too_long_times_out() -> None:
    async def main() -> None:
        async with lab() as b:
            now = current_clock().now_us()
            b.inst.wan_outage(now + 3 * HOUR)  # an outage of three hours
            assert await b.s1sp.preflight(b.inst, b.record("CA")) is None
            assert 0 <= current_clock().now_us() - (now + 3 * HOUR) < 10 * SECOND
        async with lab() as b:
            now = current_clock().now_us()
            # in contact 1 day ago, next wake-up in 3 days: beyond the 48 h window of CA
            b.inst.chf.wan_schedule = WanSchedule(4 * DAY, HOUR, now - DAY - HOUR)
            assert b.inst.chf.last_wan_attached(now) == now - DAY - 1
            result = await b.s1sp.preflight(b.inst, b.record("CA"))
            assert result is not None and result[0] is Reason.S1SP_TIMEOUT
            assert current_clock().now_us() == now + 48 * HOUR
            # ...and one last in contact 8 days ago fails MA112 at once
            b.inst.chf.wan_schedule = WanSchedule(30 * DAY, HOUR, now - 8 * DAY)
            b.inst.chf.last_wan_contact = None
            result = await b.s1sp.preflight(b.inst, b.record("CA"))
            assert result is not None and result[0] is Reason.MA112

    run_virtual(main())


def test_restart_mid_rotation_is_atomic() -> None:
    async def main() -> None:
        async with lab() as b:
            b.inst.restart_during("rotate")
            outcome = await b.install("EA")
            assert outcome.status == "migrated", outcome
            restarts = [f for e, _, f in b.trace.events if e == "ChfRestarted"]
            assert restarts and restarts[0]["during"] == "rotate"

    run_virtual(main())


def test_error_codes_are_wan_errors() -> None:
    assert ErrorCode.OPERATION_FAILED.value == 0x0B


def test_device_faults_set_by_the_chf_profile(tmp_path: pytest.TempPathFactory) -> None:
    """A CHF model whose profile says its SIM move fails: the S1SP rolls back."""
    from pathlib import Path

    from emulator.profiles import load_dmc

    folder = Path(str(tmp_path))
    devices = folder / "devices"
    devices.mkdir()
    (devices / "flaky-chf.yaml").write_text(
        "schema_version: 1\nkind: chf\nmanufacturer: Flaky (fictional)\nmodel: F1\n"
        "firmware_version: '0.9'\nfaults:\n  fail_steps: [sim]\n")
    dmc_file = folder / "flaky.yaml"
    dmc_file.write_text(
        "schema_version: 1\nname: flaky\ndescription: a CHF whose SIM move fails\n"
        "group_id: EA\ncsp: north\nchf: flaky-chf\nesme: zenith-esme-prepay\n")
    dmc = load_dmc(str(dmc_file))
    assert dmc.chf.faults.fail_steps == ("sim",)

    async def main() -> None:
        clock = current_clock()
        scheduler = Scheduler(clock)
        trace = ListTrace()
        fleet = Fleet(dmc, 1, 5, scheduler, trace)
        try:
            b = Lab(fleet, S1sp(fleet, trace.emitter("dcc"), 5), trace)
            b.smso_apn = fleet.installations[0].chf.sim.apn
            outcome = await b.install("EA")
            assert outcome.status == "rolled-back" and outcome.reason is Reason.SIM_MOVE_FAILED
        finally:
            fleet.close()
            scheduler.close()

    run_virtual(main())


def test_certificate_mismatch_fails_with_a_reason_from_the_table() -> None:
    # Issue 7: CERT_MISMATCH used to be a bare string outside the reason table, so its history
    # entry had no reason. A certificate that is not the CHF's stops the attempt at "connect".
    async def main() -> None:
        async with lab() as b:
            keys = b.fleet.keys_for(b.inst.chf.eui)
            result = await b.s1sp.install(
                b.inst, group_id="EA", device_certificate=b.fleet.pki.authorities.device_ca.cert,
                master_key=keys.master_key, previous_apn=b.smso_apn,
                released_at=current_clock().now_us())
            assert result.status is Outcome.FAILED and result.step == "connect"
            assert result.reason is Reason.CERT_MISMATCH
            history = History(b.inst.id)
            attempt = history.record(result.ended_us, Outcome.FAILED, result.reason, result.step)
            assert attempt.reason is Reason.CERT_MISMATCH and history.weeks() == 1
            # the SMSO still owns the installation: nothing moved
            smso = await b.smso()
            await smso.read_inventory()
            await smso.close()

    run_virtual(main())
