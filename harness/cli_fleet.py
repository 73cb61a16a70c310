"""``s1lab fleet``: fleets of CHFs on real sockets, and their MQTT control plane."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import click

from emulator.drivers.tcp import parse_hostport
from emulator.errors import FleetError
from emulator.profiles import default_dmc, load_dmc
from harness.fleet.broker import DEFAULT_PREFIX, Topics, check_prefix, parse_broker
from harness.fleet.plan import DEFAULT_ADDRESSES, FIRST_EUI, FleetPlan, parse_shard

#: Trace events a shard publishes unless --events says otherwise: faults and prepayment.
DEFAULT_EVENTS = ("FaultApplied,FaultScheduled,FaultCleared,SupplyStateChanged,TopUpAccepted,"
                  "TopUpRejected,EmergencyCreditActivated")

BROKER_OPTION = click.option("--broker", required=True, metavar="URL",
                             help="mqtt://[USER[:PASSWORD]@]HOST[:PORT] or mqtts://...?ca=FILE")
PREFIX_OPTION = click.option("--topic-prefix", default=DEFAULT_PREFIX, show_default=True,
                             help="Root of the control plane's topic tree.")


@click.group()
def fleet() -> None:
    """Fleets of emulated installations on real TCP, steered over MQTT."""


@fleet.command("serve")
@click.option("--installations", "-n", type=click.IntRange(1, 1_000_000), required=True,
              help="Installations in the whole fleet (a shard runs its slice).")
@click.option("--pki", "pki_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder from `s1lab pki init DIR --chfs N` holding this shard's CHFs.")
@click.option("--listen", metavar="HOST:PORT", default=None,
              help="Each CHF listens on its own address of --addresses, on PORT. HOST "
                   "127.0.0.1 keeps to the loopback device; 0.0.0.0 listens everywhere.")
@click.option("--connect", metavar="HOST:PORT", default=None, help="Each CHF dials a head-end.")
@click.option("--addresses", default=DEFAULT_ADDRESSES, show_default=True, metavar="CIDR",
              help="CHF addresses: installation n gets the n-th address of the range.")
@click.option("--manifest", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the shard's manifest (JSON) here.")
@click.option("--broker", default=None, metavar="URL",
              help="Join the MQTT control plane: mqtt://[USER[:PASS]@]HOST[:PORT], mqtts://...")
@PREFIX_OPTION
@click.option("--events", default=DEFAULT_EVENTS, show_default=True, metavar="KINDS",
              help="Trace event kinds to publish (comma-separated; '*' all; '' none).")
@click.option("--shard", default="1/1", show_default=True, metavar="K/N",
              help="Run the K-th of N slices of the fleet.")
@click.option("--dmc", "profile", default=None, help="DMC profile name or YAML file.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--first-eui", default=FIRST_EUI, show_default=True,
              help="Installation 1's CHF EUI-64 (the next ones count up).")
@click.option("--han", type=click.Choice(["zigbee", "direct"]), default="zigbee",
              show_default=True)
@click.option("--ramp", type=click.FloatRange(0.1, 100_000), default=200.0, show_default=True,
              help="Connect mode: dials per second while starting (each one jittered).")
@click.option("--status-every", type=click.FloatRange(0.1, 3600), default=10.0,
              show_default=True, help="Seconds between status lines (and MQTT statuses / 2).")
def fleet_serve(installations: int, pki_dir: Path, listen: str | None, connect: str | None,
                addresses: str, manifest: Path | None, broker: str | None, topic_prefix: str,
                events: str, shard: str, profile: str | None, seed: int, first_eui: str,
                han: str, ramp: float, status_every: float) -> None:
    """Serve N installations in one process on the real clock: each CHF on real mutual TLS."""
    from harness.fleet import profiling
    from harness.fleet.serve import FleetServer, ServeOptions

    kinds = None if events.strip() == "*" else frozenset(
        k.strip() for k in events.split(",") if k.strip())
    opts = ServeOptions(
        plan=FleetPlan(installations, parse_shard(shard), first_eui, addresses),
        pki_dir=pki_dir, dmc=load_dmc(profile) if profile else default_dmc(), seed=seed,
        listen=parse_hostport(listen) if listen else None,
        connect=parse_hostport(connect) if connect else None, manifest=manifest,
        broker=parse_broker(broker) if broker else None, topics=Topics(check_prefix(topic_prefix)),
        event_kinds=kinds, han="direct" if han == "direct" else "zigbee", ramp_per_s=ramp,
        status_interval_s=status_every)
    server = FleetServer(opts, announce=lambda line: click.echo(line))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        profiling.install(loop)
        await server.run(stop)

    asyncio.run(main())
    click.echo(f"fleet {opts.plan.shard} stopped")


def _plan_shard_count(statuses: dict[str, dict[str, object]]) -> int:
    counts = {str(s.get("shard", "1/1")).split("/")[-1] for s in statuses.values()}
    return max((int(c) for c in counts if c.isdigit()), default=0)


@fleet.command("status")
@BROKER_OPTION
@PREFIX_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the statuses as JSON.")
@click.option("--wait", type=click.FloatRange(0.1, 60), default=1.0, show_default=True,
              help="Seconds to gather retained statuses.")
def fleet_status(broker: str, topic_prefix: str, as_json: bool, wait: float) -> None:
    """Every shard's last status on the broker (a shard that died shows as gone)."""
    from harness.fleet.client import shard_statuses

    statuses = asyncio.run(shard_statuses(parse_broker(broker), Topics(check_prefix(
        topic_prefix)), wait))
    if as_json:
        click.echo(json.dumps(statuses, indent=2))
        return
    if not statuses:
        click.echo("no shards on this broker")
        return
    alive = [s for s in statuses.values() if s.get("state") == "running"]
    total = sum(int(str(s.get("installations", 0))) for s in alive)
    click.echo(f"{len(statuses)} shard(s) seen, {len(alive)} running, {total} installations "
               f"served (of {_plan_shard_count(statuses)} shards planned)")
    for name, s in statuses.items():
        click.echo(f"  shard {s.get('shard', name):>7} {str(s.get('state')):8} "
                   f"{s.get('installations', '?')} installations {s.get('first', '?')}.."
                   f"{s.get('last', '?')}  sessions {s.get('sessions_open', '-')} open  "
                   f"host {s.get('host', '?')} pid {s.get('pid', '?')}  "
                   f"updated {s.get('updated', '-')}")


def _send(broker: str, topic_prefix: str, target: str, command: dict[str, object],
          timeout: float) -> None:
    from harness.fleet.client import send_command

    group = target == "all" or target.startswith("shard-")
    replies = asyncio.run(send_command(parse_broker(broker), Topics(check_prefix(topic_prefix)),
                                       target, command, timeout, expect=0 if group else 1))
    click.echo(json.dumps(replies[0] if len(replies) == 1 else replies, indent=2))
    failed = [r for r in replies if not r.get("ok")]
    if failed:
        error = failed[0].get("error")
        if isinstance(error, dict):
            raise FleetError(f"{error.get('code')}: {error.get('message')}")
        raise FleetError("the command failed on some installations (see the replies)")


@fleet.command("fault")
@BROKER_OPTION
@PREFIX_OPTION
@click.option("--installation", "target", required=True, metavar="ID",
              help="An installation id (i00042), all, or shard-K.")
@click.option("--timeout", type=float, default=10.0, show_default=True)
@click.argument("spec")
def fleet_fault(broker: str, topic_prefix: str, target: str, timeout: float, spec: str) -> None:
    """Inject a fault (a --fault SPEC, from now) into a running fleet; print the reply."""
    _send(broker, topic_prefix, target, {"op": "fault", "spec": spec}, timeout)


@fleet.command("command")
@BROKER_OPTION
@PREFIX_OPTION
@click.option("--target", required=True, metavar="ID", help="i00042, all, or shard-K.")
@click.option("--timeout", type=float, default=10.0, show_default=True)
@click.argument("op")
@click.argument("args", nargs=-1, metavar="[NAME=VALUE]...")
def fleet_command(broker: str, topic_prefix: str, target: str, timeout: float, op: str,
                  args: tuple[str, ...]) -> None:
    """Send any command (fault, clear, supply, topup, read, ping; see docs/mqtt.md), e.g.
    `s1lab fleet command --target i00003 topup pence=500`."""
    command: dict[str, object] = {"op": op}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{arg!r} is not NAME=VALUE", param_hint="ARGS")
        command[name] = int(value) if value.lstrip("-").isdigit() else value
    _send(broker, topic_prefix, target, command, timeout)

