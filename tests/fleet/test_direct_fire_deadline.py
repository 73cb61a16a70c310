"""The direct HAN's fire reports the next deadline without asking every device again: it
must be what :meth:`InstallationCore.get_timer` says after the fire, in every fire of the
seeded direct-HAN scenarios (WAN commands, top-ups, supply changes, emergency credit, button
presses, faults and GSME outages between the fires)."""

from __future__ import annotations

import pytest

from emulator.core.installation import InstallationCore
from tests.fleet.direct_scenario import CASES, case_name, run_case


@pytest.mark.parametrize("case", CASES[:4], ids=[case_name(*c) for c in CASES[:4]])
def test_the_deadline_a_fire_returns_is_get_timer_after_it(
        case: tuple[str, int, int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    fire = InstallationCore.fire
    checked = [0, 0]  # fires, fires that moved some consumer's or the button's deadline
    wrong: list[tuple[str, int, int | None, int | None]] = []

    def checked_fire(self: InstallationCore, now: int) -> int | None:
        before = self.get_timer()
        got = fire(self, now)
        want = self.get_timer()
        if got != want:  # noted, not raised: the scheduler would stop the run, not the test
            wrong.append((self.id, now, got, want))
        checked[0] += 1
        checked[1] += want != before
        return got

    monkeypatch.setattr(InstallationCore, "fire", checked_fire)
    run_case(*case)
    assert wrong == []
    assert checked[0] > 500 and checked[1] > 500
