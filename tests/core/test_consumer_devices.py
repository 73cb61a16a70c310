from __future__ import annotations

from datetime import UTC, datetime

import pytest

from emulator.core.esme import Esme
from emulator.core.gsme import Gsme
from emulator.core.ihd import Ihd
from emulator.core.ppmid import ConsumerAction, Ppmid, ReadRequest
from emulator.core.rng import SplitMix64
from emulator.core.timebase import HOUR, MINUTE, SECOND, from_datetime
from emulator.core.trace_sink import Recorder, discard
from emulator.errors import LocalProtocolError
from emulator.profiles import IhdModel, PpmidModel, load_device_model
from emulator.wire.vocabulary import DeviceType, PaymentMode, SupplyAction, SupplyState

MONDAY = from_datetime(datetime(2026, 1, 5, tzinfo=UTC))
KEY = bytes(range(16))


def ppmid_model() -> PpmidModel:
    found = load_device_model("acme-ppmid")
    assert isinstance(found, PpmidModel)
    return found


def ihd_model() -> IhdModel:
    found = load_device_model("acme-ihd")
    assert isinstance(found, IhdModel)
    return found


def meters() -> tuple[Esme, Gsme]:
    esme_model, gsme_model = (
        load_device_model("zenith-esme-prepay"),
        load_device_model("zenith-gsme-prepay"),
    )
    assert esme_model.kind == "esme" and gsme_model.kind == "gsme"
    esme = Esme("00-1B-C5-0C-02-00-00-01", esme_model, SplitMix64(1), discard, MONDAY, KEY)
    gsme = Gsme("00-1B-C5-0C-03-00-00-01", gsme_model, SplitMix64(2), discard, MONDAY, KEY)
    return esme, gsme


def serve(device: Ppmid | Ihd, esme: Esme, gsme: Gsme, until: int) -> int:
    """A driver: answer each refresh's read requests; returns how many refreshes ran."""
    refreshes = 0
    while device.get_timer() <= until:
        now = device.get_timer()
        requests = device.handle_timer(now)
        refreshes += 1
        for request in requests:
            meter = esme if request.target is DeviceType.ESME else gsme
            data = meter.payment(now) if request.what == "payment" else meter.registers(now)
            device.show(request.target, data, now)
    return refreshes


def test_ppmid_refreshes_on_its_interval_and_shows_payment() -> None:
    rec = Recorder()
    esme, gsme = meters()
    ppmid = Ppmid("00-1B-C5-0C-04-00-00-01", ppmid_model(), rec, MONDAY, SplitMix64(9))
    interval = ppmid_model().refresh_interval_s * SECOND
    first = ppmid.get_timer()
    assert MONDAY <= first < MONDAY + interval
    assert ppmid.handle_timer(first - 1) == []
    assert ppmid.balance_pence is None
    assert serve(ppmid, esme, gsme, MONDAY + 6 * HOUR) == 6 * HOUR // interval
    last = ppmid.last_update_us
    assert last is not None and MONDAY + 6 * HOUR - interval < last <= MONDAY + 6 * HOUR
    assert ppmid.balance_pence == esme.payment(last).balance_pence
    assert ppmid.supply_state is SupplyState.ENABLED
    assert ppmid.payment_mode is PaymentMode.PREPAYMENT
    assert ppmid.emergency_credit_in_use is False and ppmid.emergency_credit_available_pence == 0
    assert ppmid.gas_balance_pence == gsme.payment(last).balance_pence
    shown = ppmid.shown(DeviceType.GSME)
    assert shown is not None and shown.supply_state is SupplyState.ENABLED
    # Traces stay small: far fewer DisplayUpdated than refreshes.
    updates = rec.names().count("DisplayUpdated")
    assert 2 <= updates <= 2 * 7


def test_ppmid_request_shape_and_phase_without_rng() -> None:
    a = Ppmid("00-1B-C5-0C-04-00-00-01", ppmid_model(), discard, MONDAY, gas=False)
    b = Ppmid("00-1B-C5-0C-04-00-00-02", ppmid_model(), discard, MONDAY, gas=False)
    assert a.get_timer() != b.get_timer()
    assert a.handle_timer(a.get_timer()) == [ReadRequest(DeviceType.ESME, "payment")]


def test_ppmid_buttons_return_actions_for_the_driver() -> None:
    rec = Recorder()
    ppmid = Ppmid("00-1B-C5-0C-04-00-00-01", ppmid_model(), rec, MONDAY)
    assert ppmid.press_emergency_credit(MONDAY) == ConsumerAction(
        DeviceType.ESME, "select_emergency_credit"
    )
    assert ppmid.press_enable_supply(MONDAY, DeviceType.GSME) == ConsumerAction(
        DeviceType.GSME, "enable_supply"
    )
    assert rec.names() == ["ConsumerButtonPressed", "ConsumerButtonPressed"]


def test_ppmid_redraws_at_once_on_supply_change() -> None:
    rec = Recorder()
    esme, _ = meters()
    ppmid = Ppmid("00-1B-C5-0C-04-00-00-01", ppmid_model(), rec, MONDAY)
    ppmid.show(DeviceType.ESME, esme.payment(MONDAY), MONDAY)
    ppmid.show(DeviceType.ESME, esme.payment(MONDAY + MINUTE), MONDAY + MINUTE)
    assert rec.names().count("DisplayUpdated") == 1
    esme.set_payment_mode(PaymentMode.CREDIT, MONDAY + 2 * MINUTE)
    ppmid.show(DeviceType.ESME, esme.payment(MONDAY + 2 * MINUTE), MONDAY + 2 * MINUTE)
    assert rec.names().count("DisplayUpdated") == 2
    assert rec.events[-1][3]["payment_mode"] == "CREDIT"


def test_ihd_shows_import_demand_and_gas() -> None:
    rec = Recorder()
    esme, gsme = meters()
    ihd = Ihd("00-1B-C5-0C-05-00-00-01", ihd_model(), rec, MONDAY, SplitMix64(4))
    assert ihd.handle_timer(ihd.get_timer()) == [
        ReadRequest(DeviceType.ESME, "registers"),
        ReadRequest(DeviceType.GSME, "registers"),
    ]
    refreshes = serve(ihd, esme, gsme, MONDAY + 12 * HOUR)
    end = MONDAY + 12 * HOUR
    assert ihd.import_wh is not None and ihd.import_wh > 0
    assert ihd.import_wh <= esme.registers(end).import_wh
    assert ihd.demand_w is not None
    assert ihd.gas_volume_dm3 is not None and ihd.gas_volume_dm3 <= gsme.registers(end).volume_dm3
    assert ihd.gas_flow_dm3_per_h is not None
    assert ihd.last_update_us is not None and ihd.last_update_us <= end
    updates = rec.names().count("DisplayUpdated")
    expected = 12 * HOUR // (ihd_model().refresh_interval_s * SECOND)
    assert expected - 2 <= refreshes <= expected + 2
    assert 2 <= updates <= 80


def test_show_rejects_wrong_data() -> None:
    ihd = Ihd("00-1B-C5-0C-05-00-00-01", ihd_model(), discard, MONDAY)
    esme, _ = meters()
    with pytest.raises(LocalProtocolError):
        ihd.show(DeviceType.ESME, esme.payment(MONDAY), MONDAY)
    with pytest.raises(LocalProtocolError):
        ihd.show(DeviceType.CHF, esme.registers(MONDAY), MONDAY)


@pytest.mark.parametrize("zigbee", [True, False])
def test_behaviour_20_the_ihd_sees_the_age_of_the_gas_data(zigbee: bool) -> None:
    """IHD reads of gas are served from the CHF's mirror with the mirror's last-update time
    (ZCL ReadingSnapShotTime on the HAN): the IHD keeps it and shows it, and while the GSME is
    silent the data it shows grows old although the IHD keeps refreshing."""
    from tests.pairing import paired

    p = paired(zigbee=zigbee)
    pair, core = p.pair, p.core
    ihd, chf, gsme = core.devices.ihd, core.devices.chf, core.devices.gsme
    assert ihd is not None and gsme is not None
    pair.advance(pair.now + HOUR)
    assert chf.gsme_mirror is not None
    silent_from = pair.now
    if zigbee:
        assert p.han is not None
        p.han.node(gsme.eui).link.outages.append((silent_from, silent_from + 10 * HOUR))
    else:
        core.direct_outages[gsme.eui] = [(silent_from, silent_from + 10 * HOUR)]
    last_update = chf.gsme_mirror[1]
    pair.advance(pair.now + 6 * HOUR)
    assert chf.gsme_mirror[1] == last_update  # nothing new from the GSME
    assert ihd.last_update_us is not None and ihd.last_update_us > silent_from + 5 * HOUR
    assert ihd.gas_data_at is not None and abs(ihd.gas_data_at - last_update) < SECOND
    age = ihd.gas_data_age_s(pair.now)
    assert age is not None and age >= 6 * 3600
    shown = [f for f in p.named("DisplayUpdated") if f["target"] == "GSME"]
    assert shown and all("data_updated" in f and "data_age_s" in f for f in shown)


def test_the_same_data_again_shows_the_same_value_and_new_data_is_converted() -> None:
    rec = Recorder()
    esme, gsme = meters()
    ppmid = Ppmid("00-1B-C5-0C-04-00-00-01", ppmid_model(), rec, MONDAY)
    snap = esme.payment(MONDAY)
    ppmid.show(DeviceType.ESME, snap, MONDAY)
    shown = ppmid.shown()
    ppmid.show(DeviceType.ESME, snap, MONDAY + HOUR)
    assert ppmid.shown() is shown and ppmid.last_update_us == MONDAY + HOUR
    assert rec.names().count("DisplayUpdated") == 1
    reading = gsme.registers(MONDAY)
    ppmid.show(DeviceType.GSME, reading, MONDAY + HOUR)
    assert ppmid.gas_balance_pence == reading.balance_pence
    esme.set_supply(SupplyAction.DISABLE, MONDAY + HOUR)  # new data: converted and redrawn
    ppmid.show(DeviceType.ESME, esme.payment(MONDAY + HOUR), MONDAY + HOUR)
    assert ppmid.supply_state is SupplyState.DISABLED
    assert ppmid.shown() is not shown
