"""The SCF: DCC's file back to the Requesting Party, one outcome per installation.

For every installation of a Migration Group File it says what happened (migrated, failed, ...),
and for a failure the TMAD step that failed and a reason code (TMAD 5.27, MEHRS 2.5.10). Our
sources do not expand the acronym, so the root element is simply ``SCF``. Format:
``docs/migration-files.md``; schema: ``docs/schemas/scf.xsd``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from emulator.core.timebase import isoformat
from emulator.errors import MigrationFileError, WireError
from emulator.wire.eui import normalise
from harness.migration.mgf import (
    ChildSpec,
    Reader,
    file_id,
    parse_root,
    q,
    serialise,
    sub,
)
from harness.migration.outcome import Outcome
from harness.migration.reasons import Reason

#: XML namespace of the SCF.
NAMESPACE = "urn:s1lab:migration:scf:1"
ROOT_ELEMENT = "SCF"

#: The ``Outcome`` spellings, in schema order.
OUTCOMES: tuple[str, ...] = tuple(o.scf for o in Outcome)

#: Child sequences (checked against ``docs/schemas/scf.xsd`` by the tests).
SCHEMA: dict[str, ChildSpec] = {
    "SCF": (
        ("GroupID", 1, 1), ("Created", 1, 1), ("FileID", 1, 1), ("MGFFileID", 0, 1),
        ("Installation", 0, None),
    ),
    "Installation": (
        ("InstallationID", 1, 1), ("CHFEUI", 1, 1), ("Outcome", 1, 1), ("Step", 0, 1),
        ("ReasonCode", 0, 1), ("Message", 0, 1), ("At", 1, 1),
    ),
}
ENUMS: dict[str, tuple[str, ...]] = {"Outcome": OUTCOMES}


@dataclass(frozen=True)
class ScfEntry:
    """The outcome of one installation. ``step``, ``reason_code`` and ``message`` may be empty
    (a migrated installation has none); a failure names all three (:meth:`failure`)."""

    installation_id: str
    chf_eui: str
    outcome: Outcome
    step: str
    reason_code: str
    message: str
    at_us: int

    @classmethod
    def failure(
        cls, installation_id: str, chf_eui: str, outcome: Outcome, step: str, reason: Reason,
        message: str, at_us: int,
    ) -> ScfEntry:
        """A failed (or rolled-back) installation: the reason is a member of the table."""
        return cls(installation_id, chf_eui, outcome, step, reason.scf_code, message, at_us)

    def __post_init__(self) -> None:
        if not isinstance(self.outcome, Outcome):
            raise MigrationFileError(
                "SCF", "ScfEntry.outcome",
                f"unknown outcome {self.outcome!r} (expected one of {', '.join(OUTCOMES)})",
            )
        try:
            object.__setattr__(self, "chf_eui", normalise(self.chf_eui))
        except WireError:
            raise MigrationFileError(
                "SCF", "ScfEntry.chf_eui", f"not an EUI-64: {self.chf_eui!r}"
            ) from None


@dataclass(frozen=True)
class StatusFile:
    """A parsed SCF."""

    group_id: str
    created_us: int
    file_id: str
    mgf_file_id: str
    entries: tuple[ScfEntry, ...]
    source: str = ""

    def entry(self, installation_id: str) -> ScfEntry:
        for item in self.entries:
            if item.installation_id == installation_id:
                return item
        raise KeyError(installation_id)


def build_scf(
    group_id: str, results: list[ScfEntry], now_us: int, *, mgf_file_id: str = ""
) -> bytes:
    """The SCF for ``group_id`` as UTF-8 XML; ``mgf_file_id`` names the MGF it answers."""
    root = ET.Element(q(NAMESPACE, ROOT_ELEMENT))
    sub(root, NAMESPACE, "GroupID", group_id)
    sub(root, NAMESPACE, "Created", isoformat(now_us))
    sub(root, NAMESPACE, "FileID", file_id(
        "SCF", group_id, now_us,
        [mgf_file_id, *(f"{e.installation_id}:{e.outcome.scf}" for e in results)],
    ))
    if mgf_file_id:
        sub(root, NAMESPACE, "MGFFileID", mgf_file_id)
    for entry in results:
        inst = sub(root, NAMESPACE, "Installation")
        sub(inst, NAMESPACE, "InstallationID", entry.installation_id)
        sub(inst, NAMESPACE, "CHFEUI", entry.chf_eui)
        sub(inst, NAMESPACE, "Outcome", entry.outcome.scf)
        for name, value in (("Step", entry.step), ("ReasonCode", entry.reason_code),
                            ("Message", entry.message)):
            if value.strip():
                sub(inst, NAMESPACE, name, value)
        sub(inst, NAMESPACE, "At", isoformat(entry.at_us))
    data = serialise(root, NAMESPACE)
    parse_scf(data, "SCF")  # what we write must read back (group_id pattern, texts)
    return data


def _entry(reader: Reader) -> ScfEntry:
    return ScfEntry(
        installation_id=reader.text("InstallationID"),
        chf_eui=reader.eui("CHFEUI"),
        outcome=Outcome(reader.enum("Outcome", OUTCOMES)),
        step=reader.optional("Step") or "",
        reason_code=reader.optional("ReasonCode") or "",
        message=reader.optional("Message") or "",
        at_us=reader.time("At"),
    )


def parse_scf(data: bytes, source: str) -> StatusFile:
    """Parse and structurally validate an SCF; MigrationFileError naming the file and path."""
    root = parse_root(data, source, NAMESPACE, ROOT_ELEMENT)
    top = Reader(root, SCHEMA[ROOT_ELEMENT], NAMESPACE, source, f"/{ROOT_ELEMENT}")
    return StatusFile(
        group_id=top.group_id("GroupID"),
        created_us=top.time("Created"),
        file_id=top.text("FileID"),
        mgf_file_id=top.optional("MGFFileID") or "",
        entries=tuple(
            _entry(Reader(elem, SCHEMA["Installation"], NAMESPACE, source, path))
            for path, elem in top.elements("Installation")
        ),
        source=source,
    )
