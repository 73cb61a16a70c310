"""The IHD core: a read-only consumer display of electricity and gas use.

It refreshes like the PPMID (:class:`~emulator.core.ppmid.ConsumerDevice`), asking for
``registers``, and shows import kWh, demand, and gas volume and flow. ``DisplayUpdated`` is
emitted at once when import moves by a kWh, demand by a quarter (and at least
``SIGNIFICANT_DEMAND_W``), gas by ``SIGNIFICANT_VOLUME_DM3`` (a cubic metre) or the supply state
changes; smaller changes at most hourly.
"""

from __future__ import annotations

from typing import Literal

from emulator.core.esme import EsmeReading
from emulator.core.gsme import GsmeReading
from emulator.core.ppmid import ConsumerDevice
from emulator.errors import LocalProtocolError
from emulator.wire.vocabulary import DeviceType

SIGNIFICANT_ENERGY_WH = 1000
SIGNIFICANT_DEMAND_W = 250
SIGNIFICANT_VOLUME_DM3 = 1000

# The IHD keeps (fuel, total, rate, supply state) of each reading: small and comparable.


class Ihd(ConsumerDevice):
    """In-home display (read-only)."""

    __slots__ = ()

    WHAT: Literal["payment", "registers"] = "registers"

    def _convert(self, target: DeviceType, data: object) -> object:
        if target is DeviceType.ESME and isinstance(data, EsmeReading):
            return ("E", data.import_wh, data.demand_w, int(data.supply_state))
        if target is DeviceType.GSME and isinstance(data, GsmeReading):
            return ("G", data.volume_dm3, data.flow_dm3_per_h, int(data.supply_state))
        raise LocalProtocolError(f"an IHD cannot show {type(data).__name__} for {target.name}")

    @staticmethod
    def esme_value(import_wh: int, demand_w: int, supply_state: int) -> object:
        """What the IHD shows of an ESME reading with these values (as ``_convert`` makes it),
        for :meth:`~emulator.core.ppmid.ConsumerDevice.show_value`."""
        return ("E", import_wh, demand_w, supply_state)

    def _significant(self, old: object, new: object) -> bool:
        assert isinstance(old, tuple) and isinstance(new, tuple)
        _, old_total, old_rate, old_state = old
        kind, total, rate, state = new
        if kind == "E":
            step, rate_floor = SIGNIFICANT_ENERGY_WH, SIGNIFICANT_DEMAND_W
        else:
            step, rate_floor = SIGNIFICANT_VOLUME_DM3, 1
        rate_step = abs(old_rate) // 4
        return bool(
            abs(total - old_total) >= step
            or abs(rate - old_rate) >= (rate_step if rate_step > rate_floor else rate_floor)
            or state != old_state
        )

    def _fields(self, value: object) -> dict[str, object]:
        assert isinstance(value, tuple)
        kind, total, rate, _ = value
        if kind == "E":
            return {"import_wh": total, "demand_w": rate}
        return {"volume_dm3": total, "flow_dm3_per_h": rate}

    def _shown(self, target: DeviceType, index: int) -> int | None:
        value = self._shown_g if target is DeviceType.GSME else self._shown_e
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
