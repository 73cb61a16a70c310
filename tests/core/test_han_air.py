"""The HAN's radio seam, sans-IO: the CHF's half and the devices' half of one installation, each
with only its own nodes, joined through an air that carries bytes (no sockets, explicit now).

Each half is built as ``s1lab serve --radio`` and ``s1lab meters`` build theirs; the devices
learn their short addresses and the network key only from the frames the CHF sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.serialization import Encoding

from emulator import build_cores, default_dmc
from emulator.build import Cores
from emulator.core.han import Han, TxDone
from emulator.core.han_crypto import ReplayGuard, parse_secured_frame
from emulator.core.installation import HanRole
from emulator.core.timebase import MS, SECOND
from emulator.core.trace_sink import Recorder
from emulator.fleet import FIRST_EUI
from emulator.keystore import derive_chf_keys
from emulator.pki import mint_authorities
from emulator.wire.eui import eui_from_str, eui_to_str
from emulator.wire.ieee802154 import MacFrameType, parse_mac
from emulator.wire.vocabulary import DeviceLogState, Role
from emulator.wire.zdo import ZdoCluster, decode_device_annce

NOW = 1_767_571_200 * SECOND
SEED = 7
ANCHOR = (Role.SMSO, mint_authorities(NOW, SEED).smso_ca.cert.public_bytes(Encoding.DER))
LATENCY = 2 * MS


def half(role: HanRole) -> tuple[Cores, Recorder]:
    trace = Recorder()
    cores = build_cores(installation_id="serve", dmc=default_dmc(), chf_eui=FIRST_EUI,
                        anchor=ANCHOR, keys=derive_chf_keys(SEED, FIRST_EUI), seed=SEED,
                        now=NOW, emit=trace, han_role=role)
    return cores, trace


@dataclass
class Air:
    """Carries each frame to the other half after LATENCY; acks every unicast (a perfect
    radio), unless ``deaf`` (nobody on the air)."""

    me: Han
    other: Han | None = None
    frames: list[bytes] = field(default_factory=list)
    deaf: bool = False

    def transmit(self, frame: bytes, now: int, done: TxDone) -> None:
        self.frames.append(frame)
        other = self.other
        if other is not None and not self.deaf:
            other.schedule(now + LATENCY, lambda at: other.air_frame(frame, at))
        self.me.schedule(now + LATENCY, lambda at: done(not self.deaf, at))

    def readdress(self) -> None:
        pass


def run(cores: list[Cores], until: int) -> None:
    """Run both halves' deadlines in time order up to ``until``."""
    while True:
        due = [(t, c) for c in cores if (t := c.core.get_timer()) is not None and t <= until]
        if not due:
            return
        t, first = min(due, key=lambda x: x[0])
        first.core.handle_timer(t)


def wire(chf: Cores, devices: Cores) -> tuple[Air, Air]:
    assert chf.han is not None and devices.han is not None
    a, b = Air(chf.han), Air(devices.han)
    a.other, b.other = devices.han, chf.han
    chf.han.air, devices.han.air = a, b
    return a, b


def test_devices_join_the_chf_over_the_air_and_the_gsme_fills_its_mirror() -> None:
    (chf, chf_trace), (devices, dev_trace) = half("chf"), half("devices")
    assert chf.han is not None and devices.han is not None
    assert chf.han.local == {FIRST_EUI}
    assert not chf.han.nodes  # the meters are expected on the air
    assert all(not n.joined and n.keys is None for n in devices.han.nodes.values())
    to_devices, to_chf = wire(chf, devices)
    devices.core.join(NOW)
    run([chf, devices], NOW + 10 * SECOND)
    log = chf.core.devices.chf.log
    assert {e.device_type.name: e.state for e in log.values()} == {
        "ESME": DeviceLogState.JOINED, "GSME": DeviceLogState.JOINED,
        "PPMID": DeviceLogState.JOINED, "IHD": DeviceLogState.JOINED}
    # Each device holds the network key it was sent, and the short address it was given.
    for eui, node in devices.han.nodes.items():
        assert node.joined and node.keys is not None
        assert node.keys.current_key == chf.han.keys.current_key
        assert node.short == chf.han.nodes[eui].short
    assert chf.core.devices.chf.gsme_mirror is not None  # the GSME reported over the air
    # Every device announced itself with a ZDO Device_annce broadcast.
    annces = [f for f in to_chf.frames if parse_mac(f).dst_addr == 0xFFFF]
    assert len(annces) == 4
    announced = {}
    for frame in annces:
        parsed = parse_secured_frame(frame, network_keys=chf.han.keys, link_key=None,
                                     guard=ReplayGuard())
        assert (parsed.aps.cluster, parsed.aps.profile) == (ZdoCluster.DEVICE_ANNCE, 0)
        annce = decode_device_annce(parsed.payload)
        announced[eui_to_str(annce.eui)] = annce.nwk
    assert announced == {eui: n.short for eui, n in chf.han.nodes.items()}
    assert dev_trace.names().count("HanJoined") == 4
    assert "HanTransmissionFailed" not in dev_trace.names() + chf_trace.names()
    # The CHF's associations went out as indirect frames, collected by polls.
    commands = [parse_mac(f) for f in to_devices.frames]
    responses = [m for m in commands if m.frame_type is MacFrameType.COMMAND]
    assert len(responses) == 4


def test_a_joiner_with_nobody_on_the_air_retries_and_joins_when_the_chf_comes() -> None:
    (chf, _), (devices, dev_trace) = half("chf"), half("devices")
    assert devices.han is not None
    _, to_chf = wire(chf, devices)
    to_chf.deaf = True
    devices.core.join(NOW)
    run([chf, devices], NOW + 9 * SECOND)
    failed = [e for e in dev_trace.events if e[2] == "HanTransmissionFailed"]
    assert failed and not any(n.joined for n in devices.han.nodes.values())
    to_chf.deaf = False
    run([chf, devices], NOW + 30 * SECOND)
    assert [e for e in dev_trace.events if e[2] == "HanJoinRetry"]
    assert all(n.joined for n in devices.han.nodes.values())


def test_an_unjoined_device_on_a_radio_sends_nothing_but_its_join() -> None:
    (devices, trace) = half("devices")
    assert devices.han is not None
    air = Air(devices.han, deaf=True)
    devices.han.air = air
    run([devices], NOW + 2 * 86_400 * SECOND)  # two days of time syncs and IHD refreshes
    assert air.frames == []  # nothing: nobody asked to join, and unjoined devices stay quiet


def test_the_chf_tells_its_radio_whom_it_holds_frames_for() -> None:
    (chf, _), (devices, _) = half("chf"), half("devices")
    assert chf.han is not None and devices.han is not None
    wire(chf, devices)
    devices.core.join(NOW)
    gsme = next(eui for eui, n in devices.han.nodes.items() if n.sleepy)
    seen: list[set[bytes]] = []
    t = NOW
    while t < NOW + 10 * SECOND:
        run([chf, devices], t)
        seen.append(chf.han.pending_addresses()[1])
        t += 50 * MS
    # While joining, each device's Association Response and key wait for its poll...
    assert any(eui_from_str(gsme) in s for s in seen)
    # ...and once every device has collected its frames, nothing is pending.
    assert seen[-1] == set()
    assert chf.han.nodes[gsme].joined
