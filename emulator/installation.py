"""An emulated installation on a clock: its cores, one scheduler slot, and its CHF's WAN service.

This is the glue between the sans-IO cores and the drivers: WAN channels hand frames to the CHF
core and send back its replies; the installation's next deadline is kept armed in the shared
scheduler after every input. The same class serves a fleet on the virtual clock (memory links)
and ``s1lab serve`` in real time (TCP links).
"""

from __future__ import annotations

import itertools
import ssl
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from emulator.core.chf import Chf, OperationalKeys, Sim
from emulator.core.esme import Esme
from emulator.core.gsme import Gsme
from emulator.core.han import Han, HanNode
from emulator.core.han_crypto import install_code_link_key
from emulator.core.ihd import Ihd
from emulator.core.installation import Devices, HanRole, InstallationCore, device_eui
from emulator.core.ppmid import Ppmid
from emulator.core.rng import SplitMix64
from emulator.core.trace_sink import Emit
from emulator.drivers.capture import HanCapture
from emulator.drivers.clock import Clock
from emulator.drivers.link import LinkEnd
from emulator.drivers.scheduler import Scheduler
from emulator.drivers.tls import server_context
from emulator.drivers.wan_channel import WanChannel
from emulator.errors import LocalProtocolError
from emulator.keystore import ChfKeys
from emulator.profiles import ResolvedDmc
from emulator.wire.eui import normalise
from emulator.wire.vocabulary import DeviceType, Role

_ROLE_NAMES = {"smso": Role.SMSO, "s1sp": Role.S1SP}
HanMode = Literal["zigbee", "direct"]
_sessions = itertools.count(1)


def _digits(rng: SplitMix64, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


class Installation:
    """One emulated SMETS1 installation."""

    def __init__(
        self,
        *,
        installation_id: str,
        dmc: ResolvedDmc,
        chf_eui: str,
        chf_bundle: Path,
        trust: dict[Role, x509.Certificate],
        keys: ChfKeys,
        seed: int,
        scheduler: Scheduler,
        emit: Emit,
        server_ctx: ssl.SSLContext | None = None,
        han: HanMode = "zigbee",
        capture: HanCapture | None = None,
        han_role: HanRole = "all",
    ) -> None:
        self.id = installation_id
        self.dmc = dmc
        self._scheduler = scheduler
        self._clock = scheduler.clock
        self._emit = emit
        self.keys = keys
        now = self._clock.now_us()
        rng = SplitMix64.derive(seed, installation_id, "installation")
        sim = Sim(
            iccid="8944" + _digits(rng, 15),
            imsi="234" + _digits(rng, 12),
            apn=dmc.chf.apn,
            service_profile=dmc.chf.service_profile,
        )
        role_keys = {
            _ROLE_NAMES[name]: OperationalKeys(rk.key_id, rk.command_key, rk.response_key)
            for name, rk in keys.roles.items()
        }
        (anchor_role, anchor_cert), = trust.items()
        chf = Chf(chf_eui, dmc.chf.firmware_version, sim, role_keys, emit, now,
                  master_key=keys.master_key,
                  anchor=(anchor_role, anchor_cert.public_bytes(Encoding.DER)),
                  reconnect_delay_us=dmc.chf.reconnect_delay_s * 1_000_000, fault_seed=seed)

        def sub(name: str) -> SplitMix64:
            return SplitMix64.derive(seed, installation_id, name)

        esme = Esme(device_eui(chf_eui, DeviceType.ESME), dmc.esme, sub("esme"), emit, now,
                    keys.prepayment_key)
        gsme = (
            Gsme(device_eui(chf_eui, DeviceType.GSME), dmc.gsme, sub("gsme"), emit, now,
                 keys.prepayment_key)
            if dmc.gsme is not None else None
        )
        ppmid = (Ppmid(device_eui(chf_eui, DeviceType.PPMID), dmc.ppmid, emit, now)
                 if dmc.ppmid is not None else None)
        ihd = (Ihd(device_eui(chf_eui, DeviceType.IHD), dmc.ihd, emit, now)
               if dmc.ihd is not None else None)
        self.han: Han | None = None
        self._capture = capture
        if han == "zigbee":
            han_rng = sub("han")
            self.han = Han(chf_eui, han_rng.randbytes(16), han_rng, emit)
            if capture is not None:
                self.han.capture = capture.frame
        model_faults = dmc.chf.faults  # device faults set by the CHF's profile
        for step in model_faults.fail_steps:
            chf.faults.fail_step(step)
        for step in model_faults.restart_during:
            chf.faults.restart_during(step)
        if model_faults.master_key_missing:
            chf.master_key = None
        self.core = InstallationCore(
            installation_id, Devices(chf, esme, gsme, ppmid, ihd), sub("consumer"), now,
            han=self.han, role=han_role,
        )
        if capture is not None and self.han is not None:
            capture.add_network_key(self.han.keys.current_key, f"{installation_id} network key")
            for eui, code in self.core.install_codes.items():  # every role knows them
                capture.add_link_key(install_code_link_key(code), eui,
                                     f"{installation_id} link key")
        self._slot = scheduler.slot(self._on_timer)
        self._scheduler = scheduler
        self._slot.set(self.core.get_timer())
        self.trust = dict(trust)
        self._bundle = chf_bundle
        self._ctx = server_ctx or self._server_context()
        self._anchor_der = chf.anchor_der
        self.channels: list[WanChannel] = []
        self._by_session: dict[int, WanChannel] = {}
        self.sessions_opened = 0
        self.frames_served = 0

    def _server_context(self) -> ssl.SSLContext:
        return server_context(
            self._bundle,
            [c.public_bytes(Encoding.PEM) for c in self.trust.values()],
            self.dmc.chf.tls_min_version,
            self.dmc.chf.tls_max_version,
        )

    def _after_security_change(self) -> None:
        """The CHF swapped (or restored) its trust anchor: new TLS sessions use the new one."""
        chf = self.chf
        if chf.anchor_der != self._anchor_der:
            self._anchor_der = chf.anchor_der
            self.trust = {chf.anchor: x509.load_der_x509_certificate(chf.anchor_der)}
            self._ctx = self._server_context()
        if chf.drop_sessions:
            chf.drop_sessions = False
            for channel in list(self.channels):
                channel.close("CHF lost its WAN session (SIM move or restart)")

    @property
    def emit(self) -> Emit:
        return self._emit

    @property
    def scheduler_clock(self) -> Clock:
        """The clock this installation runs on (drivers that feed its cores read it)."""
        return self._clock

    def wan_available(self, now: int) -> bool:
        until = self.chf.wan_down_until
        return until is None or now >= until

    def reachable_via(self, apn: str) -> bool:
        """Can a head-end on ``apn`` reach this CHF now (its SIM's APN, attached)?"""
        return self.chf.sim.apn == apn and self.wan_available(self._clock.now_us())

    @property
    def chf(self) -> Chf:
        return self.core.devices.chf

    @property
    def esme(self) -> Esme:
        return self.core.devices.esme

    @property
    def gsme(self) -> Gsme | None:
        return self.core.devices.gsme

    def _on_timer(self, now: int) -> None:
        self.core.handle_timer(now)
        self._slot.set(self.core.get_timer())
        if self.chf.outgoing:
            self._flush()

    def _flush(self) -> None:
        """Send the replies that waited on the HAN to the sessions that asked."""
        for session, frame in self.chf.take_outgoing():
            channel = self._by_session.get(session)
            if channel is not None and channel.established:
                channel.send_frame(frame)

    def sync_timer(self) -> None:
        """Re-arm after anything (a command, a test poking a core) changed a deadline."""
        self._slot.set(self.core.get_timer())

    def role_of(self, cert: x509.Certificate) -> Role | None:
        for role, ca in self.trust.items():
            if cert.issuer == ca.subject:
                return role
        return None

    def accept(self, link: LinkEnd) -> WanChannel:
        """A head-end connection arrived on ``link``: serve it (the CHF is the TLS server)."""
        channel = WanChannel(link, self._ctx, server_side=True, clock=self._clock)
        chf = self.chf
        if not self.wan_available(self._clock.now_us()):
            link.close()  # no WAN: the SIM is reattaching after a move
            return channel
        role: list[Role | None] = [None]
        session = next(_sessions)
        self._by_session[session] = channel

        def established(cert: x509.Certificate) -> None:
            role[0] = self.role_of(cert)
            self.sessions_opened += 1
            self._emit(self._clock.now_us(), chf.eui, "WanSessionOpened",
                       {"peer": role[0].name if role[0] else None,
                        "tls": channel.tls_version})

        def frame(data: bytes) -> None:
            now = self._clock.now_us()
            reply = chf.handle_frame(data, now, role[0], session)
            self.frames_served += 1
            self.core.after_command(now)
            self._slot.set(self.core.get_timer())
            if reply is not None and channel.established:
                channel.send_frame(reply)
            if chf.drop_sessions or chf.anchor_der != self._anchor_der:
                self._after_security_change()

        def closed(reason: str) -> None:
            self._emit(self._clock.now_us(), chf.eui, "WanSessionClosed", {"reason": reason})
            if channel in self.channels:
                self.channels.remove(channel)
            self._by_session.pop(session, None)

        channel.on_established = established
        channel.on_frame = frame
        channel.on_closed = closed
        self.channels.append(channel)
        return channel

    # ---- faults (from the API, scenarios and the command line) -------------------------------

    def han_node(self, device: str) -> HanNode:
        """The HAN radio of ``device``: an EUI-64 or one of esme, gsme, ppmid, ihd."""
        if self.han is None:
            raise LocalProtocolError("this installation runs the direct HAN link (--han direct)")
        eui = self._device_eui(device)
        if eui not in self.han.nodes:
            raise LocalProtocolError(f"{device} is not on this installation's HAN")
        return self.han.nodes[eui]

    def _device_eui(self, device: str) -> str:
        named = {"esme": self.esme.eui, "gsme": self.gsme.eui if self.gsme else None,
                 "ppmid": self.core.devices.ppmid.eui if self.core.devices.ppmid else None,
                 "ihd": self.core.devices.ihd.eui if self.core.devices.ihd else None}
        eui = named.get(device.lower())
        return eui if eui is not None else normalise(device)

    def link_down(self, device: str, start: int, end: int) -> None:
        """``device``'s HAN link is down in [start, end) (run-clock µs)."""
        if self.han is None:  # the direct link: the device's reports do not reach the CHF
            self.core.direct_outages.setdefault(self._device_eui(device), []).append((start, end))
        else:
            self.han_node(device).link.outages.append((start, end))
        self._emit(self._clock.now_us(), self.chf.eui, "FaultScheduled",
                   {"fault": "link-down", "device": self._device_eui(device),
                    "start": start, "end": end})

    def set_loss(self, device: str, loss: float) -> None:
        self.han_node(device).link.loss = loss
        self._emit(self._clock.now_us(), self.chf.eui, "FaultApplied",
                   {"fault": "loss", "device": self._device_eui(device), "loss": loss})

    def battery_flat(self) -> None:
        if self.gsme is None:
            raise LocalProtocolError("this installation has no GSME")
        self.gsme.battery_flat = True
        self._emit(self._clock.now_us(), self.gsme.eui, "FaultApplied", {"fault": "battery-flat"})
        self.sync_timer()

    def reset_frame_counter(self, device: str) -> None:
        """The device forgets its NWK frame counter (a reset meter): the CHF drops its frames
        as replays until the counter climbs past the last one it accepted."""
        node = self.han_node(device)
        node.nwk_counter = 0
        self._emit(self._clock.now_us(), node.name, "FaultApplied", {"fault": "counter-reset"})

    def clock_skew(self, device: str, seconds: int) -> None:
        """Move a meter's clock by ``seconds`` (it comes back at its next Time-cluster sync)."""
        meter = self.esme if device.lower() == "esme" else self.gsme
        if meter is None:
            raise LocalProtocolError(f"no {device} to skew")
        now = self._clock.now_us()
        meter.set_time(meter.meter_time(now) + seconds * 1_000_000, now)
        self._emit(now, meter.eui, "FaultApplied", {"fault": "clock-skew", "seconds": seconds})

    def fail_step(self, step: str) -> None:
        """Device fault: the migration step ``rotate``, ``swap``, ``sim`` or ``rollback`` fails."""
        self.chf.faults.fail_step(step)

    def restart_during(self, step: str) -> None:
        """Device fault: the CHF restarts in the middle of ``step`` (old or new state after)."""
        self.chf.faults.restart_during(step)

    def wan_outage(self, until: int) -> None:
        """The CHF has no WAN (no cellular coverage, SIM fault) until ``until``."""
        self.chf.wan_down_until = until
        self.chf.drop_sessions = True
        self._after_security_change()

    def lose_master_key(self) -> None:
        """Device fault: the CHF holds no Master Key (key rotation is then impossible)."""
        self.chf.master_key = None

    def rotate_network_key(self) -> int:
        """The Trust Centre rolls the network key: a new key with the next sequence number goes
        to every device under its link key, then Switch Key. Returns the new sequence number.
        Sleepy devices collect theirs when they poll; switch only after they have (see tests)."""
        han = self.han
        if han is None:
            raise LocalProtocolError("this installation runs the direct HAN link (--han direct)")
        now = self._clock.now_us()
        seq = (han.keys.current_seq + 1) & 0xFF
        key = SplitMix64.derive(self.id, "network-key", seq, now).randbytes(16)
        han.keys.install(key, seq)
        for node in han.nodes.values():
            han.transport_network_key(node, key, seq, now)
        if self._capture is not None:
            self._capture.add_network_key(key, f"{self.id} network key seq {seq}")
        self._emit(now, self.chf.eui, "HanNetworkKeyRotationStarted", {"seq": seq})
        self.sync_timer()
        return seq

    def switch_network_key(self, seq: int) -> None:
        if self.han is None:
            raise LocalProtocolError("this installation runs the direct HAN link (--han direct)")
        self.han.switch_key(seq, self._clock.now_us())
        self.sync_timer()

    def close(self) -> None:
        for channel in list(self.channels):
            channel.close("installation stopped")
        self._slot.cancel()

