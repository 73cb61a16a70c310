"""The HTML report: one self-contained page that opens offline from its folder.

No network at all: the CSS and the script are inline, and a Content-Security-Policy lets the
page load nothing but itself (the script is allowed by its hash). Everything taken from a
result is escaped by the template engine (autoescape), and links go only to files inside the
report's folder. The page reads fully without its script, which only adds filters, copy buttons
and a ``data-rendered`` mark on <html> that says the matrix and the timelines were laid out.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from harness.report.atomic import write_atomic
from harness.report.info import CampaignInfo
from harness.report.matrix import Matrix, build_matrix
from harness.report.timeline import (
    LANE_H,
    LANES,
    TOP,
    Picture,
    clock_offset,
    offset_label,
    picture,
    utc,
)
from harness.scenario.result import CaseResult, Verdict

EVIDENCE_NAMES: dict[str, str] = {
    "trace": "Trace (JSON lines)",
    "han_pcap": "HAN capture",
    "han_keys": "HAN keys",
    "wan_pcap": "WAN capture",
    "tls_keylog": "WAN TLS key log (NSS)",
    "pcapng": "Capture (pcapng)",
    "log": "Log",
}


@dataclass(frozen=True)
class Evidence:
    kind: str
    name: str
    path: str  # as the result gave it
    href: str | None  # None when the path leaves the cell folder (not linked)
    present: bool


@dataclass(frozen=True)
class CellView:
    anchor: str
    result: CaseResult
    picture: Picture
    evidence: tuple[Evidence, ...]
    folder: str
    duration: str
    checks: str  # "3/4 expectations"


def _evidence(result: CaseResult, folder: str, out_dir: Path) -> tuple[Evidence, ...]:
    rows = []
    for kind, rel in sorted(result.evidence.items()):
        parts = PurePosixPath(rel).parts
        safe = bool(parts) and not PurePosixPath(rel).is_absolute() and ".." not in parts \
            and "\\" not in rel and ".." not in PurePosixPath(folder).parts
        target = f"{folder}/{rel}"
        rows.append(Evidence(kind=kind, name=EVIDENCE_NAMES.get(kind, kind), path=rel,
                             href=quote(target, safe="/") if safe else None,
                             present=safe and (out_dir / target).is_file()))
    return tuple(rows)


def _cells(matrix: Matrix, out_dir: Path) -> list[CellView]:
    views = []
    for i, r in enumerate(matrix.results()):
        folder = matrix.info.cell_folder(r.dmc, r.case_id)
        passed = sum(e.passed for e in r.expectations)
        views.append(CellView(
            anchor=f"cell-{i}", result=r, picture=picture(r), folder=folder,
            evidence=_evidence(r, folder, out_dir),
            duration=offset_label(max(0, r.ended_us - r.started_us) / 1e6),
            checks=f"{passed}/{len(r.expectations)} expectations"))
    return views


def _asset(name: str) -> str:
    return (resources.files("harness.report") / "templates" / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("harness.report", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENV.globals.update(clock_offset=clock_offset, utc=utc, lanes=LANES, lane_h=LANE_H, top=TOP)


def html_text(results: Iterable[CaseResult], out_dir: Path,
              campaign: CampaignInfo | None = None) -> str:
    """The page for ``results``; evidence links are checked against files under ``out_dir``."""
    matrix = build_matrix(results, campaign)
    style, script = _asset("report.css"), _asset("report.js")
    csp = (f"default-src 'none'; style-src {_csp_hash(style)}; script-src {_csp_hash(script)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    cells = _cells(matrix, out_dir)
    return _ENV.get_template("report.html.j2").render(
        m=matrix, info=matrix.info, tally=matrix.tally(), cells=cells,
        by_cell={(c.result.case_id, c.result.dmc): c for c in cells},
        problems=[c for c in cells if c.result.verdict in (Verdict.FAIL, Verdict.ERROR)],
        behaviours=matrix.behaviour_coverage(), clauses=matrix.clause_coverage(),
        style=Markup(style), script=Markup(script), csp=csp,
    )


def write_html(results: Iterable[CaseResult], out_dir: Path,
               campaign: CampaignInfo | None = None, name: str = "report.html") -> Path:
    """Write the HTML report as ``out_dir/name`` atomically and return its path."""
    path = out_dir / name
    return write_atomic(path, html_text(results, out_dir, campaign))
