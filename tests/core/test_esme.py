from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime

from emulator.core.esme import Esme, EsmeReading
from emulator.core.gsme import Gsme
from emulator.core.load_profile import SLOT
from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, HOUR, MINUTE, SECOND, from_datetime
from emulator.core.trace_sink import Recorder, discard
from emulator.core.utrn import generate_utrn
from emulator.profiles import EsmeModel, GsmeModel, load_device_model
from emulator.wire.vocabulary import EventCode, PaymentMode, SupplyState, TopUpStatus

MONDAY = from_datetime(datetime(2026, 1, 5, tzinfo=UTC))
KEY = bytes(range(16))
EUI = "00-1B-C5-0C-02-00-00-01"


def model(name: str = "zenith-esme-prepay") -> EsmeModel:
    found = load_device_model(name)
    assert isinstance(found, EsmeModel)
    return found


def esme(seed: int = 1, rec: Recorder | None = None, **kwargs: object) -> Esme:
    return Esme(EUI, model(), SplitMix64(seed), rec or Recorder(), MONDAY, KEY, **kwargs)  # type: ignore[arg-type]


def test_defaults_from_model() -> None:
    meter = esme()
    assert meter.eui == EUI and meter.firmware_version == "3.1.0"
    assert meter.payment_mode is PaymentMode.PREPAYMENT
    assert meter.payment(MONDAY).balance_pence == 1000
    credit = Esme(EUI, model("acme-esme-credit"), SplitMix64(1), discard, MONDAY, KEY)
    assert credit.payment_mode is PaymentMode.CREDIT
    override = esme(payment_mode=PaymentMode.CREDIT, balance_pence=42)
    assert override.payment(MONDAY).balance_pence == 42
    meter.firmware_version = "3.2.0"
    assert meter.firmware_version == "3.2.0"


def test_registers_advance_and_are_lazily_consistent() -> None:
    a, b = esme(), esme()
    t = MONDAY
    for _ in range(50):
        t += 37 * MINUTE + 11
        a.registers(t)
    reading = a.registers(t)
    assert isinstance(reading, EsmeReading)
    assert reading == b.registers(t)
    assert reading.import_wh > 0 and reading.import_wh == sum(reading.tou_wh)
    assert reading.meter_time_us == t and reading.demand_w > 0


def test_same_seed_same_readings_other_seed_different() -> None:
    t = MONDAY + 2 * DAY
    assert esme(5).registers(t) == esme(5).registers(t)
    assert esme(5).registers(t).tou_wh != esme(6).registers(t).tou_wh


def test_tou_split_follows_economy7_bands() -> None:
    meter = esme(payment_mode=PaymentMode.CREDIT)
    night_start = meter.registers(MONDAY + 30 * MINUTE).tou_wh
    assert night_start[1] == 0  # 00:00-00:30 is rate 1
    night_end = meter.registers(MONDAY + 7 * HOUR + 30 * MINUTE).tou_wh
    assert night_end[0] == night_start[0] and night_end[1] > 0
    evening = meter.registers(MONDAY + 23 * HOUR).tou_wh
    assert evening[1] == night_end[1] and evening[0] > night_end[0]


def test_timer_only_in_prepayment() -> None:
    meter = esme()
    assert meter.get_timer() == MONDAY + SLOT
    meter.handle_timer(MONDAY + SLOT)
    assert meter.get_timer() == MONDAY + 2 * SLOT
    meter.set_payment_mode(PaymentMode.CREDIT, MONDAY + SLOT)
    assert meter.get_timer() is None


def test_clock_and_event_log() -> None:
    rec = Recorder()
    meter = esme(rec=rec)
    assert meter.meter_time(MONDAY + 5) == MONDAY + 5
    previous, new = meter.set_time(MONDAY + HOUR, MONDAY + 10 * SECOND)
    assert (previous, new) == (MONDAY + 10 * SECOND, MONDAY + HOUR)
    assert meter.meter_time(MONDAY + 20 * SECOND) == MONDAY + HOUR + 10 * SECOND
    assert meter.registers(MONDAY + 20 * SECOND).meter_time_us == MONDAY + HOUR + 10 * SECOND
    log = meter.event_log()
    assert [e.code for e in log] == [EventCode.POWER_ON, EventCode.CLOCK_ADJUSTED]
    assert log[-1].time_us == MONDAY + HOUR and log[-1].value == 3590
    assert rec.names() == ["ClockAdjusted"]


def test_event_log_is_a_ring_of_100() -> None:
    meter = esme()
    for i in range(150):
        meter.set_time(MONDAY - i * SECOND, MONDAY)
    log = meter.event_log()
    assert len(log) == 100
    assert log[-1].value == -1 and all(e.code == EventCode.CLOCK_ADJUSTED for e in log)
    assert log[0].time_us == MONDAY - 50 * SECOND


def test_behaviour_25_utrn_top_ups_and_payment_mode() -> None:
    rec = Recorder()
    meter = esme(rec=rec)
    t = MONDAY + HOUR
    balance = meter.payment(t).balance_pence

    # A valid 20-digit UTRN from the S1SP credits the meter.
    good = generate_utrn(KEY, EUI, 10, 500)
    outcome = meter.top_up(good, t)
    assert (outcome.status, outcome.amount_pence) == (TopUpStatus.ACCEPTED, 500)
    assert outcome.balance_pence == balance + 500 == meter.payment(t).balance_pence
    balance += 500

    # Reuse is refused; an older, unused counter inside the window still works; too old fails.
    assert meter.top_up(good, t).status is TopUpStatus.ALREADY_USED
    assert meter.top_up(generate_utrn(KEY, EUI, 8, 100), t).status is TopUpStatus.ACCEPTED
    assert meter.top_up(generate_utrn(KEY, EUI, 8, 100), t).status is TopUpStatus.ALREADY_USED
    assert meter.top_up(generate_utrn(KEY, EUI, 80, 100), t).status is TopUpStatus.ACCEPTED
    assert meter.top_up(generate_utrn(KEY, EUI, 9, 100), t).status is TopUpStatus.ALREADY_USED
    balance += 200

    # Malformed: wrong length, non-digits, 2**64 or more.
    for text in (good[:-1], good + "0", good[:-1] + "x", str(2**64), "9" * 20):
        result = meter.top_up(text, t)
        assert (result.status, result.amount_pence) == (TopUpStatus.MALFORMED, 0)

    # Exceeding the maximum credit is refused and leaves the counter unused.
    too_much = generate_utrn(KEY, EUI, 81, 25000)
    assert meter.top_up(too_much, t).status is TopUpStatus.EXCEEDS_MAX_CREDIT
    assert meter.payment(t).balance_pence == balance

    # Wrong key: INVALID; five in a row lock the meter out for an hour.
    for counter in range(100, 105):
        bad = generate_utrn(bytes(16), EUI, counter, 100)
        assert meter.top_up(bad, t).status is TopUpStatus.INVALID
    assert [f for _, _, n, f in rec.events if n == "UtrnLockedOut"] == [{"until_us": t + HOUR}]
    fine = generate_utrn(KEY, EUI, 200, 100)
    assert meter.top_up(fine, t + HOUR - 1).status is TopUpStatus.LOCKED_OUT
    assert meter.top_up(fine, t + HOUR).status is TopUpStatus.ACCEPTED
    assert EventCode.UTRN_LOCKOUT in [e.code for e in meter.event_log()]

    # Payment mode decides whether running out of credit interrupts supply.
    for mode, expected in (
        (PaymentMode.CREDIT, SupplyState.ENABLED),
        (PaymentMode.PREPAYMENT, SupplyState.DISABLED),
    ):
        other = esme(balance_pence=0)
        other.set_payment_mode(mode, MONDAY)
        deadline = other.get_timer()
        while deadline is not None and deadline <= MONDAY + DAY:
            other.handle_timer(deadline)
            deadline = other.get_timer()
        assert other.payment(MONDAY + DAY).supply_state is expected


def test_memory_per_installation_meters() -> None:
    esme_model = model()
    gas = load_device_model("zenith-gsme-prepay")
    assert isinstance(gas, GsmeModel)
    count = 50
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        meters: list[object] = []
        for i in range(count):
            e = Esme(EUI, esme_model, SplitMix64(i), discard, MONDAY, KEY)
            g = Gsme(EUI, gas, SplitMix64(i), discard, MONDAY, KEY)
            e.registers(MONDAY + 3 * DAY)
            g.registers(MONDAY + 3 * DAY)
            meters += [e, g]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    used = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert used / count < 10 * 1024, used / count
