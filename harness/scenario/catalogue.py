"""The test cases shipped with s1lab: ``harness/catalogue/*.yaml`` (package data).

Each file holds one case, or several separated by ``---`` lines (YAML documents); ids are
unique across the catalogue. Files are named by area (migration.yaml, service.yaml, ...).
Loaded through importlib.resources, so it works from a wheel.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from harness.scenario.loader import ScenarioError, load_scenario, parse_scenario
from harness.scenario.model import Scenario

CATALOGUE_PACKAGE = "harness.catalogue"


def _only_comments(doc: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in doc.splitlines())


@cache
def _load() -> dict[str, Scenario]:
    cases: dict[str, Scenario] = {}
    root = files(CATALOGUE_PACKAGE)
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith((".yaml", ".yml")):
            continue
        text = entry.read_text(encoding="utf-8")
        file = f"harness/catalogue/{entry.name}"
        offset = 0
        for doc in text.split("\n---\n"):
            if doc.strip() and not _only_comments(doc):
                case = parse_scenario("\n" * offset + doc, file)  # keeps the file's lines
                if case.id in cases:
                    raise ScenarioError(file, None, f"case id {case.id!r} is also in "
                                                    f"{cases[case.id].source}")
                cases[case.id] = case
            offset += doc.count("\n") + 2
    return cases


def load_catalogue() -> dict[str, Scenario]:
    """The shipped cases by id (a fresh dict; the cases themselves are immutable)."""
    return dict(_load())


def resolve(case_id_or_path: str) -> Scenario:
    """A catalogue id, or the path of a scenario file (anything with a / or a .yaml suffix
    that exists)."""
    path = Path(case_id_or_path)
    if case_id_or_path.endswith((".yaml", ".yml")) or "/" in case_id_or_path:
        return load_scenario(path)
    cases = _load()
    if case_id_or_path in cases:
        return cases[case_id_or_path]
    if path.exists():
        return load_scenario(path)
    raise ScenarioError(case_id_or_path, None,
                        "no such catalogue case or file (s1lab run --list shows the ids)")


__all__ = ["CATALOGUE_PACKAGE", "load_catalogue", "resolve"]
