"""The control plane from the other side: send a command and wait for its reply; gather the
shards' retained statuses (``s1lab fleet fault``, ``s1lab fleet command``, ``s1lab fleet status``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid

import aiomqtt

from emulator.errors import FleetError, TransportError
from harness.fleet.broker import Broker, Topics


async def send_command(broker: Broker, topics: Topics, target: str, command: dict[str, object],
                       timeout_s: float = 10.0, expect: int = 1) -> list[dict[str, object]]:
    """Publish ``command`` to ``target`` (QoS 1) and return the replies (``expect`` of them for
    one installation; for a group, every shard that answers within the timeout)."""
    cid = command.setdefault("id", uuid.uuid4().hex)
    reply_to = topics.reply(f"client-{uuid.uuid4().hex}")
    command["reply_to"] = reply_to
    replies: list[dict[str, object]] = []
    try:
        async with broker.client(f"s1lab-cli-{os.getpid()}-{uuid.uuid4().hex[:8]}") as client:
            await client.subscribe(reply_to, qos=1)
            await client.publish(topics.command(target), json.dumps(command).encode(), qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    async for message in client.messages:
                        try:
                            reply = json.loads(bytes(message.payload))
                        except ValueError:
                            continue
                        if isinstance(reply, dict) and reply.get("id") == cid:
                            replies.append(reply)
                            if expect and len(replies) >= expect:
                                break
    except aiomqtt.MqttError as exc:
        raise TransportError(f"MQTT broker {broker}: {exc}") from None
    if not replies and expect:
        raise FleetError(f"no reply from {target} within {timeout_s:g} s (is its shard "
                         "running? see `s1lab fleet status`)", "no-reply")
    return replies


async def shard_statuses(broker: Broker, topics: Topics,
                         settle_s: float = 1.0) -> dict[str, dict[str, object]]:
    """Every shard's retained status, by shard name (the broker sends retained ones at once)."""
    statuses: dict[str, dict[str, object]] = {}
    try:
        async with broker.client(f"s1lab-status-{os.getpid()}-{uuid.uuid4().hex[:8]}") as client:
            await client.subscribe(topics.statuses, qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settle_s):
                    async for message in client.messages:
                        name = str(message.topic).rsplit("/", 1)[-1]
                        try:
                            body = json.loads(bytes(message.payload))
                        except ValueError:
                            continue
                        if isinstance(body, dict):
                            statuses[name] = body
    except aiomqtt.MqttError as exc:
        raise TransportError(f"MQTT broker {broker}: {exc}") from None
    return dict(sorted(statuses.items()))
