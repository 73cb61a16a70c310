"""A head-end: the SMSO's HES or the S1SP, talking the WAN protocol to CHFs over mutual TLS.

Connect with :func:`connect` over any link (memory or TCP); the returned :class:`HeadEndSession`
has an async method per command. Requests are MAC'd under the role's command key for that CHF,
with a counter that is strictly increasing (it is at least the run clock in microseconds, so a
fresh process never reuses a counter a CHF has seen). Responses are checked the same way:
MAC under the CHF's response key, counter increasing, the transaction id matching.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from emulator.core.trace_sink import Emit, discard
from emulator.core.utrn import generate_utrn
from emulator.drivers.clock import Clock
from emulator.drivers.link import LinkEnd
from emulator.drivers.tls import client_context
from emulator.drivers.wan_channel import WanChannel
from emulator.errors import (
    BadMac,
    LocalProtocolError,
    MalformedFrame,
    RemoteProtocolError,
    ReplayedCounter,
    TransportError,
)
from emulator.keystore import ChfKeys, RoleKeys
from emulator.pki import PkiFolder, eui_of_chf_cert
from emulator.wire import wan
from emulator.wire.eui import eui_from_str, normalise
from emulator.wire.vocabulary import (
    RESPONSE_BIT,
    DeviceLogAction,
    DeviceType,
    ErrorCode,
    MessageType,
    PaymentMode,
    Role,
    SupplyAction,
)

DEFAULT_TIMEOUT_S = 120.0
#: Replies from a sleepy GSME wait for its next poll (30 min in the shipped profiles).
DEFAULT_REQUEST_TIMEOUT_S = 3600.0


@dataclass
class HeadEnd:
    """What a head-end role holds: its TLS context and the keys of the CHFs it serves."""

    role: Role
    ctx: ssl.SSLContext
    keys: Callable[[str], ChfKeys]
    emit: Emit = discard
    #: Last request counter per CHF and next UTRN counter per meter; kept across sessions.
    counters: dict[str, int] = field(default_factory=dict)
    utrn_counters: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"headend:{self.role.name.lower()}"

    def role_keys(self, chf_eui: str) -> RoleKeys:
        keys = self.keys(chf_eui)
        rk = keys.roles.get(self.role.name.lower())
        if rk is None:
            raise LocalProtocolError(f"the {self.role.name} holds no keys for CHF {chf_eui}")
        return rk

    def make_utrn(self, chf_eui: str, meter_eui: str, amount_pence: int) -> str:
        """A 20-digit UTRN for ``meter_eui`` (head-ends generate UTRNs, consumers never do)."""
        counter = self.utrn_counters.get(meter_eui, 0) + 1
        self.utrn_counters[meter_eui] = counter
        return generate_utrn(self.keys(chf_eui).prepayment_key, meter_eui, counter, amount_pence)


def headend_from_pki(pki: PkiFolder, role: Literal["smso", "s1sp"],
                     keylog: Path | None = None) -> HeadEnd:
    """The head-end ``role`` of a ``s1lab pki init`` folder: its client certificate, trusting
    the CHF device CA, with the CHF keys from the folder's keystore. TLS secrets go to
    ``keylog`` (else ``$SSLKEYLOGFILE``)."""
    cert, key = pki.headend_paths(role)
    return HeadEnd(Role[role.upper()],
                   client_context(cert, key, pki.device_ca.cert_pem(), keylog=keylog),
                   pki.keystore.get)


async def connect(
    link: LinkEnd, headend: HeadEnd, clock: Clock, timeout_s: float = DEFAULT_TIMEOUT_S,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
) -> HeadEndSession:
    """Open a session over ``link``: TLS handshake (head-end is the TLS client), then ready.

    ``timeout_s`` bounds the handshake, ``request_timeout_s`` each command's reply."""
    channel = WanChannel(link, headend.ctx, server_side=False, clock=clock)
    session = HeadEndSession(channel, headend, clock, timeout_s, request_timeout_s)
    channel.start()
    await session.wait_established()
    return session


class HeadEndSession:
    def __init__(
        self, channel: WanChannel, headend: HeadEnd, clock: Clock, timeout_s: float,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    ) -> None:
        self._channel = channel
        self._headend = headend
        self._clock = clock
        self._timeout = timeout_s
        self.request_timeout = request_timeout_s
        self._loop = asyncio.get_running_loop()
        self._txn = itertools.count(1)
        self._pending: dict[int, asyncio.Future[tuple[wan.Header, object]]] = {}
        self._established: asyncio.Future[str] = self._loop.create_future()
        self._last_response_counter = 0
        self._last_master_counter = 0
        #: The CHF's Master Key, set by an S1SP that obtained it from the DCO (TMAD 5.16).
        self.master_key: bytes | None = None
        self.chf_eui = ""
        self.peer_fingerprint = b""  # SHA-256 of the CHF's certificate (pinning)
        self.requests = 0
        channel.on_established = self._on_established
        channel.on_frame = self._on_frame
        channel.on_closed = self._on_closed

    # ---- plumbing ------------------------------------------------------------------------

    async def wait_established(self) -> str:
        handle = self._loop.call_later(self._timeout, self._timeout_handshake)
        try:
            return await self._established
        finally:
            handle.cancel()

    def _timeout_handshake(self) -> None:
        if not self._established.done():
            self._channel.close("handshake timed out")

    def _on_established(self, cert: x509.Certificate) -> None:
        try:
            self.chf_eui = eui_of_chf_cert(cert)
            self.peer_fingerprint = cert.fingerprint(hashes.SHA256())
        except Exception as exc:  # a certificate that does not name a CHF
            self._channel.close(str(exc))
            return
        self._headend.emit(self._clock.now_us(), self._headend.name, "WanSessionOpened",
                           {"chf": self.chf_eui, "tls": self._channel.tls_version})
        if not self._established.done():
            self._established.set_result(self.chf_eui)

    def _on_closed(self, reason: str) -> None:
        err = TransportError(f"WAN session to {self._channel.peer_name} closed: {reason}")
        if not self._established.done():
            self._established.set_exception(err)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()

    @property
    def headend(self) -> HeadEnd:
        """The role this session speaks for (its keys, counters and UTRN counters)."""
        return self._headend

    @property
    def is_open(self) -> bool:
        return self._channel.established

    @property
    def tls_version(self) -> str | None:
        return self._channel.tls_version

    async def close(self) -> None:
        self._channel.close("head-end closed the session")

    def _on_frame(self, data: bytes) -> None:
        try:
            frame = wan.parse_frame(data)
        except MalformedFrame as exc:
            self._channel.close(f"CHF sent a malformed frame: {exc}")
            return
        h = frame.header
        fut = self._pending.pop(h.txn_id, None)
        if fut is None or fut.done():
            return  # late reply after a timeout
        try:
            if h.key_id == wan.MASTER_KEY_ID:
                if self.master_key is None:
                    raise LocalProtocolError("a Master-Key reply, and no Master Key here")
                wan.verify_mac(frame, self.master_key)
                if h.counter <= self._last_master_counter:
                    raise ReplayedCounter(f"CHF response counter {h.counter} replayed")
                self._last_master_counter = h.counter
            elif not (h.msg_type == MessageType.ERROR and h.key_id == 0):
                rk = self._headend.role_keys(self.chf_eui)
                wan.verify_mac(frame, rk.response_key)
                if h.counter <= self._last_response_counter:
                    raise ReplayedCounter(
                        f"CHF response counter {h.counter} <= {self._last_response_counter}")
                self._last_response_counter = h.counter
            fut.set_result((h, wan.decode_response(h.msg_type, frame.payload)))
        except (BadMac, ReplayedCounter, MalformedFrame, LocalProtocolError) as exc:
            fut.set_exception(exc)

    def _next_counter(self) -> int:
        last = self._headend.counters.get(self.chf_eui, 0)
        counter = max(last + 1, self._clock.now_us())
        self._headend.counters[self.chf_eui] = counter
        return counter

    def build_frame(
        self, msg_type: MessageType, target: str, body: object | None = None, *,
        txn: int | None = None, counter: int | None = None, key: bytes | None = None,
        key_id: int | None = None,
    ) -> tuple[int, bytes]:
        """A sealed request frame (tests use the keyword overrides to forge bad ones)."""
        rk = self._headend.role_keys(self.chf_eui)
        txn = next(self._txn) if txn is None else txn
        header = wan.Header(
            version=wan.FRAME_VERSION, msg_type=int(msg_type), txn_id=txn,
            target=eui_from_str(target), role=int(self._headend.role),
            key_id=rk.key_id if key_id is None else key_id,
            counter=self._next_counter() if counter is None else counter,
        )
        payload = wan.encode_request(msg_type, body)
        return txn, wan.seal(header, payload, rk.command_key if key is None else key)

    async def send_raw(self, frame: bytes, txn: int) -> tuple[wan.Header, object]:
        """Send frame bytes as they are; wait for the reply carrying ``txn``."""
        fut: asyncio.Future[tuple[wan.Header, object]] = self._loop.create_future()
        self._pending[txn] = fut
        self.requests += 1
        self._channel.send_frame(frame)
        def expire() -> None:
            if not fut.done():
                fut.set_exception(TransportError(
                    f"no response from CHF {self.chf_eui} in {self.request_timeout:g} s"))

        handle = self._loop.call_later(self.request_timeout, expire)
        try:
            return await fut
        finally:
            handle.cancel()
            self._pending.pop(txn, None)

    async def master_request(self, msg_type: MessageType, body: object | None = None) -> object:
        """A command authorised by the CHF's Master Key (key id 0xFF): key rotation,
        certificate swap, rollback. Needs :attr:`master_key`."""
        if self.master_key is None:
            raise LocalProtocolError("no Master Key for this CHF: ask the DCO (TMAD 5.16)")
        txn = next(self._txn)
        header = wan.Header(
            version=wan.FRAME_VERSION, msg_type=int(msg_type), txn_id=txn,
            target=eui_from_str(self.chf_eui), role=int(self._headend.role),
            key_id=wan.MASTER_KEY_ID, counter=self._next_counter())
        frame = wan.seal(header, wan.encode_request(msg_type, body), self.master_key)
        return self._check_reply(msg_type, self.chf_eui, *await self.send_raw(frame, txn))

    def _check_reply(self, msg_type: MessageType, target: str, header: wan.Header,
                     result: object) -> object:
        if header.msg_type == MessageType.ERROR:
            assert isinstance(result, wan.ErrorPayload)
            raise RemoteProtocolError(
                f"CHF {self.chf_eui} refused {msg_type.name} for {target}: "
                f"{ErrorCode(result.error_code).name} ({result.detail})",
                code=int(result.error_code),
            )
        if header.msg_type != msg_type | RESPONSE_BIT:
            raise RemoteProtocolError(f"reply type 0x{header.msg_type:02X} to {msg_type.name}")
        return result

    async def request(
        self, msg_type: MessageType, target: str | None = None, body: object | None = None
    ) -> object:
        """Send one command and return the decoded response body.

        Raises RemoteProtocolError (``code`` = the ErrorCode) when the CHF answers ERROR.
        """
        target = normalise(target) if target else self.chf_eui
        txn, frame = self.build_frame(msg_type, target, body)
        return self._check_reply(msg_type, target, *await self.send_raw(frame, txn))

    def _trace(self, event: str, target: str, fields: dict[str, object]) -> None:
        self._headend.emit(self._clock.now_us(), self._headend.name, event,
                           {"chf": self.chf_eui, "device": target, **fields})

    # ---- commands ------------------------------------------------------------------------

    async def read_instantaneous(
        self, device: str
    ) -> wan.EsmeInstantaneous | wan.GsmeInstantaneous:
        r = await self.request(MessageType.READ_INSTANTANEOUS, device)
        assert isinstance(r, wan.EsmeInstantaneous | wan.GsmeInstantaneous)
        if isinstance(r, wan.EsmeInstantaneous):
            self._trace("ReadingReceived", normalise(device), {
                "import_wh": r.import_wh, "tou_wh": list(r.tou_wh), "demand_w": r.demand_w,
                "balance_pence": r.balance_pence, "supply": r.supply_state.name})
        else:
            self._trace("ReadingReceived", normalise(device), {
                "volume_dm3": r.volume_dm3, "balance_pence": r.balance_pence,
                "data_age_s": r.data_age_s})
        return r

    async def read_inventory(self) -> wan.Inventory:
        r = await self.request(MessageType.READ_INVENTORY)
        assert isinstance(r, wan.Inventory)
        return r

    async def read_firmware_versions(self) -> wan.FirmwareVersions:
        r = await self.request(MessageType.READ_FIRMWARE_VERSIONS)
        assert isinstance(r, wan.FirmwareVersions)
        return r

    async def read_event_log(self, device: str | None = None, max_entries: int = 0) -> wan.EventLog:
        r = await self.request(MessageType.READ_EVENT_LOG, device,
                               wan.EventLogRequest(max_entries=max_entries))
        assert isinstance(r, wan.EventLog)
        return r

    async def read_payment_mode(self, device: str) -> wan.PaymentState:
        r = await self.request(MessageType.READ_PAYMENT_MODE, device)
        assert isinstance(r, wan.PaymentState)
        return r

    async def set_payment_mode(self, device: str, mode: PaymentMode) -> wan.PaymentState:
        r = await self.request(MessageType.SET_PAYMENT_MODE, device,
                               wan.SetPaymentMode(payment_mode=mode))
        assert isinstance(r, wan.PaymentState)
        self._trace("PaymentModeSet", normalise(device), {"mode": mode.name})
        return r

    async def top_up(self, device: str, utrn: str) -> wan.TopUpResult:
        r = await self.request(MessageType.TOP_UP, device, wan.TopUpRequest(utrn=utrn))
        assert isinstance(r, wan.TopUpResult)
        self._trace("TopUpResult", normalise(device), {
            "status": r.status.name, "amount_pence": r.amount_pence,
            "balance_pence": r.balance_pence})
        return r

    async def top_up_amount(self, device: str, amount_pence: int) -> wan.TopUpResult:
        """Generate a UTRN for ``amount_pence`` (as an S1SP/SMSO does) and apply it."""
        utrn = self._headend.make_utrn(self.chf_eui, normalise(device), amount_pence)
        return await self.top_up(device, utrn)

    async def read_time(self, device: str | None = None) -> int:
        r = await self.request(MessageType.READ_TIME, device)
        assert isinstance(r, wan.TimeValue)
        return r.utc

    async def set_time(self, device: str | None, utc: int) -> wan.SetTimeResult:
        r = await self.request(MessageType.SET_TIME, device, wan.SetTime(utc=utc))
        assert isinstance(r, wan.SetTimeResult)
        return r

    async def update_device_log(
        self, action: DeviceLogAction, device: str, device_type: DeviceType = DeviceType.GSME,
        install_code: bytes = b"", join_window_s: int = 90, mpxn: str = "",
    ) -> wan.DeviceLogUpdated:
        """SRV 8.11-style: add a device to the CHF's whitelist (install code with its CRC,
        join window) or remove it."""
        r = await self.request(MessageType.UPDATE_HAN_DEVICE_LOG, None, wan.UpdateDeviceLog(
            action=action, eui=eui_from_str(device), device_type=device_type,
            install_code=install_code, join_window_s=join_window_s, mpxn=mpxn))
        assert isinstance(r, wan.DeviceLogUpdated)
        self._trace("DeviceLogUpdated", normalise(device),
                    {"action": action.name, "status": r.status.name})
        return r

    async def set_supply(self, device: str, action: SupplyAction) -> wan.SupplyResult:
        r = await self.request(MessageType.SET_SUPPLY, device, wan.SetSupply(action=action))
        assert isinstance(r, wan.SupplyResult)
        return r


__all__ = ["HeadEnd", "HeadEndSession", "connect"]
