"""The direct HAN's timer path changes nothing anyone can observe.

Seeded direct-HAN fleets (prepayment with and without gas, electricity-only prepayment, credit)
run for days with WAN commands, top-ups, supply changes, emergency credit, button presses,
faults and observations at arbitrary instants, some exactly when a device is due
(:mod:`tests.fleet.direct_scenario`); the trace and the observations must equal, byte for
byte, what main wrote before the timer path was reworked (``tests/vectors/direct_fleet``).
"""

from __future__ import annotations

import difflib
import gzip
import json
from pathlib import Path

import pytest

from emulator.core.load_profile import SLOT
from tests.fleet.direct_scenario import CASES, case_name, run_case

GOLDEN = Path(__file__).resolve().parents[1] / "vectors" / "direct_fleet"


def _first_difference(name: str, want: str, got: str) -> str:
    diff = difflib.unified_diff(want.splitlines(), got.splitlines(), f"{name} (golden)",
                                f"{name} (now)", n=1, lineterm="")
    return "\n".join(line[:300] for _, line in zip(range(12), diff, strict=False))


@pytest.mark.parametrize("case", CASES, ids=[case_name(*c) for c in CASES])
def test_trace_and_observations_equal_the_golden_run(case: tuple[str, int, int, int]) -> None:
    name = case_name(*case)
    trace, observed = run_case(*case)
    for kind, got in (("trace", trace), ("observed", observed)):
        want = gzip.decompress((GOLDEN / f"{name}.{kind}.gz").read_bytes()).decode()
        assert got == want, _first_difference(f"{name}.{kind}", want, got)


def test_the_scenario_exercises_what_it_claims() -> None:
    """The golden runs hold the events that make the comparison worth having."""
    kinds: set[str] = set()
    boundary_ties = 0  # half hours where events of two installations share the instant
    for case in CASES:
        trace = gzip.decompress((GOLDEN / f"{case_name(*case)}.trace.gz").read_bytes()).decode()
        kinds |= {line.split('"event":"')[1].split('"')[0] for line in trace.splitlines()}
        at: dict[int, set[str]] = {}
        for line in trace.splitlines():
            event = json.loads(line)
            at.setdefault(event["us"], set()).add(event["installation"])
        boundary_ties += sum(1 for us, who in at.items() if us % SLOT == 0 and len(who) > 1
                             and us != min(at))
    assert boundary_ties >= 2
    assert {"DisplayUpdated", "TopUpAccepted", "SupplyStateChanged", "LowCreditReached",
            "CreditExhausted", "EmergencyCreditActivated", "ConsumerButtonPressed",
            "FaultApplied", "FaultScheduled", "ClockAdjusted"} <= kinds
