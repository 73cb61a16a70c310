"""Connect mode: each CHF dials the head-end from its own loopback address, keeps re-dialling
with backoff while nobody listens, and dials again when its session ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from emulator import current_clock
from emulator.drivers.tcp import TcpLinkEnd, tcp_listen
from emulator.pki import PkiFolder
from harness.headend import HeadEndSession, connect, headend_from_pki
from tests.fleet.conftest import finish, free_port, start_fleet

pytestmark = [pytest.mark.io, pytest.mark.slow]


async def _sessions(pki_dir: Path, port: int, want: int) -> tuple[list[HeadEndSession],
                                                                   list[str]]:
    headend = headend_from_pki(PkiFolder.load(pki_dir), "smso")
    links: asyncio.Queue[TcpLinkEnd] = asyncio.Queue()
    server = await tcp_listen("127.0.0.1", port, links.put_nowait)
    sessions: list[HeadEndSession] = []
    peers: list[str] = []
    try:
        async with asyncio.timeout(30):
            while len(sessions) < want:
                link = await links.get()
                peers.append(link.peer_name)
                sessions.append(await connect(link, headend, current_clock(), 10, 10))
    finally:
        server.close()
    return sessions, peers


def test_chfs_dial_with_backoff_from_their_own_addresses_and_redial(fleet_pki: Path) -> None:
    port = free_port()
    served = start_fleet("--installations", "3", "--pki", str(fleet_pki), "--connect",
                         f"127.0.0.1:{port}", "--ramp", "50")
    try:
        async def scenario() -> None:
            await asyncio.sleep(1.5)  # nobody listens yet: the first dials fail
            sessions, peers = await _sessions(fleet_pki, port, 3)
            assert sorted(s.chf_eui for s in sessions) == [
                "00-1B-C5-0C-00-00-00-01", "00-1B-C5-0C-00-00-00-02", "00-1B-C5-0C-00-00-00-03"]
            for s, peer in zip(sessions, peers, strict=True):
                n = int(s.chf_eui[-2:], 16)
                assert peer.startswith(f"tcp:127.1.0.{n}:")
            inventory = await sessions[0].read_inventory()
            assert len(inventory.entries) == 4
            await sessions[0].close()
            for s in sessions[1:]:
                await s.close()
            again, _ = await _sessions(fleet_pki, port, 1)  # they dial again
            assert again[0].chf_eui in {s.chf_eui for s in sessions}
            await again[0].close()

        asyncio.run(scenario())
    finally:
        code, out, err = finish(served)
    assert code == 0, err
    assert "dialling 127.0.0.1" in served.ready and "stopped" in out
