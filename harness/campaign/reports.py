"""The campaign's reports, rebuilt from the store's results: JUnit, HTML and JSON in DIR.

TEMPORARY (s9-campaign): until branch s9-report's writers are merged this writes only
``results.json``; the call below is the one place that will call them.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.scenario import CaseResult


def _atomic_write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def write_reports(results: list[CaseResult], meta: dict[str, str], out: Path) -> dict[str, Path]:
    """Write the reports of ``results`` (matrix order) into ``out``; kind -> path."""
    path = out / "results.json"
    body = {"campaign": {k: meta[k] for k in ("name", "file", "seed", "fingerprint")},
            "cells": [r.to_dict() for r in results]}
    _atomic_write(path, json.dumps(body, indent=1, sort_keys=True) + "\n")
    return {"json": path}
