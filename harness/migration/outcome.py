"""How a migration attempt ended: the one vocabulary of the S1SP, the SCF and the history.

The value of each member is its SCF spelling (``docs/schemas/scf.xsd``, ``docs/migration-files.md``
§3.1); ``history.json`` spells the same outcome in snake case (:attr:`Outcome.history`), as it
always has. ``NOT_ATTEMPTED`` exists only in the SCF: the history records attempts.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """The outcome of one migration attempt (or one 4.26 pre-work instruction)."""

    MIGRATED = "migrated"
    FAILED = "failed"
    PARTIAL = "partial"  # ESME migrated, GSME excluded
    ROLLED_BACK = "rolled-back"  # a failure after the keys moved, undone (TMAD 15.10.3)
    EXCLUDED = "excluded"
    NOT_ATTEMPTED = "not-attempted"

    @property
    def failed(self) -> bool:
        """A failed attempt (a rollback is a failure that was undone); it carries a reason."""
        return self in _FAILURES

    @property
    def migrated(self) -> bool:
        """The installation migrated, fully or partially."""
        return self in (Outcome.MIGRATED, Outcome.PARTIAL)

    @property
    def scf(self) -> str:
        """The spelling in an SCF's ``Outcome`` element."""
        return self.value

    @property
    def history(self) -> str:
        """The spelling in ``history.json`` (``rolled_back``)."""
        return self.name.lower()


_FAILURES = frozenset({Outcome.FAILED, Outcome.ROLLED_BACK})
