"""SVTAD/DMCT-style test cases: the schema, the runner, the expectations, the results."""

from harness.scenario.result import CaseResult, ExpectationResult, TimelineEvent, Verdict

__all__ = ["CaseResult", "ExpectationResult", "TimelineEvent", "Verdict"]
