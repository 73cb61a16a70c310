"""Scenario files: the schema, one-line errors naming file and line, the JSON Schema, the
catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.scenario import ScenarioError, load_catalogue, load_scenario, parse_scenario
from harness.scenario.catalogue import resolve
from harness.scenario.model import Migrate, Scenario, TopUp
from harness.scenario.schema import render

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
id: ok-case
title: a case
behaviours: [25]
clauses: ["SRV 2.2"]
faults:
  - {kind: han-outage, device: gsme, at: 1h, for: 73h}
actions:
  - wait: 90m
  - top_up: {amount_pence: 500}
    as: t1
  - migrate: {attempts: 2}
    as: m1
expect:
  - outcome: {of: t1, is: ACCEPTED}
  - deadline: {of: m1, within: 2d}
"""


def test_a_good_file_parses_with_durations_in_microseconds() -> None:
    case = parse_scenario(GOOD, "good.yaml")
    assert case.id == "ok-case" and case.source == "good.yaml"
    assert case.faults[0].at == 3600 * 10**6 and case.faults[0].for_ == 73 * 3600 * 10**6
    assert case.actions[0].args == 90 * 60 * 10**6
    assert isinstance(case.actions[1], TopUp) and case.actions[1].as_ == "t1"
    assert isinstance(case.actions[2], Migrate) and case.actions[2].migrate.attempts == 2


@pytest.mark.parametrize(("text", "line", "words"), [
    # a bad value deep inside an action: the line of that value
    (GOOD.replace("amount_pence: 500", "amount_pence: -5"), 9,
     "actions[1].top_up.amount_pence: Input should be greater than 0"),
    # an unknown key
    (GOOD.replace("is: ACCEPTED", "iss: ACCEPTED"), 14, "expect[0].outcome.iss: unknown key"),
    # an action with no known kind
    (GOOD.replace("  - wait: 90m", "  - snooze: 90m"), 8, "an action needs exactly one of"),
    # two kinds in one action
    (GOOD.replace("  - wait: 90m", "  - {wait: 90m, read: esme}"), 8, "(got wait, read)"),
    # a fault missing what its kind needs
    (GOOD.replace(", for: 73h", ""), 6, "a han-outage fault needs `for`"),
    # a bad duration
    (GOOD.replace("wait: 90m", "wait: soon"), 8, "not a duration: 'soon'"),
    # a required field missing: the line of the mapping
    (GOOD.replace("title: a case\n", ""), 1, "title: missing (required)"),
    # a name used twice
    (GOOD.replace("as: m1", "as: t1"), 1, "the name 't1' is used twice"),
    # a firmware image that names no catalogue image nor a version
    (GOOD.replace("  - wait: 90m", "  - firmware: {image: x}"), 8,
     "firmware.image: String should match pattern"),
    # an installation the lab does not have
    (GOOD.replace("  - wait: 90m", "  - {wait: 90m, installation: 2}"), 1,
     "actions[0]: installation 2, but start.installations is 1"),
    # YAML syntax error
    (GOOD.replace("behaviours: [25]", "behaviours: [25"), 4, "YAML error"),
    # a duplicate key
    (GOOD.replace("clauses:", "title: again\nclauses:"), 4, "duplicate key 'title'"),
])
def test_a_bad_file_gives_one_line_with_file_line_and_problem(
        text: str, line: int, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "cases/bad.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cases/bad.yaml:{line}: "), message
    assert words in message, message
    assert info.value.line == line


def test_a_case_without_expectations_is_refused() -> None:
    text = "id: x\ntitle: t\nactions:\n  - wait: 1h\n"
    with pytest.raises(ScenarioError, match="at least one expectation"):
        parse_scenario(text, "x.yaml")


def test_a_file_that_is_not_a_mapping_or_missing(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"x\.yaml:1: expected a mapping"):
        parse_scenario("- 1\n- 2\n", "x.yaml")
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "absent.yaml")
    with pytest.raises(ScenarioError, match="no such catalogue case"):
        resolve("no-such-case")


def test_published_json_schema_matches_the_models() -> None:
    published = (ROOT / "docs/schemas/scenario.schema.json").read_text(encoding="utf-8")
    assert published == render(), "regenerate: python -m harness.scenario.schema"
    schema = json.loads(published)
    assert {"id", "title", "actions", "expect", "faults", "start", "applies_to"} <= set(
        schema["properties"])


def test_catalogue_loads_with_unique_ids_behaviours_and_clauses() -> None:
    cases = load_catalogue()
    assert len(cases) >= 10
    for case_id, case in cases.items():
        assert isinstance(case, Scenario) and case.id == case_id
        assert case.behaviours, f"{case_id} names no behaviour"
        assert case.clauses, f"{case_id} names no clause"
        assert case.source.startswith("harness/catalogue/")
    kinds = {type(a).__name__ for c in cases.values() for a in c.actions}
    assert {"Migrate", "Rollback", "TopUp", "Join", "Connect", "KeySwitch"} <= kinds


def test_catalogue_errors_name_the_line_in_a_multi_case_file() -> None:
    # Cases after the first in a file keep their own line numbers.
    from harness.scenario.catalogue import _only_comments  # noqa: F401 - module loads
    text = (ROOT / "harness/catalogue/migration.yaml").read_text(encoding="utf-8")
    docs = text.split("\n---\n")
    second_start = docs[0].count("\n") + 2
    bad = "\n" * second_start + docs[1].replace("migrate: {}", "migrate: {attempts: 0}", 1)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(bad, "harness/catalogue/migration.yaml")
    wanted = text.splitlines().index("  - migrate: {}", second_start) + 1
    assert info.value.line == wanted


def test_applies_to_by_needs_and_names() -> None:
    cases = load_catalogue()
    assert cases["mig-gt01-preflight"].applies_to("default")
    assert not cases["mig-gt01-preflight"].applies_to("ioc-credit")  # no GSME
    assert not cases["svc-topup-utrn"].applies_to("ioc-credit")  # credit ESME
    only = parse_scenario(GOOD + "applies_to: {dmcs: [ioc-credit]}\n", "x.yaml")
    assert only.applies_to("ioc-credit") and not only.applies_to("default")
