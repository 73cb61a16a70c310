"""The ESME core: an electricity meter with time-of-use registers and prepayment.

Consumption comes from a seeded :class:`~emulator.core.load_profile.LoadProfile`; payment,
supply, top-ups, clock and event log from :class:`~emulator.core.prepayment.PrepaymentMeter`
(read its docstring for the rules). Every read first brings the meter up to ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Protocol

from emulator.core.load_profile import ElectricLoadSpec, LoadProfile, TouBandSpec
from emulator.core.prepayment import PICO, MeterModelSpec, PrepaymentMeter
from emulator.core.rng import SplitMix64
from emulator.core.trace_sink import Emit
from emulator.wire.vocabulary import DeviceType, PaymentMode, SupplyState

#: Each supply state's int, for :meth:`Esme.display_totals` and the IHD (mypyc: a lookup in a
#: C static; ``int()`` of an enum member is a generic call in a build).
SUPPLY_STATE_INT: Final[dict[SupplyState, int]] = {m: int(m) for m in SupplyState}


class EsmeTariffSpec(Protocol):
    @property
    def bands(self) -> Sequence[TouBandSpec]: ...
    @property
    def unit_rates_pence_per_kwh(self) -> Sequence[float]: ...
    @property
    def standing_charge_pence_per_day(self) -> float: ...


class EsmeModelSpec(MeterModelSpec, Protocol):
    """What :class:`Esme` needs from its model (``emulator.profiles.EsmeModel`` provides it)."""

    @property
    def load(self) -> ElectricLoadSpec: ...
    @property
    def tariff(self) -> EsmeTariffSpec: ...


@dataclass(frozen=True, slots=True, init=False)
class EsmeReading:
    meter_time_us: int
    import_wh: int  # the sum of the TOU registers
    tou_wh: tuple[int, ...]
    demand_w: int
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
        self, meter_time_us: int, import_wh: int, tou_wh: tuple[int, ...], demand_w: int,
        payment_mode: PaymentMode, balance_pence: int, emergency_credit_limit_pence: int,
        emergency_credit_available_pence: int, emergency_credit_in_use: bool, debt_pence: int,
        supply_state: SupplyState
    ) -> None:
        object.__setattr__(self, "meter_time_us", meter_time_us)
        object.__setattr__(self, "import_wh", import_wh)
        object.__setattr__(self, "tou_wh", tou_wh)
        object.__setattr__(self, "demand_w", demand_w)
        object.__setattr__(self, "payment_mode", payment_mode)
        object.__setattr__(self, "balance_pence", balance_pence)
        object.__setattr__(self, "emergency_credit_limit_pence", emergency_credit_limit_pence)
        object.__setattr__(self, "emergency_credit_available_pence",
                           emergency_credit_available_pence)
        object.__setattr__(self, "emergency_credit_in_use", emergency_credit_in_use)
        object.__setattr__(self, "debt_pence", debt_pence)
        object.__setattr__(self, "supply_state", supply_state)


class Esme(PrepaymentMeter):
    """An emulated SMETS1 electricity meter (sans-IO)."""

    DEVICE_TYPE: ClassVar[DeviceType] = DeviceType.ESME

    __slots__ = ("model",)

    def __init__(
        self,
        eui: str,
        model: EsmeModelSpec,
        rng: SplitMix64,
        emit: Emit,
        now: int,
        prepayment_key: bytes,
        payment_mode: PaymentMode | None = None,
        balance_pence: int | None = None,
    ) -> None:
        self.model = model
        tariff = model.tariff
        # pence per kWh -> pico-pence per milli-Wh: x 10**12 / 10**6
        rates = [round(rate * 10**6) for rate in tariff.unit_rates_pence_per_kwh]
        super().__init__(
            eui,
            model,
            LoadProfile.electric(model.load, tariff.bands, rng, now),
            rates,
            round(tariff.standing_charge_pence_per_day * PICO),
            emit,
            now,
            prepayment_key,
            payment_mode,
            balance_pence,
        )

    def registers(self, now: int) -> EsmeReading:
        self._catch_up(now)
        profile = self._profile
        tou = tuple([milli // 1000 for milli in profile.registers])
        pay = self._snapshot()
        return EsmeReading(  # positional, in the order of its fields (a read per WAN read)
            now + self._offset, sum(tou), tou, profile.rate_per_hour, pay.payment_mode,
            pay.balance_pence, pay.emergency_credit_limit_pence,
            pay.emergency_credit_available_pence, pay.emergency_credit_in_use, pay.debt_pence,
            pay.supply_state)

    def display_totals(self, now: int) -> tuple[int, int, int]:
        """``(import_wh, demand_w, int(supply_state))`` of :meth:`registers` at ``now``, without
        building the reading (what an IHD shows)."""
        self._catch_up(now)
        profile = self._profile
        return profile.whole_total(), profile.rate_per_hour, SUPPLY_STATE_INT[self._supply]

    def handle_timer(self, now: int) -> None:
        """Settle the half hours up to ``now`` (credit checks may change supply)."""
        self._catch_up(now)
