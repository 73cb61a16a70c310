"""Device faults of a CHF: what a profile (a model known to misbehave) or a scenario sets.

A new CHF fault goes here: a field of :class:`DeviceFaults`, read where the CHF acts on it
(the migration steps in :mod:`emulator.core.chf.security`), and set by ``emulator.installation``
(from the profile's ``faults`` block and the fault API).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from emulator.core.rng import SplitMix64
from emulator.errors import LocalProtocolError

#: The security-lifecycle steps a fault can hit (the spelling of profiles' ``MigrationStep``).
Step = Literal["rotate", "swap", "sim", "rollback"]
STEPS: frozenset[str] = frozenset(get_args(Step))


@dataclass(slots=True)
class DeviceFaults:
    """The CHF's device faults. ``rng`` (seeded per CHF) decides what a restart leaves."""

    rng: SplitMix64
    fail: set[Step] = field(default_factory=set)  # these steps fail on the device
    restart: set[Step] = field(default_factory=set)  # the CHF restarts mid-step (once each)

    def fail_step(self, step: str) -> None:
        self.fail.add(_step(step))

    def restart_during(self, step: str) -> None:
        self.restart.add(_step(step))

    def fails(self, step: Step) -> bool:
        return step in self.fail

    def take_restart(self, step: Step) -> bool:
        """True once if the CHF restarts during ``step`` (the fault is then spent)."""
        if step not in self.restart:
            return False
        self.restart.discard(step)
        return True


def _step(step: str) -> Step:
    if step not in STEPS:
        raise LocalProtocolError(f"{step!r} is not a step ({', '.join(sorted(STEPS))})")
    return step  # type: ignore[return-value]
