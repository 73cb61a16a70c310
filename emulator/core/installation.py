"""One SMETS1 installation as a single sans-IO core: CHF + ESME (+ GSME, PPMID, IHD).

The devices talk either over the ZigBee HAN (``han`` given: real secured frames over modelled
links, :mod:`emulator.core.han` and :mod:`emulator.core.se_app`) or over a *direct* link, where
the CHF calls the meter cores and a waking GSME's report lands in the mirror at once (cheaper,
for very large fleets). The installation folds its devices' deadlines into one
(``get_timer``), so a fleet driver arms one scheduler slot per installation, not one per device.

Consumer behaviour that the tests and demo rely on is modelled here too, seeded: when a
prepayment supply is ARMED after a top-up, the consumer presses the PPMID button after a while.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from emulator.core.chf import Chf
from emulator.core.chf.records import LogEntry
from emulator.core.esme import Esme
from emulator.core.gsme import Gsme
from emulator.core.han import Han, HanNode, LinkParams
from emulator.core.han_crypto import install_code_crc, install_code_link_key
from emulator.core.ihd import Ihd
from emulator.core.ppmid import Ppmid
from emulator.core.rng import SplitMix64
from emulator.core.se_app import SmartEnergyApp
from emulator.core.timebase import MINUTE, MS
from emulator.wire.eui import eui_from_str, eui_to_str
from emulator.wire.vocabulary import DeviceLogState, DeviceType, SupplyState

#: Which side of the HAN this process runs: all of it in memory, or, on a radio, only the CHF
#: (its meters are on the air) or only the devices (they join a CHF on the air).
HanRole = Literal["all", "chf", "devices"]
#: On a radio the CHF keeps its devices' join window open for the run (10 years).
OPEN_JOIN_WINDOW_US: Final = 10 * 365 * 86_400 * 1_000_000

#: How an installation's HAN starts: every device joining at the first instant (the GSME then
#: wakes and fills its mirror over the air), or commissioned (the state a join leaves, no frames).
HanStart = Literal["joining", "commissioned"]


def device_eui(chf_eui: str, device_type: DeviceType) -> str:
    """s1lab's EUI scheme for an installation's devices: the CHF's EUI with byte 4 set to the
    device type (00-1B-C5-0C-00-00-00-01 -> ESME 00-1B-C5-0C-02-00-00-01)."""
    raw = bytearray(eui_from_str(chf_eui))
    raw[4] = int(device_type)
    return eui_to_str(bytes(raw))


@dataclass(slots=True)
class Devices:
    chf: Chf
    esme: Esme
    gsme: Gsme | None = None
    ppmid: Ppmid | None = None
    ihd: Ihd | None = None


def install_code(rng: SplitMix64) -> bytes:
    """A 16-byte install code with its CRC, as printed on a device (seeded)."""
    code = rng.randbytes(16)
    return code + install_code_crc(code)


class InstallationCore:
    __slots__ = ("_consumer_press_at", "_fitted", "_rng", "app", "devices", "direct_outages",
                 "id", "install_codes", "role")

    def __init__(self, installation_id: str, devices: Devices, rng: SplitMix64, now: int,
                 han: Han | None = None, link: LinkParams | None = None,
                 role: HanRole = "all", start: HanStart = "joining",
                 on_air: dict[str, bytes] | None = None) -> None:
        """``on_air``: with ``role="all"``, devices (EUI -> install code with CRC) that are
        physical, on a radio: whitelisted as with ``role="chf"``, the others run here."""
        self.id = installation_id
        on_air = on_air or {}
        self.role = role
        self.devices = devices
        self._rng = rng
        self._consumer_press_at: int | None = None
        self.app: SmartEnergyApp | None = None
        self.install_codes: dict[str, bytes] = {}
        #: Devices fitted after installation, waiting to join (EUI -> device core).
        self._fitted: dict[str, Gsme] = {}
        #: Direct-link mode only: [start, end) windows when a device cannot reach the CHF.
        self.direct_outages: dict[str, list[tuple[int, int]]] = {}
        chf = devices.chf
        typed = ((devices.esme, DeviceType.ESME), (devices.gsme, DeviceType.GSME),
                 (devices.ppmid, DeviceType.PPMID), (devices.ihd, DeviceType.IHD))
        if role != "chf":
            for dev, device_type in typed:
                if dev is not None and dev.eui not in on_air:
                    chf.attach_device(dev.eui, device_type, dev, now)
            if devices.gsme is not None and han is None:
                # On joining, the GSME requests its mirror and reports once.
                chf.mirror_report(devices.gsme.eui, devices.gsme.registers(now), now)
        if han is not None:
            if role != "all" or on_air:
                han.local = ({chf.eui} if role == "chf" else
                             {dev.eui for dev, _ in typed if dev is not None} - set(on_air))
                if on_air:
                    han.local.add(chf.eui)
            for dev, device_type in typed:
                if dev is None:
                    continue
                code = install_code(rng)
                code = on_air.get(dev.eui, code)
                self.install_codes[dev.eui] = code
                key = install_code_link_key(code)
                if role == "chf" or dev.eui in on_air:  # expected on the air: whitelisted
                    chf.log[dev.eui] = LogEntry(device_type, DeviceLogState.WHITELISTED, None,
                                                key, now + OPEN_JOIN_WINDOW_US)
                    chf.devices[dev.eui] = dev
                    continue
                params = LinkParams() if link is None else LinkParams(
                    link.latency_us, link.loss, link.mac_retries, link.ack_wait_us, [])
                han.add_node(dev.eui, sleepy=dev is devices.gsme, link_key=key, link=params,
                             joined=role == "all")
            self.app = SmartEnergyApp(han, chf, devices.esme, devices.gsme, devices.ppmid,
                                      devices.ihd, rng, chf.emit, now)
            if start == "commissioned":
                # The HAN as a join left it, the GSME's first report already in its mirror
                # and its clock synced: no frame goes on air until the devices' own schedules.
                han.commission(now)
                self.app.commissioned(now)
                if devices.gsme is not None and devices.gsme.eui not in on_air:
                    chf.mirror_report(devices.gsme.eui, devices.gsme.registers(now), now)
            elif devices.gsme is not None:  # on joining, the GSME wakes and fills its mirror
                self.app.gsme_wake(devices.gsme.registers(now), now)
            chf.han = self.app
            han.on_join_request = lambda node, at: chf.admit(node.name, at)
            han.on_joined = self._joined
            han.on_local_joined = self.app.device_joined

    def _joined(self, node: HanNode, now: int) -> None:
        """The Trust Centre confirmed a join: a fitted device becomes a member (its core is what
        WAN requests reach); a sleepy one goes back to polling."""
        core = self._fitted.pop(node.name, None)
        if core is not None:
            node.sleepy = True
        self.devices.chf.joined(node.name, now, core)

    def fit_gsme(self, gsme: Gsme, install_code: bytes, now: int) -> None:
        """An installer fits a new gas meter (a swap after migration, behaviour 26) and it asks
        to join with its install code. It is admitted only if UPDATE_HAN_DEVICE_LOG Add
        whitelisted it with that code and the join window is open; it then replaces the
        installation's GSME: read over the WAN, in the inventory, its reports in the mirror.
        The old meter is taken away (Remove it from the device log to revoke it)."""
        chf = self.devices.chf
        self.devices.gsme = gsme
        self.install_codes[gsme.eui] = install_code
        if self.app is None:  # the direct link: the CHF admits it at once, or never
            if chf.admit(gsme.eui, now) is not None:
                chf.joined(gsme.eui, now, gsme)
                chf.mirror_report(gsme.eui, gsme.registers(now), now)
            else:
                chf.emit(now, chf.eui, "HanJoinRefused",
                         {"eui": gsme.eui, "reason": "not whitelisted or join window closed"})
            return
        self.app.gsme = gsme
        self._fitted[gsme.eui] = gsme
        # Awake while joining (a sleepy device polls fast until it has the network key).
        node = HanNode(eui_from_str(gsme.eui), 0xFFFE, link_key=install_code_link_key(install_code))
        self.app.han.request_join(node, now)

    def join(self, now: int) -> None:
        """On a radio, as the devices' side: each device asks the CHF on the air to join
        (with its install-code key), a little apart."""
        app = self.app
        if app is None or self.role != "devices":
            return
        han = app.han
        for i, eui in enumerate(sorted(han.local)):
            han.schedule(now + i * 250 * MS, self._joiner(han, han.nodes[eui]))

    @staticmethod
    def _joiner(han: Han, node: HanNode) -> Callable[[int], None]:
        return lambda at: han.request_join(node, at)

    def get_timer(self) -> int | None:
        d = self.devices
        best = d.esme.get_timer()
        gsme = d.gsme
        if gsme is not None:
            t = gsme.get_timer()
            if t is not None and (best is None or t < best):
                best = t
        ppmid = d.ppmid
        if ppmid is not None:
            t = ppmid.get_timer()
            if best is None or t < best:
                best = t
        ihd = d.ihd
        if ihd is not None:
            t = ihd.get_timer()
            if best is None or t < best:
                best = t
        t = self._consumer_press_at
        if t is not None and (best is None or t < best):
            best = t
        if self.app is not None:
            t = self.app.get_timer()
            if t is not None and (best is None or t < best):
                best = t
        return best

    def handle_timer(self, now: int) -> None:
        if self.app is None:
            self._handle_direct(now)
        else:
            self._handle_han(self.app, now)

    def fire(self, now: int) -> int | None:
        """:meth:`handle_timer` at ``now``, then the next deadline (:meth:`get_timer`)."""
        if self.app is None:
            return self._handle_direct(now)
        self._handle_han(self.app, now)
        return self.get_timer()

    def _handle_direct(self, now: int) -> int | None:
        """The direct link's timer: the devices due at ``now`` in a fixed order (ESME, GSME,
        PPMID, IHD, then the consumer's button), each consumer read answered at once (the
        ESME first, then the gas from the CHF's mirror: one ``refresh_direct`` per device).
        Returns the next deadline, :meth:`get_timer`'s answer: a device that was not due keeps
        its deadline (nothing here moves it: a meter not due has no half hour to settle, and
        the consumers' reads and the button leave the GSME alone), so each device's deadline
        is asked once, and again only after it ran."""
        d = self.devices
        chf = d.chf
        esme = d.esme
        best = esme.get_timer()
        if best is not None and best <= now:
            esme.handle_timer(now)
            chf.heard(esme.eui, now)
            best = esme.get_timer()
        gsme = d.gsme
        if gsme is not None:
            t = gsme.get_timer()
            if t is not None and t <= now:
                reading = gsme.handle_timer(now)
                if reading is not None and not (self.direct_outages
                                                and self._cut_off(gsme.eui, now)):
                    chf.mirror_report(gsme.eui, reading, now)
                t = gsme.get_timer()
            if t is not None and (best is None or t < best):
                best = t
        ppmid = d.ppmid
        ihd = d.ihd
        t_p = None if ppmid is None else ppmid.due_at
        t_i = None if ihd is None else ihd.due_at
        due_p = t_p is not None and t_p <= now
        due_i = t_i is not None and t_i <= now
        if due_p or due_i:
            # consumer devices read gas data from the mirror, with its last-update time
            mirror = chf.gsme_mirror
            gas_at = 0 if mirror is None else chf.clock(mirror[1])
            if due_p:
                assert ppmid is not None
                ppmid.take_due(now)
                snap = esme.payment(now)
                chf.heard(ppmid.eui, now)
                ppmid.refresh_direct(snap, mirror, gas_at, now)
                t_p = ppmid.due_at
            if due_i:
                assert ihd is not None
                ihd.take_due(now)
                # what the IHD shows of the meter, without the whole EsmeReading
                # (three locals: mypyc makes a star-args call a generic one)
                import_wh, demand_w, supply = esme.display_totals(now)
                value = ihd.esme_value(import_wh, demand_w, supply)
                chf.heard(ihd.eui, now)
                ihd.refresh_direct(value, mirror, gas_at, now)
                t_i = ihd.due_at
        press = self._consumer_press_at
        if press is not None and press <= now:
            self._consumer_press_at = press = None
            self.press_enable_supply(now)
        if ppmid is not None:
            # Settling never arms a supply (it only cuts one), so whether it is ARMED needs
            # no catch-up of the meter: the same answer as _watch_supply's, without the work.
            if press is None and esme.supply_armed:
                self._consumer_press_at = press = now + (5 + self._rng.randrange(55)) * MINUTE
            if t_p is not None and (best is None or t_p < best):
                best = t_p
        if t_i is not None and (best is None or t_i < best):
            best = t_i
        if press is not None and (best is None or press < best):
            best = press
        return best

    def _handle_han(self, app: SmartEnergyApp, now: int) -> None:
        d = self.devices
        esme = d.esme
        t = esme.get_timer()
        if t is not None and t <= now:
            esme.handle_timer(now)
        gsme = d.gsme
        if gsme is not None:
            t = gsme.get_timer()
            if t is not None and t <= now:
                reading = gsme.handle_timer(now)
                if reading is not None:
                    app.gsme_wake(reading, now)
        for consumer in (d.ppmid, d.ihd):
            if consumer is None or consumer.get_timer() > now:
                continue
            for request in consumer.handle_timer(now):
                app.refresh(consumer, request.target, request.what, now)
        t = app.get_timer()
        if t is not None and t <= now:
            app.handle_timer(now)
        if self._consumer_press_at is not None and self._consumer_press_at <= now:
            self._consumer_press_at = None
            self.press_enable_supply(now)
        self._watch_supply(now)

    def _cut_off(self, eui: str, now: int) -> bool:
        return any(s <= now < e for s, e in self.direct_outages.get(eui, ()))

    def after_command(self, now: int) -> None:
        """Call after any WAN command: state may have changed what the consumer does next."""
        self._watch_supply(now)

    def _serve_display(
        self, consumer: Ppmid | Ihd, target: DeviceType, what: str, now: int
    ) -> None:
        d = self.devices
        data: object
        if target is DeviceType.ESME:
            data = d.esme.payment(now) if what == "payment" else d.esme.registers(now)
            d.chf.heard(consumer.eui, now)
        elif target is DeviceType.GSME and d.chf.gsme_mirror is not None:
            # consumer devices read gas data from the mirror, with its last-update time
            data, updated = d.chf.gsme_mirror
            consumer.show(target, data, now, d.chf.clock(updated))
            return
        else:
            return
        consumer.show(target, data, now)

    def _watch_supply(self, now: int) -> None:
        d = self.devices
        if (self._consumer_press_at is None and d.ppmid is not None
                and d.esme.supply_state_at(now) is SupplyState.ARMED):
                self._consumer_press_at = now + (5 + self._rng.randrange(55)) * MINUTE

    # consumer actions (tests and scenarios call these too)

    def press_enable_supply(self, now: int) -> bool:
        if self.devices.ppmid is None:
            return False
        self.devices.ppmid.press_enable_supply(now)
        return self.devices.esme.enable_by_consumer(now)

    def press_emergency_credit(self, now: int) -> bool:
        if self.devices.ppmid is None:
            return False
        self.devices.ppmid.press_emergency_credit(now)
        return self.devices.esme.select_emergency_credit(now)
