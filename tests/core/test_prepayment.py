"""Prepayment rules (emulator/core/prepayment.py), driven through the ESME with a flat load.

The flat model uses exactly 500 Wh per half hour at 20 p/kWh (10 p) plus a 48 p/day standing
charge (1 p per half hour): 11 p per slot, so balances are easy to predict.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from emulator.core.esme import Esme
from emulator.core.load_profile import SLOT
from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, HOUR, MINUTE, from_datetime
from emulator.core.trace_sink import Recorder
from emulator.core.utrn import generate_utrn
from emulator.profiles import EsmeModel
from emulator.wire.vocabulary import EventCode, PaymentMode, SupplyAction, SupplyState

MONDAY = from_datetime(datetime(2026, 1, 5, tzinfo=UTC))
KEY = bytes(range(16))
EUI = "00-1B-C5-0C-02-00-00-01"


def flat_model(**prepayment: Any) -> EsmeModel:
    block = {
        "initial_balance_pence": 1000,
        "max_credit_pence": 5000,
        "low_credit_threshold_pence": 300,
        "emergency_credit_limit_pence": 50,
        "emergency_credit_threshold_pence": 100,
    }
    block.update(prepayment)
    return EsmeModel.model_validate(
        {
            "schema_version": 1,
            "kind": "esme",
            "manufacturer": "Test",
            "model": "Flat",
            "firmware_version": "1.0",
            "default_payment_mode": "prepayment",
            "load": {"base_load_w": 1000, "morning_peak_w": 0, "evening_peak_w": 0, "noise": 0},
            "tariff": {
                "bands": [{"register": 1, "start": "00:00", "end": "24:00"}],
                "unit_rates_pence_per_kwh": [20],
                "standing_charge_pence_per_day": 48,
            },
            "prepayment": block,
        }
    )


def make(rec: Recorder | None = None, **kwargs: Any) -> Esme:
    return Esme(EUI, flat_model(), SplitMix64(1), rec or Recorder(), MONDAY, KEY, **kwargs)


def run_timers(meter: Esme, until: int) -> None:
    """What a driver does: wake the meter at each deadline, nobody reads."""
    deadline = meter.get_timer()
    while deadline is not None and deadline <= until:
        meter.handle_timer(deadline)
        deadline = meter.get_timer()


def events(rec: Recorder, name: str) -> list[tuple[int, dict[str, object]]]:
    return [(t, f) for t, _, n, f in rec.events if n == name]


def test_balance_drains_per_half_hour() -> None:
    meter = make()
    assert meter.payment(MONDAY + 29 * MINUTE).balance_pence == 1000  # settled at boundaries
    assert meter.payment(MONDAY + SLOT).balance_pence == 989
    assert meter.payment(MONDAY + 10 * SLOT + 7).balance_pence == 890
    assert meter.registers(MONDAY + 10 * SLOT).import_wh == 5000


def test_credit_mode_never_charges_or_disconnects() -> None:
    rec = Recorder()
    meter = make(rec, payment_mode=PaymentMode.CREDIT, balance_pence=0)
    assert meter.get_timer() is None
    snap = meter.payment(MONDAY + 10 * DAY)
    assert snap.balance_pence == 0 and snap.supply_state is SupplyState.ENABLED
    assert rec.names() == []


def test_low_credit_ec_and_exhaustion_at_the_right_half_hour_without_reads() -> None:
    rec = Recorder()
    meter = make(rec)
    run_timers(meter, MONDAY + 4 * DAY)
    assert events(rec, "LowCreditReached") == [(MONDAY + 64 * SLOT, {"balance_pence": 296})]
    assert events(rec, "EmergencyCreditAvailable") == [
        (MONDAY + 82 * SLOT, {"emergency_credit_limit_pence": 50, "balance_pence": 98})
    ]
    assert events(rec, "CreditExhausted") == [(MONDAY + 91 * SLOT, {"balance_pence": -1})]
    changed = events(rec, "SupplyStateChanged")
    assert changed == [
        (MONDAY + 91 * SLOT, {"previous": "ENABLED", "state": "DISABLED", "cause": "credit"})
    ]
    # Disconnected: no more energy, standing charge only.
    reading = meter.registers(MONDAY + 4 * DAY)
    assert reading.import_wh == 91 * 500 and reading.demand_w == 0
    codes = [entry.code for entry in meter.event_log()]
    assert EventCode.CREDIT_EXHAUSTED in codes and EventCode.SUPPLY_DISABLED in codes


def test_reads_at_any_time_give_the_same_events() -> None:
    quiet, busy = Recorder(), Recorder()
    a, b = make(quiet), make(busy)
    run_timers(a, MONDAY + 3 * DAY)
    t = MONDAY
    while t < MONDAY + 3 * DAY:
        t += 17 * MINUTE + 3
        b.registers(t)
    b.payment(MONDAY + 3 * DAY)
    assert quiet.events == busy.events
    assert a.registers(MONDAY + 3 * DAY) == b.registers(MONDAY + 3 * DAY)


def test_emergency_credit_keeps_supply_on_until_used() -> None:
    rec = Recorder()
    meter = make(rec)
    assert not meter.select_emergency_credit(MONDAY + HOUR)  # not available yet
    run_timers(meter, MONDAY + 83 * SLOT)
    snap = meter.payment(MONDAY + 83 * SLOT)
    assert snap.emergency_credit_available_pence == 50 and not snap.emergency_credit_in_use
    assert meter.select_emergency_credit(MONDAY + 83 * SLOT + 1)
    assert meter.payment(MONDAY + 83 * SLOT + 1).emergency_credit_in_use
    run_timers(meter, MONDAY + 4 * DAY)
    assert events(rec, "CreditExhausted") == []
    # 1000 - 11 n <= -50 first at n = 96
    assert events(rec, "EmergencyCreditExhausted") == [(MONDAY + 96 * SLOT, {"balance_pence": -56})]
    assert meter.payment(MONDAY + 96 * SLOT).supply_state is SupplyState.DISABLED


def test_top_up_arms_and_consumer_button_enables() -> None:
    rec = Recorder()
    meter = make(rec)
    t = MONDAY + 92 * SLOT
    run_timers(meter, t)
    assert meter.payment(t).supply_state is SupplyState.DISABLED
    assert not meter.enable_by_consumer(t)
    outcome = meter.top_up(generate_utrn(KEY, EUI, 1, 500), t)
    # Cut off at slot 91; slot 92 charged the standing charge only.
    assert outcome.amount_pence == 500 and outcome.balance_pence == 1000 - 11 * 91 - 1 + 500
    assert meter.payment(t).supply_state is SupplyState.ARMED
    assert meter.enable_by_consumer(t + MINUTE)
    snap = meter.payment(t + MINUTE)
    assert snap.supply_state is SupplyState.ENABLED and snap.emergency_credit_available_pence == 0
    assert events(rec, "SupplyStateChanged")[-1][1]["cause"] == "consumer"


def test_selecting_ec_while_cut_off_arms() -> None:
    meter = make()
    t = MONDAY + 92 * SLOT
    run_timers(meter, t)
    assert meter.select_emergency_credit(t)
    assert meter.payment(t).supply_state is SupplyState.ARMED


def test_remote_supply_actions() -> None:
    meter = make(payment_mode=PaymentMode.CREDIT)
    t = MONDAY + HOUR
    assert meter.set_supply(SupplyAction.ARM, t) is SupplyState.ENABLED  # nothing to arm
    assert meter.set_supply(SupplyAction.DISABLE, t) is SupplyState.DISABLED
    assert meter.set_supply(SupplyAction.ARM, t) is SupplyState.ARMED
    assert meter.enable_by_consumer(t)
    assert meter.set_supply(SupplyAction.DISABLE, t) is SupplyState.DISABLED
    # A remote disconnection is not undone by a top-up or by the mode.
    meter.set_payment_mode(PaymentMode.PREPAYMENT, t)
    assert meter.top_up(generate_utrn(KEY, EUI, 1, 100), t).amount_pence == 100
    meter.set_payment_mode(PaymentMode.CREDIT, t)
    assert meter.payment(t).supply_state is SupplyState.DISABLED
    assert meter.set_supply(SupplyAction.ENABLE, t) is SupplyState.ENABLED


def test_switch_to_credit_re_enables_a_credit_cut() -> None:
    rec = Recorder()
    meter = make(rec)
    t = MONDAY + 92 * SLOT
    run_timers(meter, t)
    snap = meter.set_payment_mode(PaymentMode.CREDIT, t)
    assert snap.supply_state is SupplyState.ENABLED and snap.payment_mode is PaymentMode.CREDIT
    assert meter.payment_mode is PaymentMode.CREDIT
    assert events(rec, "PaymentModeChanged") == [(t, {"previous": "PREPAYMENT", "mode": "CREDIT"})]


def test_debt_recovered_at_midnight() -> None:
    model = flat_model(initial_debt_pence=100, debt_recovery_pence_per_day=30)
    meter = Esme(EUI, model, SplitMix64(1), Recorder(), MONDAY, KEY)
    assert meter.payment(MONDAY + DAY - 1).debt_pence == 100
    snap = meter.payment(MONDAY + DAY)
    assert snap.debt_pence == 70 and snap.balance_pence == 1000 - 48 * 11 - 30
    assert meter.payment(MONDAY + 5 * DAY).debt_pence == 0


def test_reads_share_one_snapshot_until_the_payment_state_changes() -> None:
    meter = make()
    first = meter.payment(MONDAY + 1)
    assert meter.payment(MONDAY + 2) is first  # nothing settled in between
    assert meter.supply_state_at(MONDAY + 3) is SupplyState.ENABLED
    later = meter.payment(MONDAY + SLOT)  # the first boundary charged the balance
    assert later is not first and later.balance_pence < first.balance_pence
    assert meter.payment(MONDAY + SLOT + 1) is later
    meter.set_supply(SupplyAction.DISABLE, MONDAY + SLOT + 2)
    cut = meter.payment(MONDAY + SLOT + 3)
    assert cut is not later and cut.supply_state is SupplyState.DISABLED
    assert meter.supply_state_at(MONDAY + SLOT + 3) is SupplyState.DISABLED
    assert (cut.balance_pence, cut.payment_mode) == (later.balance_pence, later.payment_mode)
