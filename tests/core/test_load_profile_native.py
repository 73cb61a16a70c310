"""The load profile's slot energies and registers are exactly what its first form gave.

``_Original`` is that form written out (seasonal factor and weekday shape worked out for every
slot, the noise from the 64-bit draw); the profile (day's factor kept, the noise from
:meth:`SplitMix64.symmetric`, limbs in a build) must accrue the same milli-units slot by slot.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

from emulator.core.load_profile import LoadProfile, Shape, electric_shape, gas_shape, tou_table
from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, MINUTE, from_datetime

SLOT = 30 * MINUTE
E7 = tou_table(((1, "07:30", "00:30"), (2, "00:30", "07:30")))
THREE = tou_table(((1, "00:00", "07:00"), (2, "07:00", "16:00"), (3, "16:00", "00:00")))


class _Original:
    """The profile's algorithm before the compiled core's forms, written out."""

    def __init__(self, shape: Shape, tou: tuple[int, ...], noise: float, amplitude: float,
                 seed: int, now: int) -> None:
        self.shape, self.tou = shape, tou
        self.noise_ppm = round(noise * 1_000_000)
        self.amplitude_ppm = round(amplitude * 1_000_000)
        self.rng = SplitMix64(SplitMix64(seed).next_u64())
        self.registers = [0] * (max(tou) + 1)
        self.on = True
        self.slot_start = now - now % SLOT
        self.register = tou[(self.slot_start % DAY) // SLOT]
        self.slot_energy = self.draw(self.slot_start)
        self.done = self.slot_energy * (now - self.slot_start) // SLOT

    def season_ppm(self, day: int) -> int:
        if not self.amplitude_ppm:
            return 1_000_000
        return 1_000_000 + round(
            self.amplitude_ppm * math.cos(2.0 * math.pi * (day - 15) / 365.25))

    def draw(self, slot_start: int) -> int:
        day, offset = divmod(slot_start, DAY)
        weekend = (day + 3) % 7 >= 5
        base = self.shape[1 if weekend else 0][offset // SLOT]
        noise = self.noise_ppm * (2 * self.rng.next_u64() - (1 << 64)) >> 64
        value = base * self.season_ppm(day) // 1_000_000 * (1_000_000 + noise) // 1_000_000
        return value if value > 0 else 0

    def advance(self, now: int) -> None:
        while True:
            start = self.slot_start
            end = start + SLOT
            if now < end:
                target = self.slot_energy * (now - start) // SLOT
                if target > self.done:
                    if self.on:
                        self.registers[self.register] += target - self.done
                    self.done = target
                return
            if self.on and self.slot_energy - self.done > 0:
                self.registers[self.register] += self.slot_energy - self.done
            self.slot_start = end
            self.register = self.tou[(end % DAY) // SLOT]
            self.slot_energy = self.draw(end)
            self.done = 0
            if now == end:
                return


_CASES = [  # shape, tou, noise, seasonal amplitude
    (electric_shape(200.0, 700.0, 1200.0), E7, 0.2, 0.1),
    (electric_shape(350.0, 1500.0, 2500.0), THREE, 0.35, 0.0),
    (electric_shape(90.0, 400.0, 800.0), (0,) * 48, 0.0, 0.6),
    (gas_shape(50.0, 900.0, 1400.0), (0,) * 48, 0.5, 0.45),
    (electric_shape(300.0, 800.0, 900.0), E7, 1.0, 0.25),
    (gas_shape(80.0, 600.0, 700.0), (0,) * 48, 3000.0, 0.3),  # noise past the limbs' limit
]
_STARTS = [
    from_datetime(datetime(2026, 1, 2, 5, 17, 3, tzinfo=UTC)),  # a Friday, mid-slot
    from_datetime(datetime(2025, 6, 14, tzinfo=UTC)),  # a Saturday, on a slot
    from_datetime(datetime(2024, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC)),  # across a year
    7 * MINUTE,  # 1970-01-01
]


def test_slot_by_slot_over_nine_days_the_profile_accrues_what_the_original_did() -> None:
    for number, (shape, tou, noise, amplitude) in enumerate(_CASES):
        for start in _STARTS:
            seed = number * 1000 + start % 997
            profile = LoadProfile(shape, tou, noise, amplitude, SplitMix64(seed), start)
            original = _Original(shape, tou, noise, amplitude, seed, start)
            first = start - start % SLOT
            for k in range(1, 9 * 48):
                now = first + k * SLOT
                profile.advance(now)
                original.advance(now)
                assert profile.registers == tuple(original.registers), (number, start, k)
                assert profile.rate_per_hour == original.slot_energy // 500


def test_reads_at_random_times_with_the_supply_switched_accrue_what_the_original_did() -> None:
    draw = random.Random(20261203)
    for number, (shape, tou, noise, amplitude) in enumerate(_CASES):
        start = _STARTS[number % len(_STARTS)]
        profile = LoadProfile(shape, tou, noise, amplitude, SplitMix64(number), start)
        original = _Original(shape, tou, noise, amplitude, number, start)
        now = start
        for _ in range(400):
            now += draw.choice([1, 17 * MINUTE, SLOT, 5 * SLOT, DAY // 3, DAY + 1])
            if draw.random() < 0.05:
                on = not profile.on
                profile.set_on(on, now)
                original.advance(now)
                original.on = on
            else:
                profile.advance(now)
                original.advance(now)
            assert profile.registers == tuple(original.registers)
            assert profile.total == sum(original.registers)
