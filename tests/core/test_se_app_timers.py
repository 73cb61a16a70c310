"""The Smart Energy application's own deadlines (explicit time): each mains device's daily
clock sync, and the HAN's queue behind them."""

from __future__ import annotations

from emulator.core.han import Han
from emulator.core.se_app import TIME_SYNC_INTERVAL, SmartEnergyApp
from emulator.core.timebase import SECOND
from tests.pairing import T0, paired


def _app() -> SmartEnergyApp:
    app = paired().core.app
    assert app is not None
    return app


def _idle_han(app: SmartEnergyApp) -> None:
    """Run the HAN's queue dry so that only the clock syncs are left to wake for."""
    han: Han = app.han
    while (t := han.get_timer()) is not None:
        app.handle_timer(t)


def test_the_earliest_clock_sync_is_the_apps_deadline_and_each_comes_back_a_day_later() -> None:
    app = _app()
    _idle_han(app)
    syncs = dict(app._next_sync)
    assert len(syncs) == 3  # ESME, PPMID, IHD (the sleepy GSME syncs when it wakes)
    first_eui, first = min(syncs.items(), key=lambda kv: kv[1])
    assert T0 <= first < T0 + TIME_SYNC_INTERVAL
    assert app.get_timer() == first
    app.handle_timer(first - 1)  # not due yet: nothing moves
    assert app._next_sync == syncs
    app.handle_timer(first)
    assert app._next_sync[first_eui] == first + TIME_SYNC_INTERVAL
    # the sync went out as a Time read over the HAN: its frames are on the HAN's queue now
    han_next = app.han.get_timer()
    assert han_next is not None and first < han_next <= first + SECOND
    assert app.get_timer() == han_next
    _idle_han(app)
    later = min(app._next_sync.values())
    assert app.get_timer() == later and later > first


def test_a_removed_device_no_longer_syncs() -> None:
    app = _app()
    _idle_han(app)
    eui, at = min(app._next_sync.items(), key=lambda kv: kv[1])
    app.forget_device(eui)
    assert eui not in app._next_sync
    assert app.get_timer() == min(app._next_sync.values())
    app.handle_timer(at)  # its old deadline passes: nothing for it comes back
    assert eui not in app._next_sync
