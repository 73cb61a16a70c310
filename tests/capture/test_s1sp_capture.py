"""A WAN capture of a migration shows each head-end at its own address: the SMSO's pre-flight
from 192.0.2.1, and every S1SP session (its migration credential as well as its own) from
192.0.2.2, all decrypted from the capture's own secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.capture.addresses import headend_address
from emulator.capture.pcapng import merge_with_secrets
from emulator.drivers.capture import WanCapture
from emulator.drivers.clock import current_clock, run_virtual
from emulator.drivers.scheduler import Scheduler
from emulator.fleet import Fleet
from emulator.profiles import default_dmc
from emulator.wire.vocabulary import RESPONSE_BIT, MessageType
from harness.migration.s1sp import S1sp
from tests.capture.tshark import pdml
from tests.e2e.conftest import ListTrace
from tests.migration.test_device_installation import Lab

pytestmark = pytest.mark.io

SMSO, S1SP = (".".join(map(str, headend_address(name))) for name in ("smso", "s1sp"))


async def _migrate(tmp: Path, keylog: Path) -> Path:
    clock = current_clock()
    scheduler = Scheduler(clock)
    trace = ListTrace()
    capture = WanCapture(tmp / "wan.pcap")
    fleet = Fleet(default_dmc(), 1, 5, scheduler, trace, wan_capture=capture, keylog=keylog)
    try:
        b = Lab(fleet, S1sp(fleet, trace.emitter("dcc"), 5), trace)
        b.smso_apn = b.inst.chf.sim.apn
        assert await b.s1sp.preflight(b.inst, b.record()) is None
        outcome = await b.install("EA")
        assert outcome.status == "migrated", outcome
    finally:
        fleet.close()
        scheduler.close()
        capture.close()
    return capture.path


def test_the_s1sp_sessions_come_from_the_s1sp_address(tmp_path: Path) -> None:
    keylog = tmp_path / "keys.txt"
    wan_pcap = run_virtual(_migrate(tmp_path, keylog))
    out = tmp_path / "capture.pcapng"
    merge_with_secrets(out, [wan_pcap], keylog)

    requests: list[tuple[int, str]] = []  # (message type, source address), in capture order
    for packet in pdml(out, "s1lab", prefixes=("s1lab.type", "ip.src")):
        src = packet.values("ip.src")[0]
        for value in packet.values("s1lab.type"):
            msg_type = int(value, 0)
            if not msg_type & RESPONSE_BIT and msg_type != MessageType.ERROR:
                requests.append((msg_type, src))
    types = [t for t, _ in requests]
    assert MessageType.ROTATE_KEYS in types, requests  # the migration credential's session
    first = types.index(MessageType.ROTATE_KEYS)
    preflight, migration = requests[:first], requests[first:]
    assert preflight and {src for _, src in preflight} == {SMSO}, requests
    assert {src for _, src in migration} == {S1SP}, requests
    for step in (MessageType.SWAP_CERTIFICATE, MessageType.MOVE_SIM,
                 MessageType.READ_INVENTORY):
        assert step in types[first:], step.name
