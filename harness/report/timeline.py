"""A cell's timeline as a picture: one lane per kind of event against virtual time.

This module does the geometry only (lanes, axis ticks in hours or days, markers and their
tooltips); the HTML template draws it as inline SVG. A lane with more events than can be told
apart is drawn as a density strip of time bins instead of one marker per event.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from harness.scenario.result import CaseResult, TimelineEvent

LANES: tuple[str, ...] = ("action", "fault", "wan", "han", "migration", "device")
EXPECT = "expect"  # the lane of the expectations that were checked at a time
LABELLED = frozenset({"action", "fault"})  # lanes sparse enough to name their events

WIDTH = 1000
LEFT = 92  # lane names
RIGHT = 18
TOP = 8
LANE_H = 24
AXIS_H = 26
MAX_MARKS = 120  # per lane; beyond this a lane becomes a density strip
BINS = 150
CHAR_W = 5.6  # average advance of the 10 px label font, to keep labels from overlapping

US = 1_000_000
_STEPS_S = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600,
            12 * 3600, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400)
MAX_TICKS = 9

Shape = Literal["dot", "bin", "pass", "fail"]


@dataclass(frozen=True)
class Lane:
    name: str
    y: float  # centre line
    count: int


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Mark:
    lane: str
    shape: Shape
    x: float
    y: float
    tip: str  # the tooltip: when, what, where
    label: str = ""  # drawn beside the marker when there is room
    label_left: bool = False  # drawn to the marker's left (no room on its right)
    w: float = 0.0  # bins only
    h: float = 0.0
    guide: bool = False  # a faint vertical line across all lanes (actions and faults)


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    left: float
    right: float
    axis_y: float
    lanes: tuple[Lane, ...]
    ticks: tuple[Tick, ...]
    marks: tuple[Mark, ...]
    start: str  # the virtual start, UTC
    span: str  # how long the run was, e.g. "3 d 2 h"
    events: int


def offset_label(seconds: float) -> str:
    """A compact duration: "0", "45 s", "30 min", "6 h", "1 d 6 h"."""
    s = int(round(seconds))
    if s == 0:
        return "0"
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    parts = [f"{d} d" if d else "", f"{h} h" if h else "", f"{m} min" if m and not d else "",
             f"{sec} s" if sec and not d and not h else ""]
    return " ".join(p for p in parts if p) or "0"


def clock_offset(us: int) -> str:
    """A precise offset for tooltips: "+1 d 02:03:04.500"."""
    sign = "-" if us < 0 else "+"
    d, rem = divmod(abs(us), 86400 * US)
    h, rem = divmod(rem, 3600 * US)
    m, rem = divmod(rem, 60 * US)
    s, frac = divmod(rem, US)
    day = f"{d} d " if d else ""
    return f"{sign}{day}{h:02d}:{m:02d}:{s:02d}.{frac // 1000:03d}"


def utc(us: int) -> str:
    return datetime.fromtimestamp(us / US, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _lane_order(events: tuple[TimelineEvent, ...]) -> list[str]:
    present = {e.lane for e in events}
    return [n for n in LANES if n in present] + sorted(present - set(LANES))


def _ticks(span_us: int, x_of: _Scale) -> tuple[Tick, ...]:
    span_s = span_us / US
    step = next((s for s in _STEPS_S if span_s / s <= MAX_TICKS), _STEPS_S[-1])
    while span_s / step > MAX_TICKS:
        step *= 2
    n = int(span_s // step)
    return tuple(Tick(x_of.x(x_of.t0 + i * step * US), offset_label(i * step))
                 for i in range(n + 1))


class _Scale:
    def __init__(self, t0: int, t1: int, left: float, right: float) -> None:
        self.t0, self.t1, self.left, self.right = t0, t1, left, right

    def x(self, us: int) -> float:
        return round(self.left + (us - self.t0) / (self.t1 - self.t0) * (self.right - self.left), 2)


def _tip(e: TimelineEvent, t0: int) -> str:
    detail = e.detail if len(e.detail) <= 300 else e.detail[:299] + "…"
    tail = f" — {detail}" if detail else ""
    return f"{clock_offset(e.us - t0)} · {e.event} · {e.device}{tail}"


def _lane_marks(name: str, y: float, events: list[TimelineEvent], scale: _Scale) -> list[Mark]:
    if len(events) > MAX_MARKS:
        return _bins(name, y, events, scale)
    marks: list[Mark] = []
    ordered = sorted(events, key=lambda e: e.us)
    xs = [scale.x(e.us) for e in ordered]
    free = scale.left  # where the last label (or marker) ended
    for i, e in enumerate(ordered):
        x = xs[i]
        label, left = "", False
        if name in LABELLED:  # only where it runs into no marker, no label and no edge
            text = e.event if len(e.event) <= 28 else e.event[:27] + "…"
            width = 8 + len(text) * CHAR_W
            limit = xs[i + 1] - 5 if i + 1 < len(xs) else scale.right + RIGHT
            if x + width <= limit:
                label, free = text, x + width
            elif x - width >= free + 5:
                label, left, free = text, True, x
            else:
                free = x
        marks.append(Mark(lane=name, shape="dot", x=x, y=y, tip=_tip(e, scale.t0), label=label,
                          label_left=left, guide=name in LABELLED and len(events) <= 40))
    return marks


def _bins(name: str, y: float, events: list[TimelineEvent], scale: _Scale) -> list[Mark]:
    width = (scale.t1 - scale.t0) / BINS
    buckets: dict[int, list[TimelineEvent]] = {}
    for e in events:
        buckets.setdefault(min(int((e.us - scale.t0) / width), BINS - 1), []).append(e)
    peak = max(len(b) for b in buckets.values())
    marks = []
    for i, bucket in sorted(buckets.items()):
        a, b = scale.t0 + int(i * width), scale.t0 + int((i + 1) * width)
        common = ", ".join(f"{k} ×{n}" for k, n in
                           sorted(Counter(e.event for e in bucket).items(),
                                  key=lambda kv: (-kv[1], kv[0]))[:3])
        h = max(3.0, round((LANE_H - 6) * len(bucket) / peak, 2))
        x = scale.x(a)
        marks.append(Mark(lane=name, shape="bin", x=x, y=round(y - h / 2, 2),
                          w=max(1.0, round(scale.x(b) - x - 0.6, 2)), h=h,
                          tip=f"{len(bucket)} events {clock_offset(a - scale.t0)} to "
                              f"{clock_offset(b - scale.t0)}: {common}"))
    return marks


def picture(result: CaseResult) -> Picture:
    """The geometry of ``result``'s timeline."""
    events = result.timeline
    checks = [e for e in result.expectations if e.at_us is not None]
    times = [e.us for e in events] + [int(e.at_us) for e in checks if e.at_us is not None]
    t0 = min([result.started_us, *times])
    t1 = max([result.ended_us, *times])
    if t1 <= t0:
        t1 = t0 + 3600 * US
    names = _lane_order(events) + ([EXPECT] if checks else [])
    lanes = tuple(Lane(n, TOP + LANE_H * i + LANE_H / 2,
                       len(checks) if n == EXPECT else sum(e.lane == n for e in events))
                  for i, n in enumerate(names))
    axis_y = TOP + LANE_H * len(lanes) + 4
    scale = _Scale(t0, t1, LEFT, WIDTH - RIGHT)
    marks: list[Mark] = []
    for lane in lanes:
        if lane.name == EXPECT:
            continue
        marks += _lane_marks(lane.name, lane.y, [e for e in events if e.lane == lane.name], scale)
    if checks:
        y = lanes[-1].y
        for c in sorted(checks, key=lambda c: (not c.passed, c.at_us or 0)):
            at = int(c.at_us or 0)
            marks.append(Mark(lane=EXPECT, shape="pass" if c.passed else "fail", x=scale.x(at),
                              y=y, tip=f"{clock_offset(at - t0)} · {'PASS' if c.passed else 'FAIL'}"
                                       f" {c.name} — {c.message}"))
    return Picture(width=WIDTH, height=int(axis_y + AXIS_H), left=LEFT, right=WIDTH - RIGHT,
                   axis_y=axis_y, lanes=lanes, ticks=_ticks(t1 - t0, scale), marks=tuple(marks),
                   start=utc(t0), span=offset_label((t1 - t0) / US), events=len(events))
