"""The CHF's values and the ports it talks through (no behaviour here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from emulator.core.prepayment import PaymentSnapshot, TopUpOutcome

if TYPE_CHECKING:
    from emulator.core.ota_han import OtaHan
from emulator.wire.vocabulary import (
    DeviceLogState,
    DeviceType,
    ErrorCode,
    PaymentMode,
    Role,
    SupplyAction,
    SupplyState,
)


@dataclass(frozen=True, slots=True)
class OperationalKeys:
    """One head-end role's keys on this CHF: it MACs requests with ``command_key``, the CHF
    MACs its responses to that role with ``response_key``."""

    key_id: int
    command_key: bytes
    response_key: bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The CHF's security configuration as one value: a step replaces it whole (atomic: a CHF
    restarted mid-step holds the old or the new one, never a mixture)."""

    owner: Role
    keys: OperationalKeys
    anchor: Role
    anchor_der: bytes
    apn: str
    service_profile: str


@dataclass(frozen=True, slots=True)
class WanSchedule:
    """When a CHF's modem is attached: ``awake_us`` at the start of every ``period_us``,
    counted from ``phase_us`` (a battery-saving or badly covered CHF). A session opened while
    awake stays up until it closes."""

    period_us: int
    awake_us: int
    phase_us: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.awake_us <= self.period_us:
            raise ValueError("a WAN schedule is awake for 0 < awake <= period")

    def awake(self, t: int) -> bool:
        return (t - self.phase_us) % self.period_us < self.awake_us

    def next_awake(self, t: int) -> int:
        """The first instant at or after ``t`` when the modem is attached."""
        offset = (t - self.phase_us) % self.period_us
        return t if offset < self.awake_us else t - offset + self.period_us

    def last_awake(self, t: int) -> int:
        """The last instant at or before ``t`` when the modem was attached."""
        offset = (t - self.phase_us) % self.period_us
        return t if offset < self.awake_us else t - offset + self.awake_us - 1


@dataclass(slots=True)
class Sim:
    iccid: str
    imsi: str
    apn: str
    service_profile: str


@dataclass(slots=True)
class LogEntry:
    device_type: DeviceType
    state: DeviceLogState
    last_heard: int | None  # µs, run clock
    link_key: bytes | None = None  # from the install code (whitelisted, not yet joined)
    join_until: int | None = None  # end of the join window
    mpxn: str = ""


class Meter(Protocol):
    """What the CHF needs of an ESME or GSME core over the direct HAN link."""

    eui: str
    firmware_version: str

    def payment(self, now: int) -> PaymentSnapshot: ...
    def set_payment_mode(self, mode: PaymentMode, now: int) -> PaymentSnapshot: ...
    def top_up(self, utrn: str, now: int) -> TopUpOutcome: ...
    def set_supply(self, action: SupplyAction, now: int) -> SupplyState: ...
    def meter_time(self, now: int) -> int: ...
    def set_time(self, utc_us: int, now: int) -> tuple[int, int]: ...
    def event_log(self) -> list[object]: ...


Complete = Callable[[object, int], None]  # (response body, now)
Fail = Callable[[ErrorCode, str, int], None]  # (error code, detail, now)


class Deferred:
    """A handler's answer that is not ready yet (it waits on the HAN): ``start`` is called with
    the two continuations, one of which runs later."""

    __slots__ = ("start",)

    def __init__(self, start: Callable[[Complete, Fail], None]) -> None:
        self.start = start


class Restarted:
    """A handler's answer when a fault restarted the CHF mid-step: no reply is sent."""


class HanPort(Protocol):
    """What the CHF asks of the ZigBee HAN (``emulator.core.se_app.SmartEnergyApp``)."""

    def read_esme(self, now: int, done: Callable[[object, int], None],
                  failed: Callable[[str, int], None]) -> None: ...

    def gsme_command(self, payload: bytes, command_id: int, now: int,
                     done: Callable[[bytes, int], None],
                     failed: Callable[[str, int], None]) -> None: ...

    def forget_device(self, eui: str) -> None: ...

    def on_air(self, eui: str) -> bool: ...  # on a radio, not run by this process

    @property
    def ota(self) -> OtaHan | None: ...  # the OTA cluster (emulator.core.ota_han), if attached
