"""The deadline heap behind one loop timer."""

from __future__ import annotations

import asyncio

from emulator.core.timebase import MINUTE, SECOND
from emulator.drivers.clock import current_clock, run_virtual, sleep_until
from emulator.drivers.scheduler import Scheduler


def test_slots_fire_in_deadline_order_and_rearm() -> None:
    async def main() -> list[tuple[str, int]]:
        clock = current_clock()
        sched = Scheduler(clock)
        t0 = clock.now_us()
        seen: list[tuple[str, int]] = []

        def periodic(now: int) -> None:
            seen.append(("p", now - t0))
            if now - t0 < 3 * MINUTE:
                slot_p.set(now + MINUTE)

        slot_p = sched.slot(periodic)
        slot_p.set(t0 + MINUTE)
        sched.call_at(t0 + 90 * SECOND, lambda now: seen.append(("once", now - t0)))
        await sleep_until(t0 + 10 * MINUTE)
        sched.close()
        return seen

    assert run_virtual(main()) == [
        ("p", MINUTE), ("once", 90 * SECOND), ("p", 2 * MINUTE), ("p", 3 * MINUTE)]


def test_resetting_and_cancelling_a_slot_supersedes_old_entries() -> None:
    async def main() -> list[int]:
        clock = current_clock()
        sched = Scheduler(clock)
        t0 = clock.now_us()
        seen: list[int] = []
        slot = sched.slot(lambda now: seen.append(now - t0))
        slot.set(t0 + 5 * SECOND)
        slot.set(t0 + 2 * SECOND)  # earlier: re-arms the loop timer
        other = sched.slot(lambda now: seen.append(-1))
        other.set(t0 + 3 * SECOND)
        other.cancel()
        await asyncio.sleep(10)
        slot.set(clock.now_us() + 20 * SECOND)
        slot.set(None)
        await asyncio.sleep(60)
        sched.close()
        return seen

    assert run_virtual(main()) == [2 * SECOND]


def test_many_devices_share_one_loop_timer() -> None:
    async def main() -> tuple[int, int]:
        clock = current_clock()
        sched = Scheduler(clock)
        t0 = clock.now_us()
        loop = asyncio.get_running_loop()
        fires = [0]
        slots = []
        for i in range(2000):
            def cb(now: int, i: int = i) -> None:
                fires[0] += 1
                slots[i].set(now + 30 * MINUTE)
            slots.append(sched.slot(cb))
            slots[i].set(t0 + i * SECOND)
        await sleep_until(t0 + 24 * 60 * MINUTE + SECOND // 2)
        armed = sum(1 for h in loop._scheduled if not h.cancelled())  # type: ignore[attr-defined]
        sched.close()
        return fires[0], armed

    fires, armed = run_virtual(main())
    expected = sum(1 for i in range(2000) for k in range(60)
                   if i * SECOND + k * 30 * MINUTE <= 24 * 60 * MINUTE)
    assert fires == expected
    assert armed == 1  # the scheduler's one live timer, whatever the number of devices


# ---- a failing callback fails the run (issue 8, item 11) -------------------------------------

def test_a_raising_callback_fails_the_guarded_run_and_stops_every_timer() -> None:
    from emulator.errors import DeviceCallbackError

    async def main() -> tuple[list[int], Scheduler]:
        clock = current_clock()
        sched = Scheduler(clock)
        t0 = clock.now_us()
        ticks: list[int] = []

        def healthy(now: int) -> None:
            ticks.append(now - t0)
            slot.set(now + MINUTE)

        def broken(now: int) -> None:
            raise KeyError("00-1B-C5-0C-00-00-00-09")

        slot = sched.slot(healthy)
        slot.set(t0 + MINUTE)
        sched.call_at(t0 + 150 * SECOND, broken)
        try:
            await sched.guard(sleep_until(t0 + 60 * MINUTE))
        except DeviceCallbackError as exc:
            assert "KeyError" in str(exc) and "\n" not in str(exc)
            return ticks, sched
        raise AssertionError("the run went on")

    ticks, sched = run_virtual(main())
    assert ticks == [MINUTE, 2 * MINUTE]  # nothing after the failure at 150 s
    assert len(sched) == 0 and sched.failure is not None


def test_an_s1lab_error_in_a_callback_is_raised_as_it_is() -> None:
    from emulator.errors import OutputError

    async def main() -> None:
        clock = current_clock()
        sched = Scheduler(clock)

        def full(now: int) -> None:
            raise OutputError("trace.jsonl: cannot write: No space left on device")

        sched.call_at(clock.now_us() + SECOND, full)
        await sched.guard(asyncio.sleep(3600))

    try:
        run_virtual(main())
    except OutputError as exc:
        assert "No space left" in str(exc)
    else:
        raise AssertionError("no error")


def test_guard_returns_the_result_when_nothing_fails() -> None:
    async def main() -> int:
        sched = Scheduler(current_clock())
        sched.call_at(current_clock().now_us() + SECOND, lambda now: None)
        return await sched.guard(asyncio.sleep(10, result=7))

    assert run_virtual(main()) == 7
