"""The ZigBee HAN inside an emulated installation, driven over the WAN on the virtual clock."""

from __future__ import annotations

import asyncio

from emulator.core.han import HanNode
from emulator.core.han_crypto import install_code_crc, install_code_link_key
from emulator.core.timebase import DAY, HOUR, MINUTE, SECOND, zigbee_utc
from emulator.drivers.clock import current_clock, run_virtual, sleep_us
from emulator.errors import RemoteProtocolError
from emulator.wire import wan
from emulator.wire.eui import eui_from_str, eui_to_str
from emulator.wire.vocabulary import (
    DeviceLogAction,
    DeviceLogState,
    DeviceLogStatus,
    DeviceType,
    ErrorCode,
    PaymentMode,
)
from tests.e2e.conftest import smso_bench

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


def test_behaviour_19_whitelist_join_over_the_wan() -> None:
    """SRV 8.11-style Add opens a join window: the matching install code joins within it; a
    wrong code or a late join is refused; Remove revokes the device."""

    async def main() -> None:
        async with smso_bench() as b:
            inst = b.fleet.installations[0]
            han = inst.han
            assert han is not None
            s = b.session
            code = bytes(range(16, 32))
            code_crc = code + install_code_crc(code)
            bad = await s.update_device_log(DeviceLogAction.ADD, NEW_GSME,
                                            install_code=code + b"\x00\x00")
            assert bad.status is DeviceLogStatus.INVALID_INSTALL_CODE
            ok = await s.update_device_log(DeviceLogAction.ADD, NEW_GSME,
                                           install_code=code_crc, join_window_s=90)
            assert ok.status is DeviceLogStatus.DONE
            again = await s.update_device_log(DeviceLogAction.ADD, NEW_GSME,
                                              install_code=code_crc)
            assert again.status is DeviceLogStatus.ALREADY_PRESENT
            entry = _entry(await s.read_inventory(), NEW_GSME)
            assert entry is not None and entry.state is DeviceLogState.WHITELISTED

            now = current_clock().now_us()
            wrong_code = bytes(16)
            wrong = HanNode(eui_from_str(NEW_GSME), 0xFFFE, link_key=install_code_link_key(
                wrong_code + install_code_crc(wrong_code)))
            han.request_join(wrong, now)
            inst.sync_timer()
            await sleep_us(20 * SECOND)
            assert not wrong.joined and "HanJoinFailed" in b.trace.counts
            entry = _entry(await s.read_inventory(), NEW_GSME)
            assert entry is not None and entry.state is DeviceLogState.WHITELISTED

            right = HanNode(eui_from_str(NEW_GSME), 0xFFFE,
                            link_key=install_code_link_key(code_crc))
            han.request_join(right, current_clock().now_us())
            inst.sync_timer()
            await sleep_us(20 * SECOND)
            assert right.joined
            entry = _entry(await s.read_inventory(), NEW_GSME)
            assert entry is not None and entry.state is DeviceLogState.JOINED

            removed = await s.update_device_log(DeviceLogAction.REMOVE, NEW_GSME)
            assert removed.status is DeviceLogStatus.DONE
            assert NEW_GSME not in han.nodes and NEW_GSME not in han.tc_keys
            assert _entry(await s.read_inventory(), NEW_GSME) is None

            # Outside the window: added, but the device comes too late.
            await s.update_device_log(DeviceLogAction.ADD, NEW_GSME, install_code=code_crc,
                                      join_window_s=60)
            await sleep_us(2 * MINUTE)
            late = HanNode(eui_from_str(NEW_GSME), 0xFFFE,
                           link_key=install_code_link_key(code_crc))
            han.request_join(late, current_clock().now_us())
            inst.sync_timer()
            await sleep_us(20 * SECOND)
            assert not late.joined and "HanJoinRefused" in b.trace.counts

    run_virtual(main())


def test_behaviour_23_chf_is_time_master_and_skew_is_corrected() -> None:
    async def main() -> None:
        async with smso_bench() as b:
            inst = b.fleet.installations[0]
            esme = inst.esme.eui
            s = b.session
            chf_utc = await s.read_time()
            inst.clock_skew("esme", 300)
            skewed = await s.read_time(esme)
            assert skewed - chf_utc >= 299
            await sleep_us(DAY + HOUR)  # every device syncs from the CHF once a day
            chf_utc = await s.read_time()
            assert abs(await s.read_time(esme) - chf_utc) <= 2
            assert "ClockSynchronised" in b.trace.counts
            # Setting the CHF's clock moves the whole HAN at the next sync.
            await s.set_time(None, chf_utc + 3600)
            await sleep_us(DAY + HOUR)
            assert abs(await s.read_time(esme) - await s.read_time()) <= 2

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


def test_entry_device_type_of_joined_devices() -> None:
    async def main() -> None:
        async with smso_bench() as b:
            inv = await b.session.read_inventory()
            kinds = sorted(e.device_type.name for e in inv.entries)
            assert kinds == sorted(["ESME", "GSME", "PPMID", "IHD"])
            assert all(e.state is DeviceLogState.JOINED for e in inv.entries)
            assert DeviceType.GSME in {e.device_type for e in inv.entries}

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
