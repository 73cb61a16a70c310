"""Expectations checked against a lab's run: each gives an ExpectationResult with a sentence a
reviewer reads, whether it passed or failed.

Kinds (docs/scenarios.md): ``outcome`` (an action's status, reason code, step, category, clause,
result fields), ``register`` (a meter register now: a value, a bound, or a relation with its
value after an earlier action), ``connects`` (which head-end role can connect now), ``event``
(trace events seen or not seen, with fields, counts and a time range), ``deadline`` (an action
finished within a duration) and ``state`` (the CHF's owner, trust anchor, SIM, joined devices,
network key).
"""

from __future__ import annotations

from typing import Any

import yaml

from emulator.core.timebase import HOUR
from harness.scenario import model
from harness.scenario.lab import Lab, LabEvent
from harness.scenario.loader import parse_scenario
from harness.scenario.result import ExpectationResult


def _hours(us: int) -> str:
    return f"{us / HOUR:g} h"


def _same(actual: object, wanted: object) -> bool:
    if isinstance(wanted, float | int) and isinstance(actual, int | float) and not isinstance(
            actual, bool):
        return float(actual) == float(wanted)
    return str(actual).lower() == str(wanted).lower()


async def check(exp: model.OutcomeExpect | model.RegisterExpect | model.ConnectsExpect
                | model.EventExpect | model.DeadlineExpect | model.StateExpect,
                lab: Lab) -> ExpectationResult:
    """Check one expectation now."""
    with lab.on(exp.installation):
        return await _check(exp, lab)


async def _check(exp: model.OutcomeExpect | model.RegisterExpect | model.ConnectsExpect
                 | model.EventExpect | model.DeadlineExpect | model.StateExpect,
                 lab: Lab) -> ExpectationResult:
    at = lab.now
    if isinstance(exp, model.OutcomeExpect):
        name, ok, msg = _outcome(exp.outcome, lab)
    elif isinstance(exp, model.RegisterExpect):
        name, ok, msg = _register(exp.register_, lab)
    elif isinstance(exp, model.ConnectsExpect):
        a = exp.connects
        can, why = await lab.can_connect(a.role)
        name = f"{a.role} {'can' if a.is_ else 'cannot'} connect"
        ok = can is a.is_
        msg = f"{a.role.upper()} {'connected' if can else 'could not connect'} ({why})"
    elif isinstance(exp, model.EventExpect):
        name, ok, msg = _event(exp.event, lab)
    elif isinstance(exp, model.DeadlineExpect):
        name, ok, msg = _deadline(exp.deadline, lab)
    else:
        name, ok, msg = _state(exp.state, lab)
    return ExpectationResult(name=name, passed=ok,
                             message=("PASS: " if ok else "FAIL: ") + msg, at_us=at)


def parse_expectation(spec: dict[str, Any]) -> model.Expectation:
    """One expectation written as in a scenario file, e.g.
    ``{"outcome": {"of": "m1", "is": "migrated"}}`` (ScenarioError when it is not one)."""
    text = yaml.safe_dump({"id": "inline", "title": "inline", "expect": [spec],  # any lab size
                           "start": {"installations": model.MAX_INSTALLATIONS}})
    return parse_scenario(text, "<expectation>").expect[0]


async def expect(lab: Lab, spec: dict[str, Any]) -> ExpectationResult:
    """Check ``spec`` (see :func:`parse_expectation`) now; AssertionError with its message
    when it fails, else its result."""
    result = await check(parse_expectation(spec), lab)
    if not result.passed:
        raise AssertionError(result.message)
    return result


def _outcome(a: model.OutcomeArgs, lab: Lab) -> tuple[str, bool, str]:
    r = lab.results.get(a.of)
    wants = [(k, v) for k, v in (("status", a.is_), ("reason", a.reason), ("step", a.step),
                                 ("category", a.category), ("clause", a.clause),
                                 ("attempts", a.attempts)) if v is not None]
    name = f"outcome of {a.of}: " + ", ".join(f"{k} {v}" for k, v in wants)
    if a.field is not None:
        name += (", " if wants else "") + f"{a.field}"
    if r is None:
        return name, False, f"no action named {a.of!r} ran (did an earlier step stop the case?)"
    got = {"status": r.status, "reason": r.reason, "step": r.step, "category": r.category,
           "clause": r.clause, "attempts": r.attempts}
    bad = [f"{k} is {got[k] or '(none)'!s}, expected {v}" for k, v in wants
           if not _same(got[k], v)]
    if a.field is not None:
        value = r.fields.get(a.field)
        ok, text = _compare(value, a.equals, a.at_least, a.at_most)
        name += f" {text}"
        if not ok:
            bad.append(f"{a.field} is {value}, expected {text}")
    if bad:
        return name, False, f"{a.of} ({r.kind}): " + "; ".join(bad) + (
            f" [{r.detail}]" if r.detail else "")
    return name, True, f"{a.of} ({r.kind}) ended {r.summary()}"


def _compare(value: object, equals: object, at_least: float | None,
             at_most: float | None) -> tuple[bool, str]:
    parts = []
    ok = value is not None
    if equals is not None:
        parts.append(f"== {equals}")
        ok = ok and _same(value, equals)
    if at_least is not None:
        parts.append(f">= {at_least:g}")
        ok = ok and isinstance(value, int | float) and value >= at_least
    if at_most is not None:
        parts.append(f"<= {at_most:g}")
        ok = ok and isinstance(value, int | float) and value <= at_most
    return ok, " and ".join(parts)


def _register(a: model.RegisterArgs, lab: Lab) -> tuple[str, bool, str]:
    key = f"{a.device}.{a.name}"
    now = lab.registers()
    value = now.get(key)
    name = f"register {key}"
    if value is None and a.device in lab.physical:
        return name, False, (f"{key} has not come over the air: the {a.device} is a physical "
                             "device, and no WAN read of it so far carried that register")
    if value is None:
        return name, False, f"{key} does not exist on DMC {lab.dmc.name}"
    problems: list[str] = []
    said: list[str] = []
    if a.equals is not None or a.at_least is not None or a.at_most is not None:
        ok, text = _compare(value, a.equals, a.at_least, a.at_most)
        name += f" {text}"
        (said if ok else problems).append(f"{key} = {value} ({text})")
    for rel, since in (("increased", a.increased_since), ("decreased", a.decreased_since),
                       ("unchanged", a.unchanged_since)):
        if since is None:
            continue
        name += f" {rel} since {since}"
        taken = lab.snapshots.get(since)
        snap = None if taken is None else taken.get(lab.installation_number)
        if snap is None:
            problems.append(f"no action named {since!r} ran")
            continue
        before = snap.get(key)
        if before is None and a.device in lab.physical:
            problems.append(f"{key} had not come over the air by {since} (read the "
                            f"{a.device} before it)")
            continue
        if not isinstance(before, int | float) or not isinstance(value, int | float):
            ok = rel == "unchanged" and before == value
            delta_text = f"{before} -> {value}"
        else:
            delta = value - before
            need = a.by_at_least or 0
            ok = {"increased": delta > 0 and delta >= need,
                  "decreased": delta < 0 and -delta >= need,
                  "unchanged": delta == 0}[rel]
            delta_text = f"{before} -> {value} ({delta:+g})"
        (said if ok else problems).append(f"{key} {delta_text} since {since}, expected {rel}"
                                          + (f" by at least {a.by_at_least:g}"
                                             if a.by_at_least and rel != "unchanged" else ""))
    if problems:
        return name, False, "; ".join(problems)
    return name, True, "; ".join(said)


def _bound(lab: Lab, ref: str | None, end: bool) -> int | None:
    if ref is None:
        return None
    r = lab.results.get(ref)
    if r is not None:
        return r.ended_us if end else r.started_us
    return lab.t0 + model.duration_us(ref)


def _event(a: model.EventArgs, lab: Lab) -> tuple[str, bool, str]:
    devices: set[str] = set()
    if a.device in ("smso", "s1sp"):
        devices = {f"headend:{a.device}", a.device}
    elif a.device is not None:
        devices = {lab.device_eui(a.device)}
    try:
        lo, hi = _bound(lab, a.after, False), _bound(lab, a.before, True)
    except ValueError:
        lo = hi = None
        return (f"event {a.name}", False,
                f"after/before {a.after or a.before!r} is neither an action name nor a time")

    def match(e: LabEvent) -> bool:
        return (e.event == a.name and (not devices or e.device in devices)
                and (lo is None or e.us >= lo) and (hi is None or e.us <= hi)
                and all(_same(e.fields.get(k), v) for k, v in a.fields.items()))

    hits = [e for e in lab.events if match(e)]
    where = "".join([f" on {a.device}" if a.device else "",
                     f" with {a.fields}" if a.fields else "",
                     f" after {a.after}" if a.after else "",
                     f" before {a.before}" if a.before else ""])
    if a.seen:
        low = a.at_least or 1
        name = f"event {a.name}{where} seen" + (f" >= {low}" if a.at_least else "") + (
            f" <= {a.at_most}" if a.at_most is not None else "")
        ok = len(hits) >= low and (a.at_most is None or len(hits) <= a.at_most)
    else:
        name = f"event {a.name}{where} not seen"
        ok = not hits
    first = f", first at +{_hours(hits[0].us - lab.t0)}" if hits else ""
    return name, ok, f"{a.name}{where}: {len(hits)} seen{first}"


def _deadline(a: model.DeadlineArgs, lab: Lab) -> tuple[str, bool, str]:
    name = f"{a.of} within {_hours(a.within)}"
    r = lab.results.get(a.of)
    if r is None:
        return name, False, f"no action named {a.of!r} ran"
    took = r.ended_us - r.started_us
    ok = took <= a.within
    return name, ok, f"{a.of} took {_hours(took)} (limit {_hours(a.within)})"


def _state(a: model.StateArgs, lab: Lab) -> tuple[str, bool, str]:
    state = lab.security_state()
    checks: list[tuple[str, object, object]] = []
    for key in ("owner", "anchor", "apn", "network_key_seq"):
        wanted = getattr(a, key)
        if wanted is not None:
            checks.append((key, state[key], wanted))
    if a.joined is not None:
        checks.append((f"{a.joined} joined", lab.joined(a.joined), True))
    running = lab.firmware_versions() if a.firmware else {}
    for device, version in a.firmware.items():
        checks.append((f"{device} firmware", running.get(device, "(no such device)"), version))
    name = "state " + ", ".join(f"{k} {w}" for k, _, w in checks)
    bad = [f"{k} is {g}, expected {w}" for k, g, w in checks if not _same(g, w)]
    if bad:
        return name, False, "; ".join(bad)
    return name, True, ", ".join(f"{k} is {g}" for k, g, _ in checks)
