"""Bench runs planned without a radio: the scenario's ``physical:`` bindings, the --device
option, and every way a binding or a case can be refused before anything starts; the
CaseResult's record of physical devices; the Metering-only readings on the wire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from emulator.core.timebase import HOUR, MINUTE, SECOND
from emulator.errors import LabError, ScenarioError
from emulator.profiles import load_dmc
from emulator.wire import wan
from emulator.wire.vocabulary import DeviceType, MessageType
from harness.scenario import CaseResult, Verdict, load_scenario, parse_scenario
from harness.scenario.bench import BenchPlan, parse_device_option, plan_bench, scenario_span_us
from harness.scenario.result import PhysicalDevice
from harness.scenario.schema import scenario_json_schema
from hw.lab import load_lab

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_LAB = ROOT / "docs" / "examples" / "lab.yaml"
EXAMPLE_CASE = ROOT / "docs" / "examples" / "bench-esme-read.yaml"
DMC = load_dmc("default")


def _case(extra: str = "", physical: str = "physical: {esme: esme-lab-1}") -> str:
    return (f"id: b\ntitle: bench\n{physical}\nactions:\n  - read: esme\n    as: r\n{extra}"
            "expect:\n  - outcome: {of: r, is: ok}\n")


def _plan(text: str, **kw: Any) -> BenchPlan:
    case = parse_scenario(text, "case.yaml")
    return plan_bench(case, DMC, load_lab(EXAMPLE_LAB), EXAMPLE_LAB, **kw)


def test_the_example_case_binds_the_example_lab_esme_and_plans() -> None:
    case = load_scenario(EXAMPLE_CASE)
    assert case.physical == {"esme": "esme-lab-1"}
    plan = plan_bench(case, DMC, load_lab(EXAMPLE_LAB), EXAMPLE_LAB)
    (esme,) = plan.devices
    assert (esme.role, esme.eui, esme.radio) == ("esme", "00-0D-6F-00-0A-BC-DE-F0", "chf-dongle")
    assert esme.model == "example E470 (SMETS1)"
    assert plan.radio_url.startswith("spinel:///dev/ttyACM0") and plan.pan_id == 0x1A2B
    assert plan.on_air() == {DeviceType.ESME: (esme.eui, bytes.fromhex(
        "83FED3407A939723A5C639B26916D505C3B5"))}
    assert plan.repro(str(EXAMPLE_CASE), "default", 1).endswith(
        "--lab " + str(EXAMPLE_LAB) + " --radio chf-dongle --device esme=esme-lab-1")


def test_device_option_adds_and_overrides_the_scenarios_bindings() -> None:
    plan = _plan(_case(), devices=(("gsme", "gsme-lab-1"),))
    assert {d.role: d.name for d in plan.devices} == {"esme": "esme-lab-1",
                                                      "gsme": "gsme-lab-1"}
    plan = _plan(_case(physical=""), devices=(("esme", "esme-lab-1"),))
    assert [d.name for d in plan.devices] == ["esme-lab-1"]


@pytest.mark.parametrize(("text", "kw", "message"), [
    (_case(physical="physical: {esme: esme-lab-9}"), {}, "no device 'esme-lab-9' in the lab "
     "file (bound to esme; it has: esme-lab-1, gsme-lab-1, chf-lab-1)"),
    (_case(physical="physical: {gsme: esme-lab-1}"), {},
     "device esme-lab-1 is an ESME, so it cannot be the case's gsme"),
    (_case(physical=""), {}, "binds no device to the lab"),
    (_case(), {"devices": (("gsme", "esme-lab-1"),)}, "bound to two roles"),
    (_case(physical="physical: {esme: chf-lab-1}"), {}, "is a CHF"),
    (_case(), {"radio": "nowhere"}, "no radio 'nowhere' in the lab file"),
    (_case("  - wait: 2h\n"), {}, "takes 2 h of scenario time, which on a bench is real time"),
    (_case("  - migrate: {}\n    as: m\n"), {}, "actions[1]: migrate does not run on a bench"),
    (_case("  - firmware: {device: esme}\n"), {},
     "actions[1]: firmware for the esme, a physical device"),
    (_case("faults:\n  - {kind: loss, device: esme, rate: 0.5}\n"), {},
     "faults[0]: a loss fault cannot be injected into a physical device (esme)"),
    (_case("start: {payment_mode: {esme: prepayment}}\n"), {},
     "start.payment_mode sets the esme's model"),
])
def test_a_binding_or_case_the_bench_cannot_run_is_one_lab_error(
        text: str, kw: dict[str, object], message: str) -> None:
    with pytest.raises(LabError) as err:
        _plan(text, **kw)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_the_time_limit_is_the_cases_own_timeline_and_can_be_raised() -> None:
    case = parse_scenario(_case("  - wait: 90s\n  - read: esme\n    at: 5m\n"), "c.yaml")
    assert scenario_span_us(case) == 5 * MINUTE
    plan_bench(case, DMC, load_lab(EXAMPLE_LAB), EXAMPLE_LAB, time_limit_us=5 * MINUTE)
    with pytest.raises(LabError, match="over the limit of 4 min"):
        plan_bench(case, DMC, load_lab(EXAMPLE_LAB), EXAMPLE_LAB, time_limit_us=4 * MINUTE)
    faulted = parse_scenario(_case("faults:\n  - {kind: wan-outage, at: 1h, for: 1h}\n"), "f")
    assert scenario_span_us(faulted) == 2 * HOUR


def test_a_dmc_without_the_bound_role_is_refused() -> None:
    case = parse_scenario(_case(physical="physical: {gsme: gsme-lab-1}"), "c.yaml")
    with pytest.raises(LabError, match="the DMC ioc-credit has no gsme for lab device gsme-lab-1"):
        plan_bench(case, load_dmc("ioc-credit"), load_lab(EXAMPLE_LAB), EXAMPLE_LAB)


def test_device_option_syntax() -> None:
    assert parse_device_option("ESME = esme-lab-1") == ("esme", "esme-lab-1")
    for bad in ("esme", "water=x", "esme="):
        with pytest.raises(LabError, match="write ROLE=NAME"):
            parse_device_option(bad)


@pytest.mark.parametrize(("physical", "message"), [
    ("physical: {esme: a, gsme: a}", "lab device a bound to two roles"),
    ("physical: {water: a}", "physical.water"),
    ("physical: {esme: 'not a name'}", "physical.esme"),
    ("start: {han: direct}\nphysical: {esme: a}", "need the ZigBee HAN"),
])
def test_scenario_bindings_are_validated_with_file_and_line(physical: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(")):
        parse_scenario(_case(physical=physical), "case.yaml")


def test_the_published_schema_describes_physical() -> None:
    schema = scenario_json_schema()
    prop = schema["properties"]["physical"]
    assert set(prop["propertyNames"]["enum"]) == {"esme", "gsme", "ppmid", "ihd"}
    jsonschema.validate({"id": "x", "title": "t", "physical": {"esme": "esme-lab-1"},
                         "expect": []}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "x", "title": "t", "physical": {"esme": 3}}, schema)


def test_case_result_records_physical_devices_and_virtual_results_stay_as_they_were() -> None:
    base = CaseResult(case_id="c", title="t", dmc="default", seed=1, verdict=Verdict.PASS,
                      behaviours=(), clauses=(), expectations=(), timeline=(), started_us=0,
                      ended_us=1, wall_s=0.5, repro="s1lab run c")
    assert "physical" not in base.to_dict()  # virtual cells: the report schema is unchanged
    bench = CaseResult(**{**base.__dict__, "physical": (PhysicalDevice(
        "esme", "esme-lab-1", "00-0D-6F-00-0A-BC-DE-F0", "E470", "bus", "zep://x", 7),)})
    again = CaseResult.from_json(bench.to_json())
    assert again == bench and again.physical[0].joined_us == 7
    assert json.loads(bench.to_json())["physical"][0]["eui"] == "00-0D-6F-00-0A-BC-DE-F0"


def test_metering_only_readings_round_trip_and_say_what_they_are() -> None:
    esme = wan.EsmeMetering(import_wh=12_345, demand_w=-7, status=0x01)
    payload = wan.encode_response(MessageType.READ_INSTANTANEOUS, esme)
    assert payload[0] == 0x82 and len(payload) == 14
    assert wan.decode_response(0x81, payload) == esme
    gsme = wan.GsmeMetering(volume_dm3=99, flow_dm3_per_h=3, data_age_s=30 * SECOND // SECOND)
    payload = wan.encode_response(MessageType.READ_INSTANTANEOUS, gsme)
    assert payload[0] == 0x83 and len(payload) == 17
    assert wan.decode_response(0x81, payload) == gsme
    assert esme.device_type is DeviceType.ESME and gsme.device_type is DeviceType.GSME
