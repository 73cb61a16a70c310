"""TEMPORARY STAND-IN (branch s9-campaign only, never shipped): a tiny scenario model and runner
with the interface branch s9-scenario provides, so the campaign code can be built first.
Deleted when s9-scenario is merged."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.scenario.result import CaseResult, ExpectationResult, TimelineEvent, Verdict


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    tags: tuple[str, ...]
    behaviours: tuple[int, ...]
    clauses: tuple[str, ...]
    dmcs: tuple[str, ...]
    verdict: str = "pass"
    cost: float = 0.3

    def applies_to(self, dmc_name: str) -> bool:
        return not self.dmcs or dmc_name in self.dmcs


def _scenario(d: dict[str, object]) -> Scenario:
    return Scenario(id=str(d["id"]), title=str(d["title"]),
                    tags=tuple(d.get("tags", ())),  # type: ignore[arg-type]
                    behaviours=tuple(d.get("behaviours", ())),  # type: ignore[arg-type]
                    clauses=tuple(d.get("clauses", ())),  # type: ignore[arg-type]
                    dmcs=tuple(d.get("dmcs", ())),  # type: ignore[arg-type]
                    verdict=str(d.get("verdict", "pass")),
                    cost=float(d.get("cost", 0.3)))  # type: ignore[arg-type]


def load_scenario(path: Path) -> Scenario:
    return _scenario(yaml.safe_load(Path(path).read_text()))


_CASES = [
    {"id": f"standin-{i:02d}", "title": f"stand-in case {i}", "tags": [tag],
     "behaviours": [i], "clauses": ["TMAD 18.11"],
     "dmcs": ["ioc-credit", "ioc-dual-credit"] if tag == "ioc" else []}
    for i, tag in enumerate(["migration", "migration", "service", "service", "ioc", "security"],
                            start=1)
]


def load_catalogue() -> dict[str, Scenario]:
    return {str(c["id"]): _scenario(c) for c in _CASES}  # type: ignore[arg-type]


def run_cell(case_id_or_path: str, dmc: str, seed: int, out_dir: Path | None) -> CaseResult:
    cat = load_catalogue()
    case = cat[case_id_or_path] if case_id_or_path in cat else load_scenario(Path(case_id_or_path))
    t0 = time.perf_counter()
    digest = hashlib.sha256(f"{case.id}|{dmc}|{seed}".encode()).digest()
    end = time.process_time() + case.cost * (0.5 + digest[0] / 255)
    n = 0
    while time.process_time() < end:
        n += 1
    verdict = Verdict(case.verdict)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "trace.jsonl").write_text(f'{{"seed": {seed}, "d": "{digest.hex()}"}}\n')
    return CaseResult(
        case_id=case.id, title=case.title, dmc=dmc, seed=seed, verdict=verdict,
        behaviours=case.behaviours, clauses=case.clauses,
        expectations=(ExpectationResult("stand-in", verdict is Verdict.PASS, "stand-in check"),),
        timeline=(TimelineEvent(1_600_000_000_000_000 + digest[1], "harness", "start", "action"),),
        started_us=1_600_000_000_000_000, ended_us=1_600_000_000_000_000 + 1000 * digest[2],
        wall_s=time.perf_counter() - t0,
        repro=f"s1lab run {case_id_or_path} --dmc {dmc} --seed {seed}",
        evidence={"trace": "trace.jsonl"} if out_dir is not None else {},
    )
