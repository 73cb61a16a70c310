"""SVTAD/DMCT-style test cases: the schema, the runner, the expectations, the results.

    from harness.scenario import load_scenario, load_catalogue, run_cell, Lab
"""

from harness.scenario.catalogue import load_catalogue
from harness.scenario.lab import ActionResult, Lab
from harness.scenario.loader import ScenarioError, load_scenario, parse_scenario
from harness.scenario.model import Scenario
from harness.scenario.result import CaseResult, ExpectationResult, TimelineEvent, Verdict
from harness.scenario.runner import run_cell, run_scenario

__all__ = [
    "ActionResult",
    "CaseResult",
    "ExpectationResult",
    "Lab",
    "Scenario",
    "ScenarioError",
    "TimelineEvent",
    "Verdict",
    "load_catalogue",
    "load_scenario",
    "parse_scenario",
    "run_cell",
    "run_scenario",
]
