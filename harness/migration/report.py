"""Exclusion reports for Responsible Suppliers: MPAN / MPRN / Exclusion Category (+ clause).

DCC's Migration Control Centre sends each Responsible Supplier a monthly file of its excluded
sites with "MPAN/MPRN/Exclusion Category" [S3]. s1lab adds the clause number *as numbered in the
TMAD version configured for the run* (domain.md §4.3, §8 behaviour 18), so the same decisions
reported under two TMAD versions may show different clause numbers.

Rows come from EXCLUDE decisions (both meters) and PARTIAL_ESME_ONLY decisions (the GSME only).
Each row goes to the supplier of the meters it names: when the ESME and GSME have different
suppliers (split supply, ``DeviceRecord.supplier``), an excluded installation gives one row per
supplier, each with that supplier's MPxN only. A device without its own supplier takes the
installation's.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.outputs import write_atomic
from harness.migration.inventory import DeviceRecord, InstallationRecord
from harness.migration.rules import Action, Decision
from harness.migration.tmad import ExclusionCategory, TmadVersion

CSV_COLUMNS = ("MPAN", "MPRN", "Exclusion Category", "Clause")


@dataclass(frozen=True, slots=True)
class ExclusionRow:
    supplier: str
    mpan: str
    mprn: str
    category: ExclusionCategory
    clause: str
    installation_id: str


def _supplier(device: DeviceRecord | None, record: InstallationRecord) -> str:
    return (device.supplier if device is not None and device.supplier else "") or record.supplier


def _rows(
    record: InstallationRecord, decision: Decision, clause: str
) -> list[ExclusionRow]:
    assert decision.category is not None
    esme, gsme = record.esme, record.gsme
    mpan = esme.mpxn if esme is not None else ""
    mprn = gsme.mpxn if gsme is not None else ""

    def row(supplier: str, mpan: str, mprn: str) -> ExclusionRow:
        assert decision.category is not None
        return ExclusionRow(supplier, mpan, mprn, decision.category, clause, record.installation_id)

    if decision.action is Action.PARTIAL_ESME_ONLY:
        return [row(_supplier(gsme, record), "", mprn)]
    electricity, gas = _supplier(esme, record), _supplier(gsme, record)
    if esme is None or gsme is None or electricity == gas:
        return [row(electricity if esme is not None else gas, mpan, mprn)]
    return [row(electricity, mpan, ""), row(gas, "", mprn)]


def exclusion_report(
    decisions: Mapping[str, Decision],
    records: Iterable[InstallationRecord],
    tmad: TmadVersion,
    *,
    missing_clause: str | None = None,
) -> dict[str, list[ExclusionRow]]:
    """Supplier -> its exclusion rows (suppliers sorted; rows by installation, then MPAN).

    ``decisions`` maps installation_id to the decision for it; ``records`` must cover every
    installation that has an EXCLUDE or PARTIAL_ESME_ONLY decision. A category without a clause
    number in ``tmad`` raises :class:`~harness.migration.rules.ClauseNotInVersion`, unless
    ``missing_clause`` gives the text to write instead (e.g. ``""``).
    """
    by_id = {r.installation_id: r for r in records}
    out: dict[str, list[ExclusionRow]] = {}
    for installation_id, decision in decisions.items():
        if decision.action not in (Action.EXCLUDE, Action.PARTIAL_ESME_ONLY):
            continue
        assert decision.category is not None
        record = by_id.get(installation_id)
        if record is None:
            raise KeyError(f"decision for installation {installation_id!r} with no record")
        if missing_clause is not None and not tmad.has_clause(decision.category):
            clause = missing_clause
        else:
            clause = tmad.clause(decision.category)
        for row in _rows(record, decision, clause):
            out.setdefault(row.supplier, []).append(row)
    return {
        supplier: sorted(out[supplier], key=lambda r: (r.installation_id, r.mpan, r.mprn))
        for supplier in sorted(out)
    }


# -- CSV --------------------------------------------------------------------------------------


def csv_text(rows: Iterable[ExclusionRow]) -> str:
    """One supplier's file: header ``MPAN,MPRN,Exclusion Category,Clause`` then a row each."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow((row.mpan, row.mprn, row.category.human_name, row.clause))
    return buffer.getvalue()


def _slug(supplier: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", supplier.lower()).strip("-") or "unnamed"


def supplier_file_names(suppliers: Iterable[str]) -> dict[str, str]:
    """Supplier -> ``exclusions-<slug>.csv``; suppliers whose slugs clash get ``-2``, ``-3``."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for supplier in sorted(set(suppliers)):
        base = f"exclusions-{_slug(supplier)}"
        name, n = f"{base}.csv", 1
        while name in used:
            n += 1
            name = f"{base}-{n}.csv"
        used.add(name)
        names[supplier] = name
    return names


def write_csv(report: Mapping[str, list[ExclusionRow]], folder: Path) -> dict[str, Path]:
    """One CSV file per supplier in ``folder`` (created if needed); supplier -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for supplier, name in supplier_file_names(report).items():
        paths[supplier] = write_atomic(folder / name, csv_text(report[supplier]))
    return paths


# -- JSON -------------------------------------------------------------------------------------


def report_json(report: Mapping[str, list[ExclusionRow]], tmad: TmadVersion) -> dict[str, Any]:
    """The whole report as plain JSON values, with the TMAD version it was numbered under."""
    return {
        "tmad_version": tmad.name,
        "tmad_label": tmad.label,
        "suppliers": {
            supplier: [
                {
                    "installation_id": row.installation_id,
                    "mpan": row.mpan,
                    "mprn": row.mprn,
                    "category": row.category.value,
                    "category_name": row.category.human_name,
                    "clause": row.clause,
                }
                for row in rows
            ]
            for supplier, rows in report.items()
        },
    }


def json_text(report: Mapping[str, list[ExclusionRow]], tmad: TmadVersion) -> str:
    return json.dumps(report_json(report, tmad), indent=2, sort_keys=False) + "\n"


def write_json(report: Mapping[str, list[ExclusionRow]], tmad: TmadVersion, path: Path) -> Path:
    return write_atomic(path, json_text(report, tmad))
