"""Wall time and virtual time of a sleepy GSME's OTA upgrade of a 200 KiB image.

    .venv/bin/python -m bench.bench_ota [--kib 200]

The GSME (zenith-gsme-prepay: 48-byte blocks, 250 ms minimum block period) is asleep when the
image is distributed; it learns of it at its next wake and then fetches block by block, each
block collected at a poll. Every frame is built, secured and checked (802.15.4, NWK and APS
AES-CCM*, ZCL) on the virtual clock.
"""

from __future__ import annotations

import argparse
import time

from emulator.core.timebase import MINUTE, SECOND
from emulator.wire.vocabulary import DeviceType
from tests.firmware.ota_rig import image, rig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kib", type=int, default=200)
    kib = parser.parse_args().kib
    raw = image("zenith-gsme-prepay", "1.3.0", kib * 1024)
    r = rig()
    gsme = r.eui(DeviceType.GSME)
    r.run_for(5 * MINUTE)
    han = r.core.app.han  # type: ignore[union-attr]
    frames0 = han.frames_sent
    t0 = time.perf_counter()
    r.ota.distribute(gsme, raw, r.now, activate_at=0)
    took = r.run_until(lambda: r.ota.status(gsme).state == "activated")
    wall = time.perf_counter() - t0
    t = r.ota.transfer(gsme)
    assert t is not None
    print(f"image {len(raw)} bytes, {t.blocks_served} blocks, {han.frames_sent - frames0} frames")
    started = next(at for at, _, name, _ in r.trace.events if name == "OtaDownloadStarted")
    waited = started - (r.now - took)
    print(f"virtual time {took / SECOND:.1f} s ({took / SECOND / 60:.1f} min): "
          f"{waited / SECOND:.1f} s until the GSME woke and asked, "
          f"{(took - waited) / SECOND:.1f} s of transfer and activation; wall time {wall:.2f} s")


if __name__ == "__main__":
    main()
