"""What the ESME and the GSME share: payment, supply, top-ups, clock and event log.

:class:`PrepaymentMeter` is the base of :class:`~emulator.core.esme.Esme` and
:class:`~emulator.core.gsme.Gsme`. It owns a :class:`~emulator.core.load_profile.LoadProfile`
and settles it every half hour.

**Charges.** Consumption is charged at each half-hour boundary (UTC, run clock): per register,
milli-units x a unit rate held as pico-pence per milli-unit, plus the standing charge pro rata
for the time since the last settlement. Fractions of a penny carry over exactly. Only whole
slots are settled, and every credit check runs at a boundary with the boundary as its time, so
events and balances do not depend on when (or whether) anyone reads the meter. In prepayment
mode :meth:`PrepaymentMeter.get_timer` returns the next boundary so the driver wakes the meter
there; a late read or timer settles the missed boundaries with their own times.

**Credit mode** charges nothing to the meter balance (billing happens elsewhere), raises no
credit events and never interrupts supply. Switching mode (SRV 1.6) applies the new rules from
that moment; switching to credit re-enables a supply that credit exhaustion cut (a supply the
head-end disabled remotely stays disabled).

**Prepayment**, checked at each boundary in prepayment mode, in this order:

1. ``balance < low_credit_threshold`` -> LowCreditReached (once until a top-up lifts it again);
2. ``balance < emergency_credit_threshold`` -> EmergencyCreditAvailable: the consumer may select
   it (PPMID, :meth:`select_emergency_credit`); in use, the balance may run down to ``-limit``;
3. supply enabled and ``balance <= 0`` without emergency credit in use -> CreditExhausted, or
   ``balance <= -limit`` with it in use -> EmergencyCreditExhausted; either disables supply.

A top-up that brings the balance above zero repays emergency credit and arms a supply that
credit exhaustion disabled; the consumer's button then enables it. Selecting emergency credit
while cut off also arms the supply. Debt (optional) is recovered at each UTC midnight, at most
``debt_recovery_pence_per_day``, from the balance.

**Supply**: ENABLED -> DISABLED (credit, or remote DISABLE) -> ARMED (top-up above zero,
emergency credit, or remote ARM) -> ENABLED (consumer button, or remote ENABLE, which works from
any state). No consumption accrues while the supply is not ENABLED. The emergency-credit and
supply states move only by the tables of :mod:`emulator.core.meter_states`.

**Top-ups** (SRV 2.2) use :mod:`emulator.core.utrn`. Order of checks: LOCKED_OUT (an hour-long
lockout after 5 INVALID in a row; MALFORMED neither counts nor breaks the run, any UTRN with a
good check breaks it), MALFORMED, INVALID, ALREADY_USED (a counter at most 63 below the highest
accepted is fine if unused, as in an anti-replay window; older ones are refused), then
EXCEEDS_MAX_CREDIT (the counter stays unused).

**Event log**: at most 100 entries of (meter time, code, value), kept as two int64 per entry in
an ``array`` ring (about 1.6 KB when full; a list of tuples costs about five times that).

Routine accrual and settlement are not traced (they would be 48 events per meter per day); every
other state change is, through ``emit``.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, NamedTuple, Protocol

from emulator.core.load_profile import SLOT, LoadProfile
from emulator.core.meter_states import (
    EMERGENCY_CREDIT,
    SUPPLY,
    EmergencyCredit,
    EmergencyCreditEvent,
    SupplyEvent,
)
from emulator.core.timebase import DAY, HOUR, SECOND
from emulator.core.trace_sink import Emit
from emulator.core.utrn import UtrnRejected, check_utrn
from emulator.wire.vocabulary import (
    DeviceType,
    EventCode,
    PaymentMode,
    SupplyAction,
    SupplyState,
    TopUpStatus,
)

# Final: a compiled build folds them in (or reads a C static), instead of a module lookup.
#: pico-pence per penny: the fixed-point unit of charges.
PICO: Final = 10**12
LOG_SIZE: Final = 100
LOCKOUT_AFTER: Final = 5
LOCKOUT_US: Final = HOUR
REPLAY_WINDOW: Final = 64

_MASK48: Final = (1 << 48) - 1
_MASK64: Final = (1 << 64) - 1
_SUPPLY_CODE: Final = {
    SupplyState.ENABLED: EventCode.SUPPLY_ENABLED,
    SupplyState.DISABLED: EventCode.SUPPLY_DISABLED,
    SupplyState.ARMED: EventCode.SUPPLY_ARMED,
}
# Members looked up once: on Python 3.11 ``PaymentMode.PREPAYMENT`` goes through the enum's
# metaclass (about 65 ns, five times a plain global), and the fire path asks on every fire.
_PREPAYMENT: Final = PaymentMode.PREPAYMENT
_ENABLED: Final = SupplyState.ENABLED
_ARMED: Final = SupplyState.ARMED
_EC_NONE: Final = EmergencyCredit.NONE
_EC_AVAILABLE: Final = EmergencyCredit.AVAILABLE
_EC_IN_USE: Final = EmergencyCredit.IN_USE


class PrepaymentSpec(Protocol):
    """The prepayment block of a meter model (``emulator.profiles.PrepaymentConfig``)."""

    @property
    def initial_balance_pence(self) -> int: ...
    @property
    def max_credit_pence(self) -> int: ...
    @property
    def low_credit_threshold_pence(self) -> int: ...
    @property
    def emergency_credit_limit_pence(self) -> int: ...
    @property
    def emergency_credit_threshold_pence(self) -> int: ...
    @property
    def initial_debt_pence(self) -> int: ...
    @property
    def debt_recovery_pence_per_day(self) -> int: ...


class MeterModelSpec(Protocol):
    """What every meter model provides."""

    @property
    def manufacturer(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def firmware_version(self) -> str: ...
    @property
    def default_payment_mode(self) -> PaymentMode: ...
    @property
    def prepayment(self) -> PrepaymentSpec: ...


@dataclass(frozen=True, slots=True, init=False)
class PaymentSnapshot:
    payment_mode: PaymentMode
    balance_pence: int
    emergency_credit_limit_pence: int
    emergency_credit_available_pence: int
    emergency_credit_in_use: bool
    debt_pence: int
    supply_state: SupplyState

    # Written out, not the dataclass's: a compiled build runs this one natively (the generated
    # one stays interpreted, about ten times the cost); tests/core/test_written_inits.py
    # checks it against the fields.
    def __init__(
        self, payment_mode: PaymentMode, balance_pence: int, emergency_credit_limit_pence: int,
        emergency_credit_available_pence: int, emergency_credit_in_use: bool, debt_pence: int,
        supply_state: SupplyState
    ) -> None:
        object.__setattr__(self, "payment_mode", payment_mode)
        object.__setattr__(self, "balance_pence", balance_pence)
        object.__setattr__(self, "emergency_credit_limit_pence", emergency_credit_limit_pence)
        object.__setattr__(self, "emergency_credit_available_pence",
                           emergency_credit_available_pence)
        object.__setattr__(self, "emergency_credit_in_use", emergency_credit_in_use)
        object.__setattr__(self, "debt_pence", debt_pence)
        object.__setattr__(self, "supply_state", supply_state)


@dataclass(frozen=True, slots=True)
class TopUpOutcome:
    """``amount_pence`` is what was credited (0 when refused); ``balance_pence`` after it."""

    status: TopUpStatus
    amount_pence: int
    balance_pence: int


class LogEntry(NamedTuple):
    time_us: int  # meter time
    code: int  # an EventCode value
    value: int


class PrepaymentMeter:
    """Base class of the ESME and GSME cores; see the module docstring for the rules."""

    DEVICE_TYPE: ClassVar[DeviceType]

    # The fire path's fields first (get_timer's, the GSME's two, then the catch-up's and the
    # settlement's), in the object's first cache lines: a fleet's fires each touch another
    # installation's meters.
    __slots__ = (
        "_timer",
        "_mode",
        "_next_boundary",
        "_caught_up",
        "_profile",
        "_prepaid",
        "_rates",
        "_charged",
        "_charged_to",
        "_standing_slot",
        "_residual",
        "_balance",
        "_debt",
        "_low",
        "_ec",
        "_supply",
        "_low_threshold",
        "_ec_limit",
        "_ec_threshold",
        "_standing",
        "_debt_recovery",
        "_max_credit",
        "_credit_cut",
        "_emit",
        "_invalid_streak",
        "_key",
        "_lockout_until",
        "_log",
        "_log_head",
        "_offset",
        "_snap",
        "_utrn_high",
        "_utrn_seen",
        "eui",
        "firmware_version",
    )

    # mypyc: the spec's values the settlement reads are copied here as native fields (a read of
    # the spec, a pydantic model or any object of the Protocol, is a generic attribute lookup).
    _timer: int | None  # get_timer's answer: _next_boundary in prepayment mode, else None
    _prepaid: bool  # _mode is PREPAYMENT
    _standing: int  # pico-pence per day
    _standing_slot: int  # _standing * SLOT // DAY: a whole half hour's standing charge
    _low_threshold: int
    _ec_limit: int
    _ec_threshold: int
    _debt_recovery: int
    _max_credit: int

    def __init__(
        self,
        eui: str,
        model: MeterModelSpec,
        profile: LoadProfile,
        rates_pp: Sequence[int],
        standing_pp_per_day: int,
        emit: Emit,
        now: int,
        prepayment_key: bytes,
        payment_mode: PaymentMode | None,
        balance_pence: int | None,
    ) -> None:
        prepay = model.prepayment
        self.eui = eui
        self.firmware_version = model.firmware_version
        self._emit = emit
        self._key = prepayment_key
        self._profile = profile
        self._rates = tuple(rates_pp)
        self._standing = standing_pp_per_day
        self._standing_slot = standing_pp_per_day * SLOT // DAY
        self._low_threshold = prepay.low_credit_threshold_pence
        self._ec_limit = prepay.emergency_credit_limit_pence
        self._ec_threshold = prepay.emergency_credit_threshold_pence
        self._debt_recovery = prepay.debt_recovery_pence_per_day
        self._max_credit = prepay.max_credit_pence
        self._mode = model.default_payment_mode if payment_mode is None else payment_mode
        self._prepaid = self._mode is _PREPAYMENT
        self._balance = prepay.initial_balance_pence if balance_pence is None else balance_pence
        self._debt = prepay.initial_debt_pence
        self._residual = 0
        self._charged = profile.registers
        self._charged_to = now
        self._next_boundary = now - now % SLOT + SLOT
        self._timer = self._next_boundary if self._prepaid else None
        self._caught_up = now  # the profile starts accrued to ``now``, no boundary due
        self._ec = EmergencyCredit.NONE
        self._low = False
        self._supply = SupplyState.ENABLED
        self._credit_cut = False
        self._offset = 0
        self._utrn_high = -1
        self._utrn_seen = 0
        self._invalid_streak = 0
        self._lockout_until: int | None = None
        self._log = array("q")
        self._log_head = 0
        self._snap: PaymentSnapshot | None = None  # the last snapshot made, while it holds
        self._record(now, EventCode.POWER_ON, 0)

    # -- reads -----------------------------------------------------------------------------

    @property
    def payment_mode(self) -> PaymentMode:
        """The current payment mode (changes only through :meth:`set_payment_mode`)."""
        return self._mode

    @property
    def supply_armed(self) -> bool:
        """Is the supply ARMED (at any time from the last change on)? Settling a half hour only
        ever cuts an enabled supply, so unlike :meth:`supply_state_at` this needs no catch-up:
        ``supply_state_at(now) is ARMED`` gives the same answer at every ``now``."""
        return self._supply is _ARMED

    def payment(self, now: int) -> PaymentSnapshot:
        # Accrual inside a half hour changes no payment state (only settling a boundary does),
        # and accrual is path-independent: with no boundary due, the catch-up can wait.
        if now >= self._next_boundary:
            self._catch_up(now)
        return self._snapshot()

    def supply_state_at(self, now: int) -> SupplyState:
        """The supply state at ``now`` (what :meth:`payment` says of it, without the rest)."""
        if now >= self._next_boundary:
            self._catch_up(now)
        return self._supply

    def meter_time(self, now: int) -> int:
        """The meter's clock: ``now`` plus its offset (set by :meth:`set_time`)."""
        return now + self._offset

    def event_log(self) -> list[LogEntry]:
        """The event log, oldest first (at most 100 entries)."""
        log, head = self._log, self._log_head
        raw = list(log[head:]) + list(log[:head])
        entries = []
        for i in range(0, len(raw), 2):
            packed = raw[i + 1]
            value = packed & _MASK48
            if value >> 47:
                value -= 1 << 48
            entries.append(LogEntry(raw[i], packed >> 48, value))
        return entries

    # -- timers ----------------------------------------------------------------------------

    def get_timer(self) -> int | None:
        """The next half-hour settlement in prepayment mode; ``None`` in credit mode."""
        return self._timer  # kept by every change of _next_boundary or _mode

    # -- commands --------------------------------------------------------------------------

    def set_payment_mode(self, mode: PaymentMode, now: int) -> PaymentSnapshot:
        """SRV 1.6. New rules apply from ``now``; charges restart from ``now``."""
        mode = PaymentMode(mode)  # a plain int from a decoder is fine too
        self._catch_up(now)
        if mode is not self._mode:
            previous, self._mode = self._mode, mode
            self._prepaid = prepaid = mode is _PREPAYMENT
            self._timer = self._next_boundary if prepaid else None
            self._charged = self._profile.registers
            self._charged_to = now
            self._record(now, EventCode.PAYMENT_MODE_CHANGED, int(mode))
            self._tell(now, "PaymentModeChanged", previous=previous.name, mode=mode.name)
            if mode is PaymentMode.CREDIT and self._credit_cut:
                self._credit_cut = False
                self._supply_event(SupplyEvent.CREDIT_MODE, now, "payment_mode")
        return self._snapshot()

    def set_supply(self, action: SupplyAction, now: int) -> SupplyState:
        """SRV 7.1-7.3 from the head-end. ARM acts only on a disabled supply."""
        action = SupplyAction(action)
        self._catch_up(now)
        if action is SupplyAction.ENABLE:
            self._credit_cut = False
            self._supply_event(SupplyEvent.REMOTE_ENABLE, now, "remote")
        elif action is SupplyAction.DISABLE:
            self._credit_cut = False
            self._supply_event(SupplyEvent.REMOTE_DISABLE, now, "remote")
        else:
            self._supply_event(SupplyEvent.REMOTE_ARM, now, "remote")
        return self._supply

    def enable_by_consumer(self, now: int) -> bool:
        """The consumer pressed the enable button: ARMED -> ENABLED. False if not armed."""
        self._catch_up(now)
        if not SUPPLY.allows(self._supply, SupplyEvent.CONSUMER_ENABLE):
            return False
        self._credit_cut = False
        self._supply_event(SupplyEvent.CONSUMER_ENABLE, now, "consumer")
        return True

    def select_emergency_credit(self, now: int) -> bool:
        """The consumer selected emergency credit. False unless it is available."""
        self._catch_up(now)
        selected = EmergencyCreditEvent.SELECTED
        if self._mode is not PaymentMode.PREPAYMENT or not EMERGENCY_CREDIT.allows(
            self._ec, selected
        ):
            return False
        self._ec = EMERGENCY_CREDIT.next(self._ec, selected)
        limit = self._ec_limit
        self._record(now, EventCode.EMERGENCY_CREDIT_ACTIVATED, limit)
        self._tell(
            now, "EmergencyCreditActivated", emergency_credit_limit_pence=limit,
            balance_pence=self._balance,
        )
        if self._supply is SupplyState.DISABLED and self._credit_cut:
            self._supply_event(SupplyEvent.CREDIT_RESTORED, now, "emergency_credit")
        return True

    def top_up(self, utrn: str, now: int) -> TopUpOutcome:
        """SRV 2.2: apply a 20-digit UTRN (see the module docstring for the checks)."""
        self._catch_up(now)
        if self._lockout_until is not None:
            if now < self._lockout_until:
                return self._refuse(now, TopUpStatus.LOCKED_OUT)
            self._lockout_until = None
            self._invalid_streak = 0
        try:
            counter, amount = check_utrn(self._key, self.eui, utrn)
        except UtrnRejected as rejected:
            if rejected.status is TopUpStatus.INVALID:
                self._invalid_streak += 1
                if self._invalid_streak >= LOCKOUT_AFTER:
                    self._lockout_until = now + LOCKOUT_US
                    self._record(now, EventCode.UTRN_LOCKOUT, self._invalid_streak)
                    self._tell(now, "UtrnLockedOut", until_us=self._lockout_until)
            return self._refuse(now, rejected.status)
        self._invalid_streak = 0
        if not self._counter_unused(counter):
            return self._refuse(now, TopUpStatus.ALREADY_USED, counter)
        if self._balance + amount > self._max_credit:
            return self._refuse(now, TopUpStatus.EXCEEDS_MAX_CREDIT, counter)
        self._mark_used(counter)
        self._balance += amount
        self._record(now, EventCode.TOP_UP_ACCEPTED, amount)
        self._tell(
            now, "TopUpAccepted", counter=counter, amount_pence=amount, balance_pence=self._balance
        )
        self._after_credit(now)
        return TopUpOutcome(TopUpStatus.ACCEPTED, amount, self._balance)

    def set_time(self, utc_us: int, now: int) -> tuple[int, int]:
        """Set the meter clock (SRV 6.11); returns (previous, new) meter time in µs."""
        self._catch_up(now)
        previous = now + self._offset
        self._offset = utc_us - now
        self._record(now, EventCode.CLOCK_ADJUSTED, (utc_us - previous) // SECOND)
        self._tell(now, "ClockAdjusted", previous_utc_us=previous, new_utc_us=utc_us)
        return previous, utc_us

    # -- internals -------------------------------------------------------------------------

    def _tell(self, now: int, event: str, **fields: object) -> None:
        self._emit(now, self.eui, event, fields)

    def _record(self, now: int, code: EventCode, value: int) -> None:
        packed = int(code) << 48 | (value & _MASK48)
        log = self._log
        if len(log) < 2 * LOG_SIZE:
            log.append(now + self._offset)
            log.append(packed)
            return
        head = self._log_head
        log[head] = now + self._offset
        log[head + 1] = packed
        self._log_head = (head + 2) % (2 * LOG_SIZE)

    def _snapshot(self) -> PaymentSnapshot:
        limit = self._ec_limit
        ec = self._ec
        in_use = ec is _EC_IN_USE
        if ec is _EC_AVAILABLE:
            available = limit
        elif in_use:
            available = max(0, limit + min(self._balance, 0))
        else:
            available = 0
        # Reads between two changes (every display refresh) share one snapshot.
        snap = self._snap
        if (snap is not None and snap.balance_pence == self._balance
                and snap.payment_mode is self._mode and snap.supply_state is self._supply
                and snap.emergency_credit_available_pence == available
                and snap.emergency_credit_in_use is in_use
                and snap.debt_pence == self._debt and snap.emergency_credit_limit_pence == limit):
            return snap
        snap = self._snap = PaymentSnapshot(
            payment_mode=self._mode,
            balance_pence=self._balance,
            emergency_credit_limit_pence=limit,
            emergency_credit_available_pence=available,
            emergency_credit_in_use=in_use,
            debt_pence=self._debt,
            supply_state=self._supply,
        )
        return snap

    def _catch_up(self, now: int) -> None:
        """Settle every half-hour boundary up to ``now``, then accrue to ``now``. Again at the
        same (or an earlier) time it changes nothing: the reads of one instant pay once."""
        if now <= self._caught_up:
            return
        self._caught_up = now
        profile = self._profile
        boundary = self._next_boundary
        if boundary > now:
            profile.advance(now)  # no boundary due (a read inside a half hour)
            return
        while True:
            self._next_boundary = after = boundary + SLOT
            profile.advance(boundary)
            self._settle(boundary)
            if after > now:
                break
            boundary = after
        if boundary != now:
            profile.advance(now)  # else accrued to ``now`` already (a fire at the boundary)
        if self._prepaid:  # settling never changes the mode
            self._timer = after

    def _settle(self, at: int) -> None:
        registers = self._profile.registers
        if self._prepaid:
            cost = 0
            # mypyc: zip without strict= is a native loop (any keyword makes it a generic
            # call). The lengths are equal by construction: one rate per register (profiles
            # checks the ESME's tariff, the GSME has one of each), _charged a registers tuple.
            for rate, now_total, charged in zip(  # noqa: B905
                    self._rates, registers, self._charged):
                cost += rate * (now_total - charged)
            elapsed = at - self._charged_to
            if elapsed == SLOT:
                cost += self._standing_slot  # a whole half hour, the usual case
            else:
                cost += self._standing * elapsed // DAY
            # mypyc: // and % on native ints (divmod makes a tuple of boxed ints).
            total = self._residual + cost
            self._residual = total % PICO
            self._balance -= total // PICO
            if self._debt > 0 and at % DAY == 0 and (recovery := self._debt_recovery) > 0:
                taken = min(self._debt, recovery)
                self._debt -= taken
                self._balance -= taken
            self._check_credit(at)
        self._charged = registers
        self._charged_to = at

    def _check_credit(self, at: int) -> None:
        balance = self._balance
        if not self._low and balance < self._low_threshold:
            self._low = True
            self._record(at, EventCode.LOW_CREDIT, balance)
            self._tell(at, "LowCreditReached", balance_pence=balance)
        limit = self._ec_limit
        if (self._ec is _EC_NONE and limit > 0
                and balance < self._ec_threshold):
            self._ec = EMERGENCY_CREDIT.next(self._ec, EmergencyCreditEvent.OFFERED)
            self._record(at, EventCode.EMERGENCY_CREDIT_AVAILABLE, limit)
            self._tell(at, "EmergencyCreditAvailable", emergency_credit_limit_pence=limit,
                       balance_pence=balance)
        if self._supply is not _ENABLED:
            return
        if self._ec is _EC_IN_USE:
            if balance > -limit:
                return
            self._ec = EMERGENCY_CREDIT.next(self._ec, EmergencyCreditEvent.USED_UP)
            self._record(at, EventCode.EMERGENCY_CREDIT_EXHAUSTED, balance)
            self._tell(at, "EmergencyCreditExhausted", balance_pence=balance)
        elif balance <= 0:
            self._record(at, EventCode.CREDIT_EXHAUSTED, balance)
            self._tell(at, "CreditExhausted", balance_pence=balance)
        else:
            return
        self._credit_cut = True
        self._supply_event(SupplyEvent.CREDIT_CUT, at, "credit")

    def _after_credit(self, now: int) -> None:
        """Clear credit states that a top-up resolved; arm a supply credit exhaustion cut."""
        balance = self._balance
        if self._low and balance >= self._low_threshold:
            self._low = False
            self._tell(now, "LowCreditCleared", balance_pence=balance)
        ec = self._ec
        if (ec is EmergencyCredit.AVAILABLE and balance >= self._ec_threshold
                ) or (ec in (EmergencyCredit.IN_USE, EmergencyCredit.EXHAUSTED) and balance > 0):
            self._ec = EMERGENCY_CREDIT.next(ec, EmergencyCreditEvent.CLEARED)
            self._tell(now, "EmergencyCreditCleared", balance_pence=balance)
        if self._supply is SupplyState.DISABLED and self._credit_cut and balance > 0:
            self._supply_event(SupplyEvent.CREDIT_RESTORED, now, "top_up")

    def _supply_event(self, event: SupplyEvent, now: int, cause: str) -> None:
        """Move the supply by the table (a move to the same state is silent)."""
        state = SUPPLY.next(self._supply, event)
        if state is self._supply:
            return
        previous, self._supply = self._supply, state
        self._profile.set_on(state is SupplyState.ENABLED, now)
        self._record(now, _SUPPLY_CODE[state], int(previous))
        self._tell(now, "SupplyStateChanged", previous=previous.name, state=state.name, cause=cause)

    def _counter_unused(self, counter: int) -> bool:
        if counter > self._utrn_high:
            return True
        age = self._utrn_high - counter
        return age < REPLAY_WINDOW and not (self._utrn_seen >> age) & 1

    def _mark_used(self, counter: int) -> None:
        if counter > self._utrn_high:
            shift = counter - self._utrn_high
            self._utrn_seen = ((self._utrn_seen << shift) | 1) & _MASK64
            self._utrn_high = counter
        else:
            self._utrn_seen |= 1 << (self._utrn_high - counter)

    def _refuse(self, now: int, status: TopUpStatus, counter: int | None = None) -> TopUpOutcome:
        self._record(now, EventCode.TOP_UP_REJECTED, int(status))
        self._tell(now, "TopUpRejected", status=status.name, counter=counter)
        return TopUpOutcome(status, 0, self._balance)
