"""The Smart Energy application on an installation's ZigBee HAN, sans-IO.

What each device does with the ZCL it receives, and the traffic it starts:

- the CHF reads the ESME's Metering attributes when a head-end asks (the WAN reply waits for
  the HAN round trip);
- the GSME wakes on its schedule, polls the CHF (collecting anything held for it), and reports
  its Metering attributes into its mirror on the CHF; commands for the GSME wait at the CHF
  until it polls;
- the IHD reads electricity from the ESME and gas from the CHF's mirror; the PPMID reads the
  ESME's Prepayment attributes;
- every device syncs its clock from the CHF's Time cluster (the CHF is the time master) once
  a day.

Values in the frames are the device cores' own (the ZCL a receiver decodes is what the sender's
core said at that instant), so a capture shows the readings the trace records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from emulator.core.chf import Chf
from emulator.core.esme import Esme, EsmeReading
from emulator.core.gsme import Gsme
from emulator.core.han import MIRROR_ENDPOINT, Delivery, Han, HanNode
from emulator.core.ihd import Ihd
from emulator.core.ppmid import Ppmid
from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, MS, SECOND, from_zigbee_utc, zigbee_utc
from emulator.core.trace_sink import Emit
from emulator.core.zdo import Identity
from emulator.errors import MalformedFrame
from emulator.wire.eui import eui_from_str
from emulator.wire.se_clusters import ClusterId, MeteringAttr, PrepaymentAttr, TimeAttr, TimeStatus
from emulator.wire.vocabulary import DeviceType
from emulator.wire.wan import EsmeMetering, GsmeMetering
from emulator.wire.zcl import (
    Attribute,
    DataType,
    Direction,
    ReadAttributeRecord,
    ReadAttributes,
    ReadAttributesResponse,
    ReportAttributes,
    Status,
    ZclFrameType,
    ZclHeader,
    build_zcl,
    decode_foundation,
    parse_zcl,
    zcl_foundation_frame,
)
from emulator.wire.zdo import BROADCAST_RX_ON, ZDO_ENDPOINT, ZDO_PROFILE, ZdoCluster

#: s1lab's manufacturer code for the vendor-specific ZCL commands that carry WAN commands for
#: a sleepy GSME (SMETS1 HAN command sets were vendor-specific too). Fictional.
S1LAB_MANUFACTURER = 0x1F5A
TIME_SYNC_INTERVAL = DAY
TIME_STATUS_MASTER_SYNCED = TimeStatus.MASTER | TimeStatus.SYNCHRONIZED
CLOCK_TOLERANCE_S = 2
#: How long a device waits for an answer before giving up (an APS-ack-like timeout).
ANSWER_TIMEOUT = 10 * SECOND
UNIT_KWH, UNIT_M3 = 0x00, 0x01

if TYPE_CHECKING:
    from emulator.core.ota_han import OtaHan

ReadDone = Callable[[object, int], None]  # (snapshot, now)
Failed = Callable[[str, int], None]  # (why, now)


@dataclass(slots=True)
class _Pending:
    done: Callable[[tuple[ReadAttributeRecord, ...], object], None]
    failed: Failed | None
    timeout: list[Any] | None = None  # the answer timeout's queue entry


class SmartEnergyApp:
    __slots__ = (
        "_emit",
        "_now",
        "_gsme_commands",
        "_gsme_sync_at",
        "_next_sync",
        "_sync_due",
        "_pending",
        "_snapshots",
        "chf",
        "esme",
        "gsme",
        "han",
        "ihd",
        "nodes",
        "ota",
        "ppmid",
    )

    def __init__(
        self,
        han: Han,
        chf: Chf,
        esme: Esme,
        gsme: Gsme | None,
        ppmid: Ppmid | None,
        ihd: Ihd | None,
        rng: SplitMix64,
        emit: Emit,
        now: int,
    ) -> None:
        self.han = han
        self.chf, self.esme, self.gsme, self.ppmid, self.ihd = chf, esme, gsme, ppmid, ihd
        self._emit = emit
        self.nodes: dict[str, HanNode] = {}
        self._pending: dict[tuple[str, str, int], _Pending] = {}
        self._snapshots: dict[tuple[str, str, int], object] = {}
        self._gsme_commands: dict[int, tuple[Callable[[bytes, int], None], Failed]] = {}
        self._next_sync: dict[str, int] = {}
        self._now = now  # the time of the delivery being dispatched
        self.ota: OtaHan | None = None  # the OTA cluster, when attached (emulator.core.ota_han)
        han.on_heard = chf.heard
        for device in (esme, ppmid, ihd):
            if device is None:
                continue
            # Each device gets a seeded phase so a fleet does not sync in lockstep.
            self._next_sync[device.eui] = now + rng.randrange(TIME_SYNC_INTERVAL // SECOND) * SECOND
        self._sync_due = min(self._next_sync.values(), default=None)  # the earliest of them
        self._gsme_sync_at = now  # the sleepy GSME syncs at a wake once this is due

    def commissioned(self, now: int) -> None:
        """The HAN starts formed (:meth:`Han.commission`): the GSME synced its clock when it
        joined at ``now``, so its next sync is a day on, as after a join's first wake."""
        self._gsme_sync_at = now + TIME_SYNC_INTERVAL

    # ---- the clock --------------------------------------------------------------------------

    def get_timer(self) -> int | None:
        t = self.han.get_timer()
        due = self._sync_due
        if due is not None and (t is None or due < t):
            return due
        return t

    def handle_timer(self, now: int) -> None:
        due = self._sync_due
        if due is not None and due <= now:
            for eui, at in list(self._next_sync.items()):
                if at <= now:
                    self._next_sync[eui] = at + TIME_SYNC_INTERVAL
                    self._sync_time(eui, now)
            self._sync_due = min(self._next_sync.values(), default=None)
        for delivery in self.han.handle_timer(now):
            self._dispatch(delivery)

    # ---- what the CHF asks over the HAN -----------------------------------------------------

    def read_esme(self, now: int, done: ReadDone, failed: Failed) -> None:
        """Read the ESME's Metering registers; ``done(EsmeReading)`` when the answer is back."""
        attrs = (MeteringAttr.CURRENT_SUMMATION_DELIVERED, MeteringAttr.INSTANTANEOUS_DEMAND,
                 MeteringAttr.STATUS)

        def got(records: tuple[ReadAttributeRecord, ...], snapshot: object) -> None:
            # The registers come from the decoded frame; what Metering does not carry (TOU,
            # payment state) from the ESME's snapshot of the same instant. An ESME on a radio
            # sends no snapshot: the answer is then only what came over the air.
            values = {r.attribute_id: r.value for r in records}
            summation = values.get(MeteringAttr.CURRENT_SUMMATION_DELIVERED)
            demand = values.get(MeteringAttr.INSTANTANEOUS_DEMAND)
            if not isinstance(snapshot, EsmeReading):
                status = values.get(MeteringAttr.STATUS)
                if not isinstance(summation, int) or not isinstance(demand, int):
                    failed("the ESME's Metering answer lacks CurrentSummationDelivered or "
                           "InstantaneousDemand", self._now)
                    return
                done(EsmeMetering(summation, demand, status if isinstance(status, int) else 0),
                     self._now)
                return
            done(replace(
                snapshot,
                import_wh=summation if isinstance(summation, int) else snapshot.import_wh,
                demand_w=demand if isinstance(demand, int) else snapshot.demand_w,
            ), self._now)

        self._read(self.chf_node, self.esme.eui, ClusterId.METERING, attrs, now, got, failed)

    def gsme_command(self, payload: bytes, command_id: int, now: int,
                     done: Callable[[bytes, int], None], failed: Failed) -> None:
        """A WAN command for the sleepy GSME: held at the CHF until the GSME polls."""
        node = self.han.nodes.get(self.gsme.eui) if self.gsme is not None else None
        if node is None:
            failed("the GSME is not on the HAN", now)
            return
        tsn = self.chf_node.next_tsn()
        header = ZclHeader(ZclFrameType.CLUSTER, command_id, tsn,
                           Direction.CLIENT_TO_SERVER, manufacturer_code=S1LAB_MANUFACTURER)
        self._gsme_commands[tsn] = (done, failed)
        self.han.send_zcl(self.chf_node, node, ClusterId.PREPAYMENT, build_zcl(header, payload),
                          now, on_failed=lambda at: self._gsme_failed(tsn, at))
        self.han.schedule(now + self.han.indirect_expiry_us + ANSWER_TIMEOUT,
                          lambda at: self._gsme_failed(tsn, at))

    def _gsme_failed(self, tsn: int, at: int) -> None:
        entry = self._gsme_commands.pop(tsn, None)
        if entry is not None:
            entry[1]("the GSME did not collect the command before it expired", at)

    def on_air(self, eui: str) -> bool:
        """Is ``eui`` on a radio (this process does not run it)?"""
        return not self.han.is_local(eui)

    def forget_device(self, eui: str) -> None:
        """Removed from the device log: the Trust Centre drops its link key and node."""
        self.han.remove_node(eui)
        self._next_sync.pop(eui, None)
        self._sync_due = min(self._next_sync.values(), default=None)

    # ---- what devices start -------------------------------------------------------------------

    def gsme_wake(self, reading: object, now: int) -> None:
        """The GSME woke: it polls the CHF, syncs its clock if due, then reports to its mirror."""
        gsme = self.gsme
        assert gsme is not None
        node = self.han.nodes.get(gsme.eui)
        if node is None or not node.joined or not self.han.is_local(gsme.eui):
            return  # not (or no longer) on the network, or on a radio elsewhere
        self.han.poll(node, now)
        if self.ota is not None:
            self.ota.wake(gsme.eui, now)
        if self._gsme_sync_at <= now:
            self._gsme_sync_at = now + TIME_SYNC_INTERVAL
            self.han.schedule(now + 200 * MS, lambda at: self._sync_time(gsme.eui, at))
            # Having asked something, a sleepy device polls again shortly for the answer.
            self.han.schedule(now + SECOND, lambda at: self.han.poll(node, at))
        self.han.schedule(now + 400 * MS, lambda at: self._report_gas(at))

    def _report_gas(self, now: int) -> None:
        gsme = self.gsme
        assert gsme is not None
        reading = gsme.registers(now)
        node = self.han.nodes.get(gsme.eui)
        if node is None:
            return  # removed from the network since it woke
        tsn = node.next_tsn()
        report = ReportAttributes((
            Attribute(MeteringAttr.CURRENT_SUMMATION_DELIVERED, DataType.UINT48,
                      reading.volume_dm3),
            Attribute(MeteringAttr.INSTANTANEOUS_DEMAND, DataType.INT24,
                      min(reading.flow_dm3_per_h, 0x7FFFFF)),
            Attribute(MeteringAttr.UNIT_OF_MEASURE, DataType.ENUM8, UNIT_M3),
        ))
        self._snapshots[(gsme.eui, self.chf.eui, tsn)] = reading
        frame = zcl_foundation_frame(report, tsn, direction=Direction.SERVER_TO_CLIENT,
                                     disable_default_response=True)
        self.han.send_zcl(node, self.chf_node, ClusterId.METERING, frame, now,
                          dst_endpoint=MIRROR_ENDPOINT)

    def refresh(self, consumer: Ppmid | Ihd, target: DeviceType, what: str, now: int) -> None:
        """A PPMID or IHD refreshes: reads the ESME, or gas from the CHF's mirror."""
        src = self.han.nodes.get(consumer.eui)
        if src is None or not src.joined or not self.han.is_local(consumer.eui):
            return

        def show(records: tuple[ReadAttributeRecord, ...], snapshot: object) -> None:
            values = {r.attribute_id: r.value for r in records}
            snap = values.get(MeteringAttr.READING_SNAPSHOT_TIME)
            data_at = from_zigbee_utc(snap) if isinstance(snap, int) and snap else None
            consumer.show(target, snapshot, self._now, data_at)

        if target is DeviceType.ESME and what == "payment":
            attrs: tuple[int, ...] = (PrepaymentAttr.CREDIT_REMAINING,
                                      PrepaymentAttr.EMERGENCY_CREDIT_REMAINING,
                                      PrepaymentAttr.CREDIT_STATUS)
            self._read(src, self.esme.eui, ClusterId.PREPAYMENT, attrs, now, show, None)
        elif target is DeviceType.ESME:
            attrs = (MeteringAttr.CURRENT_SUMMATION_DELIVERED, MeteringAttr.INSTANTANEOUS_DEMAND)
            self._read(src, self.esme.eui, ClusterId.METERING, attrs, now, show, None)
        elif target is DeviceType.GSME and self.chf.gsme_mirror is not None:
            # gas from the mirror, with the time the mirror was last updated (its data's age)
            attrs = (MeteringAttr.CURRENT_SUMMATION_DELIVERED, MeteringAttr.READING_SNAPSHOT_TIME)
            self._read(src, self.chf.eui, ClusterId.METERING, attrs, now, show, None,
                       dst_endpoint=MIRROR_ENDPOINT)


    def _sync_time(self, eui: str, now: int) -> None:
        node = self.han.nodes.get(eui)
        if node is None or not node.joined or not self.han.is_local(eui):
            return

        def synced(records: tuple[ReadAttributeRecord, ...], snapshot: object) -> None:
            values = {r.attribute_id: r.value for r in records}
            utc = values.get(TimeAttr.TIME)
            device = self._device(eui)
            if isinstance(utc, int) and isinstance(device, Esme | Gsme):
                at = self._now
                mine = zigbee_utc(device.meter_time(at))
                if abs(mine - utc) > CLOCK_TOLERANCE_S:  # HAN latency may cross a second
                    device.set_time(from_zigbee_utc(utc) + (at % SECOND), at)
                    self._emit(at, eui, "ClockSynchronised", {"from": mine, "to": utc})

        self._read(node, self.chf.eui, ClusterId.TIME, (TimeAttr.TIME, TimeAttr.TIME_STATUS),
                   now, synced, None)

    def _device(self, eui: str) -> object | None:
        for d in (self.esme, self.gsme, self.ppmid, self.ihd):
            if d is not None and d.eui == eui:
                return d
        return None

    @property
    def chf_node(self) -> HanNode:
        return self.han.chf

    # ---- reading attributes -------------------------------------------------------------------

    def _read(self, src: HanNode, dst_eui: str, cluster: int, attrs: tuple[int, ...], now: int,
              done: Callable[[tuple[ReadAttributeRecord, ...], object], None],
              failed: Failed | None, *, dst_endpoint: int = 1) -> None:
        dst = self.han.chf if dst_eui == self.chf.eui else self.han.nodes.get(dst_eui)
        if dst is None:
            if failed is not None:
                failed(f"{dst_eui} is not on the HAN", now)
            return
        tsn = src.next_tsn()
        pending = _Pending(done, failed)
        self._pending[(src.name, dst.name, tsn)] = pending

        def lost(at: int) -> None:
            p = self._pending.pop((src.name, dst.name, tsn), None)
            if p is not None and p.failed is not None:
                p.failed(f"no answer from {dst.name} over the HAN", at)

        frame = zcl_foundation_frame(ReadAttributes(attrs), tsn)
        self.han.send_zcl(src, dst, cluster, frame, now, dst_endpoint=dst_endpoint,
                          on_failed=lost)
        pending.timeout = self.han.schedule(now + ANSWER_TIMEOUT, lost)

    def _dispatch(self, d: Delivery) -> None:
        self._now = d.at
        if d.profile == ZDO_PROFILE and d.dst_endpoint == ZDO_ENDPOINT:
            self._zdo(d)
            return
        if d.cluster == ClusterId.OTA and self.ota is not None:
            self.ota.dispatch(d)
            return
        try:
            header, payload = parse_zcl(d.zcl)
            if header.frame_type is ZclFrameType.GLOBAL:
                cmd = decode_foundation(header.command_id, payload)
                if isinstance(cmd, ReadAttributes):
                    self._answer_read(d, header.tsn, cmd)
                elif isinstance(cmd, ReadAttributesResponse):
                    self._got_response(d, header.tsn, cmd)
                elif isinstance(cmd, ReportAttributes):
                    self._got_report(d, header.tsn, cmd)
            elif header.manufacturer_code == S1LAB_MANUFACTURER:
                self._gsme_vendor_command(d, header, payload)
        except MalformedFrame as exc:
            self._emit(d.at, d.dst, "HanFrameDropped", {"reason": "MalformedFrame",
                                                        "detail": str(exc)})

    def _answer_read(self, d: Delivery, tsn: int, cmd: ReadAttributes) -> None:
        now = d.at
        snapshot: object
        values: dict[int, tuple[int, int | str | None]]
        identity = self._identity(d.dst) if d.cluster == ClusterId.BASIC else None
        if identity is not None:  # other stacks interview with Basic reads (HA profile)
            snapshot = None
            values = dict(identity.basic())
        elif d.dst == self.esme.eui and d.cluster == ClusterId.METERING:
            r = self.esme.registers(now)
            snapshot = r
            values = {MeteringAttr.CURRENT_SUMMATION_DELIVERED: (DataType.UINT48, r.import_wh),
                      MeteringAttr.INSTANTANEOUS_DEMAND: (DataType.INT24, r.demand_w),
                      MeteringAttr.STATUS: (DataType.BITMAP8, 0),
                      MeteringAttr.UNIT_OF_MEASURE: (DataType.ENUM8, UNIT_KWH)}
        elif d.dst == self.esme.eui and d.cluster == ClusterId.PREPAYMENT:
            p = self.esme.payment(now)
            snapshot = p
            values = {PrepaymentAttr.CREDIT_REMAINING: (DataType.INT32, p.balance_pence),
                      PrepaymentAttr.EMERGENCY_CREDIT_REMAINING: (DataType.INT32,
                                                                  p.emergency_credit_available_pence),
                      PrepaymentAttr.CREDIT_STATUS: (DataType.BITMAP8, int(p.supply_state))}
        elif d.dst == self.chf.eui and d.cluster == ClusterId.TIME:
            snapshot = None
            values = {TimeAttr.TIME: (DataType.UTC_TIME, zigbee_utc(self.chf.clock(now))),
                      TimeAttr.TIME_STATUS: (DataType.BITMAP8, int(TIME_STATUS_MASTER_SYNCED))}
        elif (d.dst == self.chf.eui and d.cluster == ClusterId.METERING
              and d.dst_endpoint == MIRROR_ENDPOINT and self.chf.gsme_mirror is not None):
            g, updated = self.chf.gsme_mirror
            snapshot = g
            values = {MeteringAttr.CURRENT_SUMMATION_DELIVERED: (DataType.UINT48,
                                                                 g.volume_dm3),  # type: ignore[attr-defined]
                      # the mirror's last update, on the CHF's clock (the HAN's time master)
                      MeteringAttr.READING_SNAPSHOT_TIME: (DataType.UTC_TIME,
                                                           zigbee_utc(self.chf.clock(updated)))}
        else:
            return
        records = tuple(
            ReadAttributeRecord(a, Status.SUCCESS, values[a][0], values[a][1]) if a in values
            else ReadAttributeRecord(a, Status.UNSUPPORTED_ATTRIBUTE)
            for a in cmd.attribute_ids
        )
        self._snapshots[(d.dst, d.src, tsn)] = snapshot
        src = self.han.chf if d.dst == self.chf.eui else self.han.nodes[d.dst]
        dst = self.han.chf if d.src == self.chf.eui else self.han.nodes[d.src]
        frame = zcl_foundation_frame(ReadAttributesResponse(records), tsn,
                                     direction=Direction.SERVER_TO_CLIENT,
                                     disable_default_response=True)
        self.han.send_zcl(src, dst, d.cluster, frame, now, src_endpoint=d.dst_endpoint,
                          dst_endpoint=d.src_endpoint, profile=d.profile,
                          aps_secure=d.aps_secured)

    def _got_response(self, d: Delivery, tsn: int, cmd: ReadAttributesResponse) -> None:
        pending = self._pending.pop((d.dst, d.src, tsn), None)
        snapshot = self._snapshots.pop((d.src, d.dst, tsn), None)
        if pending is not None:
            if pending.timeout is not None:
                Han.cancel(pending.timeout)
            pending.done(cmd.records, snapshot)

    def _got_report(self, d: Delivery, tsn: int, cmd: ReportAttributes) -> None:
        snapshot = self._snapshots.pop((d.src, d.dst, tsn), None)
        gsme = self.gsme
        if gsme is None or d.src != gsme.eui or d.dst != self.chf.eui:
            return
        if snapshot is None:  # from a GSME on a radio: only what the frame itself carried
            values = {a.attribute_id: a.value for a in cmd.reports}
            volume = values.get(MeteringAttr.CURRENT_SUMMATION_DELIVERED)
            flow = values.get(MeteringAttr.INSTANTANEOUS_DEMAND)
            if not isinstance(volume, int) or not isinstance(flow, int):
                return  # nothing but what came over the air goes in the mirror
            snapshot = GsmeMetering(volume, flow, 0)
        self.chf.mirror_report(d.src, snapshot, d.at)

    def device_joined(self, node: HanNode, now: int) -> None:
        """A device of this process joined a CHF on the air: it announces itself (Device_annce,
        which other coordinators wait for); a GSME fills its mirror."""
        identity = self._identity(node.name)
        if identity is not None:
            self.han.broadcast(node, BROADCAST_RX_ON, ZdoCluster.DEVICE_ANNCE,
                               identity.announce(node.next_tsn(), node.short), now,
                               profile=ZDO_PROFILE)
        if self.gsme is not None and node.name == self.gsme.eui:
            self.gsme_wake(self.gsme.registers(now), now)

    def _identity(self, eui: str) -> Identity | None:
        for device, kind in ((self.esme, DeviceType.ESME), (self.gsme, DeviceType.GSME),
                             (self.ppmid, DeviceType.PPMID), (self.ihd, DeviceType.IHD)):
            if device is not None and device.eui == eui:
                model = getattr(device, "model", None)
                return Identity(eui_from_str(eui), kind,
                                str(getattr(model, "manufacturer", "s1lab")),
                                str(getattr(model, "model", kind.name)),
                                str(getattr(model, "firmware_version", "")),
                                sleepy=kind is DeviceType.GSME)
        return None

    def _zdo(self, d: Delivery) -> None:
        """A ZDO request to one of our devices (a coordinator's interview): answer it."""
        identity = self._identity(d.dst)
        node = self.han.nodes.get(d.dst)
        if identity is None or node is None:
            return
        answer = identity.answer(d.cluster, d.zcl, node.short)
        if answer is None:
            return
        src = self.han.chf if d.src == self.chf.eui else self.han.nodes.get(d.src)
        if src is None:
            return
        cluster, payload = answer
        self.han.send_zcl(node, src, cluster, payload, d.at, src_endpoint=ZDO_ENDPOINT,
                          dst_endpoint=ZDO_ENDPOINT, profile=ZDO_PROFILE, aps_secure=False)

    def _gsme_vendor_command(self, d: Delivery, header: ZclHeader, payload: bytes) -> None:
        if self.gsme is not None and d.dst == self.gsme.eui:
            # At the GSME: apply, answer with the result (vendor-specific, server to client).
            result = self.chf.apply_at_gsme(header.command_id, payload, d.at)
            node = self.han.nodes.get(self.gsme.eui)
            if node is None:
                return  # removed while the command was on its way
            reply = ZclHeader(ZclFrameType.CLUSTER, header.command_id, header.tsn,
                              Direction.SERVER_TO_CLIENT, disable_default_response=True,
                              manufacturer_code=S1LAB_MANUFACTURER)
            self.han.send_zcl(node, self.chf_node, ClusterId.PREPAYMENT,
                              build_zcl(reply, result), d.at)
        elif d.dst == self.chf.eui:
            entry = self._gsme_commands.pop(header.tsn, None)
            if entry is not None:
                entry[0](payload, d.at)
