"""On the virtual loop the scheduler runs deadlines back to back, in the order the loop would."""

from __future__ import annotations

import asyncio

from emulator.core.timebase import SECOND
from emulator.drivers.clock import VirtualEventLoop, current_clock, run_virtual
from emulator.drivers.scheduler import Scheduler


def test_deadlines_loop_timers_and_ready_callbacks_keep_their_order() -> None:
    async def main() -> tuple[list[tuple[str, int]], int]:
        clock = current_clock()
        loop = asyncio.get_running_loop()
        sched = Scheduler(clock)
        t0 = clock.now_us()
        log: list[tuple[str, int]] = []
        arms = 0
        real_arm = sched._arm  # noqa: SLF001 - counting the loop timers it arms

        def counting_arm(deadline: int) -> None:
            nonlocal arms
            arms += 1
            real_arm(deadline)

        sched._arm = counting_arm  # type: ignore[method-assign]  # noqa: SLF001

        def device(name: str, every: int, count: int) -> None:
            left = [count]

            def fire(now: int) -> None:
                log.append((name, now - t0))
                assert clock.now_us() == now  # the clock was moved to the deadline
                if name == "b" and now - t0 == 2 * SECOND:
                    # a ready callback runs before any later deadline, at this instant
                    loop.call_soon(lambda: log.append(("soon", clock.now_us() - t0)))
                left[0] -= 1
                if left[0]:
                    slot.set(now + every)

            slot = sched.slot(fire)
            slot.set(t0 + every)

        device("a", 3 * SECOND, 4)  # 3, 6, 9, 12 s
        device("b", 2 * SECOND, 5)  # 2, 4, 6, 8, 10 s
        loop.call_at(clock.loop_time(t0 + 5 * SECOND),
                     lambda: log.append(("timer", clock.now_us() - t0)))
        await asyncio.sleep(7.5)
        log.append(("task", clock.now_us() - t0))
        await asyncio.sleep(5)
        return log, arms

    log, arms = run_virtual(main())
    s = SECOND
    assert log == [
        ("b", 2 * s), ("soon", 2 * s), ("a", 3 * s), ("b", 4 * s), ("timer", 5 * s),
        ("a", 6 * s), ("b", 6 * s), ("task", 7 * s + s // 2), ("b", 8 * s), ("a", 9 * s),
        ("b", 10 * s), ("a", 12 * s),
    ]
    # One loop timer per stretch between other events, not one per deadline (and none for the
    # deadlines set while firing).
    assert arms <= 6


def test_a_real_descriptor_keeps_the_ordinary_path() -> None:
    async def main() -> list[int]:
        clock = current_clock()
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualEventLoop)
        sched = Scheduler(clock)
        t0 = clock.now_us()
        got: list[int] = []
        reader, writer = __import__("socket").socketpair()
        loop.add_reader(reader, lambda: None)
        try:
            assert not loop.advance_if_idle(t0 + SECOND)  # real I/O registered: no jump
            assert clock.now_us() == t0
            for k in (1, 2, 3):
                sched.call_at(t0 + k * SECOND, lambda now: got.append(now - t0))
            await asyncio.sleep(4)
        finally:
            loop.remove_reader(reader)
            reader.close()
            writer.close()
        assert loop.advance_if_idle(clock.now_us() + SECOND)  # nothing else: the clock jumps
        return got

    assert run_virtual(main()) == [SECOND, 2 * SECOND, 3 * SECOND]
