"""How cores report state changes without doing I/O.

A core is given an ``Emit`` callable at construction and calls it for every state change:
``emit(now, device, event, fields)``. ``device`` names the device (its EUI-64 as
``00-11-22-33-44-55-66-77`` or a role name), ``event`` is a past-tense CamelCase name
(``TopUpAccepted``), ``fields`` holds JSON-able values only (int, str, bool, None, lists, dicts).
Drivers bind the installation id and write the trace (``emulator.trace``).
"""

from __future__ import annotations

from typing import Protocol


class Emit(Protocol):
    def __call__(self, now: int, device: str, event: str, fields: dict[str, object]) -> None: ...


def discard(now: int, device: str, event: str, fields: dict[str, object]) -> None:
    """An ``Emit`` that drops everything (benchmarks, unit tests that do not look)."""


class Recorder:
    """An ``Emit`` that keeps events in a list: for tests of cores."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str, str, dict[str, object]]] = []

    def __call__(self, now: int, device: str, event: str, fields: dict[str, object]) -> None:
        self.events.append((now, device, event, fields))

    def names(self) -> list[str]:
        return [e[2] for e in self.events]
