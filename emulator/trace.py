"""The run's trace: one JSON object per line, in the order events happened.

``{"time": "2026-01-05T00:30:00.000000Z", "us": 1767573000000000, "installation": "i0001",
"device": "00-1B-C5-0C-00-00-00-01", "event": "TopUpAccepted", "fields": {...}}``

Time comes from the run's clock (virtual or real) via the cores' ``now``, never from the machine.
With the same seed and inputs, a virtual run writes a byte-identical trace: nothing random,
nothing from TLS ciphertext and nothing from the machine goes into it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Final, TextIO

from emulator.core.timebase import isoformat
from emulator.core.trace_sink import Emit
from emulator.errors import OutputError

_dumps: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


class Trace:
    """Writes trace lines to ``sink`` (or only counts them when ``sink`` is None)."""

    def __init__(self, sink: TextIO | None = None) -> None:
        self._sink = sink
        self.counts: Counter[str] = Counter()
        self.lines = 0
        self._subscribers: list[Callable[[int, str, str, str, dict[str, object]], None]] = []

    def subscribe(self, fn: Callable[[int, str, str, str, dict[str, object]], None]) -> None:
        """Also hand every event to ``fn(now, installation, device, event, fields)``."""
        self._subscribers.append(fn)

    def write(
        self, now: int, installation: str, device: str, event: str, fields: dict[str, object]
    ) -> None:
        self.counts[event] += 1
        self.lines += 1
        for fn in self._subscribers:
            fn(now, installation, device, event, fields)
        if self._sink is not None:
            try:
                self._sink.write(
                    f'{{"time":"{isoformat(now)}","us":{now},'
                    f'"installation":{_dumps(installation)},"device":{_dumps(device)},'
                    f'"event":{_dumps(event)},"fields":{_dumps(fields)}}}\n'
                )
            except OSError as exc:  # a full disk: one error naming the file, not a traceback
                name = getattr(self._sink, "name", "trace")
                raise OutputError(f"{name}: cannot write: {exc.strerror or exc}") from None

    def emitter(self, installation: str) -> Emit:
        """An ``Emit`` for the cores of one installation."""
        write = self.write

        def emit(now: int, device: str, event: str, fields: dict[str, object]) -> None:
            write(now, installation, device, event, fields)

        return emit
