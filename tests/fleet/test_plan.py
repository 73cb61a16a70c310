"""The fleet layout: shards are deterministic, disjoint, cover the fleet; addresses and EUIs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.fleet.plan import FleetError, FleetPlan, Shard, parse_shard


@given(total=st.integers(1, 5000), shards=st.integers(1, 64))
def test_shards_partition_the_fleet_in_order(total: int, shards: int) -> None:
    if shards > total:
        with pytest.raises(FleetError):
            FleetPlan(total, Shard(1, shards))
        return
    numbers: list[int] = []
    sizes = []
    for k in range(1, shards + 1):
        plan = FleetPlan(total, Shard(k, shards))
        numbers.extend(range(plan.first, plan.last + 1))
        sizes.append(plan.last - plan.first + 1)
        assert all(plan.shard_of(n) == k for n in (plan.first, plan.last))
    assert numbers == list(range(1, total + 1))
    assert max(sizes) - min(sizes) <= 1


def test_a_member_is_the_same_whichever_shard_runs_it() -> None:
    whole = FleetPlan(1000)
    part = FleetPlan(1000, Shard(3, 4))
    assert part.members()[0] == whole.member(part.first)
    m = whole.member(300)
    assert (m.id, m.chf_eui, m.address) == ("i00300", "00-1B-C5-0C-00-00-01-2C", "127.1.1.44")


def test_ids_and_ownership() -> None:
    plan = FleetPlan(10, Shard(2, 2))
    assert plan.number_of("i00007") == 7
    assert plan.number_of("i7") is None and plan.number_of("i00011") is None
    assert plan.number_of("i000007") is None  # not how installation 7 is spelt
    assert plan.owns(6) and not plan.owns(5)


@pytest.mark.parametrize("text", ["0/2", "3/2", "a/b", "2", "1/0"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(FleetError):
        parse_shard(text)


def test_a_range_too_small_for_the_fleet_is_refused() -> None:
    with pytest.raises(FleetError, match="has 254 addresses"):
        FleetPlan(255, addresses="127.9.9.0/24")
    with pytest.raises(FleetError):
        FleetPlan(3, addresses="::1/128")
