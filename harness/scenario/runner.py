"""Run one test case on one DMC with one seed: a campaign cell.

:func:`run_cell` takes only picklable arguments, so worker processes and Dask workers can call
it. It runs the case on a fresh virtual-time loop and returns a :class:`CaseResult`; with
``out_dir`` it also writes the cell's evidence there: ``trace.jsonl``, the HAN capture
(``han.pcap`` and ``han-keys.txt`` with a README), and ``CaseResult.json``. The same case, DMC
and seed give the same CaseResult except ``wall_s``.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from emulator.capture.evidence import CAPTURE_NAME, TLS_KEYS_NAME, WAN_NAME, CaptureDir
from emulator.drivers.capture import KEYS_NAME, PCAP_NAME, README_NAME, HanCapture
from emulator.drivers.clock import run_virtual
from emulator.errors import S1labError, TransportError
from emulator.profiles import ResolvedDmc, load_dmc
from harness.scenario import model
from harness.scenario.bench import BenchPlan, OnAir, on_the_air
from harness.scenario.catalogue import resolve
from harness.scenario.expect import check
from harness.scenario.lab import Lab, LabEvent
from harness.scenario.result import CaseResult, ExpectationResult, TimelineEvent, Verdict

TRACE_NAME = "trace.jsonl"
RESULT_NAME = "CaseResult.json"
#: Evidence kinds and their file names, listed in CaseResult.evidence when written.
EVIDENCE = (("trace", TRACE_NAME), ("capture", CAPTURE_NAME), ("han_capture", PCAP_NAME),
            ("han_keys", KEYS_NAME), ("wan_capture", WAN_NAME), ("wan_keylog", TLS_KEYS_NAME),
            ("capture_readme", README_NAME))
#: Per-device trace events too frequent to draw on a timeline (they stay in trace.jsonl).
_NOISY = frozenset({"HanFrameSent", "HanFrameReceived", "MirrorUpdated", "ConsumptionSample",
                    "DisplayRefreshed", "HanPoll", "HanAck", "GsmeWoke", "ClockSynchronised"})
_LANES = (("Wan", "wan"), ("Tls", "wan"), ("Han", "han"), ("Migration", "migration"),
          ("DeviceInstallation", "migration"), ("RolledBack", "migration"),
          ("Installation", "migration"), ("Supplier", "migration"), ("Security", "migration"))
TIMELINE_LIMIT = 1000
#: Real seconds a bench run's steps may take beyond its scenario time (round trips, reads).
_BENCH_SLACK_S = 120.0  # events per cell; beyond it the device lanes are thinned evenly


def repro_command(case: str, dmc: str, seed: int) -> str:
    """The one command that reproduces a cell alone."""
    return f"s1lab run {shlex.quote(case)} --dmc {shlex.quote(dmc)} --seed {seed}"


def _lane(e: LabEvent) -> str:
    if e.installation == "harness":
        if e.event == "FaultInjected":
            return "fault"
        return "action"
    if e.event.startswith("Fault"):
        return "fault"
    if e.installation == "dcc":
        return "migration"
    for prefix, lane in _LANES:
        if e.event.startswith(prefix):
            return lane
    return "device"


def _detail(e: LabEvent) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(e.fields.items()))[:200]


def _timeline(events: list[LabEvent]) -> tuple[TimelineEvent, ...]:
    kept = [e for e in events if e.event not in _NOISY]
    if len(kept) > TIMELINE_LIMIT:  # keep the harness lanes whole, thin the device lanes
        own = [e for e in kept if e.installation in ("harness", "dcc")]
        rest = [e for e in kept if e.installation not in ("harness", "dcc")]
        room = max(1, TIMELINE_LIMIT - len(own))
        step = -(-len(rest) // room)  # ceiling: at most `room` device events stay
        kept = sorted(own + rest[::step], key=lambda e: e.us)
    return tuple(TimelineEvent(us=e.us, device=e.device, event=e.event, lane=_lane(e),
                               detail=_detail(e)) for e in kept)


async def _perform(lab: Lab, action: model._Action) -> list[ExpectationResult]:
    """Do one action on its installation; a ``check`` returns its expectation results."""
    with lab.on(action.installation):
        return await _perform_here(lab, action)


async def _perform_here(lab: Lab, action: model._Action) -> list[ExpectationResult]:
    name, role = action.as_, action.role
    if isinstance(action, model.Wait):
        await lab.wait(action.wait, name)
    elif isinstance(action, model.Read):
        await lab.read(action.read, role, name)
    elif isinstance(action, model.Inventory):
        await lab.inventory(role, name)
    elif isinstance(action, model.PaymentModeAction):
        a = action.payment_mode
        await lab.payment_mode(a.device, a.set, role, name)
    elif isinstance(action, model.TopUp):
        t = action.top_up
        await lab.top_up(t.device, t.amount_pence, t.utrn, role, name)
    elif isinstance(action, model.DeviceLog):
        d = action.device_log
        if d.add is not None:
            code = bytes.fromhex(d.install_code) if d.install_code else None
            await lab.device_log_add(d.add, d.device_type, code, d.bad_crc, d.join_window,
                                     role, name)
        else:
            assert d.remove is not None
            await lab.device_log_remove(d.remove, role, name)
    elif isinstance(action, model.Join):
        await lab.join(action.join.device, action.join.install_code, name)
    elif isinstance(action, model.KeySwitch):
        await lab.network_key_switch(name)
    elif isinstance(action, model.HanReplay):
        await lab.han_replay(name)
    elif isinstance(action, model.Migrate):
        await lab.migrate(action.migrate.attempts, name)
    elif isinstance(action, model.Rollback):
        await lab.rollback(name)
    elif isinstance(action, model.Connect):
        await lab.connect(role, action.connect.credential, name)
    elif isinstance(action, model.Replay):
        await lab.replay(action.replay.device, role, name)
    elif isinstance(action, model.Firmware):
        f = action.firmware
        await lab.firmware(f.device, f.image, f.tamper, f.allow_downgrade, f.within, f.poll,
                           role, name)
    elif isinstance(action, model.Check):
        return [await check(e, lab) for e in action.check]
    else:
        raise S1labError(f"action {action.KIND} is not supported")
    return []


async def run_case(scenario: model.Scenario, dmc: ResolvedDmc, seed: int, *,
                   sink: TextIO | None = None, capture: HanCapture | None = None,
                   also: Sequence[model.Expectation] = (),
                   fleet_options: dict[str, Any] | None = None,
                   on_open: Callable[[Lab], None] | None = None,
                   bench: OnAir | None = None,
                   announce: Callable[[str], None] | None = None,
                   ) -> tuple[list[ExpectationResult], Lab]:
    """Run ``scenario`` on the running virtual loop; the expectation results and the lab
    (closed). ``sink`` takes the trace lines, ``capture`` the HAN frames; ``on_open`` gets
    the lab as soon as it exists (so a run that breaks still has its timeline).

    ``also``: more expectations checked at the end after the case's own (tests use it to show
    that each expectation of a case can fail).

    ``bench``: a bench run on the running real-time loop (:mod:`harness.scenario.bench`): the
    CHF's HAN on the lab radio, the physical devices joined before t=0, the steps bounded by
    the plan's time limit; ``announce`` gets its progress lines."""
    results: list[ExpectationResult] = []
    physical = ({d.role: (d.eui, bench.plan.install_codes[d.role]) for d in bench.plan.devices}
                if bench is not None else None)
    async with AsyncExitStack() as stack:
        lab = await stack.enter_async_context(Lab.open(
            dmc, seed=seed, start=scenario.start, capture=capture, trace_sink=sink,
            fleet_options=fleet_options, physical=physical))
        if on_open is not None:
            on_open(lab)
        if bench is not None:
            await stack.enter_async_context(on_the_air(lab, bench, announce))
        for fault in scenario.faults:
            lab.inject(fault)

        async def steps() -> None:
            for action in scenario.actions:
                if action.at is not None:
                    await lab.wait_until(action.at)
                results.extend(await _perform(lab, action))
            for exp in (*scenario.expect, *also):
                results.append(await check(exp, lab))

        if bench is None:
            await steps()
        else:
            limit_s = bench.plan.time_limit_us / 1e6 + _BENCH_SLACK_S
            try:
                await asyncio.wait_for(steps(), limit_s)
            except TimeoutError:
                raise TransportError(f"the bench run took longer than {limit_s:g} s of real "
                                     "time (the time limit plus slack); stopped") from None
        return results, lab


def run_scenario(scenario: model.Scenario, dmc: str, seed: int, out_dir: Path | None = None,
                 case_ref: str | None = None, bench: BenchPlan | None = None,
                 announce: Callable[[str], None] | None = None) -> CaseResult:
    """One cell; never raises for a failing case or a broken run (Verdict FAIL / ERROR).

    With ``bench`` (from :func:`harness.scenario.bench.plan_bench`) the case runs on the real
    clock with physical devices on the lab radio, and the CaseResult lists them."""
    t_wall = time.perf_counter()
    repro = (bench.repro(case_ref or scenario.id, dmc, seed) if bench is not None
             else repro_command(case_ref or scenario.id, dmc, seed))
    on_air = OnAir(bench) if bench is not None else None
    base = CaseResult(case_id=scenario.id, title=scenario.title, dmc=dmc, seed=seed,
                      verdict=Verdict.ERROR, behaviours=tuple(scenario.behaviours),
                      clauses=tuple(scenario.clauses), expectations=(), timeline=(),
                      started_us=0, ended_us=0, wall_s=0.0, repro=repro,
                      physical=bench.devices if bench is not None else ())
    try:
        resolved = load_dmc(dmc)
    except S1labError as exc:
        return _write(replace(base, wall_s=_since(t_wall), error=_one_line(exc)), out_dir)
    why_not = scenario.not_applicable(resolved)
    if why_not is not None:  # SKIP carries its reason in ``error``
        return _write(replace(base, verdict=Verdict.SKIP, wall_s=_since(t_wall),
                              error=f"skipped: {why_not}"), out_dir)
    holder: list[Lab] = []
    sink: TextIO | None = None
    evidence_dir: CaptureDir | None = None
    options: dict[str, Any] = {}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        sink = (out_dir / TRACE_NAME).open("w", encoding="utf-8", newline="\n")
        # The WAN (synthesized TCP) with its NSS key log, the HAN with its keys, merged.
        evidence_dir = CaptureDir(out_dir, han=scenario.start.han == "zigbee")
        options = {"wan_capture": evidence_dir.wan, "keylog": evidence_dir.keylog}

    async def main() -> list[ExpectationResult]:
        results, _lab = await run_case(
            scenario, resolved, seed, sink=sink,
            capture=evidence_dir.han if evidence_dir is not None else None,
            fleet_options=options, on_open=holder.append, bench=on_air, announce=announce)
        return results

    error: str | None = None
    results: list[ExpectationResult] = []
    try:  # a bench run is on the real clock (its radio and devices are)
        results = run_virtual(main()) if bench is None else asyncio.run(main())
    except Exception as exc:  # a broken run is a verdict (ERROR), not a crash of the campaign
        error = _one_line(exc)
    finally:
        if sink is not None:
            sink.close()
    if evidence_dir is not None:
        try:
            evidence_dir.close()
        except S1labError as exc:  # e.g. mergecap missing: the parts stay, the run stands
            error = error or f"capture not merged: {_one_line(exc)}"
    lab = holder[0] if holder else None
    if error is not None:
        verdict = Verdict.ERROR
    elif results and all(r.passed for r in results):
        verdict = Verdict.PASS
    else:
        verdict = Verdict.FAIL
    evidence: dict[str, str] = {}
    if out_dir is not None:
        for kind, name in EVIDENCE:
            if (out_dir / name).exists():
                evidence[kind] = name
        evidence["result"] = RESULT_NAME
    result = replace(
        base, verdict=verdict, expectations=tuple(results),
        timeline=_timeline(lab.events) if lab is not None else (),
        started_us=lab.t0 if lab is not None else 0,
        ended_us=lab.now if lab is not None else 0,
        wall_s=_since(t_wall), error=error, evidence=evidence,
        physical=on_air.devices() if on_air is not None else ())
    return _write(result, out_dir)


def run_cell(case_id_or_path: str, dmc: str, seed: int, out_dir: Path | None) -> CaseResult:
    """A campaign cell: the case (a catalogue id or a file path) on ``dmc`` with ``seed``.

    A case that cannot be found or read gives a ScenarioError (bad input, not a verdict)."""
    scenario = resolve(case_id_or_path)
    return run_scenario(scenario, dmc, seed, Path(out_dir) if out_dir is not None else None,
                        case_ref=case_id_or_path)


def _since(t: float) -> float:
    return round(time.perf_counter() - t, 3)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, S1labError) else f"{type(exc).__name__}: {text}"


def _write(result: CaseResult, out_dir: Path | None) -> CaseResult:
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".CaseResult.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(result.to_json() + "\n")
        Path(tmp).chmod(0o644)
        Path(tmp).replace(out_dir / RESULT_NAME)
    return result


__all__ = ["repro_command", "run_case", "run_cell", "run_scenario"]
