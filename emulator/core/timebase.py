"""Time as device cores see it.

Cores never read a clock. Every entry point takes ``now``: an ``int`` of microseconds since the
Unix epoch (UTC) on the run's clock. On the virtual clock that is virtual wall time; on the real
clock it is monotonic time anchored to the wall clock once at start, so it never jumps.
Cores report their next deadline in the same unit (``get_timer() -> int | None``).

ZigBee and the s1lab WAN protocol carry UTC as seconds since 2000-01-01 (``zigbee_utc``).
"""

from __future__ import annotations

from datetime import UTC, datetime

US = 1
MS = 1_000
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY

#: 2000-01-01T00:00:00Z in Unix microseconds: the ZigBee / Smart Energy UTC epoch.
ZIGBEE_EPOCH_US = 946_684_800 * SECOND


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
_DAYS_KEPT = 4096


def isoformat(now: int) -> str:
    """``2026-01-05T00:30:00.000000Z``: fixed width, sorts as text."""
    day, us = divmod(now, DAY)
    date = _DAY_TEXT.get(day)
    if date is None:
        if len(_DAY_TEXT) >= _DAYS_KEPT:
            _DAY_TEXT.clear()
        date = _DAY_TEXT[day] = to_datetime(day * DAY).strftime("%Y-%m-%dT")
    seconds, micro = divmod(us, SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{date}{hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}Z"


def zigbee_utc(now: int) -> int:
    """Unix microseconds to ZigBee UTC (whole seconds since 2000-01-01)."""
    return (now - ZIGBEE_EPOCH_US) // SECOND


def from_zigbee_utc(seconds: int) -> int:
    return ZIGBEE_EPOCH_US + seconds * SECOND
