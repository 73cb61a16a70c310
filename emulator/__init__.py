"""Emulated SMETS1 installations: wire formats, sans-IO device cores and drivers.

The small public API (everything else is reachable by module, but these are the names a test
author needs)::

    from emulator import Fleet, Scheduler, Trace, default_dmc, run_virtual, current_clock

    async def main() -> None:
        clock = current_clock()
        fleet = Fleet(default_dmc(), 10, seed=1, scheduler=Scheduler(clock), trace=Trace())
        ...

    run_virtual(main())
"""

from emulator.capture.evidence import CaptureDir
from emulator.drivers.clock import (
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
from emulator.profiles import default_dmc, load_dmc
from emulator.trace import Trace

__all__ = [
    "CaptureDir",
    "Clock",
    "Fleet",
    "Installation",
    "RealClock",
    "S1labError",
    "Scheduler",
    "Trace",
    "VirtualClock",
    "VirtualEventLoop",
    "current_clock",
    "default_dmc",
    "load_dmc",
    "run_virtual",
    "sleep_until",
    "sleep_us",
]
