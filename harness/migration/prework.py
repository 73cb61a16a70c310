"""Dormant pre-work (TMAD 4.26): the firmware and configuration schedules one DCC instruction to
the SMSO starts, as a sans-IO state machine on explicit time.

The sources give the schedules [S2] (domain.md §3.3 step 2, §3.6):

- firmware: 36 attempts over 6 days per instruction (one every 4 h);
- configuration: 23 attempts over 3 days per instruction;
- confirmation of success, when it times out: 10 attempts over 10 days;
- each instruction repeated up to 3 times; three failed instructions are persistent failure
  [S3], which feeds the exclusion rules (:mod:`harness.migration.rules`: Firmware Upgrade /
  Configuration Failure, 18.10 CB and 18.11 AA/BA/CA; No WAN Before Migration Attempted, 18.7,
  IOC, when every attempt found no WAN) and, in MOC (MDS), the partial migration of
  4.26A-4.26C when only the GSME failed.

Reading of the sources (our choice where they are silent, marked [INF]): attempts of one
instruction are spread evenly over its window (attempt k at ``start + k * window / n``); an
instruction ends at the first success, or when its window is used up; the next instruction
starts when the previous one ended. Each device (ESME, GSME) has its own track; configuration
is attempted on a device only after its firmware instruction succeeded. A device that takes the
work but whose success is not confirmed gets the confirmation schedule (10 over 10 days); when
that runs out too, the instruction failed [INF].

:class:`Prework` says when the next attempt is due (:meth:`Prework.due`) and takes the answer
(:meth:`Prework.answer`); :func:`run_prework` drives it with a device function, for tests and
for the pure planning of a run. The migration run (:mod:`harness.migration.run`) drives it on
the virtual clock and checks MA112 only after it ends, as the sources say [S3].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from emulator.core.timebase import DAY
from emulator.wire.vocabulary import DeviceType
from harness.migration.history import History
from harness.migration.outcome import Outcome
from harness.migration.reasons import Reason
from harness.migration.rules import PRE_WORK_INSTRUCTIONS

__all__ = [
    "CONFIRMATION",
    "SCHEDULES",
    "Answer",
    "InstructionResult",
    "Prework",
    "PreworkAttempt",
    "Schedule",
    "Work",
    "record_prework",
    "run_prework",
]


class Work(StrEnum):
    FIRMWARE = "firmware"
    CONFIGURATION = "configuration"


@dataclass(frozen=True, slots=True)
class Schedule:
    attempts: int
    window_us: int

    def at(self, start_us: int, k: int) -> int:
        """When attempt ``k`` (0-based) of an instruction that started at ``start_us`` is due."""
        return start_us + self.window_us * k // self.attempts


SCHEDULES: dict[Work, Schedule] = {
    Work.FIRMWARE: Schedule(36, 6 * DAY),
    Work.CONFIGURATION: Schedule(23, 3 * DAY),
}
CONFIRMATION = Schedule(10, 10 * DAY)
_FAILED = {Work.FIRMWARE: Reason.FIRMWARE_FAILED, Work.CONFIGURATION: Reason.CONFIGURATION_FAILED}


class Answer(Enum):
    """What one attempt found."""

    DONE = "done"  # the device took the work and its success was confirmed
    NO_WAN = "no-wan"  # the CHF could not be reached
    FAILED = "failed"  # reached; the work failed on the device
    UNCONFIRMED = "unconfirmed"  # reached and applied; no confirmation of success came


@dataclass(frozen=True, slots=True)
class PreworkAttempt:
    at_us: int
    work: Work
    device: DeviceType
    instruction: int  # 1..3
    number: int  # 1..36 (firmware), 1..23 (configuration), 1..10 (confirmation)
    confirmation: bool
    answer: str  # an Answer value, or "confirmed" / "not-confirmed"


@dataclass(frozen=True, slots=True)
class InstructionResult:
    work: Work
    device: DeviceType
    instruction: int
    started_us: int
    ended_us: int
    ok: bool
    reason: Reason | None  # why it failed (PRE_WORK_NO_WAN when it never found the WAN)


@dataclass(slots=True)
class _Track:
    """One device's work of one kind: its instructions, attempt by attempt."""

    work: Work
    device: DeviceType
    start_us: int
    instruction: int = 1
    k: int = 0  # next work attempt of this instruction
    confirming_from: int | None = None  # the confirmation schedule's start
    j: int = 0  # next confirmation attempt
    saw_wan: bool = False
    done: bool = False
    ok: bool = False

    def due(self) -> int:
        if self.confirming_from is not None:
            return CONFIRMATION.at(self.confirming_from, self.j + 1)
        return SCHEDULES[self.work].at(self.start_us, self.k)


@dataclass
class Prework:
    """The pre-work of one installation after one DCC instruction to the SMSO."""

    devices: Sequence[DeviceType]
    start_us: int
    works: Sequence[Work] = (Work.FIRMWARE, Work.CONFIGURATION)
    attempts: list[PreworkAttempt] = field(default_factory=list)
    instructions: list[InstructionResult] = field(default_factory=list)
    last_wan_contact_us: int | None = None
    _tracks: list[_Track] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._tracks = [_Track(self.works[0], d, self.start_us) for d in self.devices]

    # ---- the machine ---------------------------------------------------------------------

    def due(self) -> tuple[int, Work, DeviceType, bool] | None:
        """The next attempt: (time, work, device, is a confirmation); None when all is done."""
        live = [t for t in self._tracks if not t.done]
        if not live:
            return None
        t = min(live, key=lambda t: (t.due(), self.devices.index(t.device)))
        return t.due(), t.work, t.device, t.confirming_from is not None

    def answer(self, answer: Answer | bool) -> None:
        """The answer to the attempt :meth:`due` named: an :class:`Answer` for a work attempt,
        a bool (confirmed or not) for a confirmation attempt."""
        due = self.due()
        if due is None:
            raise ValueError("no attempt is due")
        at, work, device, confirming = due
        track = next(t for t in self._tracks if not t.done and t.device is device
                     and t.work is work)
        if confirming:
            if not isinstance(answer, bool):
                raise ValueError("a confirmation attempt is answered True or False")
            track.j += 1
            self.attempts.append(PreworkAttempt(at, work, device, track.instruction, track.j,
                                                True, "confirmed" if answer else "not-confirmed"))
            if answer:
                self._end(track, at, True)
            elif track.j >= CONFIRMATION.attempts:
                self._end(track, at, False)
            return
        if not isinstance(answer, Answer):
            raise ValueError("a work attempt is answered with an Answer")
        track.k += 1
        self.attempts.append(PreworkAttempt(at, work, device, track.instruction, track.k, False,
                                            answer.value))
        if answer is not Answer.NO_WAN:
            track.saw_wan = True
            self.last_wan_contact_us = max(self.last_wan_contact_us or at, at)
        if answer is Answer.DONE:
            self._end(track, at, True)
        elif answer is Answer.UNCONFIRMED:
            track.confirming_from, track.j = at, 0
        elif track.k >= SCHEDULES[work].attempts:
            self._end(track, track.start_us + SCHEDULES[work].window_us, False)

    def _end(self, track: _Track, at: int, ok: bool) -> None:
        reason = None if ok else (_FAILED[track.work] if track.saw_wan
                                  else Reason.PRE_WORK_NO_WAN)
        self.instructions.append(InstructionResult(track.work, track.device, track.instruction,
                                                   track.start_us, at, ok, reason))
        if ok:
            following = list(self.works).index(track.work) + 1
            if following < len(self.works):  # the next kind of work on this device
                self._tracks.append(_Track(self.works[following], track.device, at))
            track.done, track.ok = True, True
        elif track.instruction < PRE_WORK_INSTRUCTIONS:  # the DCC instructs again
            track.instruction += 1
            track.start_us, track.k, track.confirming_from, track.j = at, 0, None, 0
            track.saw_wan = False
        else:
            track.done = True

    # ---- results ---------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.due() is None

    @property
    def ended_us(self) -> int:
        return max((i.ended_us for i in self.instructions), default=self.start_us)

    def ok(self, device: DeviceType) -> bool:
        """Every kind of work succeeded on ``device``."""
        done = {i.work for i in self.instructions if i.device is device and i.ok}
        return done == set(self.works)

    def count(self, work: Work, device: DeviceType, *, confirmation: bool = False) -> int:
        return sum(1 for a in self.attempts
                   if a.work is work and a.device is device and a.confirmation is confirmation)


Device = Callable[[Work, DeviceType, int], Answer]
Confirm = Callable[[Work, DeviceType, int], bool]


def run_prework(devices: Sequence[DeviceType], start_us: int, device: Device,
                confirm: Confirm | None = None,
                works: Sequence[Work] = (Work.FIRMWARE, Work.CONFIGURATION)) -> Prework:
    """Drive :class:`Prework` to its end with ``device`` answering every work attempt and
    ``confirm`` every confirmation attempt (default: never confirmed)."""
    p = Prework(devices, start_us, works)
    while (due := p.due()) is not None:
        at, work, dev, confirming = due
        p.answer((confirm(work, dev, at) if confirm is not None else False) if confirming
                 else device(work, dev, at))
    return p


def record_prework(p: Prework, history: History) -> int:
    """Each failed instruction into the installation's history (step "pre-work"), as the
    rules count them; returns how many were recorded."""
    failed = [i for i in p.instructions if not i.ok]
    for i in failed:
        assert i.reason is not None
        history.record(i.ended_us, Outcome.FAILED, i.reason, "pre-work")
    return len(failed)
