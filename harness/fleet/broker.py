"""Where the control plane's broker is, and the topic tree on it (docs/mqtt.md).

``mqtt://[USER[:PASSWORD]@]HOST[:PORT]`` or ``mqtts://...`` (TLS; port 8883 by default) with
optional query parameters ``ca=FILE`` (trust this CA instead of the system's), ``cert=FILE`` and
``key=FILE`` (a client certificate). A password may come from ``S1LAB_MQTT_PASSWORD`` instead,
which keeps it out of the process list.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import aiomqtt

from emulator.errors import FleetError

DEFAULT_PREFIX = "s1lab"


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        try:
            ctx = ssl.create_default_context(cafile=self.ca)
            if self.cert:
                ctx.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise FleetError(f"broker TLS files: {exc}", "bad-broker") from None
        return ctx

    def client(self, identifier: str, will: aiomqtt.Will | None = None,
               keepalive: int = 10) -> aiomqtt.Client:
        return aiomqtt.Client(self.host, self.port, username=self.username,
                              password=self.password, identifier=identifier, will=will,
                              tls_context=self.tls_context(), keepalive=keepalive,
                              clean_session=True, timeout=10)

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_broker(url: str) -> Broker:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise FleetError(f"not a broker URL: {url!r} (mqtt://HOST:PORT or mqtts://...)",
                         "bad-broker")
    try:
        port = parts.port
    except ValueError:
        raise FleetError(f"bad port in {url!r}", "bad-broker") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"ca", "cert", "key"}
    if unknown:
        raise FleetError(f"{url!r}: unknown parameter {sorted(unknown)[0]!r} (ca, cert, "
                         "key)", "bad-broker")
    tls = parts.scheme == "mqtts"
    password = unquote(parts.password) if parts.password is not None else None
    if password is None and parts.username:
        password = os.environ.get("S1LAB_MQTT_PASSWORD")
    return Broker(parts.hostname, port or (8883 if tls else 1883), tls,
                  unquote(parts.username) if parts.username else None, password,
                  query.get("ca"), query.get("cert"), query.get("key"))


@dataclass(frozen=True)
class Topics:
    """The topic tree under one prefix."""

    prefix: str = DEFAULT_PREFIX

    def command(self, target: str) -> str:
        return f"{self.prefix}/cmd/{target}"

    @property
    def commands(self) -> str:
        return f"{self.prefix}/cmd/+"

    def reply(self, target: str) -> str:
        return f"{self.prefix}/reply/{target}"

    def event(self, installation: str, kind: str) -> str:
        return f"{self.prefix}/event/{installation}/{kind}"

    def status(self, shard_name: str) -> str:
        return f"{self.prefix}/status/{shard_name}"

    @property
    def statuses(self) -> str:
        return f"{self.prefix}/status/+"

    def target_of(self, topic: str) -> str | None:
        head = f"{self.prefix}/cmd/"
        return topic[len(head):] if topic.startswith(head) else None


def check_prefix(prefix: str) -> str:
    if not prefix or any(c in prefix for c in "+#\0") or prefix.startswith("/") \
            or prefix.endswith("/"):
        raise FleetError(f"bad topic prefix {prefix!r}", "bad-broker")
    return prefix
