from __future__ import annotations

from datetime import UTC, datetime

from emulator.core.gsme import Gsme, GsmeReading
from emulator.core.load_profile import SLOT
from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, HOUR, SECOND, from_datetime
from emulator.core.trace_sink import Recorder
from emulator.core.utrn import generate_utrn
from emulator.profiles import GsmeModel, load_device_model
from emulator.wire.vocabulary import PaymentMode, SupplyAction, SupplyState, TopUpStatus

MONDAY = from_datetime(datetime(2026, 1, 5, tzinfo=UTC))
KEY = bytes(range(16))
EUI = "00-1B-C5-0C-03-00-00-01"


def model() -> GsmeModel:
    found = load_device_model("zenith-gsme-prepay")
    assert isinstance(found, GsmeModel)
    return found


def gsme(seed: int = 1, rec: Recorder | None = None, **kwargs: object) -> Gsme:
    return Gsme(EUI, model(), SplitMix64(seed), rec or Recorder(), MONDAY, KEY, **kwargs)  # type: ignore[arg-type]


def wakes(meter: Gsme, until: int) -> list[GsmeReading]:
    reports = []
    deadline = meter.get_timer()
    while deadline is not None and deadline <= until:
        report = meter.handle_timer(deadline)
        if report is not None:
            reports.append(report)
        deadline = meter.get_timer()
    return reports


def test_wakes_on_its_interval_with_a_seeded_phase() -> None:
    interval = model().wake_interval_s * SECOND
    meter = gsme(payment_mode=PaymentMode.CREDIT)
    reports = wakes(meter, MONDAY + DAY)
    times = [r.meter_time_us for r in reports]
    assert len(times) == DAY // interval
    assert all(b - a == interval for a, b in zip(times, times[1:], strict=False))
    phase = (times[0] - MONDAY) % interval
    assert gsme(payment_mode=PaymentMode.CREDIT).next_wake == times[0]  # same seed, same phase
    phases = {(gsme(s).next_wake - MONDAY) % interval for s in range(20)}
    assert len(phases) > 15 and phase in phases  # a fleet does not wake in lockstep
    volumes = [r.volume_dm3 for r in reports]
    assert volumes == sorted(volumes) and volumes[-1] > 1000


def test_report_matches_lazy_read() -> None:
    a, b = gsme(3, payment_mode=PaymentMode.CREDIT), gsme(3, payment_mode=PaymentMode.CREDIT)
    last = wakes(a, MONDAY + 2 * DAY)[-1]
    assert b.registers(last.meter_time_us) == last


def test_prepayment_settles_between_wakes_and_wake_reports() -> None:
    meter = gsme()
    first_timer = meter.get_timer()
    assert first_timer is not None and first_timer <= MONDAY + SLOT
    reports = wakes(meter, MONDAY + DAY)
    assert len(reports) == 48
    assert reports[-1].balance_pence < 2000
    assert reports[-1].payment_mode is PaymentMode.PREPAYMENT


def test_battery_flat_stops_wakes() -> None:
    meter = gsme()
    meter.battery_flat = True
    assert meter.get_timer() is None
    assert meter.handle_timer(MONDAY + HOUR) is None
    meter.battery_flat = False
    assert meter.get_timer() is not None


def test_gas_prepayment_valve_and_top_up() -> None:
    rec = Recorder()
    meter = gsme(rec=rec, balance_pence=50)
    wakes(meter, MONDAY + DAY)
    assert meter.payment(MONDAY + DAY).supply_state is SupplyState.DISABLED
    assert "CreditExhausted" in rec.names()
    outcome = meter.top_up(generate_utrn(KEY, EUI, 1, 2000), MONDAY + DAY)
    assert outcome.status is TopUpStatus.ACCEPTED
    assert meter.registers(MONDAY + DAY).supply_state is SupplyState.ARMED
    assert meter.enable_by_consumer(MONDAY + DAY)
    assert meter.set_supply(SupplyAction.DISABLE, MONDAY + DAY) is SupplyState.DISABLED
    flow = meter.registers(MONDAY + DAY + HOUR)
    assert flow.flow_dm3_per_h == 0
