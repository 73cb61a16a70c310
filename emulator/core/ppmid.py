"""Consumer devices: the PPMID (prepayment interface) and, in :mod:`emulator.core.ihd`, the IHD.

Both are sans-IO and HAN-agnostic. Every ``model.refresh_interval_s`` (first refresh at a
seeded phase inside the first interval, so a fleet does not refresh in lockstep),
:meth:`ConsumerDevice.handle_timer` returns the :class:`ReadRequest` list the driver must answer;
the driver reads the meter (or the CHF's GSME mirror) and calls
``show(target, data, now)`` with a :class:`~emulator.core.prepayment.PaymentSnapshot`, an
:class:`~emulator.core.esme.EsmeReading` or a :class:`~emulator.core.gsme.GsmeReading`.

To keep traces small, ``DisplayUpdated`` is emitted only when what is shown changes by a
significant amount (see each device), or, for smaller changes, at most once an hour.

The PPMID's buttons return a :class:`ConsumerAction` for the driver to route to the meter
(``Esme.select_emergency_credit`` / ``Esme.enable_by_consumer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, Protocol

from emulator.core.esme import EsmeReading
from emulator.core.gsme import GsmeReading
from emulator.core.prepayment import PaymentSnapshot
from emulator.core.rng import SplitMix64, derive_seed
from emulator.core.timebase import DAY, SECOND, isoformat
from emulator.core.trace_sink import Emit
from emulator.errors import LocalProtocolError
from emulator.wire.vocabulary import DeviceType, PaymentMode, SupplyState

# Final: a compiled build folds the ints into the code that uses them and keeps the rest in
# C statics (a module global that is not Final is a dict lookup per use, and an int one is then
# compared and subtracted as an object).

#: A PPMID redraws at once when the balance moves by this much.
SIGNIFICANT_BALANCE_PENCE: Final = 100
#: Smaller changes are traced at most this often (per device and fuel).
REDRAW_INTERVAL_US: Final = DAY  # a routine redraw is not news: keep fleet traces small

# Looked up once: on Python 3.11 an enum member (``DeviceType.ESME``) or its ``.name`` is a
# slow attribute (the enum's metaclass, a descriptor), and every refresh and redraw asks.
_ESME: Final = DeviceType.ESME
_GSME: Final = DeviceType.GSME
_ESME_NAME: Final = _ESME.name
_GSME_NAME: Final = _GSME.name
# One table per enum: they are IntEnums, so members of two enums with one value are equal keys.
_MODE_NAMES: Final = {m: m.name for m in PaymentMode}
_SUPPLY_NAMES: Final = {m: m.name for m in SupplyState}


class ConsumerModelSpec(Protocol):
    """What PPMID and IHD cores need from their model (``emulator.profiles.PpmidModel``...)."""

    @property
    def manufacturer(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def firmware_version(self) -> str: ...
    @property
    def refresh_interval_s(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """Read ``what`` from the ``target`` meter and pass the result to ``show``."""

    target: DeviceType
    what: Literal["payment", "registers"]


@dataclass(frozen=True, slots=True)
class ConsumerAction:
    """A consumer pressed a button; the driver applies it to the ``target`` meter."""

    target: DeviceType
    action: Literal["select_emergency_credit", "enable_supply"]


class ConsumerDevice:
    """Refresh schedule and per-fuel display state shared by the PPMID and the IHD."""

    # The fire path's fields first: a refresh that is not due reads only ``due_at``, in the
    # object's first cache line (a fleet's fires each touch another installation's objects).
    __slots__ = (
        "due_at",
        "_emit",
        "_emit_at_e",
        "_emit_at_g",
        "_emitted_e",
        "_emitted_g",
        "_gas",
        "_gas_data_at",
        "_has_gas_data_at",
        "_has_updated_at",
        "_interval",
        "_requests",
        "_shown_e",
        "_shown_g",
        "_source_e",
        "_source_g",
        "_updated_at",
        "eui",
        "firmware_version",
        "model",
    )

    WHAT: Literal["payment", "registers"] = "payment"

    def __init__(
        self,
        eui: str,
        model: ConsumerModelSpec,
        emit: Emit,
        now: int,
        rng: SplitMix64 | None = None,
        gas: bool = True,
    ) -> None:
        self.eui = eui
        self.model = model
        self.firmware_version = model.firmware_version
        self._emit = emit
        self._interval = max(1, model.refresh_interval_s) * SECOND
        # Without a generator the phase still differs per device, derived from the EUI.
        seed = rng.next_u64() if rng is not None else derive_seed(eui, "refresh")
        #: The next refresh (µs, run clock): :meth:`get_timer`'s answer, as an attribute for
        #: the direct HAN's fire path (read it, never set it).
        self.due_at = now + seed % self._interval
        self._requests = _requests(self.WHAT, gas)
        self._gas = gas
        self._shown_e: object = None
        self._shown_g: object = None
        # The data the shown values were converted from: a refresh that is handed the very
        # same (immutable) data again shows the same value without converting it again.
        self._source_e: object = None
        self._source_g: object = None
        self._emitted_e: object = None
        self._emitted_g: object = None
        self._emit_at_e = 0
        self._emit_at_g = 0
        # mypyc: a time as a native int beside a flag (an ``int | None`` is a boxed object,
        # a new int object at every refresh that sets it).
        self._updated_at = 0
        self._has_updated_at = False
        self._gas_data_at = 0
        self._has_gas_data_at = False

    def get_timer(self) -> int:
        return self.due_at

    def handle_timer(self, now: int) -> list[ReadRequest]:
        return list(self.take_due(now))

    def take_due(self, now: int) -> tuple[ReadRequest, ...]:
        """:meth:`handle_timer` without the copy: the shared request tuple when a refresh is
        due at ``now`` (the schedule moves on), else an empty one."""
        due = self.due_at
        if now < due:
            return ()
        self.due_at = due + ((now - due) // self._interval + 1) * self._interval
        return self._requests

    @property
    def last_update_us(self) -> int | None:
        """When ``show`` was last called (run clock), or None."""
        return self._updated_at if self._has_updated_at else None

    @property
    def gas_data_at(self) -> int | None:
        """When the gas data shown was last updated in the CHF's mirror (µs, the CHF's clock,
        which the HAN's devices follow), or None if not known."""
        return self._gas_data_at if self._has_gas_data_at else None

    def gas_data_age_s(self, now: int) -> int | None:
        """How old the gas data shown is, in whole seconds (behaviour 20), or None."""
        return _age_s(self._gas_data_at, now) if self._has_gas_data_at else None

    def show(self, target: DeviceType, data: object, now: int,
             data_at: int | None = None) -> None:
        """The driver's answer to a :class:`ReadRequest`; ``data_at`` is when the data was
        last updated at its source (the mirror's time for gas read from the CHF)."""
        if target is _ESME:
            if data is self._source_e and data is not None:
                value = self._shown_e
            else:
                value = self._convert(target, data)
                self._source_e = data
        elif target is _GSME:
            if data is self._source_g and data is not None:
                value = self._shown_g
            else:
                value = self._convert(target, data)
                self._source_g = data
        else:
            raise LocalProtocolError(f"{type(self).__name__} shows no data from {target.name}")
        self._show(target, value, now, data_at)

    def show_value(self, target: DeviceType, value: object, now: int,
                   data_at: int | None = None) -> None:
        """:meth:`show` of a value already converted (what ``_convert`` would make of the
        data): a driver that reads only what is shown skips building the whole reading."""
        if target is _ESME:
            self._source_e = None
        elif target is _GSME:
            self._source_g = None
        else:
            raise LocalProtocolError(f"{type(self).__name__} shows no data from {target.name}")
        self._show(target, value, now, data_at)

    def refresh_direct(self, value_e: object, gas: tuple[object, int] | None,
                       gas_at: int, now: int) -> None:
        """A due refresh on the direct link, answered at once: :meth:`show_value` of
        ``value_e`` (what is shown of the ESME), then, if this device shows gas and ``gas``
        (the CHF's mirror: data, received at) is there, :meth:`show` of its data with
        ``gas_at`` (when it was received, on the CHF's clock). One call for the whole refresh,
        with what ``_show`` does inlined (the direct HAN's fleets make this call most often)."""
        self._source_e = None
        self._shown_e = value_e
        old = self._emitted_e
        # _should_emit, inlined and reordered: a significant change is a change, so it is
        # asked first, and the equality test (a dataclass __eq__ for the PPMID) only for a
        # routine redraw: the same answer, for less work on the refreshes that see news
        if old is not value_e and (old is None or self._significant(old, value_e) or (
                now - self._emit_at_e >= REDRAW_INTERVAL_US and old != value_e)):
            self._emitted_e, self._emit_at_e = value_e, now
            self._display(now, False, value_e)
        if gas is not None and self._gas:
            data = gas[0]
            if data is self._source_g and data is not None:
                value = self._shown_g  # the mirror has not changed: shown already
            else:
                value = self._shown_g = self._convert(_GSME, data)
                self._source_g = data
            self._gas_data_at = gas_at
            self._has_gas_data_at = True
            old = self._emitted_g
            if old is not value and (old is None or self._significant(old, value) or (
                    now - self._emit_at_g >= REDRAW_INTERVAL_US and old != value)):
                self._emitted_g, self._emit_at_g = value, now
                self._display(now, True, value)
        self._updated_at = now
        self._has_updated_at = True

    def _show(self, target: DeviceType, value: object, now: int, data_at: int | None) -> None:
        if target is _ESME:
            self._shown_e = value
            old = self._emitted_e
            # ``old is value``: the common refresh, nothing new to draw (_should_emit's answer)
            if old is not value and self._should_emit(old, value, now - self._emit_at_e):
                self._emitted_e, self._emit_at_e = value, now
                self._display(now, False, value)
        else:
            self._shown_g = value
            if data_at is None:
                self._has_gas_data_at = False
            else:
                self._gas_data_at = data_at
                self._has_gas_data_at = True
            old = self._emitted_g
            if old is not value and self._should_emit(old, value, now - self._emit_at_g):
                self._emitted_g, self._emit_at_g = value, now
                self._display(now, True, value)
        self._updated_at = now
        self._has_updated_at = True

    def _should_emit(self, old: object, new: object, since: int) -> bool:
        if old is None:
            return True
        if old is new or old == new:
            return False
        return since >= REDRAW_INTERVAL_US or self._significant(old, new)

    def _display(self, now: int, gas: bool, value: object) -> None:
        """Emit ``DisplayUpdated`` of ``value``, shown of the GSME if ``gas`` else the ESME."""
        # One dict per event, made whole by _fields (not a dict updated from another one).
        if not gas:
            fields = self._fields(_ESME_NAME, value)
        else:
            fields = self._fields(_GSME_NAME, value)
            if self._has_gas_data_at:
                at = self._gas_data_at
                fields["data_updated"] = isoformat(at)
                fields["data_age_s"] = _age_s(at, now)
        self._emit(now, self.eui, "DisplayUpdated", fields)

    # Subclasses define what is shown.

    def _convert(self, target: DeviceType, data: object) -> object:
        raise NotImplementedError

    def _significant(self, old: object, new: object) -> bool:
        """Is ``new`` a change worth a redraw at once? True only if ``old != new``
        (:meth:`refresh_direct` relies on it)."""
        raise NotImplementedError

    def _fields(self, target: str, value: object) -> dict[str, object]:
        """The event's fields: ``target`` (its name) first, then what ``value`` shows."""
        raise NotImplementedError


def _age_s(at: int, now: int) -> int:
    """Whole seconds from ``at`` to ``now``, never negative (``max(0, ...)``, a generic call in
    a build)."""
    age = (now - at) // SECOND
    return age if age > 0 else 0


_REQUESTS: dict[tuple[str, bool], tuple[ReadRequest, ...]] = {}


def _requests(what: Literal["payment", "registers"], gas: bool) -> tuple[ReadRequest, ...]:
    """Shared request tuples (one per kind, not one per device)."""
    key = (what, gas)
    if key not in _REQUESTS:
        targets = (DeviceType.ESME, DeviceType.GSME) if gas else (DeviceType.ESME,)
        _REQUESTS[key] = tuple(ReadRequest(t, what) for t in targets)
    return _REQUESTS[key]


class Ppmid(ConsumerDevice):
    """Prepayment meter interface: shows balance, emergency credit and supply; has buttons.

    Redraws (``DisplayUpdated``) at once when the payment mode, supply state or emergency
    credit changes or the balance moves by ``SIGNIFICANT_BALANCE_PENCE``.
    """

    __slots__ = ()

    WHAT: Literal["payment", "registers"] = "payment"

    def _convert(self, target: DeviceType, data: object) -> object:
        if isinstance(data, PaymentSnapshot):
            return data
        if isinstance(data, EsmeReading):
            return PaymentSnapshot(
                data.payment_mode,
                data.balance_pence,
                data.emergency_credit_limit_pence,
                data.emergency_credit_available_pence,
                data.emergency_credit_in_use,
                data.debt_pence,
                data.supply_state,
            )
        if isinstance(data, GsmeReading):
            return PaymentSnapshot(
                data.payment_mode, data.balance_pence, 0, 0, False, 0, data.supply_state
            )
        raise LocalProtocolError(f"a PPMID cannot show {type(data).__name__}")

    def _significant(self, old: object, new: object) -> bool:
        assert isinstance(old, PaymentSnapshot) and isinstance(new, PaymentSnapshot)
        return (
            old.payment_mode is not new.payment_mode
            or old.supply_state is not new.supply_state
            or old.emergency_credit_in_use != new.emergency_credit_in_use
            or old.emergency_credit_available_pence != new.emergency_credit_available_pence
            or not -SIGNIFICANT_BALANCE_PENCE < old.balance_pence - new.balance_pence
            < SIGNIFICANT_BALANCE_PENCE  # abs(): a generic call in a build
        )

    def _fields(self, target: str, value: object) -> dict[str, object]:
        assert isinstance(value, PaymentSnapshot)
        return {
            "target": target,
            "payment_mode": _MODE_NAMES[value.payment_mode],
            "balance_pence": value.balance_pence,
            "emergency_credit_available_pence": value.emergency_credit_available_pence,
            "emergency_credit_in_use": value.emergency_credit_in_use,
            "supply_state": _SUPPLY_NAMES[value.supply_state],
        }

    def shown(self, target: DeviceType = DeviceType.ESME) -> PaymentSnapshot | None:
        """What the PPMID last showed for ``target`` (ESME or GSME)."""
        value = self._shown_g if target is _GSME else self._shown_e
        return value if isinstance(value, PaymentSnapshot) else None

    @property
    def balance_pence(self) -> int | None:
        shown = self.shown()
        return None if shown is None else shown.balance_pence

    @property
    def emergency_credit_available_pence(self) -> int | None:
        shown = self.shown()
        return None if shown is None else shown.emergency_credit_available_pence

    @property
    def emergency_credit_in_use(self) -> bool | None:
        shown = self.shown()
        return None if shown is None else shown.emergency_credit_in_use

    @property
    def supply_state(self) -> SupplyState | None:
        shown = self.shown()
        return None if shown is None else shown.supply_state

    @property
    def payment_mode(self) -> PaymentMode | None:
        shown = self.shown()
        return None if shown is None else shown.payment_mode

    @property
    def gas_balance_pence(self) -> int | None:
        shown = self.shown(DeviceType.GSME)
        return None if shown is None else shown.balance_pence

    def press_emergency_credit(
        self, now: int, target: DeviceType = DeviceType.ESME
    ) -> ConsumerAction:
        """The consumer pressed "Select Available Emergency Credit"."""
        return self._press(now, ConsumerAction(target, "select_emergency_credit"))

    def press_enable_supply(self, now: int, target: DeviceType = DeviceType.ESME) -> ConsumerAction:
        """The consumer pressed the button that enables an ARMED supply."""
        return self._press(now, ConsumerAction(target, "enable_supply"))

    def _press(self, now: int, action: ConsumerAction) -> ConsumerAction:
        self._emit(
            now,
            self.eui,
            "ConsumerButtonPressed",
            {"target": action.target.name, "action": action.action},
        )
        return action
