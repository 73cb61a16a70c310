"""A seeded half-hourly consumption model, integrated lazily.

Demand in each half-hour slot is a model *shape* times ``1 + noise``:

* the shape is a base load plus a morning and an evening peak (smooth bumps), with a later,
  broader morning and some midday use at weekends (Saturday and Sunday, UTC), times an optional
  seasonal factor ``1 + amplitude * cos(2 pi (day - 15) / 365.25)`` that peaks in mid January;
* the noise is one draw per slot, in slot order, uniform in ``[-noise, +noise)``, taken from a
  private SplitMix64 forked from the generator the meter was given. Forking keeps the draws in
  slot order whatever else the meter does with its own generator, so when a register is read
  never changes what it reads.

Slot energy is an ``int`` of milli-units (milli-Wh for electricity, milli-dm3 = cm3 for gas) per
half hour. Within a slot, energy accrues linearly: at time ``t`` a slot has delivered
``slot_energy * (t - slot_start) // SLOT``. :meth:`LoadProfile.advance` adds only the difference
from the last call, so reading at ``t1`` and then ``t2`` gives exactly what one read at ``t2``
gives, and registers never decrease.

Energy goes to the time-of-use register whose band covers the slot (UTC, the run's clock). Bands
are whole half hours; :func:`tou_table` turns a profile's bands into a 48-entry table and is also
what the profile schema uses to validate them. While the supply is off (``on`` is false) slots
still draw their noise, but nothing accrues.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Final, Protocol

from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, MINUTE

# Final: the compiled core folds them into the code that uses them (no module lookups).
SLOT: Final = 30 * MINUTE
SLOTS_PER_DAY: Final = 48
_PPM: Final = 1_000_000
_HHMM: Final = re.compile(r"^([0-9]{2}):([0-9]{2})$")


class TouBandSpec(Protocol):
    """One time-of-use band: ``register`` (1-based) applies from ``start`` to ``end`` (HH:MM)."""

    @property
    def register(self) -> int: ...
    @property
    def start(self) -> str: ...
    @property
    def end(self) -> str: ...


class ElectricLoadSpec(Protocol):
    @property
    def base_load_w(self) -> float: ...
    @property
    def morning_peak_w(self) -> float: ...
    @property
    def evening_peak_w(self) -> float: ...
    @property
    def noise(self) -> float: ...
    @property
    def seasonal_amplitude(self) -> float: ...


class GasLoadSpec(Protocol):
    @property
    def base_dm3_per_h(self) -> float: ...
    @property
    def morning_heating_dm3_per_h(self) -> float: ...
    @property
    def evening_heating_dm3_per_h(self) -> float: ...
    @property
    def noise(self) -> float: ...
    @property
    def seasonal_amplitude(self) -> float: ...


def hhmm_to_slot(text: str) -> int:
    """``"07:30"`` -> 15. Whole half hours only; ``"24:00"`` is accepted and means slot 0."""
    match = _HHMM.match(text)
    if match is None:
        raise ValueError(f"time {text!r} is not HH:MM")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes not in (0, 30) or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"time {text!r} is not on a half hour between 00:00 and 24:00")
    return (hours * 2 + minutes // 30) % SLOTS_PER_DAY


def _slot_text(slot: int) -> str:
    return f"{slot // 2:02d}:{(slot % 2) * 30:02d}"


@lru_cache(maxsize=256)
def tou_table(bands: tuple[tuple[int, str, str], ...]) -> tuple[int, ...]:
    """48 register indexes (0-based), one per half-hour slot of the UTC day.

    ``bands`` are ``(register, start, end)``; a band wraps midnight when ``end <= start`` and
    covers the whole day when they are equal. Raises ``ValueError`` if registers are not numbered
    1..N without gaps, if two bands overlap, or if some slot is not covered.
    """
    if not bands:
        raise ValueError("at least one band is needed")
    registers = sorted({band[0] for band in bands})
    if registers != list(range(1, len(registers) + 1)):
        raise ValueError(f"registers must be numbered 1..N without gaps, got {registers}")
    table = [-1] * SLOTS_PER_DAY
    for register, start, end in bands:
        first, stop = hhmm_to_slot(start), hhmm_to_slot(end)
        if stop <= first:
            stop += SLOTS_PER_DAY
        for k in range(first, stop):
            slot = k % SLOTS_PER_DAY
            if table[slot] != -1:
                raise ValueError(f"bands overlap at {_slot_text(slot)}")
            table[slot] = register - 1
    if -1 in table:
        raise ValueError(f"no band covers {_slot_text(table.index(-1))}")
    return tuple(table)


def band_key(bands: Sequence[TouBandSpec]) -> tuple[tuple[int, str, str], ...]:
    return tuple((band.register, band.start, band.end) for band in bands)


def _bump(hour: float, centre: float, width: float) -> float:
    distance = (hour - centre + 12.0) % 24.0 - 12.0
    return math.exp(-0.5 * (distance / width) ** 2)


Shape = tuple[tuple[int, ...], tuple[int, ...]]


@lru_cache(maxsize=256)
def electric_shape(base_w: float, morning_w: float, evening_w: float) -> Shape:
    """milli-Wh per half-hour slot, (weekdays, weekends)."""
    weekday: list[int] = []
    weekend: list[int] = []
    for slot in range(SLOTS_PER_DAY):
        hour = slot / 2 + 0.25
        evening = evening_w * _bump(hour, 18.5, 1.5)
        weekday.append(round((base_w + morning_w * _bump(hour, 7.5, 1.0) + evening) * 500))
        weekend_w = (
            base_w
            + morning_w * _bump(hour, 9.5, 1.5)
            + 0.4 * morning_w * _bump(hour, 13.0, 2.0)
            + evening
        )
        weekend.append(round(weekend_w * 500))
    return tuple(weekday), tuple(weekend)


@lru_cache(maxsize=256)
def gas_shape(base: float, morning: float, evening: float) -> Shape:
    """milli-dm3 per half-hour slot, (weekdays, weekends): heating before work and at night."""
    weekday: list[int] = []
    weekend: list[int] = []
    for slot in range(SLOTS_PER_DAY):
        hour = slot / 2 + 0.25
        evening_flow = evening * _bump(hour, 19.0, 2.0)
        weekday.append(round((base + morning * _bump(hour, 7.0, 1.0) + evening_flow) * 500))
        weekend.append(round((base + morning * _bump(hour, 8.5, 1.5) + evening_flow) * 500))
    return tuple(weekday), tuple(weekend)


@lru_cache(maxsize=4096)
def _season_ppm(amplitude_ppm: int, day: int) -> int:
    """The seasonal factor of ``day`` in ppm (cached: every meter of a fleet asks it 48 times a
    day, the same few amplitudes)."""
    if not amplitude_ppm:
        return _PPM
    return _PPM + round(amplitude_ppm * math.cos(2.0 * math.pi * (day - 15) / 365.25))


class LoadProfile:
    """Lazily integrated consumption, split into time-of-use registers (milli-units)."""

    __slots__ = (  # advance's fields first
        "_slot_start",
        "_slot_energy",
        "_done",
        "_on",
        "_registers",
        "_register",
        "_tou",
        "_noise_ppm",
        "_rng",
        "_day",  # _draw's day, and that day's shape and seasonal factor
        "_day_shape",
        "_day_season_ppm",
        "_season_ppm",
        "_shape",
    )

    def __init__(
        self,
        shape: Shape,
        tou: tuple[int, ...],
        noise: float,
        seasonal_amplitude: float,
        rng: SplitMix64,
        now: int,
    ) -> None:
        self._shape = shape
        self._tou = tou
        self._noise_ppm = round(noise * _PPM)
        self._season_ppm = round(seasonal_amplitude * _PPM)
        self._rng = SplitMix64(rng.next_u64())
        self._registers = [0] * (max(tou) + 1)
        self._on = True
        self._slot_start = now - now % SLOT
        self._day = -1  # none yet: _draw sets the three
        self._day_shape = shape[0]
        self._day_season_ppm = _PPM
        slot = (self._slot_start % DAY) // SLOT
        self._register = tou[slot]  # the slot's register
        self._slot_energy = self._draw(self._slot_start, slot)
        # Energy before ``now`` in the first slot happened before the meter existed.
        self._done = self._slot_energy * (now - self._slot_start) // SLOT

    @classmethod
    def electric(
        cls,
        spec: ElectricLoadSpec,
        bands: Sequence[TouBandSpec],
        rng: SplitMix64,
        now: int,
    ) -> LoadProfile:
        shape = electric_shape(spec.base_load_w, spec.morning_peak_w, spec.evening_peak_w)
        return cls(shape, tou_table(band_key(bands)), spec.noise, spec.seasonal_amplitude, rng, now)

    @classmethod
    def gas(cls, spec: GasLoadSpec, rng: SplitMix64, now: int) -> LoadProfile:
        shape = gas_shape(
            spec.base_dm3_per_h, spec.morning_heating_dm3_per_h, spec.evening_heating_dm3_per_h
        )
        return cls(shape, (0,) * SLOTS_PER_DAY, spec.noise, spec.seasonal_amplitude, rng, now)

    def _draw(self, slot_start: int, slot: int) -> int:
        """Energy of the slot starting at ``slot_start``, the day's ``slot``-th: exactly one RNG
        draw."""
        day = slot_start // DAY
        if day != self._day:  # the day's shape and seasonal factor, once a day
            self._day = day
            weekend = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday (weekday 3)
            self._day_shape = self._shape[1 if weekend else 0]
            self._day_season_ppm = _season_ppm(self._season_ppm, day)
        noise = self._rng.symmetric(self._noise_ppm)  # in [-noise_ppm, noise_ppm)
        value = self._day_shape[slot] * self._day_season_ppm // _PPM * (_PPM + noise) // _PPM
        return value if value > 0 else 0

    def advance(self, now: int) -> None:
        """Accrue everything up to ``now``. Times earlier than the last call change nothing."""
        while True:
            start = self._slot_start
            end = start + SLOT
            if now < end:
                target = self._slot_energy * (now - start) // SLOT
                done = self._done
                if target > done:
                    if self._on:  # every read of a meter comes through here
                        # mypyc: ``registers[i] += x`` is a generic in-place add of boxed ints;
                        # reading and storing again keeps the add native
                        registers = self._registers
                        register = self._register
                        registers[register] = registers[register] + (target - done)
                    self._done = target
                return
            if self._on and (rest := self._slot_energy - self._done) > 0:  # the slot's rest
                registers = self._registers
                register = self._register
                registers[register] = registers[register] + rest  # (see above)
            self._slot_start = end
            slot = (end % DAY) // SLOT
            self._register = self._tou[slot]
            self._slot_energy = self._draw(end, slot)
            self._done = 0
            if now == end:
                return  # at the slot's start: nothing of it accrued (a settlement's advance)

    def set_on(self, on: bool, now: int) -> None:
        """Supply on or off from ``now`` (accrues up to ``now`` under the old setting first)."""
        self.advance(now)
        self._on = on

    @property
    def on(self) -> bool:
        return self._on

    @property
    def registers(self) -> tuple[int, ...]:
        """Accrued milli-units per register, as of the last :meth:`advance`."""
        return tuple(self._registers)

    def whole_total(self) -> int:
        """The sum of the registers in whole units, each rounded down first (as a reading's
        registers are, and its total their sum)."""
        total = 0
        for milli in self._registers:
            total += milli // 1000
        return total

    @property
    def total(self) -> int:
        return sum(self._registers)

    @property
    def rate_per_hour(self) -> int:
        """Current slot's rate in whole units per hour (W, or dm3/h); 0 while off."""
        return self._slot_energy // 500 if self._on else 0
