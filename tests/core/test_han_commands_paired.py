"""WAN commands that reach into the ZigBee HAN, on an installation's cores paired in memory with
a head-end core (explicit time, no TLS): whitelisting and joining, time mastership, the device
log. The TLS-driven HAN tests are in tests/e2e/test_han_installation.py."""

from __future__ import annotations

import pytest

from emulator.core import headend_commands as cmds
from emulator.core.gsme import Gsme
from emulator.core.han import HanNode
from emulator.core.han_crypto import install_code_crc, install_code_link_key
from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, HOUR, MINUTE, SECOND
from emulator.errors import RemoteProtocolError
from emulator.profiles import default_dmc
from emulator.wire import wan
from emulator.wire.eui import eui_from_str, eui_to_str
from emulator.wire.vocabulary import (
    DeviceLogAction,
    DeviceLogState,
    DeviceLogStatus,
    DeviceType,
    ErrorCode,
)
from tests.pairing import Paired, paired

NEW_GSME = "00-1B-C5-0C-03-00-00-77"


def _entry(inv: wan.Inventory, eui: str) -> wan.InventoryEntry | None:
    return next((e for e in inv.entries if eui_to_str(e.eui) == eui), None)


def test_behaviour_19_whitelist_join_over_the_wan() -> None:
    """SRV 8.11-style Add opens a join window: the matching install code joins within it; a
    wrong code or a late join is refused; Remove revokes the device."""
    p = paired()
    pair = p.pair
    han = p.han
    assert han is not None
    code = bytes(range(16, 32))
    code_crc = code + install_code_crc(code)
    bad = pair.run(cmds.update_device_log(DeviceLogAction.ADD, NEW_GSME,
                                          install_code=code + b"\x00\x00"))
    assert bad.status is DeviceLogStatus.INVALID_INSTALL_CODE
    ok = pair.run(cmds.update_device_log(DeviceLogAction.ADD, NEW_GSME, install_code=code_crc,
                                         join_window_s=90))
    assert ok.status is DeviceLogStatus.DONE
    again = pair.run(cmds.update_device_log(DeviceLogAction.ADD, NEW_GSME, install_code=code_crc))
    assert again.status is DeviceLogStatus.ALREADY_PRESENT
    entry = _entry(pair.run(cmds.read_inventory()), NEW_GSME)
    assert entry is not None and entry.state is DeviceLogState.WHITELISTED

    wrong_code = bytes(16)
    wrong = HanNode(eui_from_str(NEW_GSME), 0xFFFE, link_key=install_code_link_key(
        wrong_code + install_code_crc(wrong_code)))
    han.request_join(wrong, pair.now)
    pair.advance(pair.now + 20 * SECOND)
    assert not wrong.joined and "HanJoinFailed" in p.trace.names()
    entry = _entry(pair.run(cmds.read_inventory()), NEW_GSME)
    assert entry is not None and entry.state is DeviceLogState.WHITELISTED

    right = HanNode(eui_from_str(NEW_GSME), 0xFFFE, link_key=install_code_link_key(code_crc))
    han.request_join(right, pair.now)
    pair.advance(pair.now + 20 * SECOND)
    assert right.joined
    entry = _entry(pair.run(cmds.read_inventory()), NEW_GSME)
    assert entry is not None and entry.state is DeviceLogState.JOINED

    removed = pair.run(cmds.update_device_log(DeviceLogAction.REMOVE, NEW_GSME))
    assert removed.status is DeviceLogStatus.DONE
    assert NEW_GSME not in han.nodes and NEW_GSME not in han.tc_keys
    assert _entry(pair.run(cmds.read_inventory()), NEW_GSME) is None

    # Outside the window: added, but the device comes too late.
    pair.run(cmds.update_device_log(DeviceLogAction.ADD, NEW_GSME, install_code=code_crc,
                                    join_window_s=60))
    pair.advance(pair.now + 2 * MINUTE)
    late = HanNode(eui_from_str(NEW_GSME), 0xFFFE, link_key=install_code_link_key(code_crc))
    han.request_join(late, pair.now)
    pair.advance(pair.now + 20 * SECOND)
    assert not late.joined and "HanJoinRefused" in p.trace.names()
    assert [f["status"] for f in p.named("DeviceLogUpdated")][:3] == [
        "INVALID_INSTALL_CODE", "DONE", "ALREADY_PRESENT"]


def test_behaviour_23_chf_is_time_master_and_skew_is_corrected() -> None:
    p = paired()
    pair = p.pair
    esme = p.esme
    chf_utc = pair.run(cmds.read_time()).utc
    esme.set_time(esme.meter_time(pair.now) + 300 * SECOND, pair.now)  # a skewed meter clock
    skewed = pair.run(cmds.read_time(esme.eui)).utc
    assert skewed - chf_utc >= 299
    pair.advance(pair.now + DAY + HOUR)  # every device syncs from the CHF once a day
    chf_utc = pair.run(cmds.read_time()).utc
    assert abs(pair.run(cmds.read_time(esme.eui)).utc - chf_utc) <= 2
    assert "ClockSynchronised" in p.trace.names()
    # Setting the CHF's clock moves the whole HAN at the next sync.
    pair.run(cmds.set_time(None, chf_utc + 3600))
    pair.advance(pair.now + DAY + HOUR)
    assert abs(pair.run(cmds.read_time(esme.eui)).utc - pair.run(cmds.read_time()).utc) <= 2


def test_entry_device_type_of_joined_devices() -> None:
    inv = paired().pair.run(cmds.read_inventory())
    kinds = sorted(e.device_type.name for e in inv.entries)
    assert kinds == sorted(["ESME", "GSME", "PPMID", "IHD"])
    assert all(e.state is DeviceLogState.JOINED for e in inv.entries)
    assert DeviceType.GSME in {e.device_type for e in inv.entries}


def _new_gsme(p: Paired, eui: str) -> Gsme:
    """Another gas meter of the installation's model (a replacement from the supplier)."""
    model = default_dmc().gsme
    assert model is not None
    return Gsme(eui, model, SplitMix64.derive(9, eui), p.trace, p.pair.now,
                p.keys.prepayment_key)


def test_a_joined_device_without_a_core_gets_an_error_and_the_clock_goes_on() -> None:
    """A device added through the device log and joined, but with nothing behind it: a WAN read
    for it is an ERROR reply (it used to raise in the CHF), and the installation keeps time."""
    p = paired()
    pair, han = p.pair, p.han
    assert han is not None
    code = bytes(range(16)) + install_code_crc(bytes(range(16)))
    pair.run(cmds.update_device_log(DeviceLogAction.ADD, NEW_GSME, install_code=code,
                                    device_type=DeviceType.GSME, join_window_s=90))
    node = HanNode(eui_from_str(NEW_GSME), 0xFFFE, link_key=install_code_link_key(code))
    han.request_join(node, pair.now)
    pair.advance(pair.now + 20 * SECOND)
    assert node.joined
    with pytest.raises(RemoteProtocolError) as err:
        pair.run(cmds.read_time(NEW_GSME))
    assert err.value.code == ErrorCode.DEVICE_UNREACHABLE
    before = pair.run(cmds.read_instantaneous(p.esme.eui))
    pair.advance(pair.now + HOUR)  # the clock-driven work still runs
    after = pair.run(cmds.read_instantaneous(p.esme.eui))
    assert isinstance(before, wan.EsmeInstantaneous) and isinstance(after, wan.EsmeInstantaneous)
    assert after.meter_time > before.meter_time


def test_behaviour_26_gas_meter_swap_through_the_device_log() -> None:
    """The old GSME is removed (its link key revoked, its frames dropped), the new one is
    whitelisted with UPDATE_HAN_DEVICE_LOG Add and joins in the window: it is a full member,
    read over the WAN from the mirror, listed in the inventory and firmware versions; the old
    meter waking on its own schedule breaks nothing; Remove revokes the new one too."""
    p = paired()
    pair, han = p.pair, p.han
    assert han is not None and p.gsme is not None
    old = p.gsme
    removed = pair.run(cmds.update_device_log(DeviceLogAction.REMOVE, old.eui))
    assert removed.status is DeviceLogStatus.DONE and old.eui not in han.tc_keys
    assert p.core.devices.chf.gsme_mirror is None  # the old meter's data went with it
    new_eui = "00-1B-C5-0C-03-00-00-99"
    code = bytes(range(40, 56)) + install_code_crc(bytes(range(40, 56)))
    added = pair.run(cmds.update_device_log(DeviceLogAction.ADD, new_eui, install_code=code,
                                            device_type=DeviceType.GSME, join_window_s=600))
    assert added.status is DeviceLogStatus.DONE
    new = _new_gsme(p, new_eui)
    p.core.fit_gsme(new, code, pair.now)
    pair.advance(pair.now + MINUTE)
    entry = _entry(pair.run(cmds.read_inventory()), new_eui)
    assert entry is not None and entry.state is DeviceLogState.JOINED
    assert _entry(pair.run(cmds.read_inventory()), old.eui) is None
    pair.advance(pair.now + HOUR)  # the new meter wakes and reports into the mirror
    reading = pair.run(cmds.read_instantaneous(new_eui))  # only the new meter filled it
    assert isinstance(reading, wan.GsmeInstantaneous)
    assert reading.data_age_s <= 1800  # its wake interval
    versions = pair.run(cmds.read_firmware_versions())
    assert eui_from_str(new_eui) in {e.eui for e in versions.entries}
    assert eui_from_str(old.eui) not in {e.eui for e in versions.entries}
    # a command that waits for the sleepy GSME reaches the new one when it polls
    assert pair.run(cmds.read_time(new_eui)).utc > 0
    # the old meter (still on the wall, woken by its timer) is not heard any more
    assert old.get_timer() is not None and old.get_timer() <= pair.now + HOUR  # type: ignore[operator]
    pair.advance(pair.now + 2 * HOUR)
    assert _entry(pair.run(cmds.read_inventory()), old.eui) is None
    # Remove revokes the new meter: link key gone, its WAN reads refused
    pair.run(cmds.update_device_log(DeviceLogAction.REMOVE, new_eui))
    assert new_eui not in han.tc_keys and new_eui not in han.nodes
    with pytest.raises(RemoteProtocolError) as err:
        pair.run(cmds.read_instantaneous(new_eui))
    assert err.value.code == ErrorCode.UNKNOWN_DEVICE
    pair.advance(pair.now + 2 * HOUR)  # the removed meter's wakes break nothing either
