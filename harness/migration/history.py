"""The migration history of one installation, and "separate weeks" counting.

The exclusion rules of TMAD clause 18 count failed migration attempts in *separate weeks*
(domain.md §3.3 step 12, §4.1) [S3]: three failures in the same week show one bad week, not a
persistent fault. s1lab reads a "week" as the ISO 8601 calendar week of the attempt's UTC date
(Monday to Sunday), so two attempts on a Sunday and the following Monday fall in separate weeks
while two attempts on Monday and Sunday of one week do not. [INF: the sources do not define the
week; the calendar week is the natural reading of "separate weeks".]

Times are ``int`` microseconds since the Unix epoch, passed in; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal, overload

from emulator.core.timebase import to_datetime
from harness.migration.outcome import Outcome
from harness.migration.reasons import Reason

#: The outcomes an attempt can have (``NOT_ATTEMPTED`` is no attempt).
ATTEMPT_OUTCOMES: frozenset[Outcome] = frozenset(Outcome) - {Outcome.NOT_ATTEMPTED}
FailedOutcome = Literal[Outcome.FAILED, Outcome.ROLLED_BACK]
OtherOutcome = Literal[Outcome.MIGRATED, Outcome.PARTIAL, Outcome.EXCLUDED]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One migration attempt (or one 4.26 pre-work instruction) and how it ended.

    ``step`` names the step that ended it ("preflight", "validation", "key-rotation",
    "pre-work", ...). A failed attempt always carries its :class:`Reason` (:meth:`History.record`
    checks this by type, the constructor at run time); a success carries None.
    """

    at_us: int
    outcome: Outcome
    reason: Reason | None
    step: str

    def __post_init__(self) -> None:
        if not isinstance(self.outcome, Outcome) or self.outcome not in ATTEMPT_OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")
        if self.outcome.failed and not isinstance(self.reason, Reason):
            raise ValueError(f"a {self.outcome} attempt needs a reason, got {self.reason!r}")

    @property
    def failed(self) -> bool:
        return self.outcome.failed


AttemptPredicate = Callable[[Attempt], bool]


def iso_week(at_us: int) -> tuple[int, int]:
    """``(ISO year, ISO week)`` of the UTC date of ``at_us``.

    Week 1 is the week with the year's first Thursday, so 2021-01-03 is in (2020, 53) and
    2024-12-30 is in (2025, 1).
    """
    year, week, _ = to_datetime(at_us).isocalendar()
    return (year, week)


def distinct_weeks(attempts: Iterable[Attempt], predicate: AttemptPredicate | None = None) -> int:
    """How many separate calendar weeks hold at least one *failed* attempt matching
    ``predicate`` (all failed attempts when it is None). Successes never count."""
    return len(
        {
            iso_week(a.at_us)
            for a in attempts
            if a.failed and (predicate is None or predicate(a))
        }
    )


def has_reason(*reasons: Reason) -> AttemptPredicate:
    """A predicate: the attempt failed with one of ``reasons``."""
    wanted = frozenset(reasons)
    return lambda attempt: attempt.reason in wanted


@dataclass
class History:
    """Every attempt made for one installation, in the order they were added."""

    installation_id: str
    attempts: list[Attempt] = field(default_factory=list)

    def add(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)

    @overload
    def record(self, at_us: int, outcome: FailedOutcome, reason: Reason, step: str) -> Attempt:
        ...

    @overload
    def record(
        self, at_us: int, outcome: OtherOutcome, reason: Reason | None, step: str
    ) -> Attempt:
        ...

    def record(self, at_us: int, outcome: Outcome, reason: Reason | None, step: str) -> Attempt:
        """Build an :class:`Attempt`, add it and return it (a failure with its reason)."""
        attempt = Attempt(at_us, outcome, reason, step)
        self.add(attempt)
        return attempt

    def failures(self, predicate: AttemptPredicate | None = None) -> list[Attempt]:
        """The failed attempts (failed or rolled back) matching ``predicate``."""
        return [a for a in self.attempts if a.failed and (predicate is None or predicate(a))]

    def weeks(self, predicate: AttemptPredicate | None = None) -> int:
        """:func:`distinct_weeks` over this history."""
        return distinct_weeks(self.attempts, predicate)

    @property
    def last(self) -> Attempt | None:
        return max(self.attempts, key=lambda a: a.at_us) if self.attempts else None

    @property
    def migrated(self) -> bool:
        """Whether some attempt migrated the installation (fully or partially)."""
        return any(a.outcome.migrated for a in self.attempts)

    def __len__(self) -> int:
        return len(self.attempts)

    def __iter__(self) -> Iterator[Attempt]:
        return iter(self.attempts)
