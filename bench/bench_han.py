"""HAN frame benchmark: the full secured ZigBee SE frame path next to raw AES-CCM.

    .venv/bin/python bench/bench_han.py --frames 20000 [--repeat 5] [--profile build|parse|both]

Each frame is a ZCL Report Attributes (Metering CurrentSummationDelivered uint48 and
InstantaneousDemand int24, server to client) in an APS data frame (Smart Energy profile,
Metering cluster), in a NWK data frame secured at ENC-MIC-32 under the network key (extended
nonce, key sequence 0), in an 802.15.4 data frame with its FCS.

Prints frames/s for (a) build (ZCL encode + :func:`build_secured_frame`), (b) parse + decrypt
(:func:`parse_secured_frame` + ZCL header and Report Attributes decode), (c) the round trip
a + b, and (d) raw ``AESCCM(tag_length=4)`` encrypt + decrypt of a same-sized payload with a
13-byte nonce, and the ratio of the round trip to the raw rate. Figures are medians of
--repeat runs; the machine is noisy, so read the ratios. ``--profile`` runs one pass under
cProfile and prints the top functions by cumulative and by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from emulator.core.han_crypto import build_secured_frame, parse_secured_frame
from emulator.wire.ieee802154 import mac_data
from emulator.wire.se_clusters import ClusterId, MeteringAttr
from emulator.wire.zcl import (
    Attribute,
    DataType,
    Direction,
    ReportAttributes,
    decode_foundation,
    parse_zcl,
    zcl_foundation_frame,
)
from emulator.wire.zigbee_aps import aps_data
from emulator.wire.zigbee_nwk import KeyId, NwkFrameType, NwkHeader, SecurityHeader

NWK_KEY = bytes.fromhex("0102030405060708090A0B0C0D0E0F10")
ESME = bytes.fromhex("001BC50C00000002")
PAN = 0x1A62


def build_one(i: int) -> bytes:
    """One ESME -> CHF metering report, everything derived from ``i``."""
    seq = i & 0xFF
    report = ReportAttributes(
        (
            Attribute(MeteringAttr.CURRENT_SUMMATION_DELIVERED, DataType.UINT48, 1_000_000 + i),
            Attribute(MeteringAttr.INSTANTANEOUS_DEMAND, DataType.INT24, (i % 5000) - 1000),
        )
    )
    zcl = zcl_foundation_frame(report, seq, direction=Direction.SERVER_TO_CLIENT)
    nwk = NwkHeader(
        NwkFrameType.DATA,
        0x0000,
        0x0001,
        seq,
        src_ieee=ESME,
        aux=SecurityHeader(KeyId.NETWORK, i + 1, source=ESME, key_seq=0),
    )
    return build_secured_frame(
        mac_data(seq, PAN, 0x0000, 0x0001, b""),
        nwk,
        aps_data(seq, ClusterId.METERING),
        zcl,
        network_key=NWK_KEY,
    )


def parse_one(frame: bytes) -> ReportAttributes:
    han = parse_secured_frame(frame, network_keys=NWK_KEY)
    header, payload = parse_zcl(han.payload)
    cmd = decode_foundation(header.command_id, payload)
    assert isinstance(cmd, ReportAttributes)
    return cmd


def run_build(n: int) -> list[bytes]:
    return [build_one(i) for i in range(n)]


def run_parse(frames: list[bytes]) -> None:
    for frame in frames:
        parse_one(frame)


def run_raw(n: int, size: int) -> None:
    ccm = AESCCM(NWK_KEY, tag_length=4)
    nonce = bytes(13)
    aad = bytes(24)
    plain = bytes(size)
    for _ in range(n):
        ccm.decrypt(nonce, ccm.encrypt(nonce, plain, aad), aad)


def profile(fn: Callable[[], object], title: str) -> None:
    print(f"\n--- cProfile: {title} ---")
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--frames", type=int, default=20000, help="frames per repetition")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions (median reported)")
    ap.add_argument("--profile", choices=("build", "parse", "both"), help="cProfile one pass")
    args = ap.parse_args()
    n: int = args.frames

    frames = run_build(min(n, 100))  # warm-up; also checks a frame decodes
    sample = parse_one(frames[0])
    assert sample.reports[0].value == 1_000_000
    han = parse_secured_frame(frames[0], network_keys=NWK_KEY)
    aps_len = 8 + len(han.payload)  # unicast APS data header + ZCL
    print(
        f"frame: {len(frames[0])} bytes on air, NWK-encrypted APS+ZCL {aps_len} bytes, "
        f"ZCL {len(han.payload)} bytes; {n} frames x {args.repeat} repetitions"
    )

    if args.profile in ("build", "both"):
        profile(lambda: run_build(n), "build")
    if args.profile in ("parse", "both"):
        frames = run_build(n)
        profile(lambda: run_parse(frames), "parse")
    if args.profile:
        return

    build_s: list[float] = []
    parse_s: list[float] = []
    raw_s: list[float] = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        built = run_build(n)
        t1 = time.perf_counter()
        run_parse(built)
        t2 = time.perf_counter()
        run_raw(n, aps_len)
        t3 = time.perf_counter()
        build_s.append(t1 - t0)
        parse_s.append(t2 - t1)
        raw_s.append(t3 - t2)

    b = n / statistics.median(build_s)
    p = n / statistics.median(parse_s)
    rt = n / statistics.median([x + y for x, y in zip(build_s, parse_s, strict=True)])
    raw = n / statistics.median(raw_s)
    print(f"(a) build  (ZCL + APS + NWK ENC-MIC-32 + MAC/FCS): {b:10,.0f} frames/s")
    print(f"(b) parse + decrypt (+ ZCL decode):               {p:10,.0f} frames/s")
    print(f"(c) round trip a+b:                               {rt:10,.0f} frames/s")
    print(f"(d) raw AESCCM tag 4 encrypt+decrypt:             {raw:10,.0f} per s")
    print(f"round trip / raw: {rt / raw:.3f}  ({1e6 / rt:.1f} us vs {1e6 / raw:.1f} us)")


if __name__ == "__main__":
    main()
