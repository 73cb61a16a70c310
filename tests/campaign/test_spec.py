"""The campaign file: schema, one-line errors naming file and line, the shipped campaigns."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.errors import CampaignError
from emulator.profiles import list_dmcs
from harness.campaign import expand, list_campaigns, load_campaign, parse_campaign
from tests.campaign.conftest import s1lab, some_cases

GOOD = """\
schema_version: 1
name: t
dmcs:
  - default
  - ioc-credit
cases: [{case}]
"""


def _error(text: str, tmp_path: Path) -> CampaignError:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(CampaignError) as info:
        expand(load_campaign(str(path)))
    assert info.value.file == str(path)
    return info.value


def test_a_good_file_loads(tmp_path: Path) -> None:
    case = some_cases(1)[0]
    campaign = parse_campaign(GOOD.format(case=case), "c.yaml", tmp_path)
    assert campaign.spec.dmcs == ("default", "ioc-credit")
    assert campaign.spec.seed == 1 and campaign.spec.cases == (case,)
    assert campaign.line_of("dmcs", 1) == 5


@pytest.mark.parametrize(("text", "line", "words"), [
    (GOOD + "colour: red\n", 7, "colour: Extra inputs are not permitted"),
    (GOOD.replace("name: t", "name: 'a b'"), 2, "name: String should match pattern"),
    (GOOD.replace("  - ioc-credit", "  - no-such-dmc"), 5, "dmcs[1]: dmcs/no-such-dmc.yaml"),
    (GOOD.replace("  - ioc-credit", "  - default"), 5, "DMC 'default' is listed twice"),
    (GOOD.replace("[{case}]", "[no-such-case]"), 6, "cases[0]: unknown test case"),
    (GOOD.replace("cases: [{case}]", "tags: [no-such-tag]"), 6, "tags[0]: unknown tag"),
    (GOOD.replace("cases: [{case}]", "files: [gone.yaml]"), 6, "no such scenario file"),
    (GOOD.replace("cases: [{case}]", ""), 1, "names no test case"),
    (GOOD.replace("schema_version: 1", "schema_version: 2"), 1, "this s1lab reads 1"),
    (GOOD.replace("  - default", "  - [default"), 6, "(while parsing a flow sequence at line 4)"),
    (GOOD.replace("seed", "").replace("name: t", "name: t\nseed: x"), 3, "seed: Input should"),
    ("- just a list\n", 1, "expected a mapping"),
])
def test_bad_files_name_file_line_and_problem(tmp_path: Path, text: str, line: int,
                                              words: str) -> None:
    error = _error(text.replace("{case}", some_cases(1)[0]), tmp_path)
    assert error.line == line, str(error)
    assert words in error.reason, str(error)
    assert str(error).startswith(f"{error.file}:{line}: ")
    assert "\n" not in str(error)


def test_unknown_case_suggests_a_close_id(tmp_path: Path) -> None:
    case = some_cases(1)[0]
    error = _error(GOOD.replace("[{case}]", f"[{case}x]"), tmp_path)
    assert f"did you mean {case!r}" in error.reason


def test_missing_campaign_names_the_builtins() -> None:
    with pytest.raises(CampaignError, match="no such file or built-in campaign .*smoke"):
        load_campaign("/nonexistent/c.yaml")


def test_the_shipped_campaigns_expand_over_three_dmcs_or_more() -> None:
    assert "smoke" in list_campaigns()
    for name in list_campaigns():
        plan = expand(load_campaign(name))
        assert len(plan.dmcs) >= 3 and set(plan.dmcs) <= set(list_dmcs())
        assert any(cell.skip_reason is None for cell in plan.cells)


@pytest.mark.io
def test_the_command_line_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GOOD.replace("{case}", "no-such-case"))
    proc = s1lab("campaign", "run", path, "--out", tmp_path / "out", check=2)
    assert proc.stderr.strip().splitlines() == [
        f"s1lab campaign: error: {path}:6: cases[0]: unknown test case 'no-such-case'"]
    assert not (tmp_path / "out").exists()


@pytest.mark.io
def test_campaign_list_and_usage_errors(tmp_path: Path) -> None:
    listed = s1lab("campaign", "list", check=0).stdout.splitlines()
    assert [line.split()[0] for line in listed] == list_campaigns()
    proc = s1lab("campaign", "run", "smoke", "--out", tmp_path / "o", "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:1", check=2)
    assert proc.stderr.startswith("s1lab campaign: error: --workers is for local runs")
    assert not (tmp_path / "o").exists()


@pytest.mark.io
def test_a_bad_scenario_file_in_a_campaign_names_its_own_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad-case\ntitle: t\nactions:\n  - wiat: 1h\n")
    path = tmp_path / "c.yaml"
    path.write_text(GOOD.replace("cases: [{case}]", "files: [bad.yaml]"))
    proc = s1lab("campaign", "run", path, "--out", tmp_path / "out", check=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"s1lab campaign: error: {bad}:4: ")
