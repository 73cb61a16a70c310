"""WAN commands that reach into the ZigBee HAN, on an installation's cores paired in memory with
a head-end core (explicit time, no TLS): whitelisting and joining, time mastership, the device
log. The TLS-driven HAN tests are in tests/e2e/test_han_installation.py."""

from __future__ import annotations

from emulator.core import headend_commands as cmds
from emulator.core.han import HanNode
from emulator.core.han_crypto import install_code_crc, install_code_link_key
from emulator.core.timebase import DAY, HOUR, MINUTE, SECOND
from emulator.wire import wan
from emulator.wire.eui import eui_from_str, eui_to_str
from emulator.wire.vocabulary import DeviceLogAction, DeviceLogState, DeviceLogStatus, DeviceType
from tests.pairing import paired

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
