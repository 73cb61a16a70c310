"""Fleet benchmark on real TCP: `s1lab fleet serve` with N installations (full ZigBee HAN) in one
process, read by a head-end in another process (this one), beside the machine's raw TLS rate.

    .venv/bin/python bench/bench_fleet.py --installations 10000 [--pki DIR] [--read-seconds 120]

One run gives: the fleet's RSS per installation with every CHF in session (target <= 100 KiB),
read latency p50/p99 while every installation is in session and the fleet runs its standard
HAN activity (a WAN read per installation per hour, phase-spread), a reconnect storm of all N
(target >= 80% of the raw handshake rate: openssl s_server + s_time on the same machine, in the
same run, before the fleet starts and after the storm, with the same certificates), and how
long building and the first connection took.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from emulator import S1labError, current_clock
from emulator.drivers.tcp import tcp_connect
from emulator.pki import PkiFolder
from harness.fleet.profiling import ENV as PROFILE_ENV
from harness.fleet.serve import GC_THRESHOLD
from harness.headend import HeadEnd, HeadEndSession, connect, headend_from_pki

S1LAB = [sys.executable, "-m", "harness"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_split_of(pid: int) -> tuple[float, float]:
    """CPU seconds (user, system) a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_s_of(pid: int) -> float:
    return sum(cpu_split_of(pid))


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Raw:
    """One raw measure: handshakes per wall second, and CPU microseconds per handshake of the
    server and of the clients (what a saturated core would turn into a rate)."""

    clients: int
    rate: float
    server_us: float
    client_us: float


def raw_handshake_rate(pki: Path, seconds: float, clients: int) -> Raw:
    """Full mutual-TLS handshakes per wall second: openssl s_server (one process, one core, as
    the fleet is) against ``clients`` openssl s_time processes dialling new sessions. The
    server is configured as a CHF's context is: TLS 1.3 with its default suites, the P-256
    group, one session ticket."""
    eui = sorted(p.name for p in (pki / "chf").iterdir())[0]
    port = free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
         str(pki / "chf" / eui / "chf.pem"), "-key", str(pki / "chf" / eui / "chf.key"),
         "-Verify", "1", "-CAfile", str(pki / "smso-ca.pem"), "-groups", "P-256",
         "-num_tickets", "1", "-quiet", "-naccept", "10000000"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # (stdin held open: s_server ends a connection when its stdin reaches EOF)
        time.sleep(0.5)
        server_cpu, client_cpu = cpu_s_of(server.pid), children_cpu_s()
        procs = [subprocess.Popen(
            ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time",
             str(int(seconds)), "-cert", str(pki / "headend-smso.pem"), "-key",
             str(pki / "headend-smso.key"), "-CAfile", str(pki / "device-ca.pem")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for _ in range(clients)]
        total, count = 0.0, 0
        for p in procs:
            out, _ = p.communicate(timeout=seconds + 30)
            m = re.search(r"(\d+) connections in (\d+) real seconds", out)
            if m:
                total += int(m.group(1)) / int(m.group(2))
                count += int(m.group(1))
        server_cpu = cpu_s_of(server.pid) - server_cpu
        client_cpu = children_cpu_s() - client_cpu
        return Raw(clients, total, 1e6 * server_cpu / max(1, count),
                   1e6 * client_cpu / max(1, count))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


def best_raw(pki: Path, seconds: float) -> Raw:
    return max((raw_handshake_rate(pki, seconds, c) for c in (1, 2)), key=lambda r: r.rate)


def start_fleet(args: list[str], profile: Path | None = None
                ) -> tuple[subprocess.Popen[str], str, float]:
    t0 = time.perf_counter()
    env = dict(os.environ)
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        env[PROFILE_ENV] = str(profile / "fleet.prof")
    proc = subprocess.Popen([*S1LAB, "fleet", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if " ready: " in line:
            return proc, line, time.perf_counter() - t0
    raise SystemExit(f"fleet serve did not start: {proc.communicate()[1]}")


def stop_fleet(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


async def connect_all(headend: HeadEnd, addresses: list[tuple[str, int]], concurrency: int,
                      errors: list[str]) -> tuple[list[HeadEndSession], float, int]:
    """Connect to every address, ``concurrency`` at a time; each attempt that failed (and was
    retried after 0.5 s) is added to ``errors``."""
    clock = current_clock()
    gate = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(address: tuple[str, int]) -> HeadEndSession | None:
        nonlocal failures
        async with gate:
            for _ in range(5):
                try:
                    link = await tcp_connect(*address)
                    return await connect(link, headend, clock, 60, 60)
                except (OSError, S1labError) as exc:  # refused, reset, or the TLS session failed
                    errors.append(str(exc))
                    await asyncio.sleep(0.5)
            failures += 1
            return None

    t0 = time.perf_counter()
    got = await asyncio.gather(*[one(a) for a in addresses])
    elapsed = time.perf_counter() - t0
    return [s for s in got if s is not None], elapsed, failures


async def read_phase(sessions: list[HeadEndSession], esmes: list[str], seconds: float,
                     period_s: float) -> list[float]:
    """Each session reads its ESME once per ``period_s`` at its own phase; those whose phase
    falls in the window read once. Returns latencies (s)."""
    latencies: list[float] = []
    n = len(sessions)
    t0 = time.perf_counter()

    async def one(i: int) -> None:
        at = t0 + i * period_s / n
        while at < t0 + seconds:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            started = time.perf_counter()
            await sessions[i].read_instantaneous(esmes[i])
            latencies.append(time.perf_counter() - started)
            at += period_s

    await asyncio.gather(*[one(i) for i in range(n)])
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def head_end(pki_dir: Path, manifest: list[dict[str, object]], fleet_pid: int,
                   base_rss: int, args: argparse.Namespace,
                   storm_errors: list[str]) -> dict[str, float]:
    headend = headend_from_pki(PkiFolder.load(pki_dir), "smso")
    # This process holds 10,000 sessions: collect young objects less often than every 700
    # allocations, as `fleet serve` does (harness.fleet.serve.GC_THRESHOLD).
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    addresses = [(str(e["address"]), int(str(e["port"]))) for e in manifest]
    esmes = [str(e["devices"]["esme"]["eui"]) for e in manifest]  # type: ignore[index]
    n = len(addresses)
    first_errors: list[str] = []
    sessions, first_s, failed = await connect_all(headend, addresses, args.concurrency,
                                                  first_errors)
    if failed:
        print(f"  warning: {failed} of {n} CHFs could not be reached on the first connection")
    await asyncio.sleep(2)
    rss_connected = rss_of(fleet_pid)
    latencies = await read_phase(sessions, esmes, args.read_seconds, 3600.0 / args.read_boost)
    rss_after_reads = rss_of(fleet_pid)
    for s in sessions:
        await s.close()
    await asyncio.sleep(3)  # let the fleet see every session end
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    if profiler is not None:
        os.kill(fleet_pid, signal.SIGUSR1)
        profiler.enable()
    fleet_user, fleet_sys = cpu_split_of(fleet_pid)
    headend_cpu = time.process_time()
    storm, storm_s, storm_failed = await connect_all(headend, addresses, args.concurrency,
                                                     storm_errors)
    headend_cpu = time.process_time() - headend_cpu
    fleet_user, fleet_sys = (a - b for a, b in zip(cpu_split_of(fleet_pid),
                                                   (fleet_user, fleet_sys), strict=True))
    fleet_cpu = fleet_user + fleet_sys
    if profiler is not None:
        profiler.disable()
        os.kill(fleet_pid, signal.SIGUSR2)
        profiler.dump_stats(str(args.profile / "headend.prof"))
    for s in storm:
        await s.close()
    return {"n": n, "first_s": first_s, "rss_connected": rss_connected,
            "rss_after_reads": rss_after_reads, "base_rss": base_rss,
            "reads": len(latencies),
            "p50": pct(latencies, 0.5) if latencies else float("nan"),
            "p99": pct(latencies, 0.99) if latencies else float("nan"),
            "mean": statistics.fmean(latencies) if latencies else float("nan"),
            "storm_s": storm_s, "storm_ok": len(storm), "storm_failed": storm_failed,
            "first_retries": len(first_errors), "storm_retries": len(storm_errors),
            "fleet_us": 1e6 * fleet_cpu / max(1, len(storm)),
            "fleet_sys_share": fleet_sys / fleet_cpu if fleet_cpu else float("nan"),
            "headend_us": 1e6 * headend_cpu / max(1, len(storm))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--installations", "-n", type=int, default=10_000)
    ap.add_argument("--pki", type=Path, default=None, help="reuse a `pki init` folder")
    ap.add_argument("--han", choices=["zigbee", "direct"], default="zigbee")
    ap.add_argument("--read-seconds", type=float, default=120.0)
    ap.add_argument("--read-boost", type=float, default=1.0,
                    help="reads per installation per hour (1 = the standard schedule)")
    ap.add_argument("--concurrency", type=int, default=200, help="handshakes in flight")
    ap.add_argument("--raw-seconds", type=float, default=8.0)
    ap.add_argument("--profile", type=Path, default=None, metavar="DIR",
                    help="cProfile the storm on both sides: DIR/fleet.prof, DIR/headend.prof")
    args = ap.parse_args()
    n = args.installations

    with tempfile.TemporaryDirectory(prefix="s1lab-bench-fleet-") as tmp:
        pki = args.pki
        if pki is None:
            pki = Path(tmp) / "pki"
            t0 = time.perf_counter()
            subprocess.run([*S1LAB, "pki", "init", str(pki), "--chfs", str(n)], check=True,
                           capture_output=True)
            print(f"minted a PKI for {n} CHFs in {time.perf_counter() - t0:.1f} s")
        raw_before = best_raw(pki, args.raw_seconds)

        base, _, _ = start_fleet(["-n", "1", "--pki", str(pki), "--listen", "127.0.0.1:0",
                                  "--addresses", "127.3.0.0/16", "--han", args.han])
        time.sleep(1)
        base_rss = rss_of(base.pid)
        stop_fleet(base)

        manifest_path = Path(tmp) / "manifest.json"
        fleet, ready, start_s = start_fleet(
            ["-n", str(n), "--pki", str(pki), "--listen", "127.0.0.1:0", "--manifest",
             str(manifest_path), "--han", args.han, "--status-every", "30"], args.profile)
        manifest = json.loads(manifest_path.read_text())["installations"]
        try:
            storm_errors: list[str] = []
            r = asyncio.run(head_end(pki, manifest, fleet.pid, base_rss, args, storm_errors))
        finally:
            stop_fleet(fleet)
        # The machine is shared: measure the raw rate again right after the storm and compare
        # the storm with the mean of the two (both are printed).
        raw_after = best_raw(pki, args.raw_seconds)
        raw = (raw_before.rate + raw_after.rate) / 2
        raw_server_us = (raw_before.server_us + raw_after.server_us) / 2
        raw_client_us = (raw_before.client_us + raw_after.client_us) / 2

    per_inst = (r["rss_connected"] - base_rss) / n
    per_inst_all = r["rss_connected"] / n
    storm_rate = r["storm_ok"] / r["storm_s"]
    print(f"\ns1lab fleet benchmark, real TCP: {n} installations (HAN: {args.han}) in one "
          f"`fleet serve` process, head-end in another; {args.concurrency} handshakes in flight")
    print(f"  fleet start (PKI load + build + listen)   {start_s:8.1f} s")
    print(f"  first connection of all {n}             {r['first_s']:8.1f} s  "
          f"({n / r['first_s']:.0f} handshakes/s; {r['first_retries']:.0f} attempts retried)")
    print(f"  {'figure':44} {'measured':>12}   target")
    print(f"  {'fleet RSS per installation, all in session':44} {per_inst:9.1f} KiB   <= 100 KiB"
          f"   (process {r['rss_connected'] / 1024:.0f} MiB, of which {base_rss / 1024:.0f} MiB "
          f"a 1-installation fleet; {per_inst_all:.1f} KiB counting all)")
    print(f"  {'read latency p50 (read_instantaneous ESME)':44} {1000 * r['p50']:9.1f} ms    -"
          f"   ({int(r['reads'])} reads in {args.read_seconds:g} s, "
          f"{args.read_boost:g}/installation/hour; mean {1000 * r['mean']:.1f} ms)")
    print(f"  {'read latency p99':44} {1000 * r['p99']:9.1f} ms    -")
    print(f"  {'reconnect storm of all N':44} {storm_rate:9.0f} /s    >= 80% of raw "
          f"({0.8 * raw:.0f}/s): {100 * storm_rate / raw:.0f}% of raw   "
          f"({r['storm_ok']:.0f} ok, {r['storm_failed']:.0f} failed in {r['storm_s']:.1f} s; "
          f"{r['storm_retries']:.0f} attempts retried{': ' if storm_errors else ''}"
          f"{storm_errors[0] if storm_errors else ''})")
    print(f"  {'raw handshakes/s (openssl s_server+s_time)':44} {raw:9.0f} /s    "
          f"(the mean of the best before the fleet, {raw_before.rate:.0f}/s with "
          f"{raw_before.clients} client(s), and the best after the storm, "
          f"{raw_after.rate:.0f}/s with {raw_after.clients})")
    print(f"  {'CPU per handshake, CHF side':44} {r['fleet_us']:9.0f} us    s_server "
          f"{raw_server_us:.0f} us: a core of each gives {100 * raw_server_us / r['fleet_us']:.0f}%"
          f" of raw ({100 * r['fleet_sys_share']:.0f}% of it in the kernel)")
    print(f"  {'CPU per handshake, head-end side':44} {r['headend_us']:9.0f} us    s_time "
          f"{raw_client_us:.0f} us: a core of each gives "
          f"{100 * raw_client_us / r['headend_us']:.0f}% of raw")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} (2-core machine, shared)")
    print(f"  fleet RSS after the read phase: {r['rss_after_reads'] / 1024:.0f} MiB")
    print(f"  fleet ready line: {ready.strip()}")


if __name__ == "__main__":
    main()
