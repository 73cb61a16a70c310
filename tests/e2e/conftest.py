"""Helpers for end-to-end tests: a small fleet on the virtual clock and an SMSO session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from emulator.drivers.clock import current_clock
from emulator.drivers.scheduler import Scheduler
from emulator.fleet import Fleet
from emulator.profiles import ResolvedDmc, default_dmc
from emulator.trace import Trace
from emulator.trace import Trace as _Trace
from emulator.wire.vocabulary import Role
from harness.headend import HeadEnd, HeadEndSession, connect


class ListTrace(_Trace):
    """A trace that keeps (event, device, fields) tuples for assertions."""

    def __init__(self) -> None:
        super().__init__(None)
        self.events: list[tuple[str, str, dict[str, object]]] = []

    def write(self, now: int, installation: str, device: str, event: str,
              fields: dict[str, object]) -> None:
        super().write(now, installation, device, event, fields)
        self.events.append((event, device, fields))

    def named(self, event: str) -> list[dict[str, object]]:
        return [f for e, _, f in self.events if e == event]


@dataclass
class Bench:
    fleet: Fleet
    headend: HeadEnd
    session: HeadEndSession
    trace: ListTrace
    scheduler: Scheduler


@asynccontextmanager
async def smso_bench(count: int = 1, seed: int = 3, dmc: ResolvedDmc | None = None,
                     role: Role = Role.SMSO) -> AsyncIterator[Bench]:
    clock = current_clock()
    scheduler = Scheduler(clock)
    trace = ListTrace()
    fleet = Fleet(dmc or default_dmc(), count, seed, scheduler, trace)
    headend = HeadEnd(role, fleet.headend_context(role), fleet.keys_for,
                      emit=trace.emitter("headend"))
    try:
        session = await connect(fleet.link_to(fleet.installations[0]).a, headend, clock)
        try:
            yield Bench(fleet, headend, session, trace, scheduler)
        finally:
            await session.close()
    finally:
        fleet.close()
        scheduler.close()


__all__ = ["Bench", "ListTrace", "Trace", "smso_bench"]
