"""The ZigBee HAN inside an emulated installation, driven over the WAN on the virtual clock.

Command semantics without TLS (whitelisting, time mastership, the device log):
tests/core/test_han_commands_paired.py."""

from __future__ import annotations

import asyncio

from emulator.core.gsme import Gsme
from emulator.core.han_crypto import install_code_crc, install_code_link_key
from emulator.core.rng import SplitMix64
from emulator.core.timebase import HOUR, MINUTE, SECOND, zigbee_utc
from emulator.drivers.capture import HanCapture
from emulator.drivers.clock import current_clock, run_virtual, sleep_us
from emulator.drivers.scheduler import Scheduler
from emulator.errors import RemoteProtocolError
from emulator.fleet import Fleet
from emulator.profiles import default_dmc
from emulator.wire import wan
from emulator.wire.eui import eui_to_str
from emulator.wire.vocabulary import (
    DeviceLogAction,
    DeviceType,
    ErrorCode,
    PaymentMode,
)
from harness.headend import connect
from harness.migration.s1sp import DCC_APN, S1sp
from tests.e2e.conftest import ListTrace, smso_bench

NEW_GSME = "00-1B-C5-0C-03-00-00-77"


def _entry(inv: wan.Inventory, eui: str) -> wan.InventoryEntry | None:
    return next((e for e in inv.entries if eui_to_str(e.eui) == eui), None)


def test_gt01_gsme_link_down_73_hours_ages_last_heard_and_mirror() -> None:
    """A GSME whose HAN link is down for 73 h leaves the CHF's last-heard time for it more than
    72 h old (the GT01 condition), and its mirrored data ages with it."""

    async def main() -> None:
        async with smso_bench() as b:
            inst = b.fleet.installations[0]
            assert inst.gsme is not None
            clock = current_clock()
            await sleep_us(2 * HOUR)  # the GSME has woken and reported a few times
            start = clock.now_us()
            inst.link_down("gsme", start, start + 73 * HOUR)
            await sleep_us(73 * HOUR - MINUTE)
            inv = await b.session.read_inventory()
            entry = _entry(inv, inst.gsme.eui)
            assert entry is not None
            age_h = (zigbee_utc(clock.now_us()) - entry.last_heard) / 3600
            assert age_h > 72, age_h
            gas = await b.session.read_instantaneous(inst.gsme.eui)
            assert isinstance(gas, wan.GsmeInstantaneous) and gas.data_age_s > 72 * 3600
            esme_entry = _entry(inv, inst.esme.eui)
            assert esme_entry is not None  # the ESME is still heard
            assert zigbee_utc(clock.now_us()) - esme_entry.last_heard < 25 * 3600  # daily sync
            # The link comes back: the next wake refreshes both.
            await sleep_us(2 * HOUR)
            inv = await b.session.read_inventory()
            entry = _entry(inv, inst.gsme.eui)
            assert entry is not None and zigbee_utc(clock.now_us()) - entry.last_heard < 3600
            assert "HanTransmissionFailed" in b.trace.counts

    run_virtual(main())


def test_behaviour_20_gsme_commands_wait_for_its_poll() -> None:
    """Commands for the sleepy GSME are held at the CHF and delivered when it polls: the
    head-end's reply time reflects the GSME's sleep; the IHD reads gas from the mirror."""

    async def main() -> None:
        async with smso_bench() as b:
            inst = b.fleet.installations[0]
            gsme = inst.gsme
            assert gsme is not None and inst.han is not None
            clock = current_clock()
            await sleep_us(MINUTE)  # past the start-up wake and its quick follow-up poll
            t0 = clock.now_us()
            wake = gsme.get_timer()
            assert wake is not None and wake - t0 > 10 * SECOND
            task = asyncio.ensure_future(
                b.session.set_payment_mode(gsme.eui, PaymentMode.CREDIT))
            await sleep_us(5 * SECOND)
            assert not task.done() and inst.han.held_for(gsme.eui) == 1
            reply = await task
            elapsed = clock.now_us() - t0
            assert reply.payment_mode is PaymentMode.CREDIT
            assert wake - t0 <= elapsed <= wake - t0 + 5 * SECOND  # answered at the next poll
            assert gsme.payment(clock.now_us()).payment_mode is PaymentMode.CREDIT
            # A read of the GSME is answered at once from the mirror, with its age.
            t1 = clock.now_us()
            gas = await b.session.read_instantaneous(gsme.eui)
            assert isinstance(gas, wan.GsmeInstantaneous)
            assert clock.now_us() - t1 < 2 * SECOND
            ihd = inst.core.devices.ihd
            await sleep_us(HOUR)
            assert ihd is not None and ihd.gas_volume_dm3 is not None

    run_virtual(main())


def test_meter_that_resets_its_frame_counter_goes_unheard() -> None:
    async def main() -> None:
        async with smso_bench() as b:
            inst = b.fleet.installations[0]
            await sleep_us(HOUR)
            await b.session.read_instantaneous(inst.esme.eui)  # the CHF records its counter
            inst.reset_frame_counter("esme")
            reading = None
            try:
                reading = await b.session.read_instantaneous(inst.esme.eui)
            except RemoteProtocolError as exc:  # the CHF drops the replies as replays
                assert exc.code == ErrorCode.DEVICE_UNREACHABLE
            assert reading is None
            assert "HanFrameDropped" in b.trace.counts

    run_virtual(main())


def test_behaviour_21_network_key_rotation_then_old_key_frames_are_dropped() -> None:
    async def main() -> None:
        async with smso_bench() as b:
            inst = b.fleet.installations[0]
            han = inst.han
            assert han is not None and inst.gsme is not None
            frames: list[bytes] = []
            han.capture = lambda frame, now: frames.append(frame)
            await b.session.read_instantaneous(inst.esme.eui)
            old = next(f for f in reversed(frames) if len(f) > 40)  # ESME's secured reply
            seq = inst.rotate_network_key()
            await sleep_us(HOUR)  # the sleepy GSME collects its new key when it polls
            gsme_node = han.nodes[inst.gsme.eui]
            assert gsme_node.keys is not None and gsme_node.keys.pending_seq == seq
            inst.switch_network_key(seq)
            await sleep_us(HOUR)
            assert han.keys.current_seq == seq
            assert all(n.keys is not None and n.keys.current_seq == seq
                       for n in han.nodes.values())
            # Traffic flows under the new key...
            reading = await b.session.read_instantaneous(inst.esme.eui)
            assert isinstance(reading, wan.EsmeInstantaneous)
            gas = await b.session.read_instantaneous(inst.gsme.eui)
            assert isinstance(gas, wan.GsmeInstantaneous) and gas.data_age_s < 3600
            # ...and a frame under the old key is dropped.
            assert han.receive(old, han.chf, current_clock().now_us()) is False
            dropped = [f for e, _, f in b.trace.events if e == "HanFrameDropped"]
            assert dropped and dropped[-1]["reason"] == "UnknownKeySequence"

    run_virtual(main())


def test_behaviour_26_gas_meter_swap_after_migration_over_tls() -> None:
    """After migration the S1SP swaps the gas meter through the device log, over TLS on the
    virtual clock: Remove the old GSME, Add the new one, the installer fits it and it joins in
    the window. The head-end reads it over the WAN, the inventory lists it, the capture holds
    its link key and its frames; the fleet's clock keeps running throughout."""

    async def main() -> None:
        clock = current_clock()
        scheduler = Scheduler(clock)
        trace = ListTrace()
        capture = HanCapture()
        fleet = Fleet(default_dmc(), 1, 7, scheduler, trace, capture=capture)
        try:
            inst = fleet.installations[0]
            s1sp = S1sp(fleet, trace.emitter("dcc"), 7)
            keys = fleet.keys_for(inst.chf.eui)
            outcome = await s1sp.install(
                inst, group_id="EA", device_certificate=fleet.chf_certificate(inst),
                master_key=keys.master_key, previous_apn=inst.chf.sim.apn,
                released_at=clock.now_us())
            assert outcome.status == "migrated", outcome
            session = await connect(fleet.link_to(inst, via_apn=DCC_APN).a, s1sp.s1sp_headend,
                                    clock, timeout_s=30)
            old = inst.gsme
            assert old is not None
            await session.update_device_log(DeviceLogAction.REMOVE, old.eui)
            code = bytes(range(60, 76)) + install_code_crc(bytes(range(60, 76)))
            await session.update_device_log(DeviceLogAction.ADD, NEW_GSME, install_code=code,
                                            device_type=DeviceType.GSME, join_window_s=600)
            model = default_dmc().gsme
            assert model is not None
            frames_before = capture.frames
            new = Gsme(NEW_GSME, model, SplitMix64.derive(1, NEW_GSME), trace.emitter("new"),
                       clock.now_us(), keys.prepayment_key)
            inst.fit_gsme(new, code)
            await sleep_us(HOUR)
            inv = await session.read_inventory()
            entry = _entry(inv, NEW_GSME)
            assert entry is not None and entry.state.name == "JOINED"
            assert _entry(inv, old.eui) is None
            gas = await session.read_instantaneous(NEW_GSME)
            assert isinstance(gas, wan.GsmeInstantaneous) and gas.data_age_s <= 1800
            assert capture.frames > frames_before
            assert install_code_link_key(code).hex() in " ".join(capture.tshark_args()).lower()
            await sleep_us(3 * HOUR)  # the old meter keeps waking: nothing stops the timer
            reading = await session.read_instantaneous(inst.esme.eui)
            assert isinstance(reading, wan.EsmeInstantaneous)
            await session.close()
        finally:
            fleet.close()
            scheduler.close()

    run_virtual(main())
