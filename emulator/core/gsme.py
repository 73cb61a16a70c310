"""The GSME core: a battery gas meter that sleeps and wakes to report to the CHF mirror.

The GSME wakes every ``model.wake_interval_s``, at a phase drawn from its generator when it is
made (so a fleet does not wake in lockstep): wakes fall at ``phase + k * interval`` on the run's
clock. :meth:`Gsme.handle_timer` returns the :class:`GsmeReading` it sends on a wake, or
``None`` when the timer was a prepayment settlement only (the meter's own processor keeps
charging and closes the valve while the radio sleeps). ``battery_flat`` stops all timers.

Volume is in dm3 (litres); charges convert volume to energy with the model's calorific
conversion (kWh per m3, about 11.2). Everything else is as for the ESME
(:mod:`emulator.core.prepayment`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from emulator.core.load_profile import GasLoadSpec, LoadProfile
from emulator.core.prepayment import PICO, MeterModelSpec, PrepaymentMeter
from emulator.core.rng import SplitMix64
from emulator.core.timebase import SECOND
from emulator.core.trace_sink import Emit
from emulator.wire.vocabulary import DeviceType, PaymentMode, SupplyState


class GasTariffSpec(Protocol):
    @property
    def unit_rate_pence_per_kwh(self) -> float: ...
    @property
    def standing_charge_pence_per_day(self) -> float: ...
    @property
    def calorific_kwh_per_m3(self) -> float: ...


class GsmeModelSpec(MeterModelSpec, Protocol):
    """What :class:`Gsme` needs from its model (``emulator.profiles.GsmeModel`` provides it)."""

    @property
    def wake_interval_s(self) -> int: ...
    @property
    def load(self) -> GasLoadSpec: ...
    @property
    def tariff(self) -> GasTariffSpec: ...


@dataclass(frozen=True, slots=True, init=False)
class GsmeReading:
    meter_time_us: int
    volume_dm3: int
    flow_dm3_per_h: int
    payment_mode: PaymentMode
    balance_pence: int
    supply_state: SupplyState  # the valve

    # Written out, not the dataclass's: a compiled build runs this one natively (the generated
    # one stays interpreted, about ten times the cost); tests/core/test_written_inits.py
    # checks it against the fields.
    def __init__(
        self, meter_time_us: int, volume_dm3: int, flow_dm3_per_h: int, payment_mode: PaymentMode,
        balance_pence: int, supply_state: SupplyState
    ) -> None:
        object.__setattr__(self, "meter_time_us", meter_time_us)
        object.__setattr__(self, "volume_dm3", volume_dm3)
        object.__setattr__(self, "flow_dm3_per_h", flow_dm3_per_h)
        object.__setattr__(self, "payment_mode", payment_mode)
        object.__setattr__(self, "balance_pence", balance_pence)
        object.__setattr__(self, "supply_state", supply_state)


class Gsme(PrepaymentMeter):
    """An emulated SMETS1 gas meter (sans-IO, sleepy)."""

    DEVICE_TYPE: ClassVar[DeviceType] = DeviceType.GSME

    __slots__ = ("battery_flat", "_next_wake", "_interval", "_phase", "model")  # get_timer's first

    def __init__(
        self,
        eui: str,
        model: GsmeModelSpec,
        rng: SplitMix64,
        emit: Emit,
        now: int,
        prepayment_key: bytes,
        payment_mode: PaymentMode | None = None,
        balance_pence: int | None = None,
    ) -> None:
        self.model = model
        self.battery_flat = False
        self._interval = model.wake_interval_s * SECOND
        self._phase = rng.randrange(self._interval)
        self._next_wake = self._wake_after(now)
        tariff = model.tariff
        # pence per kWh -> pico-pence per milli-dm3: x kWh/m3 x 10**-6 m3 x 10**12
        rate = round(tariff.unit_rate_pence_per_kwh * tariff.calorific_kwh_per_m3 * 10**6)
        super().__init__(
            eui,
            model,
            LoadProfile.gas(model.load, rng, now),
            [rate],
            round(tariff.standing_charge_pence_per_day * PICO),
            emit,
            now,
            prepayment_key,
            payment_mode,
            balance_pence,
        )

    def _wake_after(self, now: int) -> int:
        """The first wake strictly after ``now``."""
        return now + self._interval - (now - self._phase) % self._interval

    @property
    def next_wake(self) -> int:
        return self._next_wake

    def get_timer(self) -> int | None:
        """The next wake, or the next settlement in prepayment mode if sooner; None if flat."""
        if self.battery_flat:
            return None
        wake = self._next_wake
        if self._prepaid and self._next_boundary < wake:
            return self._next_boundary  # super().get_timer(), inlined: asked on every fire
        return wake

    def handle_timer(self, now: int) -> GsmeReading | None:
        """Settle up to ``now``; on a wake, return the report for the CHF's mirror."""
        self._catch_up(now)
        if self.battery_flat or now < self._next_wake:
            return None
        self._next_wake = self._wake_after(now)
        return self._reading(now)

    def registers(self, now: int) -> GsmeReading:
        self._catch_up(now)
        return self._reading(now)

    def _reading(self, now: int) -> GsmeReading:
        """:meth:`registers` of a meter caught up to ``now`` already."""
        profile = self._profile
        # positional, in the fields' order (a third cheaper than by keyword: every wake)
        return GsmeReading(now + self._offset, profile.total // 1000, profile.rate_per_hour,
                           self._mode, self._balance, self._supply)
