"""CaseResults built directly as report input: a small campaign over three DMCs."""

from __future__ import annotations

from harness.report import CampaignInfo
from harness.scenario.result import CaseResult, ExpectationResult, TimelineEvent, Verdict

T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z, in µs
H = 3_600_000_000
DMCS = ("ioc-credit", "moc-mds", "foc-ppmid")
INFO = CampaignInfo(name="nightly-smoke", seed=42, started="2026-12-01T22:00:00Z",
                    hostname="lab-1", dmcs=DMCS)


def repro(case_id: str, dmc: str, seed: int = 42) -> str:
    return f"s1lab run harness/catalogue/{case_id}.yaml --dmc {dmc} --seed {seed}"


def migration_timeline(hours: int, busy: int = 0) -> tuple[TimelineEvent, ...]:
    """Actions, a fault, WAN and migration steps over ``hours``; ``busy`` HAN frames."""
    events = [
        TimelineEvent(T0, "harness", "migrate", "action", "GroupID CA"),
        TimelineEvent(T0 + 2 * H, "0000000000000001", "link-down", "fault", "WAN 6 h"),
        TimelineEvent(T0 + 8 * H, "0000000000000001", "link-up", "fault"),
        TimelineEvent(T0 + 9 * H, "s1sp", "TlsHandshake", "wan", "TLS 1.2 ok"),
        TimelineEvent(T0 + 10 * H, "s1sp", "KeyRotation", "migration", "step 5"),
        TimelineEvent(T0 + 11 * H, "smso", "TlsRefused", "wan", "unknown CA"),
        TimelineEvent(T0 + (hours - 1) * H, "harness", "read-registers", "action"),
    ]
    events += [TimelineEvent(T0 + i * (hours * H // max(busy, 1)), "0000000000000002",
                             "ZclReport", "han", f"frame {i}") for i in range(busy)]
    return tuple(events)


def result(case_id: str, dmc: str, verdict: Verdict, *, hours: int = 48, busy: int = 0,
           behaviours: tuple[int, ...] = (1,), clauses: tuple[str, ...] = ("TMAD 5.12",),
           title: str = "", error: str | None = None, wall_s: float = 1.25,
           evidence: dict[str, str] | None = None) -> CaseResult:
    ok = verdict is not Verdict.FAIL
    return CaseResult(
        case_id=case_id, title=title or f"Case {case_id}", dmc=dmc, seed=42, verdict=verdict,
        behaviours=behaviours, clauses=clauses,
        expectations=(
            ExpectationResult("outcome == migrated", True, "the installation migrated",
                              T0 + 12 * H),
            ExpectationResult("smso cannot connect", ok,
                              "SMSO TLS refused" if ok else "SMSO opened a TLS session at +13 h",
                              T0 + 13 * H),
            ExpectationResult("no SCF to RP", True, "no SCF was sent"),
        ) if verdict in (Verdict.PASS, Verdict.FAIL) else (),
        timeline=migration_timeline(hours, busy) if verdict is not Verdict.SKIP else (),
        started_us=T0, ended_us=T0 + hours * H, wall_s=wall_s, repro=repro(case_id, dmc),
        error=error, evidence=evidence if evidence is not None else {
            "trace": "trace.jsonl", "han_pcap": "han.pcap", "han_keys": "han-keys.txt",
            "tls_keylog": "tls-keys.log"},
    )


def campaign() -> list[CaseResult]:
    """Six cases on three DMCs: passes, two failures, an error, skips, one busy HAN lane."""
    cells = []
    for dmc in DMCS:
        cells.append(result("MIG-ACT-001", dmc, Verdict.PASS, behaviours=(1, 27),
                            title="Active installation migrates; SMSO locked out"))
        cells.append(result("MIG-RB-001", dmc, Verdict.FAIL if dmc == "moc-mds" else Verdict.PASS,
                            behaviours=(2,), clauses=("TMAD 5.30",),
                            title="Rollback restores the SMSO"))
        cells.append(result("PRE-GT01-001", dmc,
                            Verdict.SKIP if dmc == "foc-ppmid" else Verdict.PASS,
                            behaviours=(5,), clauses=("TMAD 5.12",), hours=80,
                            error="needs a GSME" if dmc == "foc-ppmid" else None,
                            title="GT01 fails after 72 h without HAN traffic"))
        cells.append(result("SEC-REPLAY-001", dmc, Verdict.PASS, behaviours=(21,),
                            clauses=(), busy=600, hours=6,
                            title="Replayed NWK frames are dropped"))
        cells.append(result("EXC-5R-001", dmc, Verdict.FAIL if dmc == "ioc-credit" else
                            Verdict.PASS, behaviours=(10,), clauses=("TMAD 18.9", "TMAD 18.11"),
                            hours=24 * 35, title="Five retries in five weeks exclude"))
    cells.append(result("SVC-TOPUP-001", "ioc-credit", Verdict.ERROR, behaviours=(25,),
                        clauses=("SVTAD 4.2",), error="KeyError: 'utrn' in harness/actions.py",
                        title="Top-up with a UTRN"))
    return cells
