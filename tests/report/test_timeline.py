"""Timeline geometry: lanes, an axis in hours or days, markers, density strips."""

from __future__ import annotations

from dataclasses import replace

from harness.report.timeline import (
    BINS,
    EXPECT,
    LANE_H,
    MAX_MARKS,
    clock_offset,
    offset_label,
    picture,
)
from harness.scenario.result import Verdict
from tests.report.samples import T0, H, result


def test_lanes_axis_and_markers_of_a_two_day_run() -> None:
    p = picture(result("C", "d", Verdict.FAIL, hours=48))
    assert [lane.name for lane in p.lanes] == ["action", "fault", "wan", "migration", EXPECT]
    assert [t.label for t in p.ticks] == ["0", "6 h", "12 h", "18 h", "1 d", "1 d 6 h",
                                          "1 d 12 h", "1 d 18 h", "2 d"]
    assert p.ticks[0].x == p.left and p.ticks[-1].x == p.right
    dots = [m for m in p.marks if m.shape == "dot"]
    assert len(dots) == p.events == 7
    link_down = next(m for m in dots if "link-down" in m.tip)
    assert link_down.tip == "+02:00:00.000 · link-down · 0000000000000001 — WAN 6 h"
    assert link_down.x == round(p.left + (p.right - p.left) * 2 / 48, 2)
    assert link_down.label == "link-down" and link_down.guide
    fails = [m for m in p.marks if m.shape == "fail"]
    assert len(fails) == 1 and "SMSO opened a TLS session" in fails[0].tip
    assert p.marks[-1].shape == "fail"  # drawn last, on top
    assert p.start == "2026-01-01 00:00:00 UTC" and p.span == "2 d"


def test_a_five_week_run_is_ticked_in_days_or_weeks() -> None:
    p = picture(result("C", "d", Verdict.PASS, hours=24 * 35))
    assert [t.label for t in p.ticks] == ["0", "7 d", "14 d", "21 d", "28 d", "35 d"]


def test_a_busy_lane_becomes_a_density_strip() -> None:
    r = result("C", "d", Verdict.PASS, hours=6, busy=MAX_MARKS * 3)
    p = picture(r)
    bins = [m for m in p.marks if m.lane == "han"]
    assert all(m.shape == "bin" for m in bins) and len(bins) <= BINS
    assert sum(int(m.tip.split()[0]) for m in bins) == MAX_MARKS * 3
    assert all(3 <= m.h <= LANE_H for m in bins)
    width = 13 * H / BINS  # the axis runs to the last expectation, at +13 h
    first = sum(e.lane == "han" and e.us - T0 < width for e in r.timeline)
    assert bins[0].tip == f"{first} events +00:00:00.000 to {clock_offset(int(width))}: " \
                          f"ZclReport ×{first}"


def test_an_empty_or_instant_run_still_has_an_axis() -> None:
    r = replace(result("C", "d", Verdict.SKIP), ended_us=T0)
    p = picture(r)
    assert p.lanes == () and p.marks == ()
    assert p.ticks[-1].label == "1 h" and p.span == "1 h"
    # Events and checks outside [start, end] widen the axis rather than fall off it.
    late = replace(result("C", "d", Verdict.PASS, hours=1), ended_us=T0)
    assert picture(late).span == "13 h"  # the last expectation was checked at +13 h
    early = picture(replace(late, started_us=T0 + H))
    assert early.start == "2026-01-01 00:00:00 UTC" and min(m.x for m in early.marks) == early.left


def test_duration_words() -> None:
    assert [offset_label(s) for s in (0, 45, 1800, 5400, 6 * 3600, 30 * 3600, 86400 * 8 + 60)] \
        == ["0", "45 s", "30 min", "1 h 30 min", "6 h", "1 d 6 h", "8 d"]
    assert clock_offset(90_061_500_000) == "+1 d 01:01:01.500"
    assert clock_offset(-1_000_000) == "-00:00:01.000"
