"""The OTA cores on an installation's HAN: frames in, frames out, timers on the HAN's queue.

:class:`OtaHan` owns the CHF's :class:`~emulator.core.ota.OtaServer`, one
:class:`~emulator.core.ota.OtaClient` per device whose model has an ``ota:`` section, and the
CHF's own :class:`~emulator.core.ota.ChfFirmware`. Commands travel as real ZCL frames on cluster
0x0019 through :class:`~emulator.core.han.Han` (NWK and APS secured, MAC and APS acked, held
for a sleepy device until it polls), so the transfer takes as long as the link makes it take.

When a device activates a new image its core's ``firmware_version`` changes, which is what the
WAN's READ_FIRMWARE_VERSIONS reports; the CHF's version table (:attr:`OtaServer.versions`)
holds what each device last said in a Query Next Image Request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from emulator.core.han import Delivery, Han, HanNode
from emulator.core.installation import InstallationCore
from emulator.core.ota import (
    ChfFirmware,
    OtaClient,
    OtaPolicy,
    OtaServer,
    OtaStatus,
    Out,
    Transfer,
)
from emulator.core.timebase import SECOND, from_zigbee_utc, zigbee_utc
from emulator.core.trace_sink import Emit
from emulator.errors import LocalProtocolError, MalformedFrame, MalformedImage
from emulator.wire.ota_image import version_code, version_text
from emulator.wire.se_clusters import ClusterId, cluster_command_frame, decode_command
from emulator.wire.vocabulary import DeviceType
from emulator.wire.zcl import (
    DefaultResponse,
    Direction,
    ZclFrameType,
    parse_zcl,
    zcl_foundation_frame,
)

__all__ = ["FirmwareHolder", "OtaHan", "TransferStatus", "attach_ota"]

#: The largest image the CHF buffers for one device (a HAN device's flash is smaller).
MAX_IMAGE = 4 * 1024 * 1024
_NAMES = {0x00: "ImageNotify", 0x01: "QueryNextImageRequest", 0x02: "QueryNextImageResponse",
          0x03: "ImageBlockRequest", 0x05: "ImageBlockResponse", 0x06: "UpgradeEndRequest",
          0x07: "UpgradeEndResponse"}


class FirmwareHolder(Protocol):
    """A device core (or the CHF core): its running version as text."""

    eui: str
    firmware_version: str


@dataclass(frozen=True, slots=True)
class TransferStatus:
    """What the head-end reads back about one device's upgrade."""

    device: str
    state: str
    version: str  # the image's
    offset: int
    size: int
    status: int  # last OTA status (SUCCESS, INVALID_IMAGE, ABORT...)
    reason: str
    running: str  # the version the device runs, as last reported


def _code(text: str) -> int:
    try:
        return version_code(text)
    except ValueError:
        return 0


class OtaHan:
    def __init__(self, han: Han, chf: FirmwareHolder, chf_clock: Callable[[int], int],
                 devices: Iterable[tuple[FirmwareHolder, OtaPolicy, bool]],
                 chf_policy: OtaPolicy | None, trusted: tuple[bytes, ...], emit: Emit) -> None:
        self.han = han
        self._chf = chf
        self._clock = chf_clock  # run time -> the CHF's wall clock (µs)
        self._emit = emit
        self.server = OtaServer(chf.eui, emit)
        self.clients: dict[str, OtaClient] = {}
        self._holders: dict[str, FirmwareHolder] = {}
        self._timers: dict[str, list[Any]] = {}
        for core, policy, sleepy in devices:
            self.clients[core.eui] = OtaClient(core.eui, policy, _code(core.firmware_version),
                                               trusted, emit, sleepy=sleepy)
            self._holders[core.eui] = core
        self.own = (ChfFirmware(chf.eui, chf_policy, _code(chf.firmware_version), trusted, emit)
                    if chf_policy is not None else None)
        self._own_timer: list[Any] | None = None
        self._incoming: dict[str, bytearray] = {}
        self._refusals: dict[str, str] = {}  # images arriving over the WAN, in pieces

    # ---- what the head-end asks (through the CHF) ------------------------------------------

    def distribute(self, eui: str, raw: bytes, now: int, activate_at: int | None) -> int:
        """Give device ``eui`` (or the CHF itself) an image; returns the OTA status.

        ``activate_at``: ZigBee UTC on the CHF's clock, 0 for at once, None to wait for
        :meth:`activate`.
        """
        if eui == self._chf.eui:
            return self._distribute_own(raw, now, activate_at)
        if eui not in self.clients:
            raise LocalProtocolError(f"{eui} takes no OTA images on this HAN")
        try:
            self.server.distribute(eui, raw, now, activate_at)
        except MalformedImage as exc:
            self._refusals[eui] = str(exc)
            return OtaStatus.INVALID_IMAGE
        self._refusals.pop(eui, None)
        self._send_server(eui, self.server.image_notify(eui), now, None)
        return OtaStatus.SUCCESS

    def takes_images(self, eui: str) -> bool:
        return eui in self.clients or (eui == self._chf.eui and self.own is not None)

    def segment(self, eui: str, offset: int, total: int, data: bytes) -> int:
        """A piece of an image arriving over the WAN for ``eui``; returns the bytes held."""
        if offset == 0:
            self._incoming[eui] = bytearray()
        buf = self._incoming.get(eui)
        if buf is None or offset != len(buf):
            held = 0 if buf is None else len(buf)
            raise LocalProtocolError(f"segment at offset {offset}, the CHF holds {held} bytes")
        if offset + len(data) > total or total > MAX_IMAGE:
            raise LocalProtocolError(f"segment passes the total size {total}")
        buf += data
        return len(buf)

    def assembled(self, eui: str, sha256: bytes) -> bytes:
        """The buffered image for ``eui`` if its SHA-256 is ``sha256``; the buffer is freed."""
        raw = bytes(self._incoming.pop(eui, b""))
        if not raw:
            raise LocalProtocolError("no image segments received for this device")
        if hashlib.sha256(raw).digest() != sha256:
            raise LocalProtocolError("the segments received do not have the SHA-256 given")
        return raw

    def activate(self, eui: str, at: int, now: int) -> None:
        """Activate the verified image on ``eui`` at ``at`` (ZigBee UTC; 0: now)."""
        if eui == self._chf.eui:
            if self.own is None:
                raise LocalProtocolError("this CHF takes no OTA images")
            self.own.schedule(self._run_time(at, now), now)
            self._arm_own()
            return
        out = self.server.activate(eui, at, now, self._utc(now))
        self._send_server(eui, out, now, None)

    def status(self, eui: str) -> TransferStatus:
        if eui == self._chf.eui and self.own is not None:
            own = self.own
            pending = own.pending.header.file_version if own.pending is not None else own.version
            size = len(own.pending.raw) if own.pending is not None else 0
            return TransferStatus(eui, own.state, version_text(pending), size, size,
                                  own.status, own.reason, version_text(own.version))
        t = self.server.transfers.get(eui)
        running = self._holders[eui].firmware_version if eui in self._holders else ""
        if eui in self._refusals:  # the CHF could not even read the file
            return TransferStatus(eui, "refused", "", 0, 0, OtaStatus.INVALID_IMAGE,
                                  self._refusals[eui], running)
        if t is None:
            return TransferStatus(eui, "none", "", 0, 0, OtaStatus.SUCCESS, "", running)
        return TransferStatus(eui, t.state, version_text(t.version), t.offset, t.size,
                              t.status, t.reason, running)

    def set_failure(self, eui: str, failure: str | None, now: int) -> None:
        """Impose an OTA failure mode (``stall``, ``verify_fails``, ``activation_fails``:
        what a model's ``ota.failure`` may say) on device ``eui`` or the CHF itself; None gives
        the model's own back (a download the fault stalled goes on)."""
        if eui == self._chf.eui and self.own is not None:
            self.own.set_failure(failure)
            return
        client = self.clients.get(eui)
        if client is None:
            raise LocalProtocolError(f"{eui} takes no OTA images on this HAN")
        self._send_client(client, client.set_failure(failure, now), now)

    def imposed(self, eui: str) -> str | None:
        """The OTA failure mode a fault imposes on ``eui`` now, or None (its model's own)."""
        if eui == self._chf.eui and self.own is not None:
            return self.own.imposed
        client = self.clients.get(eui)
        return None if client is None else client.imposed

    def transfer(self, eui: str) -> Transfer | None:
        return self.server.transfers.get(eui)

    # ---- device side hooks -----------------------------------------------------------------

    def wake(self, eui: str, now: int) -> None:
        """A sleepy device woke (its poll is on the way): a paused download goes on."""
        client = self.clients.get(eui)
        if client is not None:
            self._send_client(client, client.wake(now), now)

    # ---- frames ----------------------------------------------------------------------------

    def dispatch(self, d: Delivery) -> None:
        now = d.at
        try:
            header, payload = parse_zcl(d.zcl)
            if header.frame_type is not ZclFrameType.CLUSTER:
                return  # Default Responses: nothing to do
            name = _NAMES.get(header.command_id)
            if name is None:
                return
            fields = decode_command(ClusterId.OTA, header.command_id, header.direction, payload)
        except MalformedFrame as exc:
            self._emit(now, d.dst, "HanFrameDropped", {"reason": "MalformedFrame",
                                                       "detail": str(exc)})
            return
        if d.dst == self._chf.eui:
            self._at_server(d.src, name, fields, header.tsn, now)
        elif d.dst in self.clients:
            self._at_client(self.clients[d.dst], name, fields, now)

    def _at_server(self, eui: str, name: str, fields: dict[str, Any], tsn: int, now: int) -> None:
        s = self.server
        if name == "QueryNextImageRequest":
            self._send_server(eui, s.on_query(eui, fields, now), now, tsn)
        elif name == "ImageBlockRequest":
            self._send_server(eui, s.on_block_request(eui, fields, now), now, tsn)
        elif name == "UpgradeEndRequest":
            out = s.on_upgrade_end(eui, fields, now, self._utc(now))
            if out is not None:
                self._send_server(eui, out, now, tsn)
            else:
                node = self.han.nodes.get(eui)
                if node is not None:
                    frame = zcl_foundation_frame(DefaultResponse(0x06, OtaStatus.SUCCESS), tsn,
                                                 direction=Direction.SERVER_TO_CLIENT,
                                                 disable_default_response=True)
                    self.han.send_zcl(self.han.chf, node, ClusterId.OTA, frame, now)

    def _at_client(self, client: OtaClient, name: str, fields: dict[str, Any], now: int) -> None:
        before = client.version
        if name == "ImageNotify":
            outs = client.on_image_notify(fields, now)
        elif name == "QueryNextImageResponse":
            outs = client.on_query_response(fields, now)
        elif name == "ImageBlockResponse":
            outs = client.on_block_response(fields, now)
        elif name == "UpgradeEndResponse":
            outs = client.on_upgrade_end_response(fields, now)
        else:
            return
        self._after_client(client, before, outs, now)

    def _after_client(self, client: OtaClient, before: int, outs: list[Out], now: int) -> None:
        if client.version != before:
            self._holders[client.eui].firmware_version = version_text(client.version)
        self._send_client(client, outs, now)

    def _send_client(self, client: OtaClient, outs: list[Out], now: int) -> None:
        node = self.han.nodes.get(client.eui)
        if node is not None:
            for out in outs:
                frame = cluster_command_frame(ClusterId.OTA, out.name, node.next_tsn(),
                                              out.fields)
                self.han.send_zcl(node, self.han.chf, ClusterId.OTA, frame, now,
                                  on_failed=self._lost(client))
        self._arm(client)

    def _lost(self, client: OtaClient) -> Callable[[int], None]:
        def lost(at: int) -> None:
            self._send_client(client, client.exchange_failed(at), at)
        return lost

    def _send_server(self, eui: str, out: Out, now: int, tsn: int | None) -> None:
        node: HanNode | None = self.han.nodes.get(eui)
        if node is None:
            return
        frame = cluster_command_frame(ClusterId.OTA, out.name,
                                      self.han.chf.next_tsn() if tsn is None else tsn,
                                      out.fields, disable_default_response=tsn is not None)
        self.han.send_zcl(self.han.chf, node, ClusterId.OTA, frame, now)

    # ---- timers on the HAN's queue ---------------------------------------------------------

    def _arm(self, client: OtaClient) -> None:
        old = self._timers.pop(client.eui, None)
        if old is not None:
            Han.cancel(old)
        at = client.get_timer()
        if at is None:
            return

        def fire(when: int) -> None:
            self._timers.pop(client.eui, None)
            before = client.version
            self._after_client(client, before, client.handle_timer(when), when)

        self._timers[client.eui] = self.han.schedule(at, fire)

    def _arm_own(self) -> None:
        if self._own_timer is not None:
            Han.cancel(self._own_timer)
            self._own_timer = None
        own = self.own
        at = None if own is None else own.get_timer()
        if own is None or at is None:
            return

        def fire(when: int) -> None:
            self._own_timer = None
            if own.handle_timer(when):
                self._chf.firmware_version = version_text(own.version)

        self._own_timer = self.han.schedule(at, fire)

    def _distribute_own(self, raw: bytes, now: int, activate_at: int | None) -> int:
        if self.own is None:
            raise LocalProtocolError("this CHF takes no OTA images")
        status = self.own.load(raw, now)
        if status == OtaStatus.SUCCESS and activate_at is not None:
            self.own.schedule(self._run_time(activate_at, now), now)
            self._arm_own()
        return status

    def _utc(self, now: int) -> int:
        return zigbee_utc(self._clock(now))

    def _run_time(self, at: int, now: int) -> int:
        """ZigBee UTC on the CHF's clock -> run time (0: now)."""
        if at == 0:
            return now
        return now + max(0, from_zigbee_utc(at) - self._clock(now)) // SECOND * SECOND


def attach_ota(core: InstallationCore, policies: Mapping[DeviceType, OtaPolicy | None],
               trusted: tuple[bytes, ...]) -> OtaHan | None:
    """Give an installation on a ZigBee HAN its OTA cluster (None on a direct link)."""
    app = core.app
    if app is None:
        return None
    d = core.devices
    devices: list[tuple[FirmwareHolder, OtaPolicy, bool]] = []
    for device, kind in ((d.esme, DeviceType.ESME), (d.gsme, DeviceType.GSME),
                         (d.ppmid, DeviceType.PPMID), (d.ihd, DeviceType.IHD)):
        policy = policies.get(kind)
        if device is not None and policy is not None:
            devices.append((device, policy, device is d.gsme))
    ota = OtaHan(app.han, d.chf, d.chf.clock, devices, policies.get(DeviceType.CHF), trusted,
                 d.chf.emit)
    app.ota = ota
    return ota
