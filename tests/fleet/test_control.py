"""Fleet commands on the virtual clock (no broker): every operation, its reply, and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from emulator import Fleet, Scheduler, current_clock, default_dmc, run_virtual, sleep_us
from emulator.core.timebase import MINUTE
from emulator.trace import Trace
from harness.fleet.control import Controller
from harness.fleet.plan import FleetPlan, Shard
from tests.fleet.schemas import check

WHOLE = Shard(1, 1)


@contextmanager
def controller(count: int = 3, shard: Shard = WHOLE) -> Iterator[tuple[Controller,
                                                                              Fleet, Trace]]:
    scheduler = Scheduler(current_clock())
    trace = Trace()
    fleet = Fleet(default_dmc(), count, 5, scheduler, trace)
    plan = FleetPlan(count * shard.count, shard)
    members = {m.id for m in plan.members()}
    by_id = {i.id: i for i in fleet.installations if i.id in members}
    try:
        yield Controller(plan, by_id, scheduler, trace.write), fleet, trace
    finally:
        fleet.close()
        scheduler.close()


def one(c: Controller, target: str, **command: object) -> dict[str, object]:
    check("command", command)
    replies = c.handle(target, json.dumps(command).encode())
    assert len(replies) == 1
    check("reply", replies[0])
    return replies[0]


def test_a_pending_fault_can_be_cleared_before_it_fires() -> None:
    async def main() -> None:
        with controller() as (c, fleet, _):
            r = one(c, "i00002", id="a", op="fault", spec="loss:esme=0.4@10m")
            assert r["ok"] and r["id"] == "a"
            state = one(c, "i00002", op="read")["result"]
            assert isinstance(state, dict) and state["pending_faults"][0]["fault"] == "loss"
            cleared = one(c, "i00002", op="clear", kind="loss")["result"]
            assert isinstance(cleared, dict) and cleared["cancelled_pending"] == 1
            await sleep_us(20 * MINUTE)
            assert fleet.installations[1].han_node("esme").link.loss == 0.0

    run_virtual(main())


def test_a_fault_fires_and_clear_undoes_it() -> None:
    async def main() -> None:
        with controller() as (c, fleet, trace):
            assert one(c, "i00001", op="fault", spec="loss:gsme=0.25")["ok"]
            assert one(c, "i00001", op="fault", spec="battery-flat")["ok"]
            await sleep_us(MINUTE)
            inst = fleet.installations[0]
            assert inst.han_node("gsme").link.loss == 0.25
            assert inst.gsme is not None and inst.gsme.battery_flat
            assert one(c, "i00001", op="clear", kind="loss")["result"] == {
                "fault": "loss", "cleared": ["gsme"], "cancelled_pending": 0}
            assert one(c, "i00001", op="clear", kind="battery-flat")["ok"]
            assert inst.han_node("gsme").link.loss == 0.0 and not inst.gsme.battery_flat
            assert trace.counts["FaultCleared"] == 2

    run_virtual(main())


def test_topup_supply_and_read() -> None:
    async def main() -> None:
        with controller() as (c, fleet, _):
            before = fleet.installations[2].esme.registers(current_clock().now_us())
            top = one(c, "i00003", op="topup", pence=1234)["result"]
            assert isinstance(top, dict) and top["status"] == "ACCEPTED"
            assert top["balance_pence"] == before.balance_pence + 1234
            replay = one(c, "i00003", op="topup", utrn=top["utrn"])["result"]
            assert isinstance(replay, dict) and replay["status"] == "ALREADY_USED"
            gas = one(c, "i00003", op="supply", device="gsme", action="disable")["result"]
            assert isinstance(gas, dict) and gas["supply_state"] == "DISABLED"
            state = one(c, "i00003", op="read")["result"]
            assert isinstance(state, dict) and state["gsme"]["supply_state"] == "DISABLED"

    run_virtual(main())


def test_errors_are_replies_and_other_shards_stay_quiet() -> None:
    async def main() -> None:
        with controller(2, Shard(2, 2)) as (c, _, _):  # owns i00003, i00004 of 4
            # (the virtual fleet built i00001, i00002; this shard owns none of them)
            assert c.handle("i00001", b'{"op":"read"}') == []
            assert c.handle("i00099", b'{"op":"read"}') == []  # shard 1 answers that
            assert c.handle("shard-1", b'{"op":"ping"}') == []
        with controller(2) as (c, _, _):
            r = c.handle("i00099", b'{"op":"read"}')[0]
            assert r["error"] == {"code": "unknown-installation", "message": r["error"]["message"]}  # type: ignore[index]
            for payload, code in ((b"\xff", "malformed"), (b'{"op": 3}', "malformed"),
                                  (b'{"op":"topup","pence":-1}', "bad-argument"),
                                  (b'{"op":"clear","kind":"rain"}', "bad-argument"),
                                  (b'{"op":"fault","spec":"loss:esme=0.1#2"}', "bad-fault"),
                                  (b'{"id": true, "op":"ping"}', "malformed")):
                r = c.handle("i00001", payload)[0]
                check("reply", r)
                assert r["ok"] is False and r["error"]["code"] == code, (payload, r)  # type: ignore[index]
            group = c.handle("all", b'{"op":"ping","id":7}')[0]
            check("reply", group)
            assert group["id"] == 7 and group["ok"] and len(group["results"]) == 2  # type: ignore[arg-type]
            assert c.errors == 7

    run_virtual(main())


def test_an_ota_fault_is_applied_read_back_and_cleared() -> None:
    async def main() -> None:
        with controller() as (c, fleet, trace):
            inst = fleet.installations[0]
            assert inst.ota is not None
            r = one(c, "i00001", op="fault", spec="ota-activation-fails:esme")
            assert r["ok"], r
            await sleep_us(MINUTE)
            assert inst.ota.imposed(inst.esme.eui) == "activation_fails"
            state = one(c, "i00001", op="read")["result"]
            assert isinstance(state, dict) and state["ota_faults"] == {"esme": "activation_fails"}
            assert one(c, "i00001", op="fault", spec="ota-verify-fails:chf")["ok"]
            await sleep_us(MINUTE)
            # clearing one kind leaves the other in force
            assert one(c, "i00001", op="clear", kind="ota-activation-fails")["result"] == {
                "fault": "ota-activation-fails", "cleared": ["esme"], "cancelled_pending": 0}
            state = one(c, "i00001", op="read")["result"]
            assert isinstance(state, dict) and state["ota_faults"] == {"chf": "verify_fails"}
            assert inst.ota.imposed(inst.esme.eui) is None
            assert one(c, "i00001", op="clear", kind="ota-verify-fails", device="chf")["ok"]
            assert inst.ota.imposed(inst.chf.eui) is None
            assert trace.counts["FaultApplied"] == 2 and trace.counts["FaultCleared"] == 2

    run_virtual(main())


def test_an_ota_fault_on_a_direct_han_or_a_bad_spec_is_an_error_reply() -> None:
    async def main() -> None:
        scheduler = Scheduler(current_clock())
        fleet = Fleet(default_dmc(), 1, 5, scheduler, Trace(), han="direct")
        plan = FleetPlan(1, WHOLE)
        c = Controller(plan, {i.id: i for i in fleet.installations}, scheduler, Trace().write)
        try:
            r = one(c, "i00001", op="fault", spec="ota-stall:esme")
            assert not r["ok"] and r["error"]["code"] == "failed"  # type: ignore[index]
            assert "ZigBee HAN" in r["error"]["message"]  # type: ignore[index]
            r = one(c, "i00001", op="fault", spec="ota-stall:esme=2")
            assert not r["ok"] and r["error"]["code"] == "bad-fault"  # type: ignore[index]
        finally:
            fleet.close()
            scheduler.close()

    run_virtual(main())
