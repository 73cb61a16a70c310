"""The WAN protocol end to end over a live TLS connection on the virtual clock."""

from __future__ import annotations

import pytest

from emulator.core.timebase import DAY, HOUR, MINUTE, zigbee_utc
from emulator.drivers.clock import current_clock, run_virtual, sleep_us
from emulator.errors import RemoteProtocolError
from emulator.wire import wan
from emulator.wire.vocabulary import (
    DeviceType,
    ErrorCode,
    MessageType,
    PaymentMode,
    SupplyState,
    TopUpStatus,
)
from tests.e2e.conftest import smso_bench


def test_reads_inventory_firmware_registers_time_and_logs() -> None:
    async def main() -> None:
        async with smso_bench() as b:
            inst = b.fleet.installations[0]
            inv = await b.session.read_inventory()
            types = {e.device_type for e in inv.entries}
            assert DeviceType.ESME in types
            assert inv.apn == inst.chf.sim.apn and len(inv.iccid) == 19
            fw = await b.session.read_firmware_versions()
            assert fw.entries[0].device_type is DeviceType.CHF
            assert fw.entries[0].version == inst.chf.firmware_version
            first = await b.session.read_instantaneous(inst.esme.eui)
            assert isinstance(first, wan.EsmeInstantaneous)
            await sleep_us(6 * HOUR)
            later = await b.session.read_instantaneous(inst.esme.eui)
            assert isinstance(later, wan.EsmeInstantaneous)
            assert later.import_wh > first.import_wh
            assert sum(later.tou_wh) == later.import_wh
            assert later.meter_time - first.meter_time == 6 * 3600
            if inst.gsme is not None:
                gas = await b.session.read_instantaneous(inst.gsme.eui)
                assert isinstance(gas, wan.GsmeInstantaneous)
                assert gas.data_age_s <= inst.dmc.gsme.wake_interval_s  # type: ignore[union-attr]
            chf_time = await b.session.read_time()
            assert 0 <= zigbee_utc(current_clock().now_us()) - chf_time <= 1  # WAN latency
            log = await b.session.read_event_log(inst.esme.eui)
            assert isinstance(log, wan.EventLog)

    run_virtual(main())


def test_set_time_moves_the_meter_clock_only() -> None:
    async def main() -> None:
        async with smso_bench() as b:
            esme = b.fleet.installations[0].esme.eui
            now_utc = await b.session.read_time(esme)
            result = await b.session.set_time(esme, now_utc + 600)
            assert result.previous_utc - now_utc in (0, 1) and result.utc == now_utc + 600
            assert (await b.session.read_time(esme)) - (now_utc + 600) in (0, 1, 2)
            assert (await b.session.read_time()) - now_utc in (0, 1, 2)  # the CHF's is untouched

    run_virtual(main())


async def _expect_error(coro: object, code: ErrorCode) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        await coro  # type: ignore[misc]
    assert info.value.code == code


def test_bad_frames_get_errors_and_traces_and_the_chf_keeps_serving() -> None:
    async def main() -> None:
        async with smso_bench() as b:
            s = b.session
            esme = b.fleet.installations[0].esme.eui
            rejected = lambda: [f["error"] for f in b.trace.named("WanFrameRejected")]  # noqa: E731

            # 1. a malformed frame (bad magic) inside a well-formed record
            header, body = await s.send_raw(b"XX" + b"\x00" * 40, txn=0)
            assert header.msg_type == MessageType.ERROR and header.key_id == 0
            assert isinstance(body, wan.ErrorPayload) and body.error_code is ErrorCode.MALFORMED

            # 2. a bad MAC (signed under a wrong key)
            txn, frame = s.build_frame(MessageType.READ_INSTANTANEOUS, esme, key=b"\x01" * 16)
            header, body = await s.send_raw(frame, txn)
            assert isinstance(body, wan.ErrorPayload) and body.error_code is ErrorCode.BAD_MAC
            assert header.key_id != 0  # the error itself is authenticated

            # 3. a replayed frame: the same bytes twice
            txn, frame = s.build_frame(MessageType.READ_PAYMENT_MODE, esme)
            header, body = await s.send_raw(frame, txn)
            assert isinstance(body, wan.PaymentState)
            header, body = await s.send_raw(frame, txn)
            assert isinstance(body, wan.ErrorPayload)
            assert body.error_code is ErrorCode.REPLAYED_COUNTER

            # 4. an old counter, freshly MAC'd
            txn, frame = s.build_frame(MessageType.READ_PAYMENT_MODE, esme, counter=5)
            _, body = await s.send_raw(frame, txn)
            assert isinstance(body, wan.ErrorPayload)
            assert body.error_code is ErrorCode.REPLAYED_COUNTER

            # 5. unknown device, unsupported command, wrong key id
            await _expect_error(s.read_instantaneous("00-00-00-00-00-00-00-42"),
                                ErrorCode.UNKNOWN_DEVICE)
            txn, frame = s.build_frame(MessageType.READ_TIME, esme)
            forged = bytearray(frame)
            forged[3] = 0x3E  # a message type nobody defined (the MAC no longer matches either)
            _, body = await s.send_raw(bytes(forged), txn)
            assert isinstance(body, wan.ErrorPayload)
            assert body.error_code in (ErrorCode.BAD_MAC, ErrorCode.UNSUPPORTED_COMMAND)
            txn, frame = s.build_frame(MessageType.READ_TIME, esme, key_id=9)
            _, body = await s.send_raw(frame, txn)
            assert isinstance(body, wan.ErrorPayload) and body.error_code is ErrorCode.UNKNOWN_KEY

            # ...and the CHF keeps serving the same connection
            reading = await s.read_instantaneous(esme)
            assert isinstance(reading, wan.EsmeInstantaneous)
            assert s.is_open
            assert rejected() == ["MALFORMED", "BAD_MAC", "REPLAYED_COUNTER", "REPLAYED_COUNTER",
                                  "UNKNOWN_DEVICE", rejected()[5], "UNKNOWN_KEY"]

    run_virtual(main())


def test_behaviour_25_top_up_with_20_digit_utrn_and_payment_mode_changes() -> None:
    """domain.md §8 behaviour 25: SRV 2.2 top-ups use 20-digit UTRNs generated by the head-end
    (never by the user); switching payment mode (SRV 1.6) changes which rules apply."""

    async def main() -> None:
        async with smso_bench() as b:
            s = b.session
            inst = b.fleet.installations[0]
            esme = inst.esme.eui
            await s.set_payment_mode(esme, PaymentMode.PREPAYMENT)
            before = await s.read_payment_mode(esme)

            utrn = b.headend.make_utrn(inst.chf.eui, esme, 2000)
            assert len(utrn) == 20 and utrn.isdigit()
            ok = await s.top_up(esme, utrn)
            assert ok.status is TopUpStatus.ACCEPTED and ok.amount_pence == 2000
            assert ok.balance_pence >= before.balance_pence + 2000 - 5  # charges may tick

            again = await s.top_up(esme, utrn)
            assert again.status is TopUpStatus.ALREADY_USED
            assert (await s.top_up(esme, "1234".ljust(20))).status is TopUpStatus.MALFORMED
            assert (await s.top_up(esme, "9" * 20)).status is TopUpStatus.MALFORMED  # >= 2**64
            forged = str(int(utrn) ^ 1).zfill(20)
            assert (await s.top_up(esme, forged)).status is TopUpStatus.INVALID
            assert (await s.top_up(inst.chf.eui, utrn)).status is TopUpStatus.DEVICE_NOT_SUPPORTED

            # Prepayment: let the credit (and emergency credit) run out: supply is interrupted.
            for _ in range(60):
                pay = await s.read_payment_mode(esme)
                if pay.supply_state is not SupplyState.ENABLED:
                    break
                await sleep_us(DAY)
            assert pay.supply_state is not SupplyState.ENABLED
            assert any(f["state"] == "DISABLED" for f in b.trace.named("SupplyStateChanged"))

            # A top-up arms the supply; the consumer then enables it at the PPMID.
            armed = await s.top_up_amount(esme, 3000)
            assert armed.status is TopUpStatus.ACCEPTED
            assert (await s.read_payment_mode(esme)).supply_state is SupplyState.ARMED
            await sleep_us(2 * HOUR)
            assert (await s.read_payment_mode(esme)).supply_state is SupplyState.ENABLED
            assert b.trace.named("ConsumerButtonPressed")
            too_much = await s.top_up_amount(esme, 500_000)
            assert too_much.status is TopUpStatus.EXCEEDS_MAX_CREDIT

            # Run out again, then switch to credit mode: supply restored, and credit mode
            # never disconnects however long it runs.
            for _ in range(60):
                if (await s.read_payment_mode(esme)).supply_state is not SupplyState.ENABLED:
                    break
                await sleep_us(DAY)
            credit = await s.set_payment_mode(esme, PaymentMode.CREDIT)
            assert credit.payment_mode is PaymentMode.CREDIT
            assert credit.supply_state is SupplyState.ENABLED
            await sleep_us(20 * DAY)
            assert (await s.read_payment_mode(esme)).supply_state is SupplyState.ENABLED
            modes = list(b.trace.named("PaymentModeChanged"))
            assert len(modes) >= 1

    run_virtual(main())


def test_s1sp_is_refused_before_migration() -> None:
    from emulator.errors import TransportError
    from emulator.wire.vocabulary import Role

    async def main() -> None:
        with pytest.raises(TransportError, match="TLS"):
            async with smso_bench(role=Role.S1SP):
                pass

    run_virtual(main())


def test_sessions_are_traced() -> None:
    async def main() -> list[str]:
        async with smso_bench() as b:
            await b.session.read_inventory()
            await sleep_us(MINUTE)
            return [e for e, _, _ in b.trace.events]

    events = run_virtual(main())
    assert "WanSessionOpened" in events and "WanRequestServed" in events
