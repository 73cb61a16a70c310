"""SVTAD/DMCT-style test cases: the schema, the runner, the expectations, the results."""

from harness.scenario.result import CaseResult, ExpectationResult, TimelineEvent, Verdict
from harness.scenario.standin_s9campaign import Scenario, load_scenario  # TEMPORARY STAND-IN

__all__ = ["CaseResult", "ExpectationResult", "Scenario", "TimelineEvent", "Verdict",
           "load_scenario"]
