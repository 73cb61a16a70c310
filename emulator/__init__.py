"""Emulated SMETS1 installations: wire formats, sans-IO device cores and drivers.

The small public API (everything else is reachable by module, but these are the names a test
author needs)::

    from emulator import Fleet, Scheduler, Trace, default_dmc, run_virtual, current_clock

    async def main() -> None:
        clock = current_clock()
        fleet = Fleet(default_dmc(), 10, seed=1, scheduler=Scheduler(clock), trace=Trace())
        ...

    run_virtual(main())

The names load on first use (PEP 562), so that ``import emulator.core.chf`` or
``import emulator.wire.wan`` loads no asyncio, ssl, socket or driver: the layers of
docs/architecture.md hold at import time too (tests/test_layers.py checks them).
"""

import importlib
import typing

if typing.TYPE_CHECKING:
    from emulator.build import Cores, HanMode, build_cores
    from emulator.capture.evidence import CaptureDir
    from emulator.drivers.clock import (
        DEFAULT_START,
        Clock,
        RealClock,
        VirtualClock,
        VirtualEventLoop,
        current_clock,
        run_virtual,
        sleep_until,
        sleep_us,
    )
    from emulator.drivers.scheduler import Scheduler
    from emulator.errors import S1labError
    from emulator.fleet import Fleet
    from emulator.installation import Installation
    from emulator.profiles import ResolvedDmc, default_dmc, load_dmc
    from emulator.trace import Trace

__all__ = [
    "CaptureDir",
    "Clock",
    "Cores",
    "DEFAULT_START",
    "Fleet",
    "HanMode",
    "Installation",
    "RealClock",
    "ResolvedDmc",
    "S1labError",
    "Scheduler",
    "Trace",
    "VirtualClock",
    "VirtualEventLoop",
    "build_cores",
    "current_clock",
    "default_dmc",
    "load_dmc",
    "run_virtual",
    "sleep_until",
    "sleep_us",
]

# Where each public name lives (the same names as the imports above; a test keeps them equal).
_HOME = {
    "CaptureDir": "emulator.capture.evidence",
    "Clock": "emulator.drivers.clock",
    "Cores": "emulator.build",
    "DEFAULT_START": "emulator.drivers.clock",
    "Fleet": "emulator.fleet",
    "HanMode": "emulator.build",
    "Installation": "emulator.installation",
    "RealClock": "emulator.drivers.clock",
    "ResolvedDmc": "emulator.profiles",
    "S1labError": "emulator.errors",
    "Scheduler": "emulator.drivers.scheduler",
    "Trace": "emulator.trace",
    "VirtualClock": "emulator.drivers.clock",
    "VirtualEventLoop": "emulator.drivers.clock",
    "build_cores": "emulator.build",
    "current_clock": "emulator.drivers.clock",
    "default_dmc": "emulator.profiles",
    "load_dmc": "emulator.profiles",
    "run_virtual": "emulator.drivers.clock",
    "sleep_until": "emulator.drivers.clock",
    "sleep_us": "emulator.drivers.clock",
}


if not typing.TYPE_CHECKING:  # hidden from mypy, so that a name not exported above is an error

    def __getattr__(name: str) -> object:
        home = _HOME.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
