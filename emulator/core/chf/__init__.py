"""The Communications Hub Function (CHF) core, split along its seams:

* :mod:`.auth`      the ordered frame checks (record ... counter, key use);
* :mod:`.commands`  one handler per WAN message type (bound to ``wan.MESSAGES``);
* :mod:`.security`  the security lifecycle as a transition table, and the migration steps;
* :mod:`.faults`    the device faults (:class:`DeviceFaults`);
* :mod:`.records`   the CHF's values and ports;
* :mod:`.hub`       the :class:`Chf` itself.
"""

from emulator.core.chf.auth import Reject
from emulator.core.chf.commands import DEVICE_LOG_SIZE, HANDLERS, MAX_LOG_ENTRIES_PER_FRAME
from emulator.core.chf.faults import DeviceFaults
from emulator.core.chf.hub import EVENT_LOG_SIZE, Chf
from emulator.core.chf.records import (
    Complete,
    Deferred,
    Fail,
    HanPort,
    LogEntry,
    Meter,
    OperationalKeys,
    Restarted,
    Sim,
    Snapshot,
    WanSchedule,
)
from emulator.core.chf.security import LIFECYCLE, SecurityEvent, SecurityPhase

__all__ = [
    "DEVICE_LOG_SIZE",
    "EVENT_LOG_SIZE",
    "HANDLERS",
    "LIFECYCLE",
    "MAX_LOG_ENTRIES_PER_FRAME",
    "Chf",
    "Complete",
    "Deferred",
    "DeviceFaults",
    "Fail",
    "HanPort",
    "LogEntry",
    "Meter",
    "OperationalKeys",
    "Reject",
    "Restarted",
    "SecurityEvent",
    "SecurityPhase",
    "Sim",
    "Snapshot",
    "WanSchedule",
]
