"""Migration history and "separate weeks" counting (ISO calendar weeks, UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from emulator.core.timebase import DAY, SECOND, WEEK, from_datetime
from harness.migration.history import Attempt, History, distinct_weeks, has_reason, iso_week
from harness.migration.outcome import Outcome
from harness.migration.reasons import Reason


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return from_datetime(datetime(year, month, day, hour, minute, second, tzinfo=UTC))


#: Monday 3 Jan 2022, 09:00 UTC: the first day of ISO week 2022-W01.
T0 = at(2022, 1, 3, 9)


def fail(at_us: int, reason: Reason | None = Reason.MA112) -> Attempt:
    return Attempt(at_us, Outcome.FAILED, reason, "preflight")


@pytest.mark.parametrize(
    ("when", "week"),
    [
        (at(2021, 1, 3, 23, 59, 59), (2020, 53)),  # Sunday: still the last week of 2020
        (at(2021, 1, 4), (2021, 1)),  # Monday: week 1 of 2021 starts
        (at(2024, 12, 30), (2025, 1)),  # week 1 of 2025 starts in December 2024
        (at(2024, 12, 29, 23, 59, 59), (2024, 52)),
        (at(2027, 1, 1, 12), (2026, 53)),  # 2026 has 53 ISO weeks
        (at(2022, 1, 2, 12), (2021, 52)),
        (T0, (2022, 1)),
        (-1, (1970, 1)),  # 1969-12-31 is in week 1 of 1970 (1 Jan 1970 was a Thursday)
    ],
)
def test_iso_week_edge_cases(when: int, week: tuple[int, int]) -> None:
    assert iso_week(when) == week


def test_iso_week_uses_utc_date_to_the_microsecond() -> None:
    sunday_last_us = at(2022, 1, 9, 23, 59, 59) + SECOND - 1
    assert iso_week(sunday_last_us) == (2022, 1)
    assert iso_week(sunday_last_us + 1) == (2022, 2)


def test_same_week_triple_counts_once() -> None:
    attempts = [fail(T0), fail(T0 + 2 * DAY), fail(T0 + 6 * DAY)]  # Monday, Wednesday, Sunday
    assert distinct_weeks(attempts) == 1


def test_weekly_attempts_count_each_week() -> None:
    attempts = [fail(T0 + k * WEEK) for k in range(4)]
    assert distinct_weeks(attempts) == 4


def test_sunday_then_monday_are_separate_weeks() -> None:
    sunday = at(2022, 1, 9, 23)
    assert distinct_weeks([fail(sunday), fail(sunday + 2 * 3600 * SECOND)]) == 2


def test_only_failures_matching_the_predicate_count() -> None:
    attempts = [
        fail(T0, Reason.MA112),
        fail(T0 + WEEK, Reason.GT01),
        Attempt(T0 + 2 * WEEK, Outcome.MIGRATED, None, "commissioning"),
        Attempt(T0 + 3 * WEEK, Outcome.ROLLED_BACK, Reason.MA112, "device-installation"),
        Attempt(T0 + 4 * WEEK, Outcome.EXCLUDED, Reason.EXCLUDED, "eligibility"),
    ]
    assert distinct_weeks(attempts) == 3  # failed + rolled back only
    assert distinct_weeks(attempts, has_reason(Reason.MA112)) == 2
    assert distinct_weeks(attempts, lambda a: a.reason is Reason.GT01) == 1


def test_history_add_failures_last() -> None:
    history = History("inst-1")
    assert history.last is None and len(history) == 0 and not history.migrated
    history.add(fail(T0 + WEEK, Reason.GT01))
    first = history.record(T0, Outcome.FAILED, Reason.MA112, "preflight")
    assert first == fail(T0, Reason.MA112)
    assert len(history) == 2 and list(history)[1] is first
    assert history.last == fail(T0 + WEEK, Reason.GT01)  # latest by time, not by insertion
    assert history.failures(has_reason(Reason.MA112)) == [first]
    assert history.weeks() == 2
    history.record(T0 + 2 * WEEK, Outcome.PARTIAL, None, "commissioning")
    assert history.migrated


def test_attempt_is_frozen_and_checks_outcome() -> None:
    attempt = fail(T0)
    with pytest.raises(AttributeError):
        attempt.at_us = 0  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown outcome"):
        Attempt(T0, "lost", None, "x")  # type: ignore[arg-type]


def test_one_outcome_enum_spelled_per_file_format() -> None:
    # The SCF (scf.xsd) spells a rollback "rolled-back", history.json "rolled_back".
    assert Outcome.ROLLED_BACK.scf == "rolled-back"
    assert Outcome.ROLLED_BACK.history == "rolled_back"
    assert {o for o in Outcome if o.failed} == {Outcome.FAILED, Outcome.ROLLED_BACK}
    assert {o for o in Outcome if o.migrated} == {Outcome.MIGRATED, Outcome.PARTIAL}
    with pytest.raises(ValueError, match="needs a reason"):
        Attempt(T0, Outcome.ROLLED_BACK, None, "device-installation")
    with pytest.raises(ValueError, match="unknown outcome"):
        Attempt(T0, Outcome.NOT_ATTEMPTED, None, "capacity")  # the SCF's only


def test_reason_scf_spelling() -> None:
    # DCO validation reasons are named in the SCF (docs/migration-files.md §2), others coded.
    assert Reason.PREVIOUS_APN_MISSING.scf_code == "PREVIOUS_APN_MISSING"
    assert Reason.PREVIOUS_APN_MISSING.code == "V525"
    assert Reason.KEY_ROTATION_FAILED.scf_code == "S1KR01"
    assert Reason.MA112.scf_code == "MA112"
    assert len({r.code for r in Reason}) == len(Reason)  # codes are unique
