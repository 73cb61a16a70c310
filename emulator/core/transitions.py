"""Explicit state machines, h11 style: a table of state x event -> next state.

A pair that is not in the table raises :class:`~emulator.errors.IllegalTransition`; nothing
moves a state except :meth:`TransitionTable.next`. The security lifecycle of the CHF
(``emulator.core.chf.security``), emergency credit and supply (``emulator.core.prepayment``)
are tables of this kind.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import Enum
from types import MappingProxyType
from typing import Generic, TypeVar

from emulator.errors import DeclarationError, IllegalTransition

S = TypeVar("S", bound=Enum)
E = TypeVar("E", bound=Enum)


class TransitionTable(Generic[S, E]):
    """``table[state][event]`` is the state after ``event``; every state has a row."""

    __slots__ = ("events", "name", "states", "table")

    def __init__(
        self, name: str, states: type[S], events: type[E], table: Mapping[S, Mapping[E, S]]
    ) -> None:
        if set(table) != set(states):
            raise DeclarationError(f"{name}: the table needs one row per {states.__name__}")
        for row in table.values():
            if any(not isinstance(e, events) for e in row) or any(
                not isinstance(s, states) for s in row.values()
            ):
                raise DeclarationError(f"{name}: a row names an unknown state or event")
        self.name = name
        self.states = states
        self.events = events
        self.table: Mapping[S, Mapping[E, S]] = MappingProxyType(
            {s: MappingProxyType(dict(row)) for s, row in table.items()}
        )

    def next(self, state: S, event: E) -> S:
        """The state after ``event`` in ``state``; IllegalTransition if the table has no entry."""
        row = self.table.get(state)
        if row is None or event not in row:
            raise IllegalTransition(self.name, state, event)
        return row[event]

    def allows(self, state: S, event: E) -> bool:
        return event in self.table.get(state, {})

    def transitions(self) -> Iterator[tuple[S, E, S]]:
        """Every allowed (state, event, next state)."""
        for state, row in self.table.items():
            for event, after in row.items():
                yield state, event, after
