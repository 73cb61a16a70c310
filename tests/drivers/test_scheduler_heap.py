"""The scheduler's heap, in both its forms, against a sorted model.

The pure tree runs the tuple form (heapq) and, with ``_COMPILED`` patched, the compiled form
(native entries, the module's own sifts); a build runs its compiled form only. Both must fire
in the model's order: by deadline, ties in arming order, superseded and cancelled arms never.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator

import pytest

import emulator.drivers.scheduler as sched_mod
from emulator.core.timebase import SECOND
from emulator.drivers.clock import current_clock, run_virtual, sleep_until
from emulator.drivers.scheduler import Scheduler, Slot

_BUILT = not sched_mod.__file__.endswith(".py")

SetFn = Callable[[int, int | None], None]


@pytest.fixture(params=[False, True], ids=["tuples", "entries"])
def compiled_form(request: pytest.FixtureRequest,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    form: bool = request.param
    if _BUILT:
        if not form:
            pytest.skip("a build runs its compiled form only")
    else:
        monkeypatch.setattr(sched_mod, "_COMPILED", form)
    yield form


class _Device:
    """What a slot's callback does when it fires, decided by the run's RNG: re-arm itself
    (often onto a deadline others hold too, or onto now), re-arm or cancel another slot."""

    def __init__(self, rng: random.Random, count: int, set_deadline: SetFn) -> None:
        self.rng = rng
        self.count = count
        self.set = set_deadline

    def fire(self, index: int, now: int) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            self.set(index, now + rng.choice((0, 1, 1, 2, 5)) * SECOND)
        elif roll < 0.7:
            self.set(index, now + rng.randrange(0, 4000) * 1000)  # distinct, mostly
        for _ in range(rng.choice((0, 0, 1, 2))):
            other = rng.randrange(self.count)
            if rng.random() < 0.3:
                self.set(other, None)
            else:
                self.set(other, now + rng.choice((0, 1, 3)) * SECOND)


def _initial(rng: random.Random, count: int) -> list[int]:
    # many ties: deadlines on a few whole seconds, some distinct
    return [rng.choice((1, 1, 2, 3)) * SECOND if i % 3 else rng.randrange(1, 4 * SECOND)
            for i in range(count)]


def _model(seed: int, count: int, stop: int) -> list[tuple[int, int]]:
    """The firing order by sorting: each armed slot's (deadline, seq), the least first."""
    rng = random.Random(seed)
    armed: dict[int, tuple[int, int]] = {}
    seq = 0

    def set_deadline(index: int, deadline: int | None) -> None:
        nonlocal seq
        current = armed.get(index)
        if (current[0] if current is not None else None) == deadline:
            return  # Slot.set: unchanged, nothing pushed
        if deadline is None:
            del armed[index]
        else:
            armed[index] = (deadline, seq)
            seq += 1

    device = _Device(rng, count, set_deadline)
    for index, deadline in enumerate(_initial(rng, count)):
        set_deadline(index, deadline)
    fired: list[tuple[int, int]] = []
    while armed:
        index = min(armed, key=armed.__getitem__)
        now = armed.pop(index)[0]
        if now >= stop:
            break
        fired.append((index, now))
        device.fire(index, now)
    return fired


def _scheduler_run(seed: int, count: int, stop: int) -> tuple[list[tuple[int, int]], int]:
    async def main() -> tuple[list[tuple[int, int]], int]:
        clock = current_clock()
        sched = Scheduler(clock)
        t0 = clock.now_us()
        rng = random.Random(seed)
        slots: list[Slot] = []
        fired: list[tuple[int, int]] = []

        def set_deadline(index: int, deadline: int | None) -> None:
            slots[index].set(None if deadline is None else t0 + deadline)

        device = _Device(rng, count, lambda i, d: set_deadline(i, d))

        def callback(index: int) -> Callable[[int], None]:
            def fire(now: int) -> None:
                fired.append((index, now - t0))
                device.fire(index, now - t0)
            return fire

        slots.extend(sched.slot(callback(i)) for i in range(count))
        for index, deadline in enumerate(_initial(rng, count)):
            set_deadline(index, deadline)
        await sleep_until(t0 + stop)
        fires = sched.fired
        sched.close()
        return fired, fires

    return run_virtual(main())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_firing_order_is_the_sorted_models(compiled_form: bool, seed: int) -> None:
    stop = 120 * SECOND + 1  # deadlines fall on whole milliseconds: none ties with it
    fired, fires = _scheduler_run(seed, 400, stop)
    expected = _model(seed, 400, stop)
    assert len(expected) > 5000  # the run re-armed, cancelled and tied a lot
    assert fired == expected
    assert fires == len(expected)


def _idle_slot() -> Slot:
    async def main() -> Slot:
        return Scheduler(current_clock()).slot(lambda now: None)

    return run_virtual(main())


def test_the_entry_sifts_keep_heapqs_layout() -> None:
    """The compiled form's functions (compiled in a build, Python here) move entries exactly
    as heapq moves the tuple form's: push, pop, and a head changed in place and sifted."""
    rng = random.Random(7)
    tuples: list[tuple[int, int, None, int]] = []
    entries: list[sched_mod._Entry] = []
    dummy = _idle_slot()  # never fired: only held
    seq = 0
    for step in range(5000):
        op = rng.random()
        deadline = rng.choice((rng.randrange(8), rng.randrange(10**6), 2**40 + rng.randrange(3)))
        if op < 0.45 or not tuples:
            heapq.heappush(tuples, (deadline, seq, None, step))
            sched_mod._entry_push(entries, sched_mod._Entry(deadline, seq, dummy, step))
            seq += 1
        elif op < 0.75:
            popped = heapq.heappop(tuples)
            entry = sched_mod._entry_pop(entries)
            assert (entry.deadline, entry.seq, entry.generation) == (
                popped[0], popped[1], popped[3])
        else:
            heapq.heapreplace(tuples, (deadline, seq, None, step))
            head = entries[0]
            head.deadline, head.seq, head.generation = deadline, seq, step
            sched_mod._entry_sift(entries)
            seq += 1
        assert [(e.deadline, e.seq, e.generation) for e in entries] == [
            (d, s, g) for d, s, _, g in tuples]
    while tuples:  # drained in order
        popped = heapq.heappop(tuples)
        entry = sched_mod._entry_pop(entries)
        assert (entry.deadline, entry.seq) == popped[:2]
    assert entries == []
