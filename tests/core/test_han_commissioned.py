"""The commissioned start: a HAN built formed is in the state a real join leaves it in."""

from __future__ import annotations

from emulator.build import build_cores
from emulator.core.han import Han, HanNode
from emulator.core.han_crypto import parse_secured_frame
from emulator.core.installation import InstallationCore
from emulator.core.rng import SplitMix64
from emulator.core.timebase import HOUR, MINUTE, SECOND
from emulator.core.trace_sink import Recorder
from emulator.errors import S1labError
from emulator.fleet import FIRST_EUI
from emulator.keystore import derive_chf_keys
from emulator.profiles import default_dmc
from emulator.wire.eui import eui_from_str
from emulator.wire.ieee802154 import MacFrameType, parse_mac
from emulator.wire.vocabulary import Role

CHF = "00-1B-C5-0C-00-00-00-01"
DEVICES = ("00-1B-C5-0C-02-00-00-01", "00-1B-C5-0C-04-00-00-01")
T0 = 1_767_571_200_000_000
NETWORK_KEY = b"\x11" * 16


def _link_key(eui: str) -> bytes:
    return bytes(b ^ 0x5A for b in eui_from_str(eui)) * 2


def _run(han: Han, until: int) -> None:
    while (t := han.get_timer()) is not None and t <= until:
        han.handle_timer(t)


def _state(han: Han, node: HanNode) -> tuple[object, ...]:
    chf = han.chf
    return (node.joined, node.nwk_counter, node.aps_counter, node.mac_seq,
            node.guard.highest(chf.eui, None), node.keys and node.keys.current_key,
            chf.guard.highest(node.eui, 0), han.tc_keys.get(node.name))


def test_commission_leaves_each_device_as_a_real_join_does() -> None:
    joined = Han(CHF, NETWORK_KEY, SplitMix64(1), Recorder())
    joined.on_join_request = lambda node, at: _link_key(node.name)
    nodes = []
    for i, eui in enumerate(DEVICES):  # one after the other, as commission() takes them
        node = HanNode(eui_from_str(eui), 0xFFFE, link_key=_link_key(eui))
        joined.request_join(node, T0 + i * MINUTE)
        _run(joined, T0 + i * MINUTE + 30 * SECOND)
        assert node.joined
        nodes.append(node)

    formed = Han(CHF, NETWORK_KEY, SplitMix64(1), Recorder())
    heard: list[tuple[str, int]] = []
    formed.on_heard = lambda eui, at: heard.append((eui, at))
    for eui in DEVICES:
        formed.add_node(eui, link_key=_link_key(eui))
    formed.commission(T0)

    for node in nodes:
        assert _state(formed, formed.node(node.name)) == _state(joined, node)
    chf_a, chf_b = joined.chf, formed.chf
    assert (chf_a.nwk_counter, chf_a.aps_counter, chf_a.mac_seq) == (
        chf_b.nwk_counter, chf_b.aps_counter, chf_b.mac_seq)
    assert heard == [(eui, T0) for eui in DEVICES]
    assert all(n.last_heard == T0 for n in formed.nodes.values())


def _core(start: str, emit: Recorder) -> InstallationCore:
    keys = derive_chf_keys(5, FIRST_EUI)
    return build_cores(installation_id="i00001", dmc=default_dmc(), chf_eui=FIRST_EUI,
                       anchor=(Role.SMSO, b""), keys=keys, seed=5, now=T0, emit=emit,
                       start=start).core  # type: ignore[arg-type]


def _drive(core: InstallationCore, until: int) -> None:
    while (t := core.get_timer()) is not None and t <= until:
        core.handle_timer(t)


def test_commissioned_installation_is_in_steady_state_from_its_first_instant() -> None:
    rec = Recorder()
    core = _core("commissioned", rec)
    app = core.app
    assert app is not None
    han = app.han
    frames: list[bytes] = []
    han.capture = lambda frame, now: frames.append(frame)
    chf = core.devices.chf
    gsme = core.devices.gsme
    assert gsme is not None
    # The GSME's mirror is filled and every device is a heard member, with nothing on air.
    assert chf.gsme_mirror is not None and chf.gsme_mirror[1] == T0
    assert all(n.joined and n.last_heard == T0 for n in han.nodes.values())
    assert all(chf.log[eui].last_heard == T0 for eui in han.nodes)
    assert han.get_timer() is None  # no join traffic queued: the devices' schedules come next

    readings: list[object] = []
    app.read_esme(T0 + MINUTE, lambda r, at: readings.append(r), lambda why, at: None)
    _drive(core, T0 + 3 * HOUR)
    assert len(readings) == 1  # a read over the HAN works
    assert chf.gsme_mirror[1] > T0  # the GSME's own wakes report into its mirror
    names = rec.names()
    assert "HanFrameDropped" not in names and "HanTransmissionFailed" not in names
    # Frame counters carry on from the join's: the first device frame is above the commission's.
    assert all(n.nwk_counter > 1 for n in han.nodes.values())

    # A capture still decrypts: every secured frame opens with the installation's keys.
    link_keys = [None, *han.tc_keys.values()]
    secured = 0
    for frame in frames:
        mac = parse_mac(frame)
        if mac.frame_type is not MacFrameType.DATA or not mac.payload:
            continue
        opened = 0
        for key in link_keys:
            try:
                parse_secured_frame(frame, network_keys=han.keys.current_key, link_key=key)
            except S1labError:  # not this frame's link key (BadMac, or no key for it)
                continue
            opened += 1
            break
        assert opened == 1
        secured += 1
    assert secured > 50


def test_joining_start_still_puts_the_first_wake_on_air() -> None:
    core = _core("joining", Recorder())
    app = core.app
    assert app is not None
    assert core.devices.chf.gsme_mirror is None  # filled over the air, a moment later
    assert app.han.get_timer() is not None
    _drive(core, T0 + 5 * SECOND)
    mirror = core.devices.chf.gsme_mirror
    assert mirror is not None and T0 < mirror[1] < T0 + 5 * SECOND
