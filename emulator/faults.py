"""The fault API of an installation: what scenarios, the harness and the command line break.

HAN faults (a link down, loss, a flat battery, a reset frame counter, a skewed meter clock,
a network-key roll), OTA faults (a device, or the CHF, whose upgrades stall, fail verification
or fail to activate), device faults of the CHF (a migration step that fails, a restart in the
middle of one, a lost Master Key) and WAN outages. :class:`emulator.installation.Installation`
mixes these in; the spec language for the command line is :mod:`harness.faults`.
"""

from __future__ import annotations

from abc import abstractmethod

from emulator.core.han import Han, HanNode
from emulator.core.installation import InstallationCore
from emulator.core.ota_han import OtaHan
from emulator.core.rng import SplitMix64
from emulator.core.trace_sink import Emit
from emulator.drivers.capture import HanCapture
from emulator.drivers.clock import Clock
from emulator.errors import LocalProtocolError
from emulator.wan_service import WanService
from emulator.wire.eui import normalise

_DIRECT = "this installation runs the direct HAN link (--han direct)"

#: OTA faults: the failure mode each imposes on a device's OTA client (or the CHF's own
#: firmware), the modes a device model's ``ota.failure`` may name.
OTA_FAULTS = {"ota-stall": "stall", "ota-verify-fails": "verify_fails",
              "ota-activation-fails": "activation_fails"}


class FaultApi:
    """Faults on one installation; times are run-clock µs."""

    id: str
    core: InstallationCore
    han: Han | None
    ota: OtaHan | None
    wan: WanService
    _clock: Clock
    _emit: Emit
    _capture: HanCapture | None

    @abstractmethod
    def sync_timer(self) -> None:
        """Re-arm after anything changed a deadline."""

    def han_node(self, device: str) -> HanNode:
        """The HAN radio of ``device``: an EUI-64 or one of esme, gsme, ppmid, ihd."""
        if self.han is None:
            raise LocalProtocolError(_DIRECT)
        eui = self._device_eui(device)
        if eui not in self.han.nodes:
            raise LocalProtocolError(f"{device} is not on this installation's HAN")
        return self.han.nodes[eui]

    def _device_eui(self, device: str) -> str:
        devices = self.core.devices
        named = {"esme": devices.esme.eui, "gsme": devices.gsme.eui if devices.gsme else None,
                 "ppmid": devices.ppmid.eui if devices.ppmid else None,
                 "ihd": devices.ihd.eui if devices.ihd else None}
        eui = named.get(device.lower())
        return eui if eui is not None else normalise(device)

    def link_down(self, device: str, start: int, end: int) -> None:
        """``device``'s HAN link is down in [start, end) (run-clock µs)."""
        if self.han is None:  # the direct link: the device's reports do not reach the CHF
            self.core.direct_outages.setdefault(self._device_eui(device), []).append((start, end))
        else:
            self.han_node(device).link.outages.append((start, end))
        self._emit(self._clock.now_us(), self.core.devices.chf.eui, "FaultScheduled",
                   {"fault": "link-down", "device": self._device_eui(device),
                    "start": start, "end": end})

    def set_loss(self, device: str, loss: float) -> None:
        self.han_node(device).link.loss = loss
        self._emit(self._clock.now_us(), self.core.devices.chf.eui, "FaultApplied",
                   {"fault": "loss", "device": self._device_eui(device), "loss": loss})

    def battery_flat(self) -> None:
        gsme = self.core.devices.gsme
        if gsme is None:
            raise LocalProtocolError("this installation has no GSME")
        gsme.battery_flat = True
        self._emit(self._clock.now_us(), gsme.eui, "FaultApplied", {"fault": "battery-flat"})
        self.sync_timer()

    def reset_frame_counter(self, device: str) -> None:
        """The device forgets its NWK frame counter (a reset meter): the CHF drops its frames
        as replays until the counter climbs past the last one it accepted."""
        node = self.han_node(device)
        node.nwk_counter = 0
        self._emit(self._clock.now_us(), node.name, "FaultApplied", {"fault": "counter-reset"})

    def clock_skew(self, device: str, seconds: int) -> None:
        """Move a meter's clock by ``seconds`` (it comes back at its next Time-cluster sync)."""
        devices = self.core.devices
        meter = devices.esme if device.lower() == "esme" else devices.gsme
        if meter is None:
            raise LocalProtocolError(f"no {device} to skew")
        now = self._clock.now_us()
        meter.set_time(meter.meter_time(now) + seconds * 1_000_000, now)
        self._emit(now, meter.eui, "FaultApplied", {"fault": "clock-skew", "seconds": seconds})

    def fail_step(self, step: str) -> None:
        """Device fault: the migration step ``rotate``, ``swap``, ``sim`` or ``rollback`` fails."""
        self.core.devices.chf.faults.fail_step(step)

    def restart_during(self, step: str) -> None:
        """Device fault: the CHF restarts in the middle of ``step`` (old or new state after)."""
        self.core.devices.chf.faults.restart_during(step)

    def wan_outage(self, until: int) -> None:
        """The CHF has no WAN (no cellular coverage, SIM fault) until ``until``."""
        chf = self.core.devices.chf
        chf.lose_wan(self._clock.now_us(), until)
        self.wan.after_security_change()

    def lose_master_key(self) -> None:
        """Device fault: the CHF holds no Master Key (key rotation is then impossible)."""
        self.core.devices.chf.master_key = None

    def rotate_network_key(self) -> int:
        """The Trust Centre rolls the network key: a new key with the next sequence number goes
        to every device under its link key, then Switch Key. Returns the new sequence number.
        Sleepy devices collect theirs when they poll; switch only after they have (see tests)."""
        han = self.han
        if han is None:
            raise LocalProtocolError(_DIRECT)
        now = self._clock.now_us()
        seq = (han.keys.current_seq + 1) & 0xFF
        key = SplitMix64.derive(self.id, "network-key", seq, now).randbytes(16)
        han.keys.install(key, seq)
        for node in han.nodes.values():
            han.transport_network_key(node, key, seq, now)
        if self._capture is not None:
            self._capture.add_network_key(key, f"{self.id} network key seq {seq}")
        self._emit(now, self.core.devices.chf.eui, "HanNetworkKeyRotationStarted", {"seq": seq})
        self.sync_timer()
        return seq

    def switch_network_key(self, seq: int) -> None:
        if self.han is None:
            raise LocalProtocolError(_DIRECT)
        self.han.switch_key(seq, self._clock.now_us())
        self.sync_timer()

    def ota_target(self, device: str) -> str:
        """The EUI of ``device`` (chf, esme, gsme, ppmid, ihd or an EUI-64) if it takes OTA
        images on this installation (its model has an ``ota:`` section; a ZigBee HAN)."""
        if self.ota is None:
            raise LocalProtocolError(f"OTA faults need the ZigBee HAN: {_DIRECT}")
        eui = self.core.devices.chf.eui if device.lower() == "chf" else self._device_eui(device)
        if not self.ota.takes_images(eui):
            raise LocalProtocolError(f"{device} takes no OTA images on this installation")
        return eui

    def ota_failure(self, device: str, kind: str | None) -> None:
        """Impose the OTA fault ``kind`` (one of :data:`OTA_FAULTS`) on ``device``, or with
        None let it take images as its model says again (a stalled download goes on)."""
        if kind is not None and kind not in OTA_FAULTS:
            raise LocalProtocolError(f"unknown OTA fault {kind!r} "
                                     f"(one of {', '.join(OTA_FAULTS)})")
        eui = self.ota_target(device)
        assert self.ota is not None
        now = self._clock.now_us()
        self.ota.set_failure(eui, None if kind is None else OTA_FAULTS[kind], now)
        if kind is not None:
            self._emit(now, eui, "FaultApplied", {"fault": kind})
        self.sync_timer()
