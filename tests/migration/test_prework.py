"""Dormant pre-work (TMAD 4.26) schedules on explicit time: behaviour 11 (exact attempt counts
and the exclusion that follows) and behaviour 12 (MOC (MDS) partial migration)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator.core.timebase import DAY, HOUR
from emulator.wire.vocabulary import DeviceType
from harness.migration.history import History
from harness.migration.prework import Answer, Work, record_prework, run_prework
from harness.migration.reasons import Reason
from harness.migration.rules import Action, evaluate, partial_on_gsme_firmware_failure
from harness.migration.tmad import ExclusionCategory, load_epcl
from tests.migration.test_rules import T0, make

E, G = DeviceType.ESME, DeviceType.GSME
EPCL = load_epcl()


def always(answer: Answer) -> Callable[[Work, DeviceType, int], Answer]:
    return lambda work, device, at: answer


def test_one_firmware_instruction_to_an_unreachable_meter_is_36_attempts_over_6_days() -> None:
    p = run_prework([E], T0, always(Answer.NO_WAN), works=[Work.FIRMWARE])
    first = [a for a in p.attempts if a.instruction == 1]
    assert len(first) == 36
    assert first[0].at_us == T0 and first[-1].at_us == T0 + 6 * DAY - 4 * HOUR
    assert {b.at_us - a.at_us for a, b in zip(first, first[1:], strict=False)} == {4 * HOUR}
    assert len(p.attempts) == 108  # three instructions
    assert [i.instruction for i in p.instructions] == [1, 2, 3]
    assert [i.started_us for i in p.instructions] == [T0, T0 + 6 * DAY, T0 + 12 * DAY]
    assert p.ended_us == T0 + 18 * DAY
    assert all(i.reason is Reason.PRE_WORK_NO_WAN for i in p.instructions)
    assert p.last_wan_contact_us is None


def test_configuration_is_23_attempts_over_3_days_69_over_three() -> None:
    p = run_prework([E], T0, always(Answer.FAILED), works=[Work.CONFIGURATION])
    assert [len([a for a in p.attempts if a.instruction == n]) for n in (1, 2, 3)] == [23] * 3
    assert p.count(Work.CONFIGURATION, E) == 69
    assert max(a.at_us for a in p.attempts if a.instruction == 1) < T0 + 3 * DAY
    assert p.ended_us == T0 + 9 * DAY
    assert all(i.reason is Reason.CONFIGURATION_FAILED for i in p.instructions)


def test_a_confirmation_timeout_is_10_attempts_over_10_days_30_over_three() -> None:
    p = run_prework([E], T0, always(Answer.UNCONFIRMED), works=[Work.FIRMWARE])
    confirmations = [a for a in p.attempts if a.confirmation]
    assert len(confirmations) == 30
    assert [len([a for a in confirmations if a.instruction == n]) for n in (1, 2, 3)] == [10] * 3
    first = [a.at_us for a in confirmations if a.instruction == 1]
    assert first[0] == T0 + DAY and first[-1] == T0 + 10 * DAY
    assert p.count(Work.FIRMWARE, E) == 3  # one work attempt per instruction took
    assert not p.ok(E)


def test_success_ends_the_instruction_and_configuration_follows() -> None:
    def device(work: Work, dev: DeviceType, at: int) -> Answer:
        return Answer.DONE if at >= T0 + 2 * DAY else Answer.NO_WAN

    p = run_prework([E, G], T0, device)
    assert p.ok(E) and p.ok(G)
    assert p.count(Work.FIRMWARE, E) == 13  # 0 h, 4 h, ... 48 h
    assert p.count(Work.CONFIGURATION, E) == 1
    assert p.last_wan_contact_us == T0 + 2 * DAY
    history = History("x")
    assert record_prework(p, history) == 0


@pytest.mark.parametrize(("group", "answer", "category"), [
    ("CB", Answer.FAILED, ExclusionCategory.FIRMWARE_CONFIG_FAILURE_MOC_MDS),  # 18.10
    ("CA", Answer.FAILED, ExclusionCategory.FIRMWARE_CONFIG_FAILURE_IOC),  # 18.11
    ("CA", Answer.NO_WAN, ExclusionCategory.NO_WAN_BEFORE_MIGRATION),  # 18.7
])
def test_used_up_instructions_lead_to_the_exclusion(group: str, answer: Answer,
                                                    category: ExclusionCategory) -> None:
    record = make(group, gas=False, dmc="default" if group == "CB" else "ioc-credit")
    history = History(record.installation_id)
    p = run_prework([E], T0, always(answer))
    assert record_prework(p, history) == 3
    assert len([a for a in history if a.step == "pre-work"]) == 3
    decision = evaluate(record, history, EPCL)
    assert (decision.action, decision.category) == (Action.EXCLUDE, category)


def test_two_failed_instructions_are_not_yet_persistent() -> None:
    record = make("CA", gas=False)

    def device(work: Work, dev: DeviceType, at: int) -> Answer:
        return Answer.DONE if at >= T0 + 13 * DAY else Answer.FAILED

    history = History(record.installation_id)
    p = run_prework([E], T0, device)
    assert p.ok(E)
    assert record_prework(p, history) == 2
    assert evaluate(record, history, EPCL).action is not Action.EXCLUDE


def test_moc_mds_gsme_only_failure_is_partial_migration() -> None:
    record = make("CB", dmc="default")

    def device(work: Work, dev: DeviceType, at: int) -> Answer:
        return Answer.FAILED if dev is G else Answer.DONE

    p = run_prework([E, G], T0, device)
    assert p.ok(E) and not p.ok(G)
    assert p.count(Work.FIRMWARE, G) == 108 and p.count(Work.CONFIGURATION, G) == 0
    decision = partial_on_gsme_firmware_failure(record, p.ok(E), p.ok(G))
    assert decision.action is Action.PARTIAL_ESME_ONLY
    assert decision.category is ExclusionCategory.FIRMWARE_CONFIG_FAILURE_MOC_MDS
    assert decision.excluded_devices == (G,)
    # The same failure in IOC is not partial (the TMAD does not extend 4.26A-C there yet).
    ioc = partial_on_gsme_firmware_failure(make("CA"), p.ok(E), p.ok(G))
    assert ioc.action is Action.EXCLUDE
