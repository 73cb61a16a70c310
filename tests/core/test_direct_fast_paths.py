"""The direct HAN's cheaper reads say what the full reads say.

Each fast path is driven beside the path it replaces, on meters built alike, over days of
seeded instants with top-ups, supply changes, emergency credit and mode switches in between:
the answers, the events and the meters' later state must be the same.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from emulator.core import load_profile
from emulator.core.esme import Esme
from emulator.core.gsme import Gsme
from emulator.core.ihd import Ihd
from emulator.core.load_profile import SLOT
from emulator.core.ppmid import Ppmid
from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, HOUR, MINUTE, from_datetime
from emulator.core.trace_sink import Recorder
from emulator.core.utrn import generate_utrn
from emulator.profiles import load_device_model
from emulator.wire.vocabulary import DeviceType, PaymentMode, SupplyAction, SupplyState

MONDAY = from_datetime(datetime(2026, 1, 5, tzinfo=UTC))
KEY = bytes(range(16))
EUI = "00-1B-C5-0C-02-00-00-01"


def _esme(rec: Recorder, seed: int, model: str = "zenith-esme-prepay") -> Esme:
    found = load_device_model(model)
    assert found.kind == "esme"
    return Esme(EUI, found, SplitMix64(seed), rec, MONDAY, KEY, balance_pence=700)


def _script(seed: int, steps: int) -> list[tuple[int, float, float, int]]:
    """Seeded (time step, action pick, action argument pick, amount) quadruples."""
    rng = random.Random(seed)
    return [(rng.randrange(1, 50 * MINUTE), rng.random(), rng.random(),
             rng.choice((40, 200, 900))) for _ in range(steps)]


def _poke(meter: Esme, pick: float, arg: float, amount: int, now: int, counter: int) -> None:
    """One command of the script, if it has one at this step."""
    if pick < 0.06:
        meter.top_up(generate_utrn(KEY, EUI, counter, amount), now)
    elif pick < 0.1:
        meter.set_supply(list(SupplyAction)[int(arg * 3)], now)
    elif pick < 0.13:
        meter.select_emergency_credit(now)
    elif pick < 0.16:
        meter.enable_by_consumer(now)
    elif pick < 0.18:
        meter.set_payment_mode(list(PaymentMode)[int(arg * 2)], now)


def _state(meter: Esme, now: int) -> tuple[object, ...]:
    return (meter.registers(now), meter.payment(now), meter.event_log())


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("model", ["zenith-esme-prepay", "acme-esme-credit"])
def test_payment_and_supply_without_a_catch_up_answer_as_a_full_read(seed: int,
                                                                    model: str) -> None:
    """payment() and supply_state_at() skip the catch-up when no half hour is due; beside a
    meter read in full (registers) at the same instants, every answer and event agrees,
    on boundaries and between them, with the meter's own timer run as a driver runs it."""
    rec_a, rec_b = Recorder(), Recorder()
    fast, full = _esme(rec_a, seed, model), _esme(rec_b, seed, model)
    now = MONDAY
    for counter, (step, pick, arg, amount) in enumerate(_script(seed, 600), start=1):
        due = fast.get_timer()
        assert due == full.get_timer()
        if due is not None and due <= now + step:
            fast.handle_timer(due)
            full.handle_timer(due)
        now += step
        _poke(fast, pick, arg, amount, now, counter)
        _poke(full, pick, arg, amount, now, counter)
        for at in (now - now % SLOT, now):  # on the last boundary (again), and now
            reading = full.registers(at)
            assert fast.payment(at) == full.payment(at)
            assert fast.supply_state_at(at) is reading.supply_state
            assert fast.supply_armed is (reading.supply_state is SupplyState.ARMED)
    assert _state(fast, now) == _state(full, now)
    assert rec_a.events == rec_b.events
    assert any(e[2] == "SupplyStateChanged" for e in rec_a.events)


@pytest.mark.parametrize("seed", [4, 5])
def test_display_totals_are_what_a_reading_says(seed: int) -> None:
    rec = Recorder()
    meter = _esme(rec, seed)
    now = MONDAY
    for counter, (step, pick, arg, amount) in enumerate(_script(seed, 300), start=1):
        now += step
        _poke(meter, pick, arg, amount, now, counter)
        totals = meter.display_totals(now)
        reading = meter.registers(now)
        assert totals == (reading.import_wh, reading.demand_w, int(reading.supply_state))
        assert Ihd.esme_value(*totals) == ("E", reading.import_wh, reading.demand_w,
                                           int(reading.supply_state))


def _consumers() -> tuple[Ihd, Ihd, Ppmid, Ppmid, Recorder, Recorder]:
    ihd_model, ppmid_model = load_device_model("acme-ihd"), load_device_model("acme-ppmid")
    assert ihd_model.kind == "ihd" and ppmid_model.kind == "ppmid"
    rec_a, rec_b = Recorder(), Recorder()
    return (Ihd("ihd", ihd_model, rec_a, MONDAY), Ihd("ihd", ihd_model, rec_b, MONDAY),
            Ppmid("ppmid", ppmid_model, rec_a, MONDAY), Ppmid("ppmid", ppmid_model, rec_b, MONDAY),
            rec_a, rec_b)


def test_show_value_and_take_due_do_what_show_and_handle_timer_do() -> None:
    ihd_a, ihd_b, ppmid_a, ppmid_b, rec_a, rec_b = _consumers()
    meter = _esme(Recorder(), 9)
    gas_model = load_device_model("zenith-gsme-prepay")
    assert gas_model.kind == "gsme"
    gsme = Gsme("gsme", gas_model, SplitMix64(3), Recorder(), MONDAY, KEY)
    end = MONDAY + 3 * DAY
    while True:
        now = min(ihd_a.get_timer(), ppmid_a.get_timer())
        if now > end:
            break
        gas = gsme.registers(now - now % HOUR)  # a mirror-like source, the same object twice
        for fast, slow in ((ihd_a, ihd_b), (ppmid_a, ppmid_b)):
            assert fast.get_timer() == slow.get_timer()
            due = fast.take_due(now)
            requests = slow.handle_timer(now)
            assert list(due) == requests
            for request in requests:
                if request.target is DeviceType.GSME:
                    fast.show(DeviceType.GSME, gas, now, now - now % HOUR)
                    slow.show(DeviceType.GSME, gas, now, now - now % HOUR)
                elif isinstance(fast, Ihd):
                    fast.show_value(DeviceType.ESME, Ihd.esme_value(*meter.display_totals(now)),
                                    now)
                    slow.show(DeviceType.ESME, meter.registers(now), now)
                else:
                    snap = meter.payment(now)
                    fast.show(DeviceType.ESME, snap, now)
                    slow.show(DeviceType.ESME, snap, now)
            assert (fast.last_update_us, fast.gas_data_at) == (slow.last_update_us,
                                                               slow.gas_data_at)
        assert (ihd_a.import_wh, ihd_a.demand_w, ihd_a.gas_volume_dm3) == (
            ihd_b.import_wh, ihd_b.demand_w, ihd_b.gas_volume_dm3)
        assert ppmid_a.shown() == ppmid_b.shown()
    assert rec_a.events == rec_b.events
    assert sum(e[2] == "DisplayUpdated" for e in rec_a.events) > 20


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_refresh_direct_does_what_show_value_and_show_do(seed: int) -> None:
    """One refresh_direct call per refresh, beside the requests answered one by one, over a
    mirror that is absent at first, then changes at random instants (sometimes to equal data,
    sometimes the same object again), with top-ups, supply changes and emergency credit on
    the meter: the shown values, times, and every DisplayUpdated (a day apart too) agree, for
    devices that show gas and one that does not."""
    ihd_a, ihd_b, ppmid_a, ppmid_b, rec_a, rec_b = _consumers()
    ppmid_model = load_device_model("acme-ppmid")
    assert ppmid_model.kind == "ppmid"
    lone_a = Ppmid("lone", ppmid_model, rec_a, MONDAY, gas=False)
    lone_b = Ppmid("lone", ppmid_model, rec_b, MONDAY, gas=False)
    meter = _esme(Recorder(), seed)
    gas_model = load_device_model("zenith-gsme-prepay")
    assert gas_model.kind == "gsme"
    gsme = Gsme("gsme", gas_model, SplitMix64(seed), Recorder(), MONDAY, KEY)
    rng = random.Random(seed)
    mirror: tuple[object, int] | None = None
    end = MONDAY + 4 * DAY
    counter = 0
    while True:
        now = min(c.get_timer() for c in (ihd_a, ppmid_a, lone_a))
        if now > end:
            break
        pick = rng.random()
        if pick < 0.3:
            at = now - rng.randrange(HOUR)
            mirror = (gsme.registers(max(at, MONDAY)), at)
        elif pick < 0.35 and mirror is not None:
            mirror = (mirror[0], mirror[1])  # the same data, a new tuple
        elif pick < 0.5:
            counter += 1
            _poke(meter, rng.random(), rng.random(), rng.choice((40, 200, 900)), now, counter)
        gas_at = 0 if mirror is None else mirror[1] + 7  # the CHF's clock, some offset
        for fast, slow in ((ihd_a, ihd_b), (ppmid_a, ppmid_b), (lone_a, lone_b)):
            due = fast.take_due(now)
            assert list(due) == slow.handle_timer(now)
            if not due:
                continue
            if isinstance(fast, Ihd):
                value: object = Ihd.esme_value(*meter.display_totals(now))
                slow.show(DeviceType.ESME, meter.registers(now), now)
            else:
                value = meter.payment(now)
                slow.show(DeviceType.ESME, value, now)
            fast.refresh_direct(value, mirror, gas_at, now)
            if mirror is not None and any(r.target is DeviceType.GSME for r in due):
                slow.show(DeviceType.GSME, mirror[0], now, gas_at)
            assert (fast.last_update_us, fast.gas_data_at) == (slow.last_update_us,
                                                               slow.gas_data_at)
        assert (ihd_a.import_wh, ihd_a.demand_w, ihd_a.gas_volume_dm3,
                ihd_a.gas_flow_dm3_per_h) == (ihd_b.import_wh, ihd_b.demand_w,
                                              ihd_b.gas_volume_dm3, ihd_b.gas_flow_dm3_per_h)
        for fast_p, slow_p in ((ppmid_a, ppmid_b), (lone_a, lone_b)):
            assert fast_p.shown() == slow_p.shown()
            assert fast_p.shown(DeviceType.GSME) == slow_p.shown(DeviceType.GSME)
    assert rec_a.events == rec_b.events
    shown = [e for e in rec_a.events if e[2] == "DisplayUpdated"]
    assert len(shown) > 30
    assert any(e[3].get("target") == "GSME" for e in shown)


def test_the_cached_seasonal_factor_is_the_formula() -> None:
    for amplitude in (0, 150_000, 600_000):
        for day in range(0, 800, 7):
            want = 1_000_000 if not amplitude else 1_000_000 + round(
                amplitude * math.cos(2.0 * math.pi * (day - 15) / 365.25))
            assert load_profile._season_ppm(amplitude, day) == want
