"""The virtual-time loop: jumps, integer microseconds, the waiting-on-nothing guard."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from emulator.core.timebase import DAY, SECOND, from_datetime
from emulator.drivers.clock import (
    DEFAULT_START,
    VirtualEventLoop,
    call_at_us,
    current_clock,
    run_virtual,
    sleep_until,
)
from emulator.errors import ClockError, WaitingOnNothing


def test_virtual_time_jumps_days_in_no_wall_time() -> None:
    async def main() -> tuple[int, int]:
        clock = current_clock()
        t0 = clock.now_us()
        await asyncio.sleep(30 * 86400)
        return t0, clock.now_us()

    wall0 = time.perf_counter()
    t0, t1 = run_virtual(main())
    assert t1 - t0 == 30 * DAY
    assert t0 == from_datetime(DEFAULT_START)
    assert time.perf_counter() - wall0 < 1.0


def test_wall_time_starts_at_configured_date() -> None:
    start = datetime(2021, 11, 4, 12, 0, tzinfo=UTC)

    async def main() -> datetime:
        await asyncio.sleep(3600)
        return current_clock().wall()

    assert run_virtual(main(), start=start) == datetime(2021, 11, 4, 13, 0, tzinfo=UTC)


def test_time_is_integer_microseconds_without_drift() -> None:
    async def main() -> int:
        clock = current_clock()
        t0 = clock.now_us()
        for _ in range(100_000):
            await asyncio.sleep(0.1)  # 0.1 is not exact in binary floating point
        return clock.now_us() - t0

    assert run_virtual(main()) == 100_000 * 100_000


def test_waiting_on_nothing_fails_clearly() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(WaitingOnNothing, match="waiting on nothing"):
        run_virtual(main())


def test_timers_fire_in_order_at_exact_times() -> None:
    async def main() -> list[tuple[str, int]]:
        clock = current_clock()
        t0 = clock.now_us()
        seen: list[tuple[str, int]] = []
        done = asyncio.get_running_loop().create_future()
        call_at_us(t0 + 3 * SECOND, lambda: seen.append(("c", clock.now_us() - t0)))
        call_at_us(t0 + 1, lambda: seen.append(("a", clock.now_us() - t0)))
        call_at_us(t0 + 2 * SECOND, lambda: seen.append(("b", clock.now_us() - t0)))
        call_at_us(t0 + 4 * SECOND, lambda: done.set_result(None))
        await done
        await sleep_until(t0 + 10 * SECOND)
        seen.append(("d", clock.now_us() - t0))
        return seen

    assert run_virtual(main()) == [("a", 1), ("b", 2 * SECOND), ("c", 3 * SECOND),
                                   ("d", 10 * SECOND)]


def test_real_io_still_works_on_the_virtual_loop() -> None:
    async def main() -> bytes:
        server = await asyncio.start_server(lambda r, w: w.write(b"hi") or w.close(),
                                            "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        data = await reader.read()
        writer.close()
        server.close()
        await server.wait_closed()
        return data

    loop = VirtualEventLoop()
    try:
        assert loop.run_until_complete(main()) == b"hi"
    finally:
        loop.close()


def test_current_clock_needs_a_loop() -> None:
    with pytest.raises(ClockError):
        current_clock()


def test_real_clock_is_real_time() -> None:
    async def main() -> int:
        clock = current_clock()
        t0 = clock.now_us()
        await asyncio.sleep(0.05)
        return clock.now_us() - t0

    elapsed = asyncio.run(main())
    assert 40_000 <= elapsed < 2_000_000


def test_busy_turns_still_see_threads_and_real_sockets() -> None:
    """A turn with callbacks ready skips polling only while nothing but the loop's own pipe is
    registered: a thread's callback still runs, and a ready socket is still read."""
    import socket
    import threading

    async def main() -> tuple[list[str], bytes]:
        loop = asyncio.get_running_loop()
        seen: list[str] = []
        done = asyncio.Event()

        def from_thread() -> None:
            seen.append("thread")
            done.set()

        async def spin() -> None:  # keeps callbacks ready on every turn
            while not done.is_set():  # noqa: ASYNC110 - busy turns are the point
                await asyncio.sleep(0)

        spinner = asyncio.ensure_future(spin())
        threading.Thread(target=lambda: loop.call_soon_threadsafe(from_thread)).start()
        await asyncio.wait_for(done.wait(), 5)
        await spinner
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        got = loop.create_future()
        loop.add_reader(a, lambda: got.set_result(a.recv(16)) if not got.done() else None)
        b.send(b"ping")
        data = await asyncio.wait_for(got, 5)
        loop.remove_reader(a)
        a.close()
        b.close()
        return seen, data

    assert run_virtual(main()) == (["thread"], b"ping")
