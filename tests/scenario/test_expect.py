"""Each expectation kind, passing and failing, against a real lab run."""

from __future__ import annotations

from typing import Any

from emulator.core.timebase import HOUR
from emulator.drivers.clock import run_virtual
from harness.scenario import ExpectationResult, Lab, Scenario
from harness.scenario.expect import check
from harness.scenario.model import Fault, Start


def _exp(spec: dict[str, Any]) -> Any:
    case = Scenario.model_validate({"id": "x", "title": "x", "expect": [spec]})
    return case.expect[0]


async def _check(lab: Lab, spec: dict[str, Any]) -> ExpectationResult:
    return await check(_exp(spec), lab)


def test_outcome_register_event_deadline_pass_and_fail() -> None:
    async def main() -> None:
        async with Lab.open("default", seed=2, start=Start(state="active")) as lab:
            await lab.wait(HOUR, "settled")
            await lab.top_up("esme", amount_pence=700, name="t1")
            await lab.top_up("esme", utrn="replay", name="t2")

            ok = await _check(lab, {"outcome": {"of": "t1", "is": "ACCEPTED"}})
            assert ok.passed and ok.message.startswith("PASS: ") and "ACCEPTED" in ok.message
            bad = await _check(lab, {"outcome": {"of": "t2", "is": "ACCEPTED"}})
            assert not bad.passed
            assert "status is ALREADY_USED, expected ACCEPTED" in bad.message
            field = await _check(lab, {"outcome": {"of": "t1", "field": "amount_pence",
                                                   "equals": 700}})
            assert field.passed
            assert not (await _check(lab, {"outcome": {"of": "t1", "field": "amount_pence",
                                                       "at_least": 701}})).passed
            missing = await _check(lab, {"outcome": {"of": "nope", "is": "ok"}})
            assert not missing.passed and "no action named 'nope'" in missing.message

            up = await _check(lab, {"register": {"name": "balance_pence",
                                                 "increased_since": "settled",
                                                 "by_at_least": 650}})
            assert up.passed, up.message
            too_much = await _check(lab, {"register": {"name": "balance_pence",
                                                       "increased_since": "settled",
                                                       "by_at_least": 800}})
            assert not too_much.passed and "expected increased by at least 800" in (
                too_much.message)
            assert not (await _check(lab, {"register": {"name": "balance_pence",
                                                        "unchanged_since": "settled"}})).passed
            assert (await _check(lab, {"register": {"name": "balance_pence",
                                                    "unchanged_since": "t2"}})).passed
            assert (await _check(lab, {"register": {"name": "payment_mode",
                                                    "equals": "prepayment"}})).passed
            assert not (await _check(lab, {"register": {"name": "payment_mode",
                                                        "equals": "credit"}})).passed

            seen = await _check(lab, {"event": {"name": "TopUpAccepted", "after": "t1",
                                                "before": "t1"}})
            assert seen.passed and "1 seen" in seen.message
            assert not (await _check(lab, {"event": {"name": "TopUpAccepted",
                                                     "seen": False}})).passed
            assert not (await _check(lab, {"event": {"name": "TopUpAccepted",
                                                     "after": "t2"}})).passed
            assert (await _check(lab, {"event": {"name": "TopUpResult", "device": "smso",
                                                 "fields": {"status": "ALREADY_USED"},
                                                 "at_most": 1}})).passed
            assert not (await _check(lab, {"event": {"name": "TopUpResult", "device": "smso",
                                                     "at_least": 3}})).passed
            assert not (await _check(lab, {"event": {"name": "TopUpResult",
                                                     "before": "30m"}})).passed

            assert (await _check(lab, {"deadline": {"of": "settled", "within": "61m"}})).passed
            late = await _check(lab, {"deadline": {"of": "settled", "within": "59m"}})
            assert not late.passed and "took 1 h (limit 0.983333 h)" in late.message

    run_virtual(main())


def test_connects_and_state_pass_and_fail_around_a_migration() -> None:
    async def main() -> None:
        async with Lab.open("default", seed=2, start=Start(settle="24h")) as lab:
            assert (await _check(lab, {"connects": {"role": "smso", "is": True}})).passed
            assert not (await _check(lab, {"connects": {"role": "s1sp", "is": True}})).passed
            assert (await _check(lab, {"state": {"owner": "smso", "apn": "smso"}})).passed
            m = await lab.migrate(name="m1")
            assert m.status == "migrated", m.summary()
            refused = await _check(lab, {"connects": {"role": "smso", "is": True}})
            assert not refused.passed and "UNKNOWN_CA" in refused.message
            assert (await _check(lab, {"connects": {"role": "s1sp", "is": True}})).passed
            state = await _check(lab, {"state": {"owner": "smso", "anchor": "s1sp"}})
            assert not state.passed and state.message == "FAIL: owner is s1sp, expected smso"
            assert (await _check(lab, {"state": {"owner": "s1sp", "anchor": "s1sp",
                                                 "apn": "dcc"}})).passed

    run_virtual(main())


def test_an_injected_fault_changes_the_outcome() -> None:
    """The same migration with a GT01 fault fails where the healthy one migrated above."""

    async def main() -> None:
        async with Lab.open("default", seed=2) as lab:
            lab.inject(Fault(kind="han-outage", device="gsme", at=0, for_="100h"))
            await lab.wait(76 * HOUR)
            m = await lab.migrate(name="m1")
            assert (m.status, m.reason, m.step) == ("failed", "GT01", "pre-flight")
            r = await _check(lab, {"outcome": {"of": "m1", "is": "migrated"}})
            assert not r.passed and "status is failed, expected migrated" in r.message

    run_virtual(main())


def test_expect_helper_asserts_and_refuses_bad_specs() -> None:
    import pytest

    from harness.scenario import ScenarioError
    from harness.scenario.expect import expect

    async def main() -> None:
        async with Lab.open("default", seed=2) as lab:
            await lab.read("esme", name="r1")
            ok = await expect(lab, {"outcome": {"of": "r1", "is": "ok"}})
            assert ok.passed
            with pytest.raises(AssertionError, match="status is ok, expected error"):
                await expect(lab, {"outcome": {"of": "r1", "is": "error"}})
            with pytest.raises(ScenarioError, match="expect\\[0\\].outcome.iz: unknown key"):
                await expect(lab, {"outcome": {"of": "r1", "iz": "ok"}})

    run_virtual(main())
