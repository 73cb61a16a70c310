"""``isoformat``'s memoised date and written-out time give exactly what ``strftime`` gives."""

from __future__ import annotations

import random

from emulator.core import timebase
from emulator.core.timebase import DAY, SECOND, isoformat, to_datetime


def _strftime(now: int) -> str:
    return to_datetime(now).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_isoformat_is_strftimes_text_across_days_seconds_and_microseconds() -> None:
    rng = random.Random(20261203)
    edges = [0, 1, SECOND - 1, DAY - 1, DAY, 951_782_400 * SECOND,  # 2000-02-29
             1_767_225_599 * SECOND + SECOND - 1, 4_102_444_800 * SECOND - 1]
    samples = edges + [rng.randrange(0, 4_102_444_800 * SECOND) for _ in range(20_000)]
    for now in samples:
        assert isoformat(now) == _strftime(now), now
        assert isoformat(now) == _strftime(now), now  # from the memo


def test_the_memo_of_dates_stays_bounded() -> None:
    for day in range(timebase._DAYS_KEPT + 10):
        isoformat(day * DAY + 1)
    assert len(timebase._DAY_TEXT) <= timebase._DAYS_KEPT
    assert isoformat(3 * DAY) == "1970-01-04T00:00:00.000000Z"
