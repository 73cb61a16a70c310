"""The IHD's and the PPMID's redraws agree with a plain model of the rules they document.

Both devices are driven through seeded sequences of what they show (small changes, changes
on and either side of each significance threshold, rising and falling rates, supply and mode
changes, gaps below, at and beyond the redraw interval, the gas mirror's data repeated, gas
with and without its update time) by every path a driver uses (``refresh_direct``, ``show``
and ``show_value``); the ``DisplayUpdated`` events (fields in order) and what the device says
it shows must be what :class:`Reference`, written straightforwardly from the docstrings, says.
The compiled core runs the same test (its native-int comparisons, tables and time flags).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from emulator.core.esme import EsmeReading
from emulator.core.gsme import GsmeReading
from emulator.core.ihd import Ihd
from emulator.core.ppmid import ConsumerDevice, Ppmid
from emulator.core.prepayment import PaymentSnapshot
from emulator.core.timebase import DAY, MINUTE, SECOND, from_datetime, isoformat
from emulator.core.trace_sink import Recorder
from emulator.profiles import IhdModel, PpmidModel, load_device_model
from emulator.wire.vocabulary import DeviceType, PaymentMode, SupplyState

MONDAY = from_datetime(datetime(2026, 1, 5, tzinfo=UTC))
EUI = "00-1B-C5-0C-05-00-00-01"
Event = tuple[int, str, str, list[tuple[str, object]]]


def ihd_significant(old: tuple[int, int, int], new: tuple[int, int, int], gas: bool) -> bool:
    """The IHD's rule: a kWh (a cubic metre of gas), a quarter of the rate but at least
    250 W (1 dm3/h of gas), or the supply state."""
    step, floor = (1000, 1) if gas else (1000, 250)
    return (abs(new[0] - old[0]) >= step
            or abs(new[1] - old[1]) >= max(abs(old[1]) // 4, floor)
            or new[2] != old[2])


def ppmid_significant(old: PaymentSnapshot, new: PaymentSnapshot) -> bool:
    """The PPMID's rule: mode, supply, emergency credit, or a pound of balance."""
    return (old.payment_mode != new.payment_mode or old.supply_state != new.supply_state
            or old.emergency_credit_in_use != new.emergency_credit_in_use
            or old.emergency_credit_available_pence != new.emergency_credit_available_pence
            or abs(old.balance_pence - new.balance_pence) >= 100)


class Reference:
    """A display written plainly: per fuel the value last drawn and when; a redraw at once on a
    significant change, else a changed value at most once a day."""

    def __init__(self, significant: Callable[[object, object, bool], bool],
                 fields: Callable[[object], list[tuple[str, object]]]) -> None:
        self.significant = significant
        self.fields = fields
        self.drawn: dict[bool, object] = {}
        self.drawn_at: dict[bool, int] = {}
        self.events: list[Event] = []
        self.updated_at: int | None = None
        self.gas_at: int | None = None

    def show(self, gas: bool, value: object, now: int) -> None:
        old = self.drawn.get(gas)
        if old is None or (old != value and (now - self.drawn_at[gas] >= DAY
                                             or self.significant(old, value, gas))):
            self.drawn[gas], self.drawn_at[gas] = value, now
            fields = [("target", "GSME" if gas else "ESME"), *self.fields(value)]
            if gas and self.gas_at is not None:
                fields += [("data_updated", isoformat(self.gas_at)),
                           ("data_age_s", max(0, (now - self.gas_at) // SECOND))]
            self.events.append((now, EUI, "DisplayUpdated", fields))
        self.updated_at = now


def ihd_fields(value: object) -> list[tuple[str, object]]:
    assert isinstance(value, tuple)
    kind, total, rate, _ = value
    if kind == "E":
        return [("import_wh", total), ("demand_w", rate)]
    return [("volume_dm3", total), ("flow_dm3_per_h", rate)]


def ppmid_fields(value: object) -> list[tuple[str, object]]:
    assert isinstance(value, PaymentSnapshot)
    return [("payment_mode", value.payment_mode.name), ("balance_pence", value.balance_pence),
            ("emergency_credit_available_pence", value.emergency_credit_available_pence),
            ("emergency_credit_in_use", value.emergency_credit_in_use),
            ("supply_state", value.supply_state.name)]


def _step(rng: random.Random, value: int, threshold: int) -> int:
    """The next value: unchanged, a little, on or either side of ``threshold``, or a jump."""
    delta = rng.choice((0, 0, 1, threshold - 1, threshold, threshold + 1,
                        rng.randrange(threshold), rng.randrange(10 * threshold)))
    return value + (delta if rng.random() < 0.8 else -delta)


def _rate(rng: random.Random, rate: int, floor: int) -> int:
    quarter = abs(rate) // 4
    delta = rng.choice((0, 1, floor - 1, floor, quarter - 1, quarter, quarter + 1,
                        rng.randrange(4 * floor)))
    if rng.random() < 0.03:
        return -rate  # through zero: the quarter is of the magnitude
    if rng.random() < 0.03:
        return 0
    return rate + (delta if rng.random() < 0.5 else -delta)


def _gap(rng: random.Random) -> int:
    return rng.choice((15 * MINUTE, 15 * MINUTE, 15 * MINUTE, SECOND, DAY, DAY - 1,
                       DAY + 1, 2 * DAY, rng.randrange(1, DAY)))


def _state(rng: random.Random, state: SupplyState) -> SupplyState:
    return rng.choice(list(SupplyState)) if rng.random() < 0.05 else state


class Script:
    """Seeded readings of both fuels and a payment state, one step at a time."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.now = MONDAY
        self.import_wh, self.demand_w, self.supply = 5_000_000, 800, SupplyState.ENABLED
        self.volume, self.flow, self.valve = 2_000_000, 300, SupplyState.ENABLED
        self.mode, self.balance = PaymentMode.PREPAYMENT, 700
        self.available, self.in_use = 500, False
        self.gas_data: GsmeReading | None = None
        self.received = MONDAY

    def advance(self) -> None:
        rng = self.rng
        self.now += _gap(rng)
        self.import_wh = _step(rng, self.import_wh, 1000)
        self.demand_w = _rate(rng, self.demand_w, 250)
        self.supply = _state(rng, self.supply)
        if rng.random() < 0.02:
            self.mode = rng.choice(list(PaymentMode))
        self.balance = _step(rng, self.balance, 100)
        if rng.random() < 0.05:
            self.available = rng.choice((0, 250, 500))
        if rng.random() < 0.05:
            self.in_use = not self.in_use
        # the mirror keeps its reading (the very same object) between gas reports
        if self.gas_data is None or rng.random() < 0.4:
            self.volume = _step(rng, self.volume, 1000)
            self.flow = _rate(rng, self.flow, 1)
            self.valve = _state(rng, self.valve)
            self.gas_data = GsmeReading(self.now, self.volume, self.flow, self.mode,
                                        self.balance - 50, self.valve)
            self.received = self.now - rng.choice((0, SECOND, 3 * MINUTE, -SECOND))

    def snapshot(self) -> PaymentSnapshot:
        return PaymentSnapshot(self.mode, self.balance, 500, self.available, self.in_use, 0,
                               self.supply)

    def reading(self) -> EsmeReading:
        pay = self.snapshot()
        return EsmeReading(self.now, self.import_wh, (self.import_wh,), self.demand_w,
                           pay.payment_mode, pay.balance_pence, pay.emergency_credit_limit_pence,
                           pay.emergency_credit_available_pence, pay.emergency_credit_in_use,
                           pay.debt_pence, pay.supply_state)


def _model(name: str) -> IhdModel | PpmidModel:
    found = load_device_model(name)
    assert isinstance(found, IhdModel | PpmidModel)
    return found


def _drive(device: ConsumerDevice, ref: Reference, seq: Script, gas: bool,
           esme_value: Callable[[Script], object], gas_value: Callable[[GsmeReading], object],
           steps: int) -> None:
    """Each step by one of the driver paths, the reference beside it."""
    rng = seq.rng
    for _ in range(steps):
        seq.advance()
        now, data = seq.now, seq.gas_data
        assert data is not None
        value = esme_value(seq)
        path = rng.random()
        if path < 0.6:
            mirror = (data, seq.received) if rng.random() < 0.9 else None
            device.refresh_direct(value, mirror, seq.received, now)
            ref.show(False, value, now)
            if mirror is not None and gas:
                ref.gas_at = seq.received
                ref.show(True, gas_value(data), now)
            ref.updated_at = now
        elif path < 0.8:
            device.show_value(DeviceType.ESME, value, now)
            ref.show(False, value, now)
        else:
            if rng.random() < 0.5:
                device.show(DeviceType.ESME, seq.reading() if isinstance(device, Ihd)
                            else seq.snapshot(), now)
                ref.show(False, value, now)
            at = seq.received if rng.random() < 0.8 else None
            device.show(DeviceType.GSME, data, now, at)
            ref.gas_at = at
            ref.show(True, gas_value(data), now)
        assert device.last_update_us == ref.updated_at
        assert device.gas_data_at == ref.gas_at
        assert device.gas_data_age_s(now + 5 * SECOND) == (
            None if ref.gas_at is None else max(0, (now + 5 * SECOND - ref.gas_at) // SECOND))


def _events(rec: Recorder) -> list[Event]:
    return [(now, eui, name, list(fields.items())) for now, eui, name, fields in rec.events]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("gas", [True, False])
def test_the_ihd_redraws_as_the_plain_rules_say(seed: int, gas: bool) -> None:
    rec = Recorder()
    ihd = Ihd(EUI, _model("acme-ihd"), rec, MONDAY, gas=gas)
    ref = Reference(lambda old, new, g: ihd_significant(old[1:], new[1:], g),  # type: ignore[index]
                    ihd_fields)
    seq = Script(seed)
    assert ihd.last_update_us is None and ihd.gas_data_at is None
    assert ihd.gas_data_age_s(MONDAY) is None

    def esme_value(s: Script) -> object:
        return Ihd.esme_value(s.import_wh, s.demand_w, int(s.supply))

    def gas_value(data: GsmeReading) -> object:
        return ("G", data.volume_dm3, data.flow_dm3_per_h, int(data.supply_state))

    _drive(ihd, ref, seq, gas, esme_value, gas_value, 1500)
    want = ref.events
    assert _events(rec) == want
    assert len(want) > 300 and len({e[0] for e in want}) > 200  # many redraws, of each kind
    assert (ihd.import_wh, ihd.demand_w) == (seq.import_wh, seq.demand_w)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("gas", [True, False])
def test_the_ppmid_redraws_as_the_plain_rules_say(seed: int, gas: bool) -> None:
    rec = Recorder()
    ppmid = Ppmid(EUI, _model("acme-ppmid"), rec, MONDAY, gas=gas)
    ref = Reference(lambda old, new, _: ppmid_significant(old, new),  # type: ignore[arg-type]
                    ppmid_fields)
    seq = Script(seed)

    def gas_value(data: GsmeReading) -> object:
        return PaymentSnapshot(data.payment_mode, data.balance_pence, 0, 0, False, 0,
                               data.supply_state)

    _drive(ppmid, ref, seq, gas, Script.snapshot, gas_value, 1500)
    assert _events(rec) == ref.events
    assert len(ref.events) > 300
    assert ppmid.balance_pence == seq.balance


def test_the_supply_state_table_gives_each_states_int() -> None:
    """What the IHD shows of a reading carries the supply state's int, as int() says."""
    ihd = Ihd(EUI, _model("acme-ihd"), Recorder(), MONDAY)
    for state in SupplyState:
        data = GsmeReading(MONDAY, 1, 2, PaymentMode.CREDIT, 0, state)
        ihd.show(DeviceType.GSME, data, MONDAY)
        shown = ihd._shown_g  # noqa: SLF001
        assert shown == ("G", 1, 2, int(state)) and type(shown[3]) is int
