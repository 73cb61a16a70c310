"""The IHD core: a read-only consumer display of electricity and gas use.

It refreshes like the PPMID (:class:`~emulator.core.ppmid.ConsumerDevice`), asking for
``registers``, and shows import kWh, demand, and gas volume and flow. ``DisplayUpdated`` is
emitted at once when import moves by a kWh, demand by a quarter (and at least
``SIGNIFICANT_DEMAND_W``), gas by ``SIGNIFICANT_VOLUME_DM3`` (a cubic metre) or the supply state
changes; smaller changes at most hourly.
"""

from __future__ import annotations

from typing import Final, Literal

from emulator.core.esme import SUPPLY_STATE_INT, EsmeReading
from emulator.core.gsme import GsmeReading
from emulator.core.ppmid import ConsumerDevice
from emulator.errors import LocalProtocolError
from emulator.wire.vocabulary import DeviceType

# Final: a compiled build folds them into the code (a module global is a dict lookup per use).
SIGNIFICANT_ENERGY_WH: Final = 1000
SIGNIFICANT_DEMAND_W: Final = 250
SIGNIFICANT_VOLUME_DM3: Final = 1000

_ESME: Final = DeviceType.ESME
_GSME: Final = DeviceType.GSME

# The IHD keeps (fuel, total, rate, supply state) of each reading: small and comparable.


class Ihd(ConsumerDevice):
    """In-home display (read-only)."""

    __slots__ = ()

    WHAT: Literal["payment", "registers"] = "registers"

    def _convert(self, target: DeviceType, data: object) -> object:
        # the supply state's int from a table: int() of an enum member is a generic call
        if target is _ESME and isinstance(data, EsmeReading):
            return ("E", data.import_wh, data.demand_w, SUPPLY_STATE_INT[data.supply_state])
        if target is _GSME and isinstance(data, GsmeReading):
            return ("G", data.volume_dm3, data.flow_dm3_per_h,
                    SUPPLY_STATE_INT[data.supply_state])
        raise LocalProtocolError(f"an IHD cannot show {type(data).__name__} for {target.name}")

    @staticmethod
    def esme_value(import_wh: int, demand_w: int, supply_state: int) -> object:
        """What the IHD shows of an ESME reading with these values (as ``_convert`` makes it),
        for :meth:`~emulator.core.ppmid.ConsumerDevice.show_value`."""
        return ("E", import_wh, demand_w, supply_state)

    def _significant(self, old: object, new: object) -> bool:
        assert isinstance(old, tuple) and isinstance(new, tuple)
        # mypyc: the items declared native ints, so that each is unboxed once and compared
        # and subtracted as a C integer (abs() would be a generic call: written out instead).
        kind: str
        old_total: int
        old_rate: int
        old_state: int
        total: int
        rate: int
        state: int
        _, old_total, old_rate, old_state = old
        kind, total, rate, state = new
        if state != old_state:
            return True
        electric = kind == "E"
        step = SIGNIFICANT_ENERGY_WH if electric else SIGNIFICANT_VOLUME_DM3
        change = total - old_total
        if change >= step or change <= -step:
            return True
        rate_floor = SIGNIFICANT_DEMAND_W if electric else 1
        rate_step = (old_rate if old_rate >= 0 else -old_rate) // 4
        if rate_step < rate_floor:
            rate_step = rate_floor
        change = rate - old_rate
        return change >= rate_step or change <= -rate_step

    def _fields(self, target: str, value: object) -> dict[str, object]:
        assert isinstance(value, tuple)
        kind: str  # mypyc: compared as a str, not as an object
        kind, total, rate, _ = value
        if kind == "E":
            return {"target": target, "import_wh": total, "demand_w": rate}
        return {"target": target, "volume_dm3": total, "flow_dm3_per_h": rate}

    def _shown(self, target: DeviceType, index: int) -> int | None:
        value = self._shown_g if target is _GSME else self._shown_e
        if not isinstance(value, tuple):
            return None
        result = value[index]
        assert isinstance(result, int)
        return result

    @property
    def import_wh(self) -> int | None:
        return self._shown(DeviceType.ESME, 1)

    @property
    def demand_w(self) -> int | None:
        return self._shown(DeviceType.ESME, 2)

    @property
    def gas_volume_dm3(self) -> int | None:
        return self._shown(DeviceType.GSME, 1)

    @property
    def gas_flow_dm3_per_h(self) -> int | None:
        return self._shown(DeviceType.GSME, 2)
