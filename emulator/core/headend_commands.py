"""The head-end's commands as values: each function gives the :class:`Command` to send, what
its answer must be, and what the head-end traces about it. Any driver of a
:class:`~emulator.core.headend.HeadEndCore` runs them (the asyncio session, the pairing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

from emulator.core.headend import Command
from emulator.errors import RemoteProtocolError
from emulator.wire import wan
from emulator.wire.eui import eui_from_str, normalise
from emulator.wire.vocabulary import (
    DeviceLogAction,
    DeviceType,
    MessageType,
    PaymentMode,
    SupplyAction,
)

T = TypeVar("T")
Instantaneous = (wan.EsmeInstantaneous | wan.GsmeInstantaneous | wan.EsmeMetering
                 | wan.GsmeMetering)


def _unexpected(body: object, wanted: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"expected a {wanted} reply, got {type(body).__name__}")


def _of(cls: type[T]) -> Callable[[object], T]:
    def narrow(body: object) -> T:
        if not isinstance(body, cls):
            raise _unexpected(body, cls.__name__)
        return body

    return narrow


def _instantaneous(body: object) -> Instantaneous:
    if not isinstance(body, wan.EsmeInstantaneous | wan.GsmeInstantaneous | wan.EsmeMetering
                      | wan.GsmeMetering):
        raise _unexpected(body, "instantaneous reading")
    return body


def _reading_trace(device: str) -> Callable[[Instantaneous], tuple[str, str, dict[str, object]]]:
    def trace(r: Instantaneous) -> tuple[str, str, dict[str, object]]:
        if isinstance(r, wan.EsmeInstantaneous):
            return "ReadingReceived", device, {
                "import_wh": r.import_wh, "tou_wh": list(r.tou_wh), "demand_w": r.demand_w,
                "balance_pence": r.balance_pence, "supply": r.supply_state.name}
        if isinstance(r, wan.EsmeMetering):  # a device on a radio: only what came over the air
            return "ReadingReceived", device, {"import_wh": r.import_wh, "demand_w": r.demand_w,
                                               "metering_only": True}
        if isinstance(r, wan.GsmeMetering):
            return "ReadingReceived", device, {"volume_dm3": r.volume_dm3,
                                               "data_age_s": r.data_age_s,
                                               "metering_only": True}
        return "ReadingReceived", device, {
            "volume_dm3": r.volume_dm3, "balance_pence": r.balance_pence,
            "data_age_s": r.data_age_s}

    return trace


def read_instantaneous(device: str) -> Command[Instantaneous]:
    return Command(MessageType.READ_INSTANTANEOUS, device, None, _instantaneous,
                   _reading_trace(normalise(device)))


def read_inventory() -> Command[wan.Inventory]:
    return Command(MessageType.READ_INVENTORY, None, None, _of(wan.Inventory))


def read_firmware_versions() -> Command[wan.FirmwareVersions]:
    return Command(MessageType.READ_FIRMWARE_VERSIONS, None, None, _of(wan.FirmwareVersions))


def read_event_log(device: str | None = None, max_entries: int = 0) -> Command[wan.EventLog]:
    return Command(MessageType.READ_EVENT_LOG, device,
                   wan.EventLogRequest(max_entries=max_entries), _of(wan.EventLog))


def read_payment_mode(device: str) -> Command[wan.PaymentState]:
    return Command(MessageType.READ_PAYMENT_MODE, device, None, _of(wan.PaymentState))


def set_payment_mode(device: str, mode: PaymentMode) -> Command[wan.PaymentState]:
    eui = normalise(device)
    return Command(MessageType.SET_PAYMENT_MODE, device, wan.SetPaymentMode(payment_mode=mode),
                   _of(wan.PaymentState),
                   lambda r: ("PaymentModeSet", eui, {"mode": mode.name}))


def top_up(device: str, utrn: str) -> Command[wan.TopUpResult]:
    eui = normalise(device)
    return Command(MessageType.TOP_UP, device, wan.TopUpRequest(utrn=utrn), _of(wan.TopUpResult),
                   lambda r: ("TopUpResult", eui, {
                       "status": r.status.name, "amount_pence": r.amount_pence,
                       "balance_pence": r.balance_pence}))


def read_time(device: str | None = None) -> Command[wan.TimeValue]:
    return Command(MessageType.READ_TIME, device, None, _of(wan.TimeValue))


def set_time(device: str | None, utc: int) -> Command[wan.SetTimeResult]:
    return Command(MessageType.SET_TIME, device, wan.SetTime(utc=utc), _of(wan.SetTimeResult))


def update_device_log(
    action: DeviceLogAction, device: str, device_type: DeviceType = DeviceType.GSME,
    install_code: bytes = b"", join_window_s: int = 90, mpxn: str = "",
) -> Command[wan.DeviceLogUpdated]:
    """SRV 8.11-style: add a device to the CHF's whitelist (install code with its CRC, join
    window) or remove it."""
    eui = normalise(device)
    return Command(
        MessageType.UPDATE_HAN_DEVICE_LOG, None,
        wan.UpdateDeviceLog(action=action, eui=eui_from_str(device), device_type=device_type,
                            install_code=install_code, join_window_s=join_window_s, mpxn=mpxn),
        _of(wan.DeviceLogUpdated),
        lambda r: ("DeviceLogUpdated", eui, {"action": action.name, "status": r.status.name}))


def set_supply(device: str, action: SupplyAction) -> Command[wan.SupplyResult]:
    return Command(MessageType.SET_SUPPLY, device, wan.SetSupply(action=action),
                   _of(wan.SupplyResult))


def read_security_state() -> Command[wan.SecurityState]:
    return Command(MessageType.READ_SECURITY_STATE, None, None, _of(wan.SecurityState))


__all__ = [
    "Instantaneous",
    "read_event_log",
    "read_firmware_versions",
    "read_instantaneous",
    "read_inventory",
    "read_payment_mode",
    "read_security_state",
    "read_time",
    "set_payment_mode",
    "set_supply",
    "set_time",
    "top_up",
    "update_device_log",
]


# ---- firmware --------------------------------------------------------------------------------

#: ``activate_at`` meaning "wait for ACTIVATE_FIRMWARE".
ON_COMMAND: Final = 0xFFFFFFFF


def _segment_size() -> int:
    return wan.MAX_PAYLOAD - 10  # offset, total size and the data's byte count


def firmware_segments(device: str | None, image: bytes) -> list[Command[wan.FirmwareSegmentAck]]:
    """The image in pieces that each fit one frame, in order (the CHF buffers them)."""
    size = _segment_size()
    return [
        Command(MessageType.FIRMWARE_SEGMENT, device,
                wan.FirmwareSegment(offset=off, total_size=len(image),
                                    data=image[off:off + size]),
                _of(wan.FirmwareSegmentAck))
        for off in range(0, len(image), size)
    ]


def distribute_firmware(device: str | None, sha256: bytes, activate_at: int = 0,
                        ) -> Command[wan.FirmwareTransfer]:
    """Offer the image the segments delivered to ``device`` (None: the CHF itself)."""
    return Command(MessageType.DISTRIBUTE_FIRMWARE, device,
                   wan.DistributeFirmware(activate_at=activate_at, sha256=sha256),
                   _of(wan.FirmwareTransfer), _transfer_trace("FirmwareDistributed", device))


def read_firmware_transfer(device: str | None) -> Command[wan.FirmwareTransfer]:
    return Command(MessageType.READ_FIRMWARE_TRANSFER, device, None, _of(wan.FirmwareTransfer))


def activate_firmware(device: str | None, at: int = 0) -> Command[wan.FirmwareTransfer]:
    return Command(MessageType.ACTIVATE_FIRMWARE, device, wan.ActivateFirmware(at=at),
                   _of(wan.FirmwareTransfer), _transfer_trace("FirmwareActivationSent", device))


def _transfer_trace(event: str, device: str | None,
                    ) -> Callable[[wan.FirmwareTransfer], tuple[str, str, dict[str, object]]]:
    def trace(t: wan.FirmwareTransfer) -> tuple[str, str, dict[str, object]]:
        return (event, normalise(device) if device else "", {"state": t.state.name,
                                                               "version": t.version})
    return trace
