"""Fixtures shared by the wire tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def scapy_zigbee() -> Iterator[Any]:
    """scapy's config with 802.15.4 payloads dissected as ZigBee (the independent oracle)."""
    from scapy.config import conf

    cfg: Any = conf
    previous = cfg.dot15d4_protocol
    cfg.dot15d4_protocol = "zigbee"
    yield cfg
    cfg.dot15d4_protocol = previous
