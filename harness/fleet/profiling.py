"""Profile a running ``fleet serve`` on demand: where its time goes during a storm.

With ``S1LAB_FLEET_PROFILE=FILE`` in its environment, the process starts cProfile on SIGUSR1
and on SIGUSR2 stops it and writes the statistics to FILE (``python -m pstats FILE``). Without
the variable nothing is installed and the signals keep their default meaning. The profile
counts CPU time (``time.process_time``), not wall time, so a busy machine does not smear it;
the time spent in the cyclic garbage collector is written beside it (FILE.gc).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import os
import signal
import time
from pathlib import Path

ENV = "S1LAB_FLEET_PROFILE"


def install(loop: asyncio.AbstractEventLoop) -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    profiler = cProfile.Profile(time.process_time)
    gc_s = [0.0, 0.0, 0]  # seconds in collections, start of the current one, collections

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_s[1] = time.process_time()
        else:
            gc_s[0] += time.process_time() - gc_s[1]
            gc_s[2] += 1

    def start() -> None:
        gc_s[0], gc_s[2] = 0.0, 0
        gc.callbacks.append(on_gc)
        profiler.enable()

    def stop() -> None:
        profiler.disable()
        gc.callbacks.remove(on_gc)
        profiler.dump_stats(path)
        Path(path + ".gc").write_text(f"{gc_s[2]} collections, {gc_s[0]:.3f} s CPU\n")

    loop.add_signal_handler(signal.SIGUSR1, start)
    loop.add_signal_handler(signal.SIGUSR2, stop)
