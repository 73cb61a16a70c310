"""The state machines of a prepayment meter (ESME and GSME), as transition tables.

``emulator.core.prepayment`` decides *when* an event happens (balance against thresholds, a
button, a WAN command); these tables decide *what state follows*, and refuse anything else
with :class:`~emulator.errors.IllegalTransition`.

Emergency credit: NONE -> AVAILABLE (balance below the emergency-credit threshold) -> IN_USE
(the consumer selects it) -> EXHAUSTED (balance down to ``-limit``); a top-up CLEARs it from any
of the three.

Supply (the contactor, or the gas valve): remote ENABLE and DISABLE work from any state; remote
ARM arms a disabled supply and leaves the others as they are; credit exhaustion cuts an enabled
supply; credit restored (top-up above zero, emergency credit selected) arms a supply that
credit exhaustion cut; the consumer's button enables an armed one; switching to credit mode
re-enables a supply that credit exhaustion cut (disabled or armed).
"""

from __future__ import annotations

from enum import Enum

from emulator.core.transitions import TransitionTable
from emulator.wire.vocabulary import SupplyState


class EmergencyCredit(Enum):
    NONE = "none"
    AVAILABLE = "available"
    IN_USE = "in-use"
    EXHAUSTED = "exhausted"


class EmergencyCreditEvent(Enum):
    OFFERED = "offered"  # balance below the emergency-credit threshold (limit > 0)
    SELECTED = "selected"  # the consumer took it (PPMID)
    USED_UP = "used-up"  # balance at or below -limit while in use
    CLEARED = "cleared"  # a top-up resolved it


_C, _CE = EmergencyCredit, EmergencyCreditEvent
EMERGENCY_CREDIT: TransitionTable[EmergencyCredit, EmergencyCreditEvent] = TransitionTable(
    "emergency credit", EmergencyCredit, EmergencyCreditEvent, {
        _C.NONE: {_CE.OFFERED: _C.AVAILABLE},
        _C.AVAILABLE: {_CE.SELECTED: _C.IN_USE, _CE.CLEARED: _C.NONE},
        _C.IN_USE: {_CE.USED_UP: _C.EXHAUSTED, _CE.CLEARED: _C.NONE},
        _C.EXHAUSTED: {_CE.CLEARED: _C.NONE},
    },
)


class SupplyEvent(Enum):
    REMOTE_ENABLE = "remote-enable"
    REMOTE_DISABLE = "remote-disable"
    REMOTE_ARM = "remote-arm"
    CREDIT_CUT = "credit-cut"  # credit (or emergency credit) exhausted
    CREDIT_RESTORED = "credit-restored"  # after a credit cut: top-up above zero, or EC selected
    CONSUMER_ENABLE = "consumer-enable"  # the button on the meter or PPMID
    CREDIT_MODE = "credit-mode"  # switched to credit mode after a credit cut


_S, _SE = SupplyState, SupplyEvent
SUPPLY: TransitionTable[SupplyState, SupplyEvent] = TransitionTable(
    "supply", SupplyState, SupplyEvent, {
        _S.ENABLED: {_SE.REMOTE_ENABLE: _S.ENABLED, _SE.REMOTE_DISABLE: _S.DISABLED,
                     _SE.REMOTE_ARM: _S.ENABLED, _SE.CREDIT_CUT: _S.DISABLED},
        _S.DISABLED: {_SE.REMOTE_ENABLE: _S.ENABLED, _SE.REMOTE_DISABLE: _S.DISABLED,
                      _SE.REMOTE_ARM: _S.ARMED, _SE.CREDIT_RESTORED: _S.ARMED,
                      _SE.CREDIT_MODE: _S.ENABLED},
        _S.ARMED: {_SE.REMOTE_ENABLE: _S.ENABLED, _SE.REMOTE_DISABLE: _S.DISABLED,
                   _SE.REMOTE_ARM: _S.ARMED, _SE.CONSUMER_ENABLE: _S.ENABLED,
                   _SE.CREDIT_MODE: _S.ENABLED},
    },
)
