"""The CHF's command handlers: one per WAN request type, bound to ``wan.MESSAGES``.

A new WAN command is an entry in ``emulator.wire.wan.MESSAGES`` (its codecs, which key it
needs, whether it waits for the sleepy GSME) and one ``@handles`` function here; importing this
module checks that every entry has exactly one handler.

A handler takes (chf, target device type, target core, decoded request, now, keys) and returns
the response body for ``wan.encode_response``, a :class:`Deferred` (the answer waits on the
HAN) or :class:`Restarted`; it raises :class:`~emulator.core.chf.auth.Reject` to answer ERROR.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Final, cast

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

from emulator.core.chf import security
from emulator.core.chf.auth import Reject
from emulator.core.chf.records import (
    Complete,
    Deferred,
    Fail,
    LogEntry,
    Meter,
    OperationalKeys,
    Restarted,
    Snapshot,
)
from emulator.core.esme import EsmeReading
from emulator.core.han_crypto import InstallCodeError, install_code_link_key
from emulator.core.prepayment import PaymentSnapshot
from emulator.core.timebase import SECOND, from_zigbee_utc, zigbee_utc
from emulator.errors import DeclarationError, LocalProtocolError
from emulator.wire import wan
from emulator.wire.eui import eui_from_str, eui_to_str
from emulator.wire.vocabulary import (
    DeviceLogAction,
    DeviceLogState,
    DeviceLogStatus,
    DeviceType,
    ErrorCode,
    EventCode,
    FirmwareTransferState,
    MessageType,
    TopUpStatus,
)

if TYPE_CHECKING:
    from emulator.core.chf.hub import Chf
    from emulator.core.ota_han import OtaHan

MAX_LOG_ENTRIES_PER_FRAME: Final = 200  # docs/wan-protocol.md: READ_EVENT_LOG
#: The device log's capacity: an ADD to a full log answers LOG_FULL. 32 entries keep the
#: READ_INVENTORY answer inside one frame (docs/wan-protocol.md §7.2).
DEVICE_LOG_SIZE: Final = 32
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1  # an event value is an i32 on the wire (saturated)

Handler = Callable[["Chf", DeviceType, object, object, int, OperationalKeys], object]
_HANDLERS: Final[dict[MessageType, Handler]] = {}


def handles(msg_type: MessageType) -> Callable[[Handler], Handler]:
    """Bind the decorated function to ``msg_type`` (once)."""

    def bind(handler: Handler) -> Handler:
        if msg_type in _HANDLERS:
            raise DeclarationError(f"{msg_type.name} has two handlers")
        _HANDLERS[msg_type] = handler
        return handler

    return bind


def check_complete(handlers: Mapping[MessageType, Handler],
                   messages: Mapping[int, wan.MessageSpec]) -> None:
    """Every WAN message type has exactly one handler, and every handler a message type."""
    missing = sorted(MessageType(t).name for t in set(messages) - set(handlers))
    extra = sorted(t.name for t in set(handlers) - set(messages))
    if missing or extra:
        raise DeclarationError(f"WAN handlers: missing {missing}, not in wan.MESSAGES {extra}")


def _not_for(device_type: DeviceType, what: str, keys: OperationalKeys) -> Reject:
    return Reject(ErrorCode.INVALID_ARGUMENT, f"{what} is not supported by a {device_type.name}",
                   keys)


def _meter(device_type: DeviceType, core: object, what: str, keys: OperationalKeys) -> Meter:
    if device_type not in (DeviceType.ESME, DeviceType.GSME):
        raise _not_for(device_type, what, keys)
    return core  # type: ignore[return-value]


@handles(MessageType.READ_INSTANTANEOUS)
def _read_instantaneous(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    if device_type is DeviceType.ESME and chf.han is not None:
        han = chf.han

        def start(complete: Complete, fail: Fail) -> None:
            # the HAN's ESME read answers with the ESME's EsmeReading
            # an ESME on a radio answers with only its Metering attributes (EsmeMetering)
            han.read_esme(now, lambda r, at: complete(
                r if isinstance(r, wan.EsmeMetering) else _esme_body(cast(EsmeReading, r)), at),
                          lambda why, at: fail(ErrorCode.DEVICE_UNREACHABLE, why, at))

        return Deferred(start)
    if device_type is DeviceType.ESME:
        return _esme_body(core.registers(now))  # type: ignore[attr-defined]
    if device_type is DeviceType.GSME:
        # A sleepy GSME is read from its mirror on the CHF, with the age of the data.
        if chf.gsme_mirror is None:
            raise Reject(ErrorCode.DEVICE_UNREACHABLE, "no data from the GSME yet", keys)
        g, at = chf.gsme_mirror
        if isinstance(g, wan.GsmeMetering):  # reported over the air: only what it carried
            return replace(g, data_age_s=(now - at) // SECOND)
        return wan.GsmeInstantaneous(
            meter_time=zigbee_utc(g.meter_time_us),  # type: ignore[attr-defined]
            volume_dm3=g.volume_dm3,  # type: ignore[attr-defined]
            flow_dm3_per_h=g.flow_dm3_per_h,  # type: ignore[attr-defined]
            payment_mode=g.payment_mode,  # type: ignore[attr-defined]
            balance_pence=g.balance_pence,  # type: ignore[attr-defined]
            supply_state=g.supply_state,  # type: ignore[attr-defined]
            data_age_s=(now - at) // SECOND,
        )
    raise _not_for(device_type, "READ_INSTANTANEOUS", keys)


def _esme_body(r: EsmeReading) -> wan.EsmeInstantaneous:
    return wan.EsmeInstantaneous(  # positional, in the order of its fields (per WAN read)
        zigbee_utc(r.meter_time_us), r.import_wh, tuple(r.tou_wh), r.demand_w, r.payment_mode,
        r.balance_pence, r.emergency_credit_limit_pence, r.emergency_credit_available_pence,
        r.emergency_credit_in_use, r.supply_state)


@handles(MessageType.READ_INVENTORY)
def _read_inventory(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    if device_type is not DeviceType.CHF:
        raise _not_for(device_type, "READ_INVENTORY", keys)
    return wan.Inventory(
        apn=chf.sim.apn, service_profile=chf.sim.service_profile, iccid=chf.sim.iccid,
        last_wan_contact=_zutc(chf.last_wan_contact),
        entries=tuple(
            wan.InventoryEntry(eui=eui_from_str(eui), device_type=e.device_type, state=e.state,
                               last_heard=_zutc(e.last_heard))
            for eui, e in chf.log.items()
        ),
    )


def _zutc(at: int | None) -> int:
    return 0 if at is None else zigbee_utc(at)


@handles(MessageType.READ_FIRMWARE_VERSIONS)
def _read_firmware(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    if device_type is not DeviceType.CHF:
        raise _not_for(device_type, "READ_FIRMWARE_VERSIONS", keys)
    entries = [wan.FirmwareEntry(eui=chf.eui_bytes, device_type=DeviceType.CHF,
                                 version=chf.firmware_version)]
    for eui, e in chf.log.items():
        dev = chf.devices.get(eui)
        if dev is not None and not (chf.han is not None and chf.han.on_air(eui)):
            entries.append(wan.FirmwareEntry(eui=eui_from_str(eui), device_type=e.device_type,
                                             version=dev.firmware_version))  # type: ignore[attr-defined]
    return wan.FirmwareVersions(entries=tuple(entries))


@handles(MessageType.READ_EVENT_LOG)
def _read_event_log(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.EventLogRequest)
    if device_type is DeviceType.CHF:
        raw = [(t, c, v) for t, c, v in chf.event_log()]
    elif device_type in (DeviceType.ESME, DeviceType.GSME):
        raw = [(e.time_us, e.code, e.value) for e in core.event_log()]  # type: ignore[attr-defined]
    else:
        raise _not_for(device_type, "READ_EVENT_LOG", keys)
    limit = min(request.max_entries or MAX_LOG_ENTRIES_PER_FRAME, MAX_LOG_ENTRIES_PER_FRAME)
    raw = raw[-limit:]  # the newest entries that fit one frame
    return wan.EventLog(entries=tuple(
        wan.EventLogEntry(time=zigbee_utc(t), code=c, value=max(_I32_MIN, min(v, _I32_MAX)))
        for t, c, v in raw))


def _payment_body(p: PaymentSnapshot) -> wan.PaymentState:
    return wan.PaymentState(
        payment_mode=p.payment_mode, balance_pence=p.balance_pence,
        emergency_credit_limit_pence=p.emergency_credit_limit_pence,
        emergency_credit_available_pence=p.emergency_credit_available_pence,
        emergency_credit_in_use=p.emergency_credit_in_use,
        debt_pence=p.debt_pence, supply_state=p.supply_state,
    )


@handles(MessageType.READ_PAYMENT_MODE)
def _read_payment(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    return _payment_body(_meter(device_type, core, "READ_PAYMENT_MODE", keys).payment(now))


@handles(MessageType.SET_PAYMENT_MODE)
def _set_payment(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.SetPaymentMode)
    meter = _meter(device_type, core, "SET_PAYMENT_MODE", keys)
    return _payment_body(meter.set_payment_mode(request.payment_mode, now))


@handles(MessageType.TOP_UP)
def _top_up(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.TopUpRequest)
    if device_type not in (DeviceType.ESME, DeviceType.GSME):
        return wan.TopUpResult(status=TopUpStatus.DEVICE_NOT_SUPPORTED, amount_pence=0,
                               balance_pence=0)
    outcome = _meter(device_type, core, "TOP_UP", keys).top_up(request.utrn, now)
    return wan.TopUpResult(status=outcome.status, amount_pence=outcome.amount_pence,
                           balance_pence=outcome.balance_pence)


@handles(MessageType.READ_TIME)
def _read_time(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    if device_type is DeviceType.CHF:
        return wan.TimeValue(utc=zigbee_utc(chf.clock(now)))
    return wan.TimeValue(utc=zigbee_utc(_meter(device_type, core, "READ_TIME", keys)
                                        .meter_time(now)))


@handles(MessageType.SET_TIME)
def _set_time(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.SetTime)
    if request.utc > wan.MAX_SETTABLE_UTC:
        raise Reject(ErrorCode.INVALID_ARGUMENT,
                     f"utc {request.utc} is past {wan.MAX_SETTABLE_UTC}, the latest settable", keys)
    target_us = from_zigbee_utc(request.utc)
    if device_type is DeviceType.CHF:
        previous = chf.set_clock(target_us, now)
        chf.emit(now, chf.eui, "ClockAdjusted",
                  {"previous": zigbee_utc(previous), "utc": request.utc})
        chf.log_event(now, EventCode.CLOCK_ADJUSTED, request.utc - zigbee_utc(previous))
        return wan.SetTimeResult(previous_utc=zigbee_utc(previous), utc=request.utc)
    prev, new = _meter(device_type, core, "SET_TIME", keys).set_time(target_us, now)
    return wan.SetTimeResult(previous_utc=zigbee_utc(prev), utc=zigbee_utc(new))


@handles(MessageType.SET_SUPPLY)
def _set_supply(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.SetSupply)
    state = _meter(device_type, core, "SET_SUPPLY", keys).set_supply(request.action, now)
    return wan.SupplyResult(supply_state=state)


@handles(MessageType.UPDATE_HAN_DEVICE_LOG)
def _update_device_log(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    """SRV 8.11-style whitelist update: Add (install code, join window) or Remove."""
    assert isinstance(request, wan.UpdateDeviceLog)
    if device_type is not DeviceType.CHF:
        raise _not_for(device_type, "UPDATE_HAN_DEVICE_LOG", keys)
    eui = eui_to_str(request.eui)
    entry = chf.log.get(eui)
    status = DeviceLogStatus.DONE
    if request.action is DeviceLogAction.ADD:
        if entry is not None and entry.state is not DeviceLogState.REMOVED:
            status = DeviceLogStatus.ALREADY_PRESENT
        elif entry is None and len(chf.log) >= DEVICE_LOG_SIZE:
            status = DeviceLogStatus.LOG_FULL
        else:
            try:
                link_key = install_code_link_key(request.install_code)
            except InstallCodeError:
                status = DeviceLogStatus.INVALID_INSTALL_CODE
            else:
                chf.log[eui] = LogEntry(request.device_type, DeviceLogState.WHITELISTED, None,
                                        link_key, now + request.join_window_s * SECOND,
                                        request.mpxn)
                chf.emit(now, chf.eui, "HanDeviceLogAdded",
                          {"eui": eui, "type": request.device_type.name,
                           "join_window_s": request.join_window_s})
                chf.log_event(now, EventCode.HAN_DEVICE_ADDED, int(request.device_type))
    elif entry is None or entry.state is DeviceLogState.REMOVED:
        status = DeviceLogStatus.NOT_PRESENT
    else:
        del chf.log[eui]
        chf.devices.pop(eui, None)
        if chf.gsme_mirror is not None and entry.device_type is DeviceType.GSME:
            chf.gsme_mirror = None
        if chf.han is not None:
            chf.han.forget_device(eui)  # revokes its link key: its frames are dropped
        chf.emit(now, chf.eui, "HanDeviceLogRemoved", {"eui": eui})
        chf.log_event(now, EventCode.HAN_DEVICE_REMOVED, int(entry.device_type))
    return wan.DeviceLogUpdated(status=status, entries=len(chf.log))


def _chf_only(device_type: DeviceType, what: str, keys: OperationalKeys) -> None:
    if device_type is not DeviceType.CHF:
        raise _not_for(device_type, what, keys)


@handles(MessageType.ROTATE_KEYS)
def _rotate_keys(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.RotateKeys) and chf.master_key is not None
    _chf_only(device_type, "ROTATE_KEYS", keys)
    try:
        plain = aes_key_unwrap(chf.master_key, request.wrapped_keys)
    except (InvalidUnwrap, ValueError):
        raise Reject(ErrorCode.OPERATION_FAILED, "new keys do not unwrap under the Master Key",
                      keys) from None
    if not 1 <= request.key_id < wan.MASTER_KEY_ID or len(plain) != 32:
        raise Reject(ErrorCode.INVALID_ARGUMENT, "bad key id or key length", keys)
    old = security.snapshot(chf)
    new = Snapshot(request.new_owner, OperationalKeys(request.key_id, plain[:16], plain[16:]),
                   old.anchor, old.anchor_der, old.apn, old.service_profile)
    security.begin_rotation(chf)
    return security.run_step(chf, "rotate", new, now, keys)


def anchor_problem(der: bytes) -> str | None:
    """Why DER bytes cannot be a CHF's trust anchor, or None: it must parse as an X.509
    certificate of a CA (basicConstraints CA:TRUE, keyCertSign when keyUsage is present) with
    an ECDSA P-256 key, the only kind the WAN's TLS accepts."""
    # Imported here: cryptography.x509 pulls in socket (for IP addresses in names), which the
    # sans-IO core must not load at import (tests/test_layers.py).
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        return f"not an X.509 certificate ({exc})"
    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "not a CA certificate (basicConstraints CA:FALSE)"
    except x509.ExtensionNotFound:
        return "not a CA certificate (no basicConstraints)"
    try:
        if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
            return "its keyUsage does not allow signing certificates"
    except x509.ExtensionNotFound:
        pass
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return f"its key is not ECDSA P-256 ({type(key).__name__})"
    return None


@handles(MessageType.SWAP_CERTIFICATE)
def _swap_certificate(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.SwapCertificate)
    _chf_only(device_type, "SWAP_CERTIFICATE", keys)
    if not request.ca_certificate:
        raise Reject(ErrorCode.INVALID_ARGUMENT, "empty certificate", keys)
    problem = anchor_problem(request.ca_certificate)
    if problem is not None:  # checked before anything changes: TLS must be able to trust it
        raise Reject(ErrorCode.INVALID_ARGUMENT, f"new trust anchor refused: {problem}", keys)
    old = security.snapshot(chf)
    new = Snapshot(old.owner, old.keys, request.role, request.ca_certificate, old.apn,
                   old.service_profile)
    return security.run_step(chf, "swap", new, now, keys)


@handles(MessageType.ROLLBACK)
def _rollback(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.Rollback)
    _chf_only(device_type, "ROLLBACK", keys)
    prev = security.rollback_point(chf, keys)
    restored = Snapshot(prev.owner, prev.keys, prev.anchor, prev.anchor_der,
                        request.apn or prev.apn, request.service_profile or prev.service_profile)
    moved_sim = restored.apn != chf.sim.apn
    result = security.run_step(chf, "rollback", restored, now, keys)
    if not isinstance(result, Restarted):
        security.finish_rollback(chf)
        result = security.security_state(chf)
        if moved_sim:
            chf.lose_wan(now, now + chf.reconnect_delay_us)
    return result


@handles(MessageType.READ_SECURITY_STATE)
def _read_security_state(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    _chf_only(device_type, "READ_SECURITY_STATE", keys)
    return security.security_state(chf)


@handles(MessageType.MOVE_SIM)
def _move_sim(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    """The SIM moves to another APN: the CHF answers, then loses the WAN until it reattaches
    (the profile's reconnect delay: up to 7 days for FOC)."""
    assert isinstance(request, wan.MoveSim)
    _chf_only(device_type, "MOVE_SIM", keys)
    old = security.snapshot(chf)
    new = Snapshot(old.owner, old.keys, old.anchor, old.anchor_der, request.apn,
                   request.service_profile)
    result = security.run_step(chf, "sim", new, now, keys)
    if not isinstance(result, Restarted):
        chf.lose_wan(now, now + chf.reconnect_delay_us)
        chf.emit(now, chf.eui, "SimMoved", {"apn": request.apn,
                                             "reattach_at_us": chf.wan_down_until})
    return result


# ---- firmware (ZigBee OTA images): emulator.core.ota_han does the work ----------------------

_TRANSFER_STATES: Final = {
    "none": FirmwareTransferState.NONE, "idle": FirmwareTransferState.NONE,
    "offered": FirmwareTransferState.OFFERED, "downloading": FirmwareTransferState.DOWNLOADING,
    "downloaded": FirmwareTransferState.DOWNLOADED,
    "activation-scheduled": FirmwareTransferState.ACTIVATION_SCHEDULED,
    "activated": FirmwareTransferState.ACTIVATED, "refused": FirmwareTransferState.REFUSED,
    "failed": FirmwareTransferState.FAILED,
}
_ON_COMMAND: Final = 0xFFFFFFFF


def _ota(chf: Chf, keys: OperationalKeys) -> OtaHan:
    ota = chf.han.ota if chf.han is not None else None
    if ota is None:
        raise Reject(ErrorCode.INVALID_ARGUMENT, "firmware needs the ZigBee HAN", keys)
    return ota


def _transfer(ota: OtaHan, eui: str) -> wan.FirmwareTransfer:
    s = ota.status(eui)
    return wan.FirmwareTransfer(state=_TRANSFER_STATES[s.state], ota_status=s.status,
                                version=s.version, running=s.running, offset=s.offset,
                                size=s.size, reason=s.reason[:255])


def _firmware_target(ota: OtaHan, chf: Chf, core: object, keys: OperationalKeys) -> str:
    eui = chf.eui if core is chf else str(getattr(core, "eui", ""))
    if not ota.takes_images(eui):
        raise Reject(ErrorCode.INVALID_ARGUMENT, f"{eui} takes no firmware images", keys)
    return eui


@handles(MessageType.FIRMWARE_SEGMENT)
def _firmware_segment(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    """A piece of an image for the target, appended in order to the CHF's buffer for it."""
    assert isinstance(request, wan.FirmwareSegment)
    ota = _ota(chf, keys)
    eui = _firmware_target(ota, chf, core, keys)
    try:
        received = ota.segment(eui, request.offset, request.total_size, request.data)
    except LocalProtocolError as exc:
        raise Reject(ErrorCode.INVALID_ARGUMENT, str(exc), keys) from None
    return wan.FirmwareSegmentAck(received=received, total_size=request.total_size)


@handles(MessageType.DISTRIBUTE_FIRMWARE)
def _distribute_firmware(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    """Offer the buffered image to the target (Image Notify over the HAN; the CHF's own image
    is verified at once). A refused image answers with state REFUSED, not an ERROR."""
    assert isinstance(request, wan.DistributeFirmware)
    ota = _ota(chf, keys)
    eui = _firmware_target(ota, chf, core, keys)
    try:
        raw = ota.assembled(eui, request.sha256)
    except LocalProtocolError as exc:
        raise Reject(ErrorCode.INVALID_ARGUMENT, str(exc), keys) from None
    at = None if request.activate_at == _ON_COMMAND else request.activate_at
    ota.distribute(eui, raw, now, at)
    return _transfer(ota, eui)


@handles(MessageType.READ_FIRMWARE_TRANSFER)
def _read_firmware_transfer(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    ota = _ota(chf, keys)
    return _transfer(ota, _firmware_target(ota, chf, core, keys))


@handles(MessageType.ACTIVATE_FIRMWARE)
def _activate_firmware(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    """Run the verified image at ``at`` (the device reports the new version only then)."""
    assert isinstance(request, wan.ActivateFirmware)
    ota = _ota(chf, keys)
    eui = _firmware_target(ota, chf, core, keys)
    try:
        ota.activate(eui, request.at, now)
    except LocalProtocolError as exc:
        raise Reject(ErrorCode.INVALID_ARGUMENT, str(exc), keys) from None
    return _transfer(ota, eui)


check_complete(_HANDLERS, wan.MESSAGES)
#: The handler of each WAN request type (complete: checked above).
HANDLERS: Mapping[MessageType, Handler] = _HANDLERS
