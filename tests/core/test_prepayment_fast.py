"""The prepayment core's settlement (emulator/core/prepayment.py) against a plain model.

The core keeps the spec's values as fields, charges a whole half hour's standing charge as one
precomputed sum, carries fractions of a penny as a residual and caches its timer (the forms a
compiled build runs natively). The model here is written the straightforward way: energy
integrated slot by slot, every charge added to one running total in pico-pence (the balance
takes its whole pence), the standing charge pro rata for each settlement, and the credit, supply
and emergency-credit rules as the module docstring states them. Days of top-ups, emergency
credit, debt, remote and consumer supply changes and mode switches (whole and partial half
hours) must give the same balances, deadlines, snapshots and events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from emulator.core.esme import Esme
from emulator.core.load_profile import SLOT
from emulator.core.prepayment import PICO
from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, HOUR, MINUTE, from_datetime
from emulator.core.trace_sink import Recorder
from emulator.core.utrn import generate_utrn
from emulator.profiles import EsmeModel
from emulator.wire.vocabulary import PaymentMode, SupplyAction, SupplyState

MONDAY = from_datetime(datetime(2026, 1, 5, tzinfo=UTC))
KEY = bytes(range(16))
EUI = "00-1B-C5-0C-02-00-00-07"
ENERGY = 500_000  # milli-Wh per half hour of a flat 1000 W load
NIGHT_SLOTS = 14  # register 1 from 00:00 to 07:00, register 2 for the rest of the day
RATES_P = (9.87, 31.41)  # pence per kWh
STANDING_P = 53.17  # pence per day

Event = tuple[int, str, dict[str, object]]


@dataclass(frozen=True)
class Config:
    start: int
    balance: int
    max_credit: int
    low: int
    ec_limit: int
    ec_threshold: int
    debt: int
    recovery: int


def esme_model(cfg: Config) -> EsmeModel:
    return EsmeModel.model_validate({
        "schema_version": 1, "kind": "esme", "manufacturer": "Test", "model": "Flat2",
        "firmware_version": "1.0", "default_payment_mode": "prepayment",
        "load": {"base_load_w": 1000, "morning_peak_w": 0, "evening_peak_w": 0, "noise": 0},
        "tariff": {
            "bands": [{"register": 1, "start": "00:00", "end": "07:00"},
                      {"register": 2, "start": "07:00", "end": "00:00"}],
            "unit_rates_pence_per_kwh": list(RATES_P),
            "standing_charge_pence_per_day": STANDING_P,
        },
        "prepayment": {
            "initial_balance_pence": cfg.balance, "max_credit_pence": cfg.max_credit,
            "low_credit_threshold_pence": cfg.low,
            "emergency_credit_limit_pence": cfg.ec_limit,
            "emergency_credit_threshold_pence": cfg.ec_threshold,
            "initial_debt_pence": cfg.debt, "debt_recovery_pence_per_day": cfg.recovery,
        },
    })


class Model:
    """The rules written plainly (the emergency credit as a state name, the supply too)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.rates = [round(rate * 10**6) for rate in RATES_P]  # pico-pence per milli-Wh
        self.standing = round(STANDING_P * PICO)  # pico-pence per day
        self.prepayment = True
        self.accrued_to = cfg.start
        self.on = True
        self.energy = [0, 0]
        self.charged = [0, 0]
        self.charged_to = cfg.start
        self.owed_pp = 0  # every charge ever made, in pico-pence
        self.credit = cfg.balance  # pence: the initial balance, top-ups, less debt taken
        self.debt = cfg.debt
        self.low = False
        self.ec = "none"
        self.supply = SupplyState.ENABLED
        self.credit_cut = False
        self.next_boundary = cfg.start - cfg.start % SLOT + SLOT
        self.events: list[Event] = []

    @property
    def balance(self) -> int:
        return self.credit - self.owed_pp // PICO

    def accrue(self, t: int) -> None:
        a = self.accrued_to
        while a < t:
            start = a - a % SLOT
            b = min(t, start + SLOT)
            if self.on:
                register = 0 if (start % DAY) // SLOT < NIGHT_SLOTS else 1
                self.energy[register] += (ENERGY * (b - start) // SLOT
                                          - ENERGY * (a - start) // SLOT)
            a = b
        self.accrued_to = max(self.accrued_to, t)

    def catch_up(self, t: int) -> None:
        while self.next_boundary <= t:
            boundary = self.next_boundary
            self.next_boundary += SLOT
            self.accrue(boundary)
            if self.prepayment:
                self.owed_pp += sum(rate * (now - then) for rate, now, then
                                    in zip(self.rates, self.energy, self.charged, strict=True))
                self.owed_pp += self.standing * (boundary - self.charged_to) // DAY
                if boundary % DAY == 0 and self.debt > 0 and self.cfg.recovery > 0:
                    taken = min(self.debt, self.cfg.recovery)
                    self.debt -= taken
                    self.credit -= taken
                self.check_credit(boundary)
            self.charged = list(self.energy)
            self.charged_to = boundary
        self.accrue(t)

    def tell(self, t: int, name: str, **fields: object) -> None:
        self.events.append((t, name, fields))

    def move_supply(self, t: int, state: SupplyState, cause: str) -> None:
        if state is self.supply:
            return
        self.accrue(t)
        previous, self.supply = self.supply, state
        self.on = state is SupplyState.ENABLED
        self.tell(t, "SupplyStateChanged", previous=previous.name, state=state.name, cause=cause)

    def check_credit(self, t: int) -> None:
        balance, cfg = self.balance, self.cfg
        if not self.low and balance < cfg.low:
            self.low = True
            self.tell(t, "LowCreditReached", balance_pence=balance)
        if self.ec == "none" and cfg.ec_limit > 0 and balance < cfg.ec_threshold:
            self.ec = "available"
            self.tell(t, "EmergencyCreditAvailable", emergency_credit_limit_pence=cfg.ec_limit,
                      balance_pence=balance)
        if self.supply is not SupplyState.ENABLED:
            return
        if self.ec == "in use":
            if balance > -cfg.ec_limit:
                return
            self.ec = "exhausted"
            self.tell(t, "EmergencyCreditExhausted", balance_pence=balance)
        elif balance <= 0:
            self.tell(t, "CreditExhausted", balance_pence=balance)
        else:
            return
        self.credit_cut = True
        self.move_supply(t, SupplyState.DISABLED, "credit")

    def top_up(self, counter: int, amount: int, t: int) -> int:
        self.catch_up(t)
        if self.balance + amount > self.cfg.max_credit:
            self.tell(t, "TopUpRejected", status="EXCEEDS_MAX_CREDIT", counter=counter)
            return 0
        self.credit += amount
        balance = self.balance
        self.tell(t, "TopUpAccepted", counter=counter, amount_pence=amount, balance_pence=balance)
        if self.low and balance >= self.cfg.low:
            self.low = False
            self.tell(t, "LowCreditCleared", balance_pence=balance)
        if ((self.ec == "available" and balance >= self.cfg.ec_threshold)
                or (self.ec in ("in use", "exhausted") and balance > 0)):
            self.ec = "none"
            self.tell(t, "EmergencyCreditCleared", balance_pence=balance)
        if self.supply is SupplyState.DISABLED and self.credit_cut and balance > 0:
            self.move_supply(t, SupplyState.ARMED, "top_up")
        return amount

    def select_emergency_credit(self, t: int) -> bool:
        self.catch_up(t)
        if not self.prepayment or self.ec != "available":
            return False
        self.ec = "in use"
        self.tell(t, "EmergencyCreditActivated", emergency_credit_limit_pence=self.cfg.ec_limit,
                  balance_pence=self.balance)
        if self.supply is SupplyState.DISABLED and self.credit_cut:
            self.move_supply(t, SupplyState.ARMED, "emergency_credit")
        return True

    def set_supply(self, action: SupplyAction, t: int) -> None:
        self.catch_up(t)
        if action is SupplyAction.ARM:
            if self.supply is SupplyState.DISABLED:
                self.move_supply(t, SupplyState.ARMED, "remote")
            return
        self.credit_cut = False
        enable = action is SupplyAction.ENABLE
        self.move_supply(t, SupplyState.ENABLED if enable else SupplyState.DISABLED, "remote")

    def enable_by_consumer(self, t: int) -> bool:
        self.catch_up(t)
        if self.supply is not SupplyState.ARMED:
            return False
        self.credit_cut = False
        self.move_supply(t, SupplyState.ENABLED, "consumer")
        return True

    def set_mode(self, mode: PaymentMode, t: int) -> None:
        self.catch_up(t)
        previous = PaymentMode.PREPAYMENT if self.prepayment else PaymentMode.CREDIT
        if mode is previous:
            return
        self.prepayment = mode is PaymentMode.PREPAYMENT
        self.charged = list(self.energy)
        self.charged_to = t
        self.tell(t, "PaymentModeChanged", previous=previous.name, mode=mode.name)
        if not self.prepayment and self.credit_cut:
            self.credit_cut = False
            self.move_supply(t, SupplyState.ENABLED, "payment_mode")

    def timer(self) -> int | None:
        return self.next_boundary if self.prepayment else None


class Pair:
    """The meter and the model, driven alike and compared after every step."""

    def __init__(self, cfg: Config) -> None:
        self.rec = Recorder()
        self.meter = Esme(EUI, esme_model(cfg), SplitMix64(7), self.rec, cfg.start, KEY)
        self.model = Model(cfg)
        self.counter = 0
        self.settled = 0

    def check(self, t: int) -> None:
        meter, model = self.meter, self.model
        snap = meter.payment(t)
        model.catch_up(t)
        limit = model.cfg.ec_limit
        available = {"available": limit, "in use": max(0, limit + min(model.balance, 0))}
        assert (snap.balance_pence, snap.debt_pence, snap.supply_state) == (
            model.balance, model.debt, model.supply), t
        assert snap.emergency_credit_in_use is (model.ec == "in use")
        assert snap.emergency_credit_available_pence == available.get(model.ec, 0)
        assert meter.get_timer() == model.timer()
        # the fraction of a penny carried: exact, not only the whole pence it adds up to
        assert meter._residual == model.owed_pp % PICO
        assert [(when, name, fields) for when, _, name, fields in self.rec.events] == model.events

    def run(self, until: int) -> None:
        """A driver's wakes up to ``until``, each half hour compared; a read at ``until``."""
        deadline = self.meter.get_timer()
        while deadline is not None and deadline <= until:
            self.meter.handle_timer(deadline)
            self.settled += 1
            self.check(deadline)
            deadline = self.meter.get_timer()
        self.check(until)

    def top_up(self, amount: int, t: int) -> None:
        self.counter += 1
        outcome = self.meter.top_up(generate_utrn(KEY, EUI, self.counter, amount), t)
        assert outcome.amount_pence == self.model.top_up(self.counter, amount, t)
        self.check(t)

    def select_emergency_credit(self, t: int) -> None:
        assert self.meter.select_emergency_credit(t) is self.model.select_emergency_credit(t)
        self.check(t)

    def set_supply(self, action: SupplyAction, t: int) -> None:
        state = self.meter.set_supply(action, t)
        self.model.set_supply(action, t)
        assert state is self.model.supply
        self.check(t)

    def enable_by_consumer(self, t: int) -> None:
        assert self.meter.enable_by_consumer(t) is self.model.enable_by_consumer(t)
        self.check(t)

    def set_mode(self, mode: PaymentMode, t: int) -> None:
        self.meter.set_payment_mode(mode, t)
        self.model.set_mode(mode, t)
        self.check(t)


TOP_UPS = (400, 650, 300, 500, 0, 700, 200, 600)  # pence, each evening: about a day's worth


def drive(pair: Pair, start: int) -> None:
    """Days of a prepayment meter: run down, emergency credit, cuts, top-ups, remote actions,
    mode switches, each at odd times inside half hours (and some on boundaries)."""
    for day, amount in enumerate(TOP_UPS):
        base = start + day * DAY
        pair.run(base + 9 * HOUR + 13 * MINUTE + 7)
        if day % 2:
            pair.select_emergency_credit(base + 9 * HOUR + 13 * MINUTE + 7)
        pair.run(base + 20 * HOUR + 1)
        pair.select_emergency_credit(base + 20 * HOUR + 1)  # while cut off, it arms
        pair.enable_by_consumer(base + 20 * HOUR + 5 * MINUTE)
        pair.run(base + 23 * HOUR + 44 * MINUTE + 9)
        if amount:
            pair.top_up(amount, base + 23 * HOUR + 44 * MINUTE + 9)
        pair.enable_by_consumer(base + 23 * HOUR + 50 * MINUTE)
        if day == 1:
            pair.set_supply(SupplyAction.DISABLE, base + DAY + 2 * HOUR + 17)
            pair.run(base + DAY + 5 * HOUR)  # standing charge only
            pair.set_supply(SupplyAction.ARM, base + DAY + 5 * HOUR + 3 * MINUTE)
            pair.set_supply(SupplyAction.ARM, base + DAY + 5 * HOUR + 4 * MINUTE)
            pair.enable_by_consumer(base + DAY + 5 * HOUR + 9 * MINUTE + 11)
        if day == 2:
            pair.top_up(pair.model.cfg.max_credit, base + DAY + MINUTE)  # refused
            pair.set_mode(PaymentMode.CREDIT, base + DAY + 3 * HOUR + 7 * MINUTE + 3)
            pair.run(base + DAY + 15 * HOUR)  # no timer in credit mode: nothing settles
            pair.set_supply(SupplyAction.ENABLE, base + DAY + 15 * HOUR + 1)
            pair.set_mode(PaymentMode.PREPAYMENT, base + DAY + 16 * HOUR + 21 * MINUTE + 5)
        if day == 4:
            pair.set_mode(PaymentMode.CREDIT, base + DAY + 6 * HOUR)  # on a boundary
            pair.set_mode(PaymentMode.PREPAYMENT, base + DAY + 6 * HOUR + 30 * MINUTE)
    end = start + len(TOP_UPS) * DAY + 2 * DAY
    pair.run(end)  # no top-up: cut off again
    pair.set_mode(PaymentMode.CREDIT, end + 1)  # credit mode undoes a credit cut


CONFIGS = {
    "mid-slot start, emergency credit, debt": Config(
        start=MONDAY + 7 * MINUTE + 123, balance=900, max_credit=5000, low=300, ec_limit=150,
        ec_threshold=200, debt=100, recovery=30),
    "start on a boundary, no emergency credit": Config(
        start=MONDAY + 3 * HOUR, balance=500, max_credit=3000, low=250, ec_limit=0,
        ec_threshold=100, debt=70, recovery=0),
    "large debt, start just before midnight": Config(
        start=MONDAY - 1, balance=700, max_credit=9000, low=400, ec_limit=300,
        ec_threshold=500, debt=1000, recovery=45),
}


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=list(CONFIGS))
def test_core_matches_the_plain_model(cfg: Config) -> None:
    pair = Pair(cfg)
    drive(pair, cfg.start)
    names = {name for _, name, _ in pair.model.events}
    causes = {f["cause"] for _, name, f in pair.model.events if name == "SupplyStateChanged"}
    # the scenario went through the paths it is for
    assert pair.settled > 8 * 48
    assert {"LowCreditReached", "LowCreditCleared", "CreditExhausted", "TopUpAccepted",
            "TopUpRejected", "PaymentModeChanged"} <= names
    assert {"credit", "top_up", "consumer", "remote", "payment_mode"} <= causes
    if cfg.ec_limit:
        assert {"EmergencyCreditAvailable", "EmergencyCreditActivated",
                "EmergencyCreditExhausted", "EmergencyCreditCleared"} <= names
        assert "emergency_credit" in causes
    else:
        assert not any(name.startswith("Emergency") for name in names)
    if not cfg.recovery:
        assert pair.model.debt == cfg.debt
    elif cfg.recovery * len(TOP_UPS) >= cfg.debt:
        assert pair.model.debt == 0  # the last day's recovery is the rest, less than a day's
    else:
        assert 0 < pair.model.debt < cfg.debt


def test_model_charges_whole_and_partial_half_hours() -> None:
    """The model's own arithmetic, by hand: a night half hour is 0.5 kWh at the night rate plus
    1/48 of a day's standing charge; a part of one, the same pro rata."""
    cfg = CONFIGS["start on a boundary, no emergency credit"]
    model = Model(cfg)
    model.catch_up(cfg.start + SLOT)
    night_rate, standing = round(RATES_P[0] * 10**6), round(STANDING_P * PICO)
    assert model.owed_pp == night_rate * ENERGY + standing * SLOT // DAY
    model.set_mode(PaymentMode.CREDIT, cfg.start + SLOT + 10 * MINUTE)
    model.set_mode(PaymentMode.PREPAYMENT, cfg.start + SLOT + 20 * MINUTE)
    model.catch_up(cfg.start + 2 * SLOT)
    part = ENERGY - ENERGY * 2 // 3
    assert model.owed_pp == (night_rate * ENERGY + standing * SLOT // DAY
                             + night_rate * part + standing * (10 * MINUTE) // DAY)
