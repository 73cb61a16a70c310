"""The WAN protocol end to end over a live TLS connection on the virtual clock.

What the commands do is tested without TLS, cores paired in memory:
tests/core/test_wan_commands_paired.py."""

from __future__ import annotations

import pytest

from emulator.core.timebase import MINUTE
from emulator.drivers.clock import run_virtual, sleep_us
from emulator.errors import RemoteProtocolError
from emulator.wire import wan
from emulator.wire.vocabulary import (
    ErrorCode,
    MessageType,
)
from tests.e2e.conftest import smso_bench


async def _expect_error(coro: object, code: ErrorCode) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        await coro  # type: ignore[misc]
    assert info.value.code == code


def test_bad_frames_get_errors_and_traces_and_the_chf_keeps_serving() -> None:
    async def main() -> None:
        async with smso_bench() as b:
            s = b.session
            esme = b.fleet.installations[0].esme.eui
            rejected = lambda: [f["error"] for f in b.trace.named("WanFrameRejected")]  # noqa: E731

            # 1. a malformed frame (bad magic) inside a well-formed record
            header, body = await s.send_raw(b"XX" + b"\x00" * 40, txn=0)
            assert header.msg_type == MessageType.ERROR and header.key_id == 0
            assert isinstance(body, wan.ErrorPayload) and body.error_code is ErrorCode.MALFORMED

            # 2. a bad MAC (signed under a wrong key)
            txn, frame = s.build_frame(MessageType.READ_INSTANTANEOUS, esme, key=b"\x01" * 16)
            header, body = await s.send_raw(frame, txn)
            assert isinstance(body, wan.ErrorPayload) and body.error_code is ErrorCode.BAD_MAC
            assert header.key_id != 0  # the error itself is authenticated

            # 3. a replayed frame: the same bytes twice
            txn, frame = s.build_frame(MessageType.READ_PAYMENT_MODE, esme)
            header, body = await s.send_raw(frame, txn)
            assert isinstance(body, wan.PaymentState)
            header, body = await s.send_raw(frame, txn)
            assert isinstance(body, wan.ErrorPayload)
            assert body.error_code is ErrorCode.REPLAYED_COUNTER

            # 4. an old counter, freshly MAC'd
            txn, frame = s.build_frame(MessageType.READ_PAYMENT_MODE, esme, counter=5)
            _, body = await s.send_raw(frame, txn)
            assert isinstance(body, wan.ErrorPayload)
            assert body.error_code is ErrorCode.REPLAYED_COUNTER

            # 5. unknown device, unsupported command, wrong key id
            await _expect_error(s.read_instantaneous("00-00-00-00-00-00-00-42"),
                                ErrorCode.UNKNOWN_DEVICE)
            txn, frame = s.build_frame(MessageType.READ_TIME, esme)
            forged = bytearray(frame)
            forged[3] = 0x3E  # a message type nobody defined (the MAC no longer matches either)
            _, body = await s.send_raw(bytes(forged), txn)
            assert isinstance(body, wan.ErrorPayload)
            assert body.error_code in (ErrorCode.BAD_MAC, ErrorCode.UNSUPPORTED_COMMAND)
            txn, frame = s.build_frame(MessageType.READ_TIME, esme, key_id=9)
            _, body = await s.send_raw(frame, txn)
            assert isinstance(body, wan.ErrorPayload) and body.error_code is ErrorCode.UNKNOWN_KEY

            # ...and the CHF keeps serving the same connection
            reading = await s.read_instantaneous(esme)
            assert isinstance(reading, wan.EsmeInstantaneous)
            assert s.is_open
            assert rejected() == ["MALFORMED", "BAD_MAC", "REPLAYED_COUNTER", "REPLAYED_COUNTER",
                                  "UNKNOWN_DEVICE", rejected()[5], "UNKNOWN_KEY"]

    run_virtual(main())


def test_s1sp_is_refused_before_migration() -> None:
    from emulator.errors import TransportError
    from emulator.wire.vocabulary import Role

    async def main() -> None:
        with pytest.raises(TransportError, match="TLS"):
            async with smso_bench(role=Role.S1SP):
                pass

    run_virtual(main())


def test_sessions_are_traced() -> None:
    async def main() -> list[str]:
        async with smso_bench() as b:
            await b.session.read_inventory()
            await sleep_us(MINUTE)
            return [e for e, _, _ in b.trace.events]

    events = run_virtual(main())
    assert "WanSessionOpened" in events and "WanRequestServed" in events
