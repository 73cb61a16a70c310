from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.core.load_profile import SLOT, LoadProfile, electric_shape, tou_table
from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, HOUR, MINUTE, from_datetime

MONDAY = from_datetime(datetime(2026, 1, 5, tzinfo=UTC))
E7 = tou_table(((1, "07:30", "00:30"), (2, "00:30", "07:30")))


def profile(seed: int = 1, now: int = MONDAY, noise: float = 0.2) -> LoadProfile:
    shape = electric_shape(200.0, 700.0, 1200.0)
    return LoadProfile(shape, E7, noise, 0.1, SplitMix64(seed), now)


def test_tou_table_economy7() -> None:
    assert E7[0] == 0 and E7[1] == 1 and E7[14] == 1 and E7[15] == 0 and E7[47] == 0
    assert tou_table(((1, "00:00", "24:00"),)) == (0,) * 48


def test_registers_advance_and_reads_are_lazily_consistent() -> None:
    once, stepped = profile(), profile()
    t = MONDAY
    for step in (7 * MINUTE, 1, 29 * MINUTE, 3 * HOUR + 17, DAY):
        t += step
        stepped.advance(t)
    once.advance(t)
    assert once.registers == stepped.registers
    assert once.total > 0


def test_same_seed_same_readings_other_seed_different() -> None:
    a, b, c = profile(7), profile(7), profile(8)
    for p in (a, b, c):
        p.advance(MONDAY + 2 * DAY)
    assert a.registers == b.registers
    assert a.registers != c.registers


def test_tou_split_follows_bands() -> None:
    p = profile()
    p.advance(MONDAY + 30 * MINUTE)  # 00:00-00:30 is rate 1
    assert p.registers[1] == 0 and p.registers[0] > 0
    first = p.registers[0]
    p.advance(MONDAY + 7 * HOUR + 30 * MINUTE)  # 00:30-07:30 is rate 2
    assert p.registers[0] == first and p.registers[1] > 0
    night = p.registers[1]
    p.advance(MONDAY + DAY)  # 07:30-24:00 is rate 1
    assert p.registers[1] == night and p.registers[0] > first


def test_evening_peak_above_night() -> None:
    p = profile(noise=0.0)
    p.advance(MONDAY + 3 * HOUR)
    night = p.rate_per_hour
    p.advance(MONDAY + 18 * HOUR + 20 * MINUTE)
    assert p.rate_per_hour > 3 * night


def test_off_accrues_nothing() -> None:
    p = profile()
    p.set_on(False, MONDAY + HOUR)
    before = p.total
    p.advance(MONDAY + 5 * HOUR)
    assert p.total == before and p.rate_per_hour == 0
    p.set_on(True, MONDAY + 5 * HOUR)
    p.advance(MONDAY + 6 * HOUR)
    assert p.total > before


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**64 - 1),
    start=st.integers(0, 2 * DAY),
    steps=st.lists(st.integers(0, 5 * HOUR), min_size=1, max_size=30),
)
def test_property_import_never_decreases_and_is_sum_of_tou(
    seed: int, start: int, steps: list[int]
) -> None:
    from emulator.core.esme import Esme
    from emulator.core.trace_sink import discard
    from emulator.profiles import load_device_model
    from emulator.wire.vocabulary import PaymentMode

    model = load_device_model("zenith-esme-prepay")
    assert model.kind == "esme"
    t = MONDAY + start
    meter = Esme(
        "00-1B-C5-0C-02-00-00-01",
        model,
        SplitMix64(seed),
        discard,
        t,
        bytes(16),
        payment_mode=PaymentMode.CREDIT,
    )
    last = 0
    for step in steps:
        t += step
        reading = meter.registers(t)
        assert reading.import_wh >= last
        assert reading.import_wh == sum(reading.tou_wh)
        last = reading.import_wh
    assert SLOT == 30 * MINUTE
