"""run_cell: verdicts, evidence, determinism, reproduction; the catalogue against real runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emulator.drivers.clock import run_virtual
from emulator.profiles import load_dmc
from harness.scenario import CaseResult, Verdict, load_catalogue, parse_scenario, run_cell
from harness.scenario import model as m
from harness.scenario.runner import run_case

CASE = """\
id: tmp-topup
title: a top-up, and a wrong expectation when asked
behaviours: [25]
clauses: ["SRV 2.2"]
start: {state: active, payment_mode: {esme: prepayment}}
actions:
  - wait: 30m
    as: w
  - top_up: {amount_pence: 800}
    as: t1
expect:
  - outcome: {of: t1, is: ACCEPTED}
  - register: {name: balance_pence, increased_since: w}
"""


def _strip(result: CaseResult) -> dict[str, Any]:
    d = result.to_dict()
    d.pop("wall_s")
    return d


def test_run_cell_writes_evidence_and_is_deterministic(tmp_path: Path) -> None:
    a = run_cell("mig-gt01-preflight", "default", 5, tmp_path / "a")
    b = run_cell("mig-gt01-preflight", "default", 5, tmp_path / "b")
    assert a.verdict is Verdict.PASS, a.failed_expectations()
    assert _strip(a) == _strip(b)
    for name in ("trace.jsonl", "han.pcap", "han-keys.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert a.evidence == {
        "trace": "trace.jsonl", "capture": "capture.pcapng", "han_capture": "han.pcap",
        "han_keys": "han-keys.txt", "wan_capture": "wan.pcap", "wan_keylog": "tls-keys.txt",
        "capture_readme": "README.txt", "result": "CaseResult.json"}
    # The NSS key log holds the secrets of the cell's WAN sessions (TLS 1.3 labels).
    keylog = (tmp_path / "a" / "tls-keys.txt").read_text()
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in keylog or "CLIENT_RANDOM" in keylog
    stored = CaseResult.from_json((tmp_path / "a" / "CaseResult.json").read_text())
    assert stored == a  # only wall_s differs between a and b
    assert a.repro == "s1lab run mig-gt01-preflight --dmc default --seed 5"
    lanes = {t.lane for t in a.timeline}
    assert {"action", "fault", "migration", "wan"} <= lanes
    assert a.ended_us - a.started_us >= 76 * 3600 * 10**6
    # The trace is the run's: it holds the pre-flight failure the expectation saw.
    events = [json.loads(line)["event"] for line in
              (tmp_path / "a" / "trace.jsonl").read_text().splitlines()]
    assert "MigrationAttemptEnded" in events
    c = run_cell("mig-gt01-preflight", "default", 6, None)
    assert _strip(c)["timeline"] != _strip(a)["timeline"]  # another seed, another run


def test_skip_error_and_fail_verdicts(tmp_path: Path) -> None:
    skip = run_cell("mig-gt01-preflight", "ioc-credit", 1, None)
    assert skip.verdict is Verdict.SKIP and skip.error == "skipped: needs a DMC with gsme"
    path = tmp_path / "case.yaml"
    path.write_text(CASE, encoding="utf-8")
    ok = run_cell(str(path), "default", 1, None)
    assert ok.verdict is Verdict.PASS and ok.repro.startswith(f"s1lab run {path} ")
    path.write_text(CASE.replace("is: ACCEPTED", "is: INVALID"), encoding="utf-8")
    fail = run_cell(str(path), "default", 1, tmp_path / "cell")
    assert fail.verdict is Verdict.FAIL
    (bad,) = fail.failed_expectations()
    assert bad.message == "FAIL: t1 (top_up): status is ACCEPTED, expected INVALID"
    assert CaseResult.from_json((tmp_path / "cell" / "CaseResult.json").read_text()) == fail
    # A fault on a device the DMC lacks breaks the run: ERROR with one line.
    path.write_text(CASE + "faults:\n  - {kind: han-outage, device: gsme, for: 1h}\n",
                    encoding="utf-8")
    error = run_cell(str(path), "ioc-credit", 1, None)
    assert error.verdict is Verdict.ERROR and error.error is not None
    assert "gsme" in error.error and "\n" not in error.error
    assert error.timeline and error.ended_us >= error.started_us > 0  # up to the break
    unknown = run_cell(str(path), "no-such-dmc", 1, None)
    assert unknown.verdict is Verdict.ERROR and "no-such-dmc" in (unknown.error or "")


# ---- every shipped case against the emulated run, and each of its expectations can fail ----


def _negate(exp: Any) -> Any:
    """An expectation that must fail whenever ``exp`` passes (on the same installation)."""
    return _negated(exp).model_copy(update={"installation": exp.installation})


def _negated(exp: Any) -> Any:
    if isinstance(exp, m.OutcomeExpect):
        a = exp.outcome
        if a.is_ is not None:
            return m.OutcomeExpect(outcome=a.model_copy(update={"is_": "never-this"}))
        if a.field is not None and a.equals is not None:
            return m.OutcomeExpect(outcome=a.model_copy(update={"equals": "never-this"}))
        return m.OutcomeExpect(outcome=a.model_copy(update={"reason": "NEVER"}))
    if isinstance(exp, m.RegisterExpect):
        a = exp.register_
        flip = {"increased_since": "decreased_since", "decreased_since": "increased_since",
                "unchanged_since": "increased_since"}
        for key, other in flip.items():
            since = getattr(a, key)
            if since is not None:
                return m.RegisterExpect(register=m.RegisterArgs(
                    device=a.device, name=a.name, **{other: since}))
        if a.equals is not None:
            return m.RegisterExpect(register=m.RegisterArgs(
                device=a.device, name=a.name, equals="never-this"))
        bound = a.at_least if a.at_least is not None else a.at_most
        assert bound is not None
        key = "at_most" if a.at_least is not None else "at_least"
        return m.RegisterExpect(register=m.RegisterArgs(
            device=a.device, name=a.name, **{key: bound - 1e-6 if key == "at_most"
                                             else bound + 1e-6}))
    if isinstance(exp, m.ConnectsExpect):
        return m.ConnectsExpect(connects=exp.connects.model_copy(
            update={"is_": not exp.connects.is_}))
    if isinstance(exp, m.EventExpect):
        return m.EventExpect(event=exp.event.model_copy(
            update={"seen": not exp.event.seen, "at_least": None, "at_most": None}))
    if isinstance(exp, m.DeadlineExpect):
        return m.DeadlineExpect(deadline=exp.deadline.model_copy(update={"within": 0}))
    assert isinstance(exp, m.StateExpect)
    a = exp.state
    other = {"smso": "s1sp", "s1sp": "smso", "dcc": "smso"}
    for key in ("owner", "anchor", "apn"):
        value = getattr(a, key)
        if value is not None:
            return m.StateExpect(state=m.StateArgs(**{key: other[value]}))
    if a.joined is not None:
        return m.StateExpect(state=m.StateArgs(joined="nobody"))
    if a.firmware:
        return m.StateExpect(state=m.StateArgs(firmware=dict.fromkeys(a.firmware, "0.0.0")))
    assert a.network_key_seq is not None
    return m.StateExpect(state=m.StateArgs(network_key_seq=a.network_key_seq + 1))


@pytest.mark.slow
@pytest.mark.parametrize("case_id", sorted(load_catalogue()))
def test_catalogue_case_passes_and_each_expectation_can_fail(case_id: str) -> None:
    case = load_catalogue()[case_id]
    dmc = next(d for d in ("default", "ioc-credit") if case.applies_to(d))
    negated = [_negate(e) for e in case.expect]

    async def main() -> list[Any]:
        results, _lab = await run_case(case, load_dmc(dmc), 1, also=negated)
        return results

    results = run_virtual(main())
    own, flipped = results[:-len(negated)], results[-len(negated):]  # check actions come first
    assert all(r.passed for r in own), [r.message for r in own if not r.passed]
    assert not any(r.passed for r in flipped), [r.name for r in flipped if r.passed]


def test_negation_helper_covers_every_expectation_kind() -> None:
    kinds = {type(_negate(e)).__name__ for c in load_catalogue().values() for e in c.expect}
    assert kinds == {"OutcomeExpect", "RegisterExpect", "ConnectsExpect", "EventExpect",
                     "DeadlineExpect", "StateExpect"}
    assert parse_scenario(CASE, "x.yaml").expect  # the inline case is well formed


@pytest.mark.io
def test_cell_capture_decrypts_with_its_own_key_log(tmp_path: Path) -> None:
    """tshark decrypts the cell's WAN from its evidence alone: TLS 1.3 Certificate messages
    are encrypted on the wire, so tshark sees them only with the cell's secrets."""
    import shutil
    import subprocess

    tshark = shutil.which("tshark")
    assert tshark is not None, "tshark is installed by scripts/setup.sh"
    result = run_cell("sec-wrong-ca", "default", 1, tmp_path)
    assert result.verdict is Verdict.PASS
    out = subprocess.run(
        [tshark, "-r", str(tmp_path / "capture.pcapng"), "-Y", "tls.handshake.type == 11",
         "-T", "fields", "-e", "frame.number"],
        capture_output=True, text=True, timeout=120, check=True).stdout.split()
    assert out, "no decrypted TLS Certificate message in the cell's capture"
    plain = subprocess.run(
        [tshark, "-r", str(tmp_path / "wan.pcap"), "-Y", "tls.handshake.type == 11",
         "-T", "fields", "-e", "frame.number"],
        capture_output=True, text=True, timeout=120, check=True).stdout.split()
    assert not plain  # without the secrets they stay encrypted
