"""The ZigBee Smart Energy HAN of one installation, sans-IO: real frames over modelled links.

The CHF is the PAN coordinator and Trust Centre (short address 0x0000). Every frame is built as
bytes (802.15.4 MAC with FCS, NWK secured with the network key, APS, ZCL) and taken apart again
by the receiver with its own keys and replay guard, so a capture of what this module transmits
is what Wireshark decodes.

Link model, per device link: one-way latency, a loss probability per transmission, outage
windows, MAC acks with up to ``mac_retries`` retransmissions. A sleepy end device (the GSME)
never receives directly: the CHF holds its frames (indirect transmission, with an expiry) until
it polls with a MAC Data Request.

On a radio (``Han.air`` set, see :class:`Air`), the nodes this process runs are ``Han.local``;
frames for any other node go to the radio as bytes, and the radio's MAC does the acks, CSMA
and MAC retries (it reports only acked or not). Frames the radio hears come back through
:meth:`Han.air_frame`. APS acks and retries, indirect transmission and joining stay here.

Time is an argument (``now``, µs); :meth:`Han.get_timer` reports the next event and
:meth:`Han.handle_timer` runs what is due. What the devices *do* with the ZCL they receive is the
application's business: delivered frames come back as :class:`Delivery` records.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from emulator.core.han_crypto import (
    NetworkKeyRing,
    ReplayGuard,
    build_secured_frame,
    hmac_mmo,
    parse_secured_frame,
)
from emulator.core.rng import SplitMix64
from emulator.core.timebase import MS, SECOND
from emulator.core.trace_sink import Emit
from emulator.errors import MalformedFrame, SecurityError
from emulator.wire.eui import eui_from_str, eui_to_str
from emulator.wire.ieee802154 import (
    CAP_ALLOCATE_ADDRESS,
    CAP_RX_ON_WHEN_IDLE,
    AssociationResponse,
    MacCommand,
    MacFrame,
    MacFrameType,
    association_request_payload,
    build_mac,
    mac_ack,
    mac_data,
    mac_data_request,
    parse_association_response,
    parse_mac,
)
from emulator.wire.zigbee_aps import (
    SE_PROFILE,
    ApsFrameType,
    ApsHeader,
    DeliveryMode,
    KeyType,
    SwitchKey,
    TransportKey,
    VerifyKey,
    aps_command,
    decode_aps_command,
    encode_aps_command,
)
from emulator.wire.zigbee_nwk import KeyId, NwkFrameType, NwkHeader, SecurityHeader

CaptureFn = Callable[[bytes, int], None]
#: A radio's report on one transmission: (acknowledged, now).
TxDone = Callable[[bool, int], None]
UNASSIGNED_SHORT = 0xFFFE
#: After an Association Request on a radio, the joiner polls for its response and keys.
JOIN_POLLS_US = (300 * MS, 800 * MS, 1500 * MS, 3000 * MS, 5000 * MS)
#: A joiner on a radio that got no network key tries again after this long.
JOIN_RETRY_US = 8 * SECOND


class Air(Protocol):
    """The radio as the HAN sees it (implemented by a driver in ``hw/``)."""

    def transmit(self, frame: bytes, now: int, done: TxDone) -> None:
        """Put ``frame`` (PSDU with FCS) on the air; call ``done`` when the radio is through."""

    def readdress(self) -> None:
        """The local nodes' addresses, or the frames held for sleepy devices, changed: update
        the radio's address filter and source-match table (:meth:`Han.pending_addresses`)."""


def _CANCELLED(at: int) -> None:  # noqa: N802 - a sentinel action
    """Marks a cancelled queue entry."""


#: The argument slot of a queue entry whose action takes only ``at``.
_NO_ARG = object()

#: APS acknowledged delivery (ZigBee apsAckWaitDuration / apscMaxFrameRetries, simplified).
APS_ACK_WAIT_US = 1_500 * MS
APS_MAX_RETRIES = 3
APS_DUPLICATE_WINDOW = 8

#: The CHF's endpoint for its own clusters, and the endpoint hosting the GSME's mirror.
CHF_ENDPOINT = 1
MIRROR_ENDPOINT = 2


@dataclass(slots=True)
class LinkParams:
    """How one device's radio link behaves (CHF <-> device)."""

    latency_us: int = 20 * MS
    loss: float = 0.0
    mac_retries: int = 3
    ack_wait_us: int = 10 * MS
    outages: list[tuple[int, int]] = field(default_factory=list)  # [start, end) run time

    def down_at(self, now: int) -> bool:
        return bool(self.outages) and any(start <= now < end for start, end in self.outages)


@dataclass(slots=True)
class HanNode:
    """One radio on the HAN: its addresses, outgoing counters and receive-side security."""

    eui: bytes
    short: int
    sleepy: bool = False
    link_key: bytes | None = None
    nwk_counter: int = 0
    aps_counter: int = 0
    mac_seq: int = 0
    zcl_tsn: int = 0
    guard: ReplayGuard = field(default_factory=ReplayGuard)
    keys: NetworkKeyRing | None = None  # a device's own copy; the CHF's is the network's
    link: LinkParams = field(default_factory=LinkParams)
    joined: bool = False
    last_heard: int | None = None  # set on the CHF's node table: when the CHF last heard it
    frame_counter_reset: bool = False
    aps_seen: dict[str, list[int]] = field(default_factory=dict)  # duplicate rejection
    name: str = field(init=False, repr=False, compare=False)  # the EUI as text (cached)

    def __post_init__(self) -> None:
        self.name = eui_to_str(self.eui)

    def next_tsn(self) -> int:
        self.zcl_tsn = (self.zcl_tsn + 1) & 0xFF
        return self.zcl_tsn


@dataclass(slots=True)
class Delivery:
    """A data frame that reached its destination and passed its security checks."""

    src: str
    dst: str
    cluster: int
    src_endpoint: int
    dst_endpoint: int
    zcl: bytes
    at: int
    profile: int = SE_PROFILE  # Smart Energy; ZDO (0) and Home Automation from other stacks
    aps_secured: bool = True  # under a link key as well as the network key


@dataclass(slots=True)
class _Tx:
    """A frame on its way: the bytes, who sends, who should hear it, attempts left."""

    frame: bytes
    src: HanNode
    dst: HanNode
    mac_seq: int
    attempts: int
    on_failed: Callable[[int], None] | None = None
    command: bool = False  # MAC command (poll) rather than data
    aps_key: tuple[str, str, int] | None = None  # set when the frame waits for an APS ack


@dataclass(slots=True)
class _ApsPending:
    """A unicast APS data frame waiting for its APS ack: enough to send it again."""

    src: HanNode
    dst: HanNode
    cluster: int
    zcl: bytes
    src_endpoint: int
    dst_endpoint: int
    counter: int
    retries_left: int
    on_failed: Callable[[int], None] | None
    profile: int = SE_PROFILE
    aps_secure: bool = True
    attempt: int = 0
    timer_armed_for: int = -1
    timer: list[Any] | None = None  # the pending ack timer's queue entry


class Han:
    """The network: CHF (coordinator, Trust Centre) plus joined devices."""

    def __init__(
        self,
        chf_eui: str,
        network_key: bytes,
        rng: SplitMix64,
        emit: Emit,
        *,
        pan_id: int | None = None,
        key_seq: int = 0,
        indirect_expiry_us: int = 3600 * SECOND,
    ) -> None:
        self._rng = rng
        self._emit = emit
        self.pan_id = pan_id if pan_id is not None else 0x1000 + rng.randrange(0xE000)
        self.keys = NetworkKeyRing(network_key, key_seq)
        self.chf = HanNode(eui_from_str(chf_eui), 0x0000, joined=True)
        self.chf.keys = self.keys
        self.nodes: dict[str, HanNode] = {}
        self._by_short: dict[int, HanNode] = {0: self.chf}
        # [at, seq, action, arg]: action(at), or action(arg, at) for a frame in flight (no
        # closure per frame); action _CANCELLED when cancelled.
        self._queue: list[list[Any]] = []
        self._seq = itertools.count()
        self._indirect: dict[str, list[tuple[int, _Tx]]] = {}
        self.indirect_expiry_us = indirect_expiry_us
        self.capture: CaptureFn | None = None
        self.tc_keys: dict[str, bytes] = {}  # the Trust Centre's copy of each link key
        self.join_timeout_us = 10 * SECOND
        #: Called when a device asks to join: return the TC link key to admit it, or None.
        self.on_join_request: Callable[[HanNode, int], bytes | None] | None = None
        self.on_joined: Callable[[HanNode, int], None] | None = None
        #: Called whenever the CHF hears a device (any frame or poll that reaches it).
        self.on_heard: Callable[[str, int], None] | None = None
        self.delivered: list[Delivery] = []
        self._aps_pending: dict[tuple[str, str, int], _ApsPending] = {}
        self.aps_retransmissions = 0
        self.frames_sent = 0
        self.frames_dropped = 0
        #: The radio this HAN is on (None: every node is in this process, in-memory links).
        self.air: Air | None = None
        #: On a radio: the EUIs of the nodes this process runs; the others are on the air.
        self.local: set[str] = set()
        #: On a radio: a local device finished joining (Transport Key in, Verify Key out).
        self.on_local_joined: Callable[[HanNode, int], None] | None = None

    # ---- membership -------------------------------------------------------------------------

    def add_node(self, eui: str, *, sleepy: bool = False, link_key: bytes | None = None,
                 link: LinkParams | None = None, joined: bool = True) -> HanNode:
        """Put a device on the network already joined (installation time); with
        ``joined=False`` it holds only its install-code key and must join (on a radio)."""
        short = self._free_short() if joined else UNASSIGNED_SHORT
        node = HanNode(eui_from_str(eui), short, sleepy=sleepy, link_key=link_key,
                       link=link or LinkParams(), joined=joined)
        if joined:
            node.keys = NetworkKeyRing(self.keys.current_key, self.keys.current_seq)
            self._by_short[short] = node
            if link_key is not None:
                self.tc_keys[eui] = link_key
        self.nodes[eui] = node
        return node

    def is_local(self, eui: str) -> bool:
        """Does this process run ``eui``'s radio side (always, without a radio)?"""
        return self.air is None or eui in self.local

    def _on_air(self, dst: HanNode) -> bool:
        return self.air is not None and dst.name not in self.local

    def commission(self, now: int) -> None:
        """Leave every device added by :meth:`add_node` as a real join at ``now`` leaves it,
        without putting the join's frames on the air (a fleet's commissioned steady state).

        Per device, in the order they were added, the counters move as :meth:`request_join`
        moves them: Association Request (device MAC sequence) and Response (CHF MAC sequence);
        APS Transport Key under the key-transport key (CHF MAC and APS sequence, one CHF frame
        counter, accepted by the device's replay guard); Verify Key, NWK-secured (device MAC and
        APS sequence, one device frame counter, accepted by the CHF's guard). The CHF has heard
        the device at ``now``. ``tests/core/test_han_commissioned.py`` holds this equal to a
        real join.
        """
        chf = self.chf
        for node in self.nodes.values():
            node.mac_seq = (node.mac_seq + 1) & 0xFF  # Association Request
            chf.mac_seq = (chf.mac_seq + 1) & 0xFF  # Association Response
            chf.mac_seq = (chf.mac_seq + 1) & 0xFF  # Transport Key
            chf.aps_counter = (chf.aps_counter + 1) & 0xFF
            chf.nwk_counter += 1
            node.guard.accept(chf.eui, None, chf.nwk_counter)
            node.mac_seq = (node.mac_seq + 1) & 0xFF  # Verify Key
            node.aps_counter = (node.aps_counter + 1) & 0xFF
            node.nwk_counter += 1
            ring = node.keys or self.keys
            chf.guard.accept(node.eui, ring.current_seq, node.nwk_counter)
            node.joined = True
            node.last_heard = now
            if self.on_heard is not None:
                self.on_heard(node.name, now)

    def _free_short(self) -> int:
        """The lowest short address not in use (0x0000 is the coordinator)."""
        short = 0x0001
        while short in self._by_short:
            short += 1
        return short

    def remove_node(self, eui: str) -> None:
        node = self.nodes.pop(eui, None)
        if node is not None:
            self._by_short.pop(node.short, None)
            self.chf.guard.forget(node.eui)
            self._indirect.pop(eui, None)
            self.tc_keys.pop(eui, None)

    def node(self, eui: str) -> HanNode:
        return self.nodes[eui]

    # ---- the event queue ----------------------------------------------------------------------

    def get_timer(self) -> int | None:
        q = self._queue
        while q and q[0][2] is _CANCELLED:  # an APS ack timer whose ack came: never wake
            heapq.heappop(q)
        return q[0][0] if q else None

    def handle_timer(self, now: int) -> list[Delivery]:
        """Run everything due; returns the data frames delivered (to hand to the application)."""
        q = self._queue
        pop = heapq.heappop
        while q and q[0][0] <= now:
            at, _, action, arg = pop(q)
            if action is _CANCELLED:
                continue
            if arg is _NO_ARG:
                action(at)
            else:
                action(arg, at)
        if not self.delivered:
            return []
        out, self.delivered = self.delivered, []
        return out

    def _at(self, at: int, action: Callable[[int], None]) -> list[Any]:
        entry: list[Any] = [at, next(self._seq), action, _NO_ARG]
        heapq.heappush(self._queue, entry)
        return entry  # set entry[2] = _CANCELLED to cancel

    def _at_with(self, at: int, action: Callable[[Any, int], None], arg: object) -> list[Any]:
        """:meth:`_at` for ``action(arg, at)``: a bound method and its argument, no closure."""
        entry: list[Any] = [at, next(self._seq), action, arg]
        heapq.heappush(self._queue, entry)
        return entry

    def schedule(self, at: int, action: Callable[[int], None]) -> list[Any]:
        """Run ``action(at)`` at ``at`` on the HAN's own queue (device behaviour in sequence);
        the returned entry can be passed to :meth:`cancel`."""
        return self._at(at, action)

    @staticmethod
    def cancel(entry: list[Any]) -> None:
        entry[2] = _CANCELLED

    # ---- sending ----------------------------------------------------------------------------

    def send_zcl(
        self,
        src: HanNode,
        dst: HanNode,
        cluster: int,
        zcl: bytes,
        now: int,
        *,
        src_endpoint: int = 1,
        dst_endpoint: int = 1,
        on_failed: Callable[[int], None] | None = None,
        profile: int = SE_PROFILE,
        aps_secure: bool = True,
    ) -> None:
        """Send a ZCL frame from ``src`` to ``dst``: NWK-secured, MAC acked, and APS acked with
        retries (a frame whose APS ack never comes is sent again, up to APS_MAX_RETRIES).
        ``profile`` 0 with endpoints 0 sends ZDO; ``aps_secure=False`` keeps it NWK-only."""
        if self.air is not None and (not src.joined or src.keys is None) and src is not self.chf:
            self._emit(now, src.name, "HanTransmissionFailed",
                       {"to": dst.name, "reason": "not joined"})
            if on_failed is not None:
                on_failed(now)
            return
        frame = self._data_frame(src, dst, cluster, zcl, src_endpoint, dst_endpoint,
                                 profile=profile, aps_secure=aps_secure)
        key = (src.name, dst.name, src.aps_counter)
        self._aps_pending[key] = _ApsPending(src, dst, cluster, zcl, src_endpoint, dst_endpoint,
                                             src.aps_counter, APS_MAX_RETRIES, on_failed,
                                             profile, aps_secure)
        link = dst.link if src is self.chf else src.link
        self._launch(_Tx(frame, src, dst, src.mac_seq, 1 + link.mac_retries, aps_key=key), now)
        if src.sleepy:  # a sleepy sender polls shortly for the ack (and any answer)
            self._at_with(now + APS_ACK_WAIT_US // 3, self.poll, src)

    def broadcast(self, src: HanNode, nwk_dst: int, cluster: int, payload: bytes, now: int, *,
                  profile: int, src_endpoint: int = 0, dst_endpoint: int = 0) -> None:
        """A NWK-secured broadcast (MAC 0xFFFF, no acks), such as a Device_annce to 0xFFFD.
        On a radio it goes on the air; in memory only the capture sees it."""
        ring = src.keys or self.keys
        src.mac_seq = (src.mac_seq + 1) & 0xFF
        src.aps_counter = (src.aps_counter + 1) & 0xFF
        nwk = NwkHeader(NwkFrameType.DATA, nwk_dst, src.short, src.nwk_counter & 0xFF,
                        aux=self._nwk_aux(src))
        aps = ApsHeader(ApsFrameType.DATA, src.aps_counter, DeliveryMode.BROADCAST,
                        dst_endpoint=dst_endpoint, cluster=cluster, profile=profile,
                        src_endpoint=src_endpoint)
        mac = mac_data(src.mac_seq, self.pan_id, 0xFFFF, src.short, b"")
        frame = build_secured_frame(mac, nwk, aps, payload, network_key=ring.current_key)
        self.frames_sent += 1
        if self.capture is not None:
            self.capture(frame, now)
        if self.air is not None:
            self.air.transmit(frame, now, lambda acked, at: None)

    def _aps_timeout(self, key: tuple[str, str, int], attempt: int, now: int) -> None:
        """No APS ack (or no MAC ack at all): send again, or give up."""
        pending = self._aps_pending.get(key)
        if pending is None or (attempt >= 0 and attempt != pending.attempt):
            return  # acked meanwhile, or a stale timer of an earlier attempt
        if pending.retries_left <= 0:
            del self._aps_pending[key]
            self.frames_dropped += 1
            self._emit(now, pending.src.name, "HanTransmissionFailed",
                       {"to": pending.dst.name, "reason": "no APS ack"})
            if pending.on_failed is not None:
                pending.on_failed(now)
            return
        pending.retries_left -= 1
        pending.attempt += 1
        self.aps_retransmissions += 1
        frame = self._data_frame(pending.src, pending.dst, pending.cluster, pending.zcl,
                                 pending.src_endpoint, pending.dst_endpoint,
                                 aps_counter=pending.counter, profile=pending.profile,
                                 aps_secure=pending.aps_secure)
        src, dst = pending.src, pending.dst
        self._launch(_Tx(frame, src, dst, src.mac_seq, 1 + self._link(src, dst).mac_retries,
                         aps_key=key), now)

    def _link(self, src: HanNode, dst: HanNode) -> LinkParams:
        return dst.link if src is self.chf else src.link

    def _nwk_aux(self, src: HanNode) -> SecurityHeader:
        ring = src.keys or self.keys
        src.nwk_counter += 1
        return SecurityHeader(KeyId.NETWORK, src.nwk_counter, source=src.eui,
                              key_seq=ring.current_seq)

    def _data_frame(self, src: HanNode, dst: HanNode, cluster: int, zcl: bytes,
                    src_endpoint: int, dst_endpoint: int, aps_counter: int | None = None,
                    *, profile: int = SE_PROFILE, aps_secure: bool = True) -> bytes:
        src.mac_seq = (src.mac_seq + 1) & 0xFF
        if aps_counter is None:
            src.aps_counter = (src.aps_counter + 1) & 0xFF
            aps_counter = src.aps_counter
        # SE application traffic with the Trust Centre is also APS-secured under the device's
        # link key; device-to-device traffic (IHD reading the ESME) is NWK-secured only, as
        # there is no application link key between them without CBKE.
        link_key = (None if not aps_secure else self.tc_keys.get(dst.name) if src is self.chf
                    else src.link_key if dst is self.chf else None)
        aps_aux = None
        if link_key is not None:
            src.nwk_counter += 1
            aps_aux = SecurityHeader(KeyId.DATA, src.nwk_counter, src.eui)
        ring = src.keys or self.keys
        nwk_seq = src.nwk_counter & 0xFF  # the sequence number before the NWK counter moves
        src.nwk_counter += 1
        nwk = NwkHeader(NwkFrameType.DATA, dst.short, src.short, nwk_seq,
                        aux=SecurityHeader(KeyId.NETWORK, src.nwk_counter, src.eui,
                                           ring.current_seq))
        aps = ApsHeader(ApsFrameType.DATA, aps_counter, DeliveryMode.UNICAST, dst_endpoint, None,
                        cluster, profile, src_endpoint, True, aux=aps_aux)
        pan = self.pan_id
        mac = MacFrame(MacFrameType.DATA, src.mac_seq, pan, dst.short, pan, src.short,
                       ack_request=True, pan_id_compression=True)
        return build_secured_frame(mac, nwk, aps, zcl, network_key=ring.current_key,
                                   link_key=link_key)

    def _command_frame(self, src: HanNode, dst: HanNode, payload: bytes, *,
                       aps_key: bytes | None, key_id: KeyId | None, nwk_secured: bool) -> bytes:
        """An APS command (Transport Key, Switch Key, Verify Key...)."""
        src.mac_seq = (src.mac_seq + 1) & 0xFF
        src.aps_counter = (src.aps_counter + 1) & 0xFF
        aps_aux = None
        if key_id is not None:
            src.nwk_counter += 1
            aps_aux = SecurityHeader(key_id, src.nwk_counter, source=src.eui)
        aps = aps_command(src.aps_counter, aux=aps_aux)
        nwk = NwkHeader(NwkFrameType.DATA, dst.short, src.short, src.nwk_counter & 0xFF,
                        aux=self._nwk_aux(src) if nwk_secured else None)
        mac = mac_data(src.mac_seq, self.pan_id, dst.short, src.short, b"")
        ring = src.keys or self.keys
        return build_secured_frame(mac, nwk, aps, payload, network_key=ring.current_key,
                                   link_key=aps_key)

    def _launch(self, tx: _Tx, now: int) -> None:
        if tx.src is self.chf and (tx.dst.sleepy or (self._on_air(tx.dst) and not tx.dst.joined)):
            # Indirect: held for the sleepy device until it polls (or the entry expires); on a
            # radio a joiner too collects its Association Response and keys by polling.
            held = self._indirect.setdefault(tx.dst.name, [])
            held.append((now + self.indirect_expiry_us, tx))
            if len(held) == 1 and self.air is not None:
                self.air.readdress()  # the radio's source match: frames pending for it
            return
        self._transmit(tx, now)

    def _transmit(self, tx: _Tx, now: int) -> None:
        aps_key = tx.aps_key
        if aps_key is not None:
            pending = self._aps_pending.get(aps_key)
            if pending is not None and pending.timer_armed_for != pending.attempt:
                # The APS ack clock starts when the frame first goes on air (for a sleepy
                # device, when it polls, not when the CHF queued the frame).
                pending.timer_armed_for = pending.attempt
                pending.timer = self._at_with(now + APS_ACK_WAIT_US, self._aps_ack_timer,
                                              (aps_key, pending.attempt))
        self.frames_sent += 1
        if self.capture is not None:
            self.capture(tx.frame, now)
        if self.air is not None and self._on_air(tx.dst):
            self.air.transmit(tx.frame, now, lambda acked, at: self._air_done(tx, acked, at))
            return
        link = tx.dst.link if tx.src is self.chf else tx.src.link
        tx.attempts -= 1
        heard = not (link.outages and link.down_at(now)) and not (
            link.loss and self._rng.random() < link.loss)
        if heard:
            self._at_with(now + link.latency_us, self._arrive, tx)
        elif tx.attempts > 0:
            self._at_with(now + link.ack_wait_us, self._transmit, tx)
        else:
            self._mac_failed(tx, now)

    def _aps_ack_timer(self, key_attempt: tuple[tuple[str, str, int], int], now: int) -> None:
        self._aps_timeout(key_attempt[0], key_attempt[1], now)

    def _air_done(self, tx: _Tx, acked: bool, now: int) -> None:
        """The radio is through with ``tx`` (its MAC retries included)."""
        if not acked:
            self._mac_failed(tx, now)

    def _mac_failed(self, tx: _Tx, now: int) -> None:
        """No MAC ack for ``tx`` after its last attempt."""
        self.frames_dropped += 1
        if tx.aps_key is not None:  # APS-acked: the APS layer sends again (or gives up) now
            self._aps_timeout(tx.aps_key, -1, now)
            return
        self._emit(now, tx.src.name, "HanTransmissionFailed",
                   {"to": tx.dst.name, "reason": "no MAC ack"})
        if tx.on_failed is not None:
            tx.on_failed(now)

    def _arrive(self, tx: _Tx, now: int) -> None:
        if self.capture is not None:
            pending = bool(self._indirect.get(tx.src.name)) if tx.command else False
            self.capture(build_mac(mac_ack(tx.mac_seq, frame_pending=pending)), now)
        if tx.command:
            self._poll_received(tx.src, now)
        else:
            self.receive(tx.frame, tx.dst, now)

    # ---- receiving ----------------------------------------------------------------------------

    def air_frame(self, frame: bytes, now: int) -> None:
        """The radio heard ``frame`` (PSDU with FCS; acks are the radio's own business)."""
        self._at(now, lambda at: self._air_arrive(frame, at))

    def _air_arrive(self, frame: bytes, now: int) -> None:
        try:
            mac = parse_mac(frame)
        except MalformedFrame as exc:
            self._emit(now, self.chf.name, "HanFrameDropped",
                       {"reason": "MalformedFrame", "detail": str(exc)})
            return
        if mac.frame_type is MacFrameType.ACK or (
                mac.dst_pan not in (self.pan_id, 0xFFFF) and mac.dst_pan is not None):
            return
        if self.capture is not None:
            self.capture(frame, now)
        chf_here = self.chf.name in self.local
        if mac.frame_type is MacFrameType.COMMAND:
            src = mac.src_addr
            joiner = isinstance(src, bytes) and chf_here
            if mac.command == MacCommand.ASSOCIATION_REQUEST and joiner and isinstance(src, bytes):
                eui = eui_to_str(src)
                node = self.nodes.get(eui)
                rejoin = self.tc_keys.get(eui) if node is not None and node.joined else None
                if node is None:
                    rx_on = bool(mac.payload and mac.payload[0] & CAP_RX_ON_WHEN_IDLE)
                    node = HanNode(src, UNASSIGNED_SHORT, sleepy=not rx_on)
                elif rejoin is not None:  # it restarted: new counters, keys again
                    node.joined = False
                    self.chf.guard.forget(node.eui)
                    node.aps_seen.clear()
                self._association(node, now, rejoin)
            elif mac.command == MacCommand.DATA_REQUEST and chf_here:
                poller = (self.nodes.get(eui_to_str(src)) if isinstance(src, bytes)
                          else self._by_short.get(src) if isinstance(src, int) else None)
                if poller is not None and poller is not self.chf:
                    self._poll_received(poller, now)
            elif (mac.command == MacCommand.ASSOCIATION_RESPONSE
                  and isinstance(mac.dst_addr, bytes)):
                node = self.nodes.get(eui_to_str(mac.dst_addr))
                if node is not None and node.name in self.local:
                    self._associated(node, mac.payload, now)
            return
        if mac.frame_type is not MacFrameType.DATA:
            return
        dst = mac.dst_addr
        node = self._by_short.get(dst) if isinstance(dst, int) else (
            self.nodes.get(eui_to_str(dst)) if isinstance(dst, bytes) else None)
        if node is not None and node.name in self.local:
            self.receive(frame, node, now)

    def _associated(self, node: HanNode, payload: bytes, now: int) -> None:
        """A local joiner got its Association Response: take the short address it gives."""
        try:
            resp = parse_association_response(payload)
        except MalformedFrame:
            return
        if resp.status != 0:
            self._emit(now, node.name, "HanJoinFailed",
                       {"reason": f"association refused (status {resp.status})"})
            return
        if self._by_short.get(node.short) is node:
            del self._by_short[node.short]
        node.short = resp.short_address
        self._by_short[node.short] = node
        self._emit(now, node.name, "HanAssociated", {"short": node.short})
        if self.air is not None:
            self.air.readdress()

    def receive(self, frame: bytes, node: HanNode, now: int) -> bool:
        """``node``'s radio hears ``frame``: check and unsecure it with the node's own keys.

        Also the entry point for injected frames (replays, frames under an old key).
        Returns whether the frame was accepted.
        """
        ring = self.keys if node is self.chf else node.keys  # None until a joiner has it
        try:
            if node is self.chf:  # the Trust Centre's copy of the sender's link key
                parsed = parse_secured_frame(frame, network_keys=ring, guard=node.guard,
                                             link_key_for=self._tc_key_of)
            else:  # what the device itself holds
                parsed = parse_secured_frame(frame, network_keys=ring, link_key=node.link_key,
                                             guard=node.guard)
        except (MalformedFrame, SecurityError) as exc:
            self.frames_dropped += 1
            self._emit(now, node.name, "HanFrameDropped",
                       {"reason": type(exc).__name__, "detail": str(exc)})
            return False
        src = self._by_short.get(parsed.nwk.src)
        if src is None:
            self.frames_dropped += 1
            self._emit(now, node.name, "HanFrameDropped",
                       {"reason": "UnknownSource", "detail": f"0x{parsed.nwk.src:04X}"})
            return False
        if node is self.chf:
            src.last_heard = now
            if self.on_heard is not None:
                self.on_heard(src.name, now)
        aps = parsed.aps
        frame_type = aps.frame_type
        if frame_type == ApsFrameType.ACK:
            acked = self._aps_pending.pop((node.name, src.name, aps.counter), None)
            if acked is not None and acked.timer is not None:
                acked.timer[2] = _CANCELLED
            return True
        if frame_type == ApsFrameType.COMMAND:
            self._aps_command(src, node, parsed.payload, now)
            return True
        if aps.ack_request:
            self._send_aps_ack(node, src, aps, now)
            seen = node.aps_seen.get(src.name)
            if seen is None:
                seen = node.aps_seen[src.name] = []
            elif aps.counter in seen:
                return True  # a retransmission of what we already have: acked, not delivered
            seen.append(aps.counter)
            if len(seen) > APS_DUPLICATE_WINDOW:
                del seen[0]
        profile = aps.profile
        self.delivered.append(Delivery(
            src.name, node.name, aps.cluster or 0, aps.src_endpoint or 0,
            aps.dst_endpoint or 0, parsed.payload, now,
            profile if profile is not None else SE_PROFILE, aps.aux is not None))
        return True

    def _tc_key_of(self, mac: MacFrame) -> bytes | None:
        sender = self._by_short.get(mac.src_addr) if isinstance(mac.src_addr, int) else None
        return self.tc_keys.get(sender.name) if sender is not None else None

    # ---- joining -------------------------------------------------------------------------------

    def request_join(self, node: HanNode, now: int) -> None:
        """A device not on the network sends an Association Request to the CHF.

        The CHF admits it only if ``on_join_request`` returns a TC link key (the device is on
        the whitelist and its join window is open); it then sends the network key under that
        link key. The device can read it only if its own install-code key is the same; it
        proves so with Verify Key. No proof within ``join_timeout_us`` means the join failed.
        """
        node.mac_seq = (node.mac_seq + 1) & 0xFF
        caps = CAP_ALLOCATE_ADDRESS | (0 if node.sleepy else CAP_RX_ON_WHEN_IDLE)
        req = MacFrame(MacFrameType.COMMAND, node.mac_seq, dst_pan=self.pan_id, dst_addr=0x0000,
                       src_pan=0xFFFF, src_addr=node.eui, command=MacCommand.ASSOCIATION_REQUEST,
                       payload=association_request_payload(caps), ack_request=True)
        if self._on_air(self.chf):
            self._transmit(_Tx(build_mac(req), node, self.chf, node.mac_seq, 1, command=True),
                           now)
            for wait in JOIN_POLLS_US:  # collect the response, then the network key
                self._at(now + wait, lambda at: self._join_poll(node, at))
            self._at(now + JOIN_RETRY_US, lambda at: self._join_retry(node, at))
            return
        if self.capture is not None:
            self.capture(build_mac(req), now)
        self.frames_sent += 1
        link = node.link
        if link.down_at(now):
            self._emit(now, node.name, "HanJoinFailed", {"reason": "link down"})
            return
        self._at(now + link.latency_us, lambda at: self._association(node, at))

    def _join_poll(self, node: HanNode, now: int) -> None:
        if not node.joined:
            self.poll(node, now)

    def _join_retry(self, node: HanNode, now: int) -> None:
        if not node.joined and self.nodes.get(node.name) is node and node.name in self.local:
            self._emit(now, node.name, "HanJoinRetry", {"reason": "no network key yet"})
            self.request_join(node, now)

    def _association(self, node: HanNode, now: int, rejoin_key: bytes | None = None) -> None:
        """The Trust Centre answers an Association Request; ``rejoin_key``: a device it already
        had (a meter that restarted, on a radio) comes back under its TC link key."""
        key = rejoin_key or (self.on_join_request(node, now) if self.on_join_request is not None
                             else None)
        self.chf.mac_seq = (self.chf.mac_seq + 1) & 0xFF
        if key is None:
            resp = AssociationResponse(0xFFFF, 0x02)  # PAN access denied
        else:
            known = self._by_short.get(node.short) is node
            resp = AssociationResponse(node.short if known else self._free_short(), 0x00)
        response = build_mac(MacFrame(
            MacFrameType.COMMAND, self.chf.mac_seq, dst_pan=self.pan_id, dst_addr=node.eui,
            src_addr=self.chf.eui, command=MacCommand.ASSOCIATION_RESPONSE,
            payload=resp.payload(), ack_request=True, pan_id_compression=True))
        if self._on_air(node):  # indirect: the joiner polls for it
            tx = _Tx(response, self.chf, node, self.chf.mac_seq, 1)
            self._indirect[node.name] = [(now + self.indirect_expiry_us, tx)]
            if self.air is not None:
                self.air.readdress()
        elif self.capture is not None:
            self.capture(response, now)
        if key is None:
            self._emit(now, self.chf.name, "HanJoinRefused",
                       {"eui": node.name, "reason": "not whitelisted or join window closed"})
            return
        node.short = resp.short_address
        node.joined = False
        node.keys = None
        self.nodes[node.name] = node
        self._by_short[node.short] = node
        self.tc_keys[node.name] = key
        self.transport_network_key(node, self.keys.current_key, self.keys.current_seq, now)
        self._at(now + self.join_timeout_us, lambda at: self._join_deadline(node, at))

    def _join_deadline(self, node: HanNode, now: int) -> None:
        if not node.joined and self.nodes.get(node.name) is node:
            self._emit(now, self.chf.name, "HanJoinFailed",
                       {"eui": node.name, "reason": "no key confirmation (wrong install code?)"})
            self.remove_node(node.name)

    def _verify_key(self, src: HanNode, cmd: VerifyKey, now: int) -> None:
        expected = hmac_mmo(self.tc_keys.get(src.name, b"\x00" * 16), b"\x03")
        if cmd.hash != expected:
            self._emit(now, self.chf.name, "HanJoinFailed",
                       {"eui": src.name, "reason": "link key hash mismatch"})
            self.remove_node(src.name)
            return
        src.joined = True
        src.last_heard = now
        self._emit(now, self.chf.name, "HanDeviceJoined", {"eui": src.name, "short": src.short})
        if self.on_joined is not None:
            self.on_joined(src, now)

    def _send_aps_ack(self, node: HanNode, to: HanNode, acked: ApsHeader, now: int) -> None:
        node.mac_seq = (node.mac_seq + 1) & 0xFF
        aps = ApsHeader(ApsFrameType.ACK, acked.counter, DeliveryMode.UNICAST, acked.src_endpoint,
                        None, acked.cluster, acked.profile, acked.dst_endpoint)
        ring = node.keys or self.keys
        nwk_seq = node.nwk_counter & 0xFF  # the sequence number before the NWK counter moves
        node.nwk_counter += 1
        nwk = NwkHeader(NwkFrameType.DATA, to.short, node.short, nwk_seq,
                        aux=SecurityHeader(KeyId.NETWORK, node.nwk_counter, node.eui,
                                           ring.current_seq))
        pan = self.pan_id
        mac = MacFrame(MacFrameType.DATA, node.mac_seq, pan, to.short, pan, node.short,
                       ack_request=True, pan_id_compression=True)
        frame = build_secured_frame(mac, nwk, aps, b"", network_key=ring.current_key)
        self._launch(_Tx(frame, node, to, node.mac_seq, 1 + self._link(node, to).mac_retries),
                     now)

    # ---- sleepy devices -----------------------------------------------------------------------

    def poll(self, node: HanNode, now: int) -> None:
        """A sleepy device wakes and sends a MAC Data Request to the CHF."""
        node.mac_seq = (node.mac_seq + 1) & 0xFF
        frame = build_mac(mac_data_request(node.mac_seq, self.pan_id, 0x0000, node.eui))
        self._transmit(_Tx(frame, node, self.chf, node.mac_seq, 1 + node.link.mac_retries,
                           command=True), now)

    def _poll_received(self, node: HanNode, now: int) -> None:
        node.last_heard = now  # the CHF heard the poll
        if self.on_heard is not None:
            self.on_heard(node.name, now)
        held = self._indirect.pop(node.name, [])
        if (self._on_air(node) and len(held) > 1
                and held[0][1].frame[0] & 0x07 == MacFrameType.COMMAND):
            # The Association Response alone: the joiner takes its address before the rest.
            self._indirect[node.name] = held[1:]
            held = held[:1]
        elif held and self.air is not None:
            self.air.readdress()  # nothing pending for it any more
        live = [tx for expires, tx in held if expires > now]
        for expired in (tx for expires, tx in held if expires <= now):
            self._emit(now, self.chf.name, "HanIndirectExpired", {"to": node.name})
            if expired.aps_key is not None:
                pending = self._aps_pending.get(expired.aps_key)
                if pending is not None:
                    pending.retries_left = 0  # the device never collected it: give up
                self._aps_timeout(expired.aps_key, -1, now)
            elif expired.on_failed is not None:
                expired.on_failed(now)
        for i, tx in enumerate(live):
            tx.attempts = 1 + node.link.mac_retries
            self._at_with(now + (i + 1) * MS, self._transmit, tx)

    def held_for(self, eui: str) -> int:
        return len(self._indirect.get(eui, []))

    def pending_addresses(self) -> tuple[set[int], set[bytes]]:
        """Short and extended addresses of the devices the CHF holds frames for (a radio's
        source-match table); joiners, not yet in the node table, by their EUI-64."""
        shorts = {n.short for eui in self._indirect if (n := self.nodes.get(eui)) is not None
                  and n.short != UNASSIGNED_SHORT}
        return shorts, {eui_from_str(eui) for eui, held in self._indirect.items() if held}

    # ---- Trust Centre: keys -----------------------------------------------------------------

    def transport_network_key(self, node: HanNode, key: bytes, seq: int, now: int) -> None:
        """APS Transport Key of a network key to ``node``, secured with the key-transport key
        derived from its link key (install-code key), as at joining or key rotation."""
        cmd = encode_aps_command(TransportKey(KeyType.STANDARD_NETWORK, key, key_seq=seq,
                                              dst=node.eui, src=self.chf.eui))
        frame = self._command_frame(self.chf, node, cmd, aps_key=self.tc_keys.get(node.name),
                                    key_id=KeyId.KEY_TRANSPORT,
                                    nwk_secured=node.joined and node.keys is not None)
        self._launch(_Tx(frame, self.chf, node, self.chf.mac_seq, 1 + node.link.mac_retries),
                     now)

    def switch_key(self, seq: int, now: int) -> None:
        """Switch Key to every device, then the CHF switches itself."""
        for node in self.nodes.values():
            cmd = encode_aps_command(SwitchKey(seq))
            frame = self._command_frame(self.chf, node, cmd, aps_key=None, key_id=None,
                                        nwk_secured=True)
            self._launch(_Tx(frame, self.chf, node, self.chf.mac_seq,
                             1 + node.link.mac_retries), now)
        self._at(now + 50 * MS, lambda at: self._switch_chf(seq, at))

    def _switch_chf(self, seq: int, now: int) -> None:
        old = self.keys.current_seq
        self.keys.switch(seq)
        self.chf.guard.forget_key_seq(old)
        self._emit(now, self.chf.name, "HanNetworkKeySwitched", {"from": old, "to": seq})

    def _aps_command(self, src: HanNode, dst: HanNode, payload: bytes, now: int) -> None:
        try:
            cmd = decode_aps_command(payload)
        except MalformedFrame as exc:
            self._emit(now, dst.name, "HanFrameDropped", {"reason": "MalformedFrame",
                                                          "detail": str(exc)})
            return
        if isinstance(cmd, TransportKey) and cmd.key_type == KeyType.STANDARD_NETWORK:
            ring = dst.keys
            if ring is None:
                dst.keys = NetworkKeyRing(cmd.key, cmd.key_seq or 0)
            elif cmd.key_seq is not None and cmd.key_seq != ring.current_seq:
                ring.install(cmd.key, cmd.key_seq)
            self._emit(now, dst.name, "HanNetworkKeyReceived", {"seq": cmd.key_seq})
            if not dst.joined:
                self.send_verify_key(dst, now)
                if self._on_air(self.chf):  # the Trust Centre is elsewhere: we are in
                    dst.joined = True
                    self._emit(now, dst.name, "HanJoined", {"short": dst.short})
                    if self.on_local_joined is not None:
                        self.on_local_joined(dst, now)
        elif isinstance(cmd, SwitchKey):
            if dst.keys is not None and dst.keys.pending_seq == cmd.key_seq:
                old = dst.keys.current_seq
                dst.keys.switch(cmd.key_seq)
                dst.guard.forget_key_seq(old)
        elif isinstance(cmd, VerifyKey) and dst is self.chf:
            self._verify_key(src, cmd, now)

    def send_verify_key(self, node: HanNode, now: int) -> None:
        """A newly joined device proves it holds its link key (ZigBee 3.0 Verify Key)."""
        digest = hmac_mmo(node.link_key or b"\x00" * 16, b"\x03")
        cmd = encode_aps_command(VerifyKey(KeyType.TC_LINK, node.eui, digest))
        frame = self._command_frame(node, self.chf, cmd, aps_key=None, key_id=None,
                                    nwk_secured=True)
        self._transmit(_Tx(frame, node, self.chf, node.mac_seq, 1 + node.link.mac_retries),
                       now)


__all__ = [
    "CHF_ENDPOINT",
    "MIRROR_ENDPOINT",
    "Delivery",
    "Han",
    "HanNode",
    "LinkParams",
]
