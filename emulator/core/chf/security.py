"""The CHF's security lifecycle (migration): owned by the SMSO, keys rotated, anchor swapped,
SIM moved, migrated, rolled back.

:data:`LIFECYCLE` is the transition table (phase x event -> phase); :func:`run_step` runs one
step under the device faults (:mod:`emulator.core.chf.faults`) and commits a new
:class:`~emulator.core.chf.records.Snapshot` whole.

When events fire (so that the phase says whether a rollback point is held, exactly when the
CHF keeps one):

* ROTATE when a key rotation that is not failed by a fault begins: it records the rollback
  point (the pre-migration snapshot) if none is held; a restart that loses the new keys keeps it;
* SWAP and MOVE_SIM when their new snapshot is committed;
* ROLLBACK when a rollback completes without a restart (the rollback point is then dropped);
  in a phase without a rollback point it is refused ("nothing to roll back").

Rotation, swap and SIM move are allowed in every phase (a head-end may repeat them); only the
rollback has phases where it is illegal.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Final

from emulator.core.chf.auth import Reject
from emulator.core.chf.faults import Step
from emulator.core.chf.records import OperationalKeys, Restarted, Snapshot
from emulator.core.transitions import TransitionTable
from emulator.wire import wan
from emulator.wire.vocabulary import ErrorCode

if TYPE_CHECKING:
    from emulator.core.chf.hub import Chf


class SecurityPhase(Enum):
    SMSO_OWNED = "smso-owned"  # as installed: no rollback point
    KEYS_ROTATED = "keys-rotated"  # a rollback point is held from here ...
    ANCHOR_SWAPPED = "anchor-swapped"
    SIM_MOVED = "sim-moved"  # SIM moved, anchor not swapped (yet)
    MIGRATED = "migrated"  # keys, anchor and SIM all moved: ... to here
    ROLLED_BACK = "rolled-back"  # back on the previous owner: no rollback point


class SecurityEvent(Enum):
    ROTATE = "rotate"
    SWAP = "swap"
    MOVE_SIM = "sim"
    ROLLBACK = "rollback"


_P, _E = SecurityPhase, SecurityEvent
LIFECYCLE: Final[TransitionTable[SecurityPhase, SecurityEvent]] = TransitionTable(
    "security lifecycle", SecurityPhase, SecurityEvent, {
        _P.SMSO_OWNED: {_E.ROTATE: _P.KEYS_ROTATED, _E.SWAP: _P.SMSO_OWNED,
                        _E.MOVE_SIM: _P.SMSO_OWNED},
        _P.KEYS_ROTATED: {_E.ROTATE: _P.KEYS_ROTATED, _E.SWAP: _P.ANCHOR_SWAPPED,
                          _E.MOVE_SIM: _P.SIM_MOVED, _E.ROLLBACK: _P.ROLLED_BACK},
        _P.ANCHOR_SWAPPED: {_E.ROTATE: _P.ANCHOR_SWAPPED, _E.SWAP: _P.ANCHOR_SWAPPED,
                            _E.MOVE_SIM: _P.MIGRATED, _E.ROLLBACK: _P.ROLLED_BACK},
        _P.SIM_MOVED: {_E.ROTATE: _P.SIM_MOVED, _E.SWAP: _P.MIGRATED, _E.MOVE_SIM: _P.SIM_MOVED,
                       _E.ROLLBACK: _P.ROLLED_BACK},
        _P.MIGRATED: {_E.ROTATE: _P.MIGRATED, _E.SWAP: _P.MIGRATED, _E.MOVE_SIM: _P.MIGRATED,
                      _E.ROLLBACK: _P.ROLLED_BACK},
        _P.ROLLED_BACK: {_E.ROTATE: _P.KEYS_ROTATED, _E.SWAP: _P.ROLLED_BACK,
                         _E.MOVE_SIM: _P.ROLLED_BACK},
    },
)
#: The phases in which the CHF holds a rollback point (``Chf.previous`` is set).
HOLDS_ROLLBACK_POINT: Final[frozenset[SecurityPhase]] = frozenset(
    p for p in SecurityPhase if LIFECYCLE.allows(p, SecurityEvent.ROLLBACK)
)
_COMMIT_EVENTS: Final[dict[Step, SecurityEvent]] = {"swap": SecurityEvent.SWAP,
                                             "sim": SecurityEvent.MOVE_SIM}


def snapshot(chf: Chf) -> Snapshot:
    (owner, keys), = chf.operational_keys().items()
    return Snapshot(owner, keys, chf.anchor, chf.anchor_der, chf.sim.apn,
                    chf.sim.service_profile)


def security_state(chf: Chf) -> wan.SecurityState:
    snap = snapshot(chf)
    return wan.SecurityState(
        owner=snap.owner, key_id=snap.keys.key_id, anchor=snap.anchor, apn=snap.apn,
        service_profile=snap.service_profile,
        previous_apn=chf.previous.apn if chf.previous is not None else "",
        can_roll_back=chf.previous is not None)


def begin_rotation(chf: Chf) -> None:
    """A key rotation begins: record the rollback point (unless a fault fails the step)."""
    if chf.faults.fails("rotate"):
        return
    if chf.phase not in HOLDS_ROLLBACK_POINT:
        chf.previous = snapshot(chf)  # the pre-migration state that a rollback reinstates
    chf.phase = LIFECYCLE.next(chf.phase, SecurityEvent.ROTATE)


def rollback_point(chf: Chf, keys: OperationalKeys) -> Snapshot:
    """The snapshot a rollback reinstates; Reject if the phase holds none."""
    if not LIFECYCLE.allows(chf.phase, SecurityEvent.ROLLBACK) or chf.previous is None:
        raise Reject(ErrorCode.INVALID_ARGUMENT, "nothing to roll back", keys)
    return chf.previous


def finish_rollback(chf: Chf) -> None:
    chf.previous = None
    chf.phase = LIFECYCLE.next(chf.phase, SecurityEvent.ROLLBACK)


def run_step(
    chf: Chf, step: Step, new: Snapshot, now: int, keys: OperationalKeys | None = None
) -> wan.SecurityState | Restarted:
    """Run one migration step under the device faults."""
    if chf.faults.fails(step):
        chf.emit(now, chf.eui, "SecurityStepFailed", {"step": step})
        raise Reject(ErrorCode.OPERATION_FAILED, f"{step} failed on the device", keys)
    if chf.faults.take_restart(step):
        committed = chf.faults.rng.random() < 0.5
        if committed:
            _commit(chf, new, now, step)
        chf.drop_sessions = True
        chf.emit(now, chf.eui, "ChfRestarted", {"during": step, "committed": committed})
        return Restarted()
    _commit(chf, new, now, step)
    return security_state(chf)


def _commit(chf: Chf, new: Snapshot, now: int, step: Step) -> None:
    """Install ``new`` in one assignment per field group; traced."""
    # Counters are kept across owners: after a rollback the SMSO's old frames stay replays.
    chf.install(new)
    event = _COMMIT_EVENTS.get(step)
    if event is not None:
        chf.phase = LIFECYCLE.next(chf.phase, event)
    chf.emit(now, chf.eui, "SecurityStepCommitted", {
        "step": step, "owner": new.owner.name, "key_id": new.keys.key_id,
        "anchor": new.anchor.name, "apn": new.apn})
