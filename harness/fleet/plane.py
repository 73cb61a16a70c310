"""A shard on the MQTT control plane: commands in, replies and events out, a retained status.

The shard subscribes to ``PREFIX/cmd/+`` (QoS 1) and answers each command it owns on the
command's ``reply_to`` topic or ``PREFIX/reply/TARGET`` (QoS 1). Trace events whose kind was
asked for go to ``PREFIX/event/INSTALLATION/KIND`` (QoS 0, through a bounded queue: when the
broker cannot keep up, events are dropped and counted, the fleet never stalls). Its status is
retained on ``PREFIX/status/K-of-N``, refreshed every few seconds, and the broker's last will
replaces it with ``"state": "gone"`` if the shard dies without saying goodbye. When the broker
goes away the shard keeps serving and reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

import aiomqtt

from emulator.core.timebase import isoformat
from harness.fleet.broker import Broker, Topics
from harness.fleet.control import Controller

EVENT_QUEUE = 10_000
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_QUIET = logging.getLogger("s1lab.fleet.mqtt")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


class ControlPlane:
    def __init__(self, broker: Broker, topics: Topics, controller: Controller,
                 status: Callable[[], dict[str, object]], shard_name: str, client_id: str,
                 event_kinds: frozenset[str] | None, status_interval_s: float = 5.0,
                 announce: Callable[[str], None] = print) -> None:
        self.broker = broker
        self.topics = topics
        self.controller = controller
        self._status = status
        self._shard_name = shard_name
        self._client_id = client_id
        self._kinds = event_kinds  # None: every kind
        self._interval = status_interval_s
        self._announce = announce
        self._events: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(EVENT_QUEUE)
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.events_dropped = 0
        self.events_sent = 0
        self.state = "starting"

    # ---- events from the trace (called synchronously by Trace.write) --------------------

    def on_event(self, now: int, installation: str, device: str, event: str,
                 fields: dict[str, object]) -> None:
        if self._kinds is not None and event not in self._kinds:
            return
        if self._client is None:
            self.events_dropped += 1
            return
        payload = _dumps({"time": isoformat(now), "us": now, "installation": installation,
                          "device": device, "event": event, "fields": fields}).encode()
        try:
            self._events.put_nowait((self.topics.event(installation, event), payload))
        except asyncio.QueueFull:
            self.events_dropped += 1

    # ---- status -------------------------------------------------------------------------

    def status_payload(self, state: str | None = None) -> bytes:
        body = {**self._status(), "state": state or self.state,
                "events_sent": self.events_sent, "events_dropped": self.events_dropped,
                "commands": self.controller.handled, "command_errors": self.controller.errors}
        return _dumps(body).encode()

    def _will(self) -> aiomqtt.Will:
        status = self._status()
        gone = {k: status[k] for k in ("shard", "name", "host", "pid", "installations",
                                       "first", "last", "total") if k in status}
        return aiomqtt.Will(self.topics.status(self._shard_name),
                            _dumps({**gone, "state": "gone"}).encode(), qos=1, retain=True)

    # ---- the session with the broker ----------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stay on the broker until ``stop``; reconnect with backoff when it drops."""
        delay = 1.0
        while not stop.is_set():
            try:
                await self._session(stop)
                delay = 1.0
            except aiomqtt.MqttError as exc:
                self._client = None
                self.connected.clear()
                self._announce(f"MQTT broker {self.broker}: {exc}; retrying in {delay:g} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(30.0, delay * 2)

    async def _session(self, stop: asyncio.Event) -> None:
        async with self.broker.client(self._client_id, will=self._will()) as client:
            await client.subscribe(self.topics.commands, qos=1)
            self._client = client
            self.connected.set()
            await self._publish_status(client)
            tasks = [asyncio.ensure_future(t) for t in (
                self._commands(client), self._send_events(client), self._heartbeat(client))]
            waiter = asyncio.ensure_future(stop.wait())
            try:
                done, _ = await asyncio.wait([*tasks, waiter],
                                             return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not waiter:
                        task.result()  # an MqttError ends the session
            finally:
                for task in (*tasks, waiter):
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                        await task
            if stop.is_set():
                self.state = "stopped"
                await self._publish_status(client)
            self._client = None

    async def _publish_status(self, client: aiomqtt.Client) -> None:
        await client.publish(self.topics.status(self._shard_name), self.status_payload(),
                             qos=1, retain=True)

    async def _heartbeat(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._publish_status(client)

    async def _commands(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            target = self.topics.target_of(str(message.topic))
            if target is None:
                continue
            payload = message.payload if isinstance(message.payload, bytes) else \
                str(message.payload).encode()
            for reply in self.controller.handle(target, payload):
                await client.publish(self._reply_topic(payload, target), _dumps(reply).encode(),
                                     qos=1)

    def _reply_topic(self, payload: bytes, target: str) -> str:
        try:
            asked = json.loads(payload).get("reply_to")
        except (ValueError, AttributeError, UnicodeDecodeError):
            asked = None
        if isinstance(asked, str) and asked and not any(c in asked for c in "+#\0"):
            return asked
        return self.topics.reply(target)

    async def _send_events(self, client: aiomqtt.Client) -> None:
        while True:
            topic, payload = await self._events.get()
            await client.publish(topic, payload, qos=0)
            self.events_sent += 1
