"""The byte-stream interface every WAN transport implements.

An in-memory link (virtual time, fleets), a TCP connection (real time, the bench) and later
serial or network adapters in ``hw/`` all look the same to the TLS channel above them:
``write`` bytes, ``close``, and deliver what arrives to the receiver set with ``attach``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

OnData = Callable[[bytes], None]
OnClosed = Callable[[str], None]


class LinkEnd(Protocol):
    """One end of a reliable, ordered byte stream."""

    def attach(self, on_data: OnData, on_closed: OnClosed) -> None:
        """Set the receiver of incoming bytes and of the close notice (with a reason)."""
        ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    @property
    def is_closed(self) -> bool: ...

    @property
    def peer_name(self) -> str:
        """For logs and traces: ``memory:<name>`` or ``tcp:127.0.0.1:5000``."""
        ...
