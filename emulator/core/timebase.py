"""Time as device cores see it.

Cores never read a clock. Every entry point takes ``now``: an ``int`` of microseconds since the
Unix epoch (UTC) on the run's clock. On the virtual clock that is virtual wall time; on the real
clock it is monotonic time anchored to the wall clock once at start, so it never jumps.
Cores report their next deadline in the same unit (``get_timer() -> int | None``).

ZigBee and the s1lab WAN protocol carry UTC as seconds since 2000-01-01 (``zigbee_utc``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

# Final: the compiled core folds them into the code that uses them (no module lookups).
US: Final = 1
MS: Final = 1_000
SECOND: Final = 1_000_000
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR
WEEK: Final = 7 * DAY

#: 2000-01-01T00:00:00Z in Unix microseconds: the ZigBee / Smart Energy UTC epoch.
ZIGBEE_EPOCH_US: Final = 946_684_800 * SECOND


def to_datetime(now: int) -> datetime:
    """Unix microseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(now // SECOND, tz=UTC).replace(microsecond=now % SECOND)


def from_datetime(value: datetime) -> int:
    """An aware datetime to Unix microseconds (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds


#: The date part of :func:`isoformat` by day since the epoch: ``strftime`` costs tens of
#: thousands of instructions a call and displays ask for the time many times a day, so each
#: day's text is made once (a run spans few days; the memo is emptied past _DAYS_KEPT).
_DAY_TEXT: dict[int, str] = {}
_DAYS_KEPT: Final = 4096
#: "00" to "59": the time of day from a table (a format spec per field costs thousands of
#: instructions in the compiled core, which calls ``__format__`` generically).
_TWO_DIGITS: Final = tuple(f"{n:02d}" for n in range(60))


def isoformat(now: int) -> str:
    """``2026-01-05T00:30:00.000000Z``: fixed width, sorts as text."""
    day = now // DAY  # // and %, not divmod: native in the compiled core
    date = _DAY_TEXT.get(day)
    if date is None:
        if len(_DAY_TEXT) >= _DAYS_KEPT:
            _DAY_TEXT.clear()
        date = _DAY_TEXT[day] = to_datetime(day * DAY).strftime("%Y-%m-%dT")
    us = now - day * DAY
    seconds = us // SECOND
    two = _TWO_DIGITS
    # 1_000_000 + micro is seven digits: its last six are the microseconds, zero-padded
    return (f"{date}{two[seconds // 3600]}:{two[seconds // 60 % 60]}:{two[seconds % 60]}."
            f"{str(SECOND + us % SECOND)[1:]}Z")


def zigbee_utc(now: int) -> int:
    """Unix microseconds to ZigBee UTC (whole seconds since 2000-01-01)."""
    return (now - ZIGBEE_EPOCH_US) // SECOND


def from_zigbee_utc(seconds: int) -> int:
    return ZIGBEE_EPOCH_US + seconds * SECOND
