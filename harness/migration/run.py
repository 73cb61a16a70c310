"""``s1lab migrate``: migrate a group of emulated installations, week by week, as the TMAD says.

Every week (Monday 09:00 on the virtual clock) the DCC side takes the installations that are
neither done nor in flight: the rules decide (exclusion categories, EPCL gate, unblocking), the
data checks run (Table 5.10), the Requesting Party builds that week's Migration Group File, the
DCO validates it and releases key material, and the S1SP runs pre-flight (MA112, GT01) and
Device Installation on each installation in parallel, rolling back on failure. Each week's SCF
goes back to the RP; at the end come the exclusion report per supplier, the attempt history, the
trace and a summary.

Dormant installations in IOC and MOC (MDS) first get the 4.26 pre-work on the DCC's one
instruction at the start of the run (:mod:`harness.migration.prework`: firmware 36 attempts over
6 days, configuration 23 over 3 days, confirmation 10 over 10 days, up to three instructions);
they are scheduled for migration only when it has ended, so MA112 is checked after it.

Faults (``--fault KIND[=VALUE]:SHARE``, SHARE = ``10%`` of the installations or ``#3,#7``):
  wan-outage          no WAN for the whole run (MA112 every week)
  gsme-silent         the GSME's HAN link is down for the whole run (GT01 every week)
  master-key-wrong    the SMSO put a wrong Master Key in the MGF
  master-key-missing  the CHF holds no Master Key
  no-previous-apn     the MGF has no PreviousAPN (TMAD 5.25: refused by the DCO)
  slow-reconnect=H    the CHF reattaches H hours after the SIM move
  wan-asleep=H        the CHF's modem attaches for 15 minutes once every H hours
  fail-rotate, fail-swap, fail-sim        that device step fails
  restart-rotate, restart-swap            the CHF restarts in the middle of that step
  firmware-fails      4.26 pre-work: firmware upgrades fail on every meter (dormant IOC/CB)
  gsme-firmware-fails 4.26 pre-work: firmware upgrades fail on the GSME only
  configuration-fails 4.26 pre-work: reconfiguration fails
  no-confirmation     4.26 pre-work: the work is applied but its success never confirmed
  cos-recent          a change of supply 3 days before the run (FOC 14-day window)
  duplicate-mpxn      shares its MPAN with the previous installation
  ceased-supplier     its supplier ceased trading (TMAD 4.1A: no notification)
  not-on-epcl         its DMC is not on the EPCL

A fault that would do nothing where it is aimed (pre-work faults on an installation that does no
4.26 pre-work, GSME faults without a GSME, duplicate-mpxn on the first) is refused with a
MigrationSpecError; a SHARE is drawn among the installations the fault acts on.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from emulator.core.chf import WanSchedule
from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, HOUR, MINUTE, WEEK, isoformat
from emulator.core.trace_sink import Emit
from emulator.drivers.clock import current_clock, sleep_until
from emulator.drivers.scheduler import Scheduler
from emulator.errors import MigrationSpecError, S1labError
from emulator.fleet import Fleet
from emulator.installation import HanMode, Installation
from emulator.keystore import ChfKeys
from emulator.outputs import RunFolder
from emulator.pki import derive_key
from emulator.profiles import load_dmc
from emulator.trace import Trace
from emulator.wire.vocabulary import DeviceType
from harness.migration.dco import Dco
from harness.migration.history import FailedOutcome, History, OtherOutcome
from harness.migration.inventory import (
    DeviceRecord,
    InstallationRecord,
    MeterState,
    SupplierStatus,
    cohort_name,
    group_ids,
    previous_apn,
)
from harness.migration.mgf import build_mgf, parse_mgf
from harness.migration.outcome import Outcome
from harness.migration.prework import Answer, Prework, Work, record_prework
from harness.migration.reasons import Reason
from harness.migration.report import csv_text, exclusion_report, json_text, supplier_file_names
from harness.migration.rules import (
    Action,
    Decision,
    communicating,
    evaluate,
    partial_on_gsme_firmware_failure,
    resolve_duplicate_mpxn,
    validate_record,
)
from harness.migration.s1sp import S1sp
from harness.migration.scf import ScfEntry, build_scf
from harness.migration.tmad import Epcl, TmadVersion, load_epcl, load_tmad

SUPPLIERS = ("Supplier A", "Supplier B", "Supplier C")
FAULT_KINDS = (
    "wan-outage", "gsme-silent", "master-key-wrong", "master-key-missing", "no-previous-apn",
    "slow-reconnect", "wan-asleep", "fail-rotate", "fail-swap", "fail-sim", "restart-rotate",
    "restart-swap", "cos-recent", "duplicate-mpxn", "ceased-supplier", "not-on-epcl",
    "firmware-fails", "gsme-firmware-fails", "configuration-fails", "no-confirmation",
)
#: The cohorts whose dormant installations get the 4.26 pre-work [S2][S3].
PRE_WORK_COHORTS = frozenset({"IOC", "MOC (MDS)"})
#: Faults of the 4.26 pre-work: they act only on installations that do it.
PRE_WORK_FAULTS = frozenset({"firmware-fails", "gsme-firmware-fails", "configuration-fails",
                             "no-confirmation"})
_FAULT = re.compile(r"^(?P<kind>[a-z-]+)(?:=(?P<value>[\d.]+))?:(?P<share>[\d.]+%|#\d+(?:,#\d+)*)$")
TERMINAL = {"migrated", "partial", "excluded", "not-eligible"}
MAX_FAULT_HOURS = 10 * 366 * 24  # a fault VALUE (slow-reconnect hours): at most ten years
WAN_AWAKE = 15 * MINUTE  # how long a wan-asleep CHF's modem stays attached


@dataclass(frozen=True)
class MigrationFault:
    kind: str
    value: float
    share: float | None  # fraction of installations, or
    targets: tuple[int, ...]  # 1-based installation numbers


def parse_migration_fault(spec: str) -> MigrationFault:
    m = _FAULT.match(spec.strip())
    if m is None or m["kind"] not in FAULT_KINDS:
        raise MigrationSpecError(
            f"bad fault {spec!r}: expected KIND[=VALUE]:SHARE with KIND one of "
            f"{', '.join(FAULT_KINDS)} and SHARE like 10% or #3,#7")
    if m["kind"] in ("slow-reconnect", "wan-asleep") and m["value"] is None:
        raise MigrationSpecError(f"bad fault {spec!r}: {m['kind']} needs =HOURS")
    try:
        value = float(m["value"] or 0)
        fraction = float(m["share"][:-1]) / 100 if m["share"].endswith("%") else None
    except ValueError:  # the pattern lets "1.2.3" through
        raise MigrationSpecError(f"bad fault {spec!r}: not a number") from None
    if not 0 <= value <= MAX_FAULT_HOURS:
        raise MigrationSpecError(f"bad fault {spec!r}: a value is 0 to {MAX_FAULT_HOURS} hours")
    if m["kind"] == "wan-asleep" and not value * HOUR > WAN_AWAKE:
        raise MigrationSpecError(f"bad fault {spec!r}: wan-asleep needs more than 0.25 hours")
    if fraction is not None:
        if not 0 <= fraction <= 1:
            raise MigrationSpecError(f"bad fault {spec!r}: a share is 0% to 100%")
        return MigrationFault(m["kind"], value, fraction, ())
    return MigrationFault(m["kind"], value, None,
                          tuple(int(t[1:]) for t in m["share"].split(",")))


@dataclass
class MigrateConfig:
    group_id: str = "EA"
    installations: int = 20
    seed: int = 1
    weeks: int = 4
    faults: list[MigrationFault] = field(default_factory=list)
    out: Path | None = Path("out/migrate")
    tmad: str | None = None
    han: HanMode = "direct"  # a migration run cares about WAN steps; ZigBee frames are costly
    dmc: str | None = None  # the DMC profile of every installation (None: by cohort)


@dataclass
class InstallationReport:
    installation: str
    chf: str
    supplier: str
    status: str = "pending"  # migrated, partial, excluded, not-eligible, pending
    category: str = ""
    clause: str = ""
    attempts: int = 0
    last_reason: str = ""
    last_step: str = ""
    notified: bool = False
    faults: list[str] = field(default_factory=list)


@dataclass
class MigrationSummary:
    group_id: str
    cohort: str
    installations: int
    weeks: int
    seed: int
    tmad: str
    start: str
    end: str
    outcomes: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    #: Failed attempts at installations an injected fault is aimed at (``faults`` in their
    #: row), and the rest, which no fault explains (the CLI exits non-zero on any).
    failed_attempts_from_faults: int = 0
    unexplained_failed_attempts: int = 0
    rollbacks: int = 0
    per_installation: list[InstallationReport] = field(default_factory=list)


def _dmc_for(group_id: str) -> str:
    return "ioc-credit" if cohort_name(group_id) == "IOC" else "default"


def _record(inst: Installation, group_id: str, dmc: str, rng: SplitMix64, index: int,
            installed_at: int) -> InstallationRecord:
    devices = [DeviceRecord(inst.chf.eui, DeviceType.CHF, inst.chf.firmware_version)]
    state = MeterState.DORMANT if rng.random() < 0.7 else MeterState.ACTIVE
    supplier = SUPPLIERS[rng.randrange(len(SUPPLIERS))]
    esme = inst.esme
    devices.append(DeviceRecord(esme.eui, DeviceType.ESME, esme.firmware_version,
                                mpxn=f"19{index:011d}", state=state,
                                payment_mode=esme.payment_mode, supplier=supplier))
    if inst.gsme is not None:
        devices.append(DeviceRecord(inst.gsme.eui, DeviceType.GSME, inst.gsme.firmware_version,
                                    mpxn=f"{9_000_000 + index:010d}", state=state,
                                    payment_mode=inst.gsme.payment_mode, supplier=supplier))
    for d in (inst.core.devices.ppmid, inst.core.devices.ihd):
        if d is not None:
            kind = DeviceType.PPMID if d is inst.core.devices.ppmid else DeviceType.IHD
            devices.append(DeviceRecord(d.eui, kind, d.model.firmware_version))
    return InstallationRecord(
        installation_id=inst.id, group_id=group_id, dmc=dmc, chf_eui=inst.chf.eui,
        devices=tuple(devices), supplier=supplier,
        previous_apn=previous_apn(inst.chf.sim.apn, inst.chf.sim.service_profile),
        installed_at_us=installed_at)


def _targets(fault: MigrationFault, count: int, rng: SplitMix64,
             eligible: Callable[[int], str | None]) -> list[int]:
    """The installations (0-based) ``fault`` hits. ``eligible(i)`` says why the fault would
    have no effect on installation ``i`` (None: it acts). A fault aimed at such an
    installation by number is refused; a share is drawn among the installations it acts on."""
    if fault.share is None:
        bad = [t for t in fault.targets if not 1 <= t <= count]
        if bad:
            raise MigrationSpecError(f"fault {fault.kind} aims at installation {bad[0]}, "
                                     f"but the run has {count}")
        for t in fault.targets:
            why = eligible(t - 1)
            if why is not None:
                raise MigrationSpecError(f"fault {fault.kind} aims at installation {t}, "
                                         f"where it has no effect: {why}")
        return [t - 1 for t in fault.targets]
    pool = [i for i in range(count) if eligible(i) is None]
    if fault.share > 0 and not pool:
        raise MigrationSpecError(f"fault {fault.kind}:{fault.share:.0%} has no effect on any "
                                 f"installation of this run: {eligible(0)}")
    n = round(fault.share * len(pool))
    order = list(pool)
    for i in range(len(order) - 1, 0, -1):  # seeded shuffle
        j = rng.randrange(i + 1)
        order[i], order[j] = order[j], order[i]
    return sorted(order[:n])


def device_fault_problem(kind: str, inst: Installation, record: InstallationRecord
                         ) -> str | None:
    """Why fault ``kind`` would do nothing to ``inst`` for lack of the work or the device it
    acts on (None when it acts). The weekly run and the scenario lab both ask this."""
    if kind in PRE_WORK_FAULTS and not needs_prework(record):
        return (f"{inst.id} does no 4.26 pre-work (only dormant installations of the "
                f"{' and '.join(sorted(PRE_WORK_COHORTS))} cohorts do)")
    if kind in ("gsme-silent", "gsme-firmware-fails") and inst.gsme is None:
        return f"{inst.id} has no GSME"
    return None


def _no_effect(kind: str, installs: list[Installation], records: dict[str, InstallationRecord],
               ) -> Callable[[int], str | None]:
    """Why fault ``kind`` would do nothing to installation ``i`` (None when it acts)."""
    def why(i: int) -> str | None:
        inst = installs[i]
        problem = device_fault_problem(kind, inst, records[inst.id])
        if problem is None and kind == "duplicate-mpxn" and (
                i == 0 or records[installs[i - 1].id].esme is None):
            return f"{inst.id} has no previous installation with an ESME to share an MPAN with"
        return problem
    return why


async def run_migration(
    cfg: MigrateConfig, progress: Callable[[int, int], None] | None = None
) -> MigrationSummary:
    """Run on the current loop's clock (use ``run_virtual``)."""
    if cfg.group_id not in group_ids():
        raise MigrationSpecError(
            f"unknown GroupID {cfg.group_id!r}: use one of {', '.join(group_ids())}")
    clock = current_clock()
    t0 = clock.now_us()
    tmad = load_tmad(cfg.tmad) if cfg.tmad else load_tmad()
    epcl = load_epcl()
    dmc_name = cfg.dmc or _dmc_for(cfg.group_id)
    folder = RunFolder(cfg.out) if cfg.out is not None else None
    sink = folder.open_stream("trace.jsonl") if folder is not None else None
    complete = False
    trace = Trace(sink)
    scheduler = Scheduler(clock)
    fleet = Fleet(load_dmc(dmc_name), cfg.installations, cfg.seed, scheduler, trace,
                  han=cfg.han)
    try:
        summary = await scheduler.guard(
            _run(cfg, fleet, trace, tmad, epcl, dmc_name, t0, progress, folder))
        complete = True
    finally:
        fleet.close()
        scheduler.close()
        if folder is not None and sink is not None:
            folder.close_stream(sink, "trace.jsonl", complete=complete)
    if folder is not None:
        folder.finish()
    return summary


async def _run(cfg: MigrateConfig, fleet: Fleet, trace: Trace, tmad: TmadVersion, epcl: Epcl,
               dmc_name: str, t0: int, progress: Callable[[int, int], None] | None,
               folder: RunFolder | None = None) -> MigrationSummary:
    """The weekly run, phase by phase: every week select, submit the MGF, collect; at the end
    decide what is left and write the outputs."""
    clock = current_clock()
    run = _WeeklyRun.prepare(cfg, fleet, trace.emitter("dcc"), tmad, epcl, dmc_name, t0)
    run.folder = folder
    # The fleet runs a settle week under its SMSO before the first migration week, so
    # pre-flight sees real history (a GSME silent for days fails GT01).
    first_week = t0 + WEEK
    prework = asyncio.ensure_future(run.run_prework())
    for week in range(cfg.weeks):
        week_start = first_week + week * WEEK + 9 * HOUR
        await sleep_until(week_start)
        now = clock.now_us()
        batch = run.select(now)
        scf: list[ScfEntry] = []
        if batch:
            run.submit(week, batch, now, scf)
        if progress is not None:
            progress(week + 1, cfg.weeks)
        await sleep_until(week_start + WEEK - 10 * HOUR)
        run.collect()
        run.write_scf(week, scf, clock.now_us())
    prework.cancel()  # pre-work still going at the end of the run is reported as pending
    await asyncio.gather(prework, return_exceptions=True)
    await run.drain()
    run.decide_remaining()
    summary = run.summary(t0, clock.now_us())
    run.write_outputs(summary)
    return summary


@dataclass
class _WeeklyRun:
    """The state of one migration run, shared by its phases."""

    cfg: MigrateConfig
    fleet: Fleet
    emit: Emit
    tmad: TmadVersion
    epcl: Epcl
    rng: SplitMix64
    records: dict[str, InstallationRecord]
    reports: dict[str, InstallationReport]
    mgf_keys: dict[str, ChfKeys]
    s1sp: S1sp
    dco: Dco
    histories: dict[str, History]
    duplicates: dict[str, Decision]
    certs: dict[str, x509.Certificate]
    decisions: dict[str, Decision] = field(default_factory=dict)
    in_flight: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    prework: dict[str, Prework] = field(default_factory=dict)
    prework_decisions: dict[str, Decision] = field(default_factory=dict)
    folder: RunFolder | None = None  # where the outputs go (atomically), None: nowhere

    @classmethod
    def prepare(cls, cfg: MigrateConfig, fleet: Fleet, emit: Emit, tmad: TmadVersion,
                epcl: Epcl, dmc_name: str, t0: int) -> _WeeklyRun:
        """The inventory records, the faults applied, the S1SP and the DCO."""
        rng = SplitMix64.derive(cfg.seed, "migration")
        installs = fleet.installations
        records = {
            inst.id: _record(inst, cfg.group_id, dmc_name, rng, i, t0 - (400 - i) * DAY)
            for i, inst in enumerate(installs)
        }
        reports = {inst.id: InstallationReport(inst.id, inst.chf.eui, records[inst.id].supplier)
                   for inst in installs}
        mgf_keys: dict[str, ChfKeys] = {eui: fleet.keys_for(eui) for eui in fleet.keys}
        end_of_run = t0 + (cfg.weeks + 1) * WEEK + 10 * DAY
        prework_ids = {inst.id for inst in installs if needs_prework(records[inst.id])}
        for fault in cfg.faults:
            eligible = _no_effect(fault.kind, installs, records)
            for i in _targets(fault, len(installs), rng, eligible):
                inst, rec = installs[i], records[installs[i].id]
                reports[inst.id].faults.append(fault.kind)
                _apply(fault, inst, rec, records, installs, i, mgf_keys, t0, end_of_run)
                if fault.kind == "duplicate-mpxn" and i > 0:  # it gave its MPxN to the one before
                    reports[installs[i - 1].id].faults.append("duplicate-mpxn (shared)")
        s1sp = S1sp(fleet, emit, cfg.seed)
        dco_key = derive_key(cfg.seed, "dco")
        assert isinstance(dco_key, ec.EllipticCurvePrivateKey)
        dco = Dco(dco_key, fleet.pki.authorities.device_ca.cert)
        return cls(
            cfg=cfg, fleet=fleet, emit=emit, tmad=tmad, epcl=epcl, rng=rng, records=records,
            reports=reports, mgf_keys=mgf_keys, s1sp=s1sp, dco=dco,
            histories={inst.id: History(inst.id) for inst in installs},
            duplicates=resolve_duplicate_mpxn(records.values()),
            certs={inst.chf.eui: fleet.chf_certificate(inst) for inst in installs},
            prework={inst.id: new_prework(records[inst.id], t0)
                     for inst in installs if inst.id in prework_ids},
        )

    # ---- phase 0: the 4.26 pre-work --------------------------------------------------------

    async def run_prework(self) -> None:
        """Every pending attempt of every installation's pre-work, in time order, on the
        clock; each attempt is traced, each failed instruction goes into the history."""
        installs = {inst.id: inst for inst in self.fleet.installations}

        def done(key: str, p: Prework) -> None:
            decision = finish_prework(installs[key], self.records[key], p,
                                      self.histories[key], self.emit)
            if decision is not None:
                self.prework_decisions[key] = decision

        await drive_prework(self.prework, installs,
                            {key: set(rep.faults) for key, rep in self.reports.items()},
                            self.emit, done)

    # ---- phase 1: select -------------------------------------------------------------------

    def select(self, now: int) -> list[InstallationRecord]:
        """This week's MGF rows: the installations neither done nor in flight that the rules
        let through (exclusions, EPCL gate) and whose data passes Table 5.10."""
        self._communicating(now)
        batch: list[InstallationRecord] = []
        for inst in self.fleet.installations:
            rep = self.reports[inst.id]
            if rep.status in TERMINAL or inst.id in self.in_flight:
                continue
            pre = self.prework.get(inst.id)
            if pre is not None and not pre.finished:
                continue  # the 4.26 pre-work comes first (MA112 is checked after it)
            record = self.records[inst.id]
            decision = self._decide(inst.id)
            if inst.id in self.duplicates and decision.action is Action.RETRY:
                # 4.1C did not clear it and a meter is active: its supplier must clear the data
                self.histories[inst.id].record(now, Outcome.FAILED, Reason.DUPLICATE_MPXN, "4.1C")
                rep.attempts += 1
                rep.last_reason, rep.last_step = Reason.DUPLICATE_MPXN.value, "4.1C"
                continue
            if decision.action is Action.EXCLUDE:
                _exclude(rep, decision, self.tmad)
                self.emit(now, inst.chf.eui, "InstallationExcluded",
                          {"category": rep.category, "clause": rep.clause})
                continue
            if decision.action is Action.NOT_ELIGIBLE:
                rep.status, rep.last_reason = "not-eligible", Reason.NOT_ON_EPCL.value
                continue
            issues = [r for r in validate_record(record, list(self.records.values()), now)
                      if not (r is Reason.DUPLICATE_MPXN and inst.id in self.duplicates)]
            if issues:
                step, label = issues[0].check
                self.histories[inst.id].record(now, Outcome.FAILED, issues[0], step)
                rep.attempts += 1
                rep.last_reason, rep.last_step = issues[0].value, label
                continue
            batch.append(record)
        return batch

    def _communicating(self, now: int) -> None:
        """Whether each installation communicates (TMAD 4.1C) comes from its emulated CHF's
        WAN contact as the SMETS1 CSP saw it, this week; the duplicate sets are decided on it."""
        for inst in self.fleet.installations:
            talks = communicating(inst.chf.last_wan_attached(now), now)
            if self.records[inst.id].communicating != talks:
                self.records[inst.id] = replace(self.records[inst.id], communicating=talks)
        self.duplicates = resolve_duplicate_mpxn(self.records.values())

    def _decide(self, installation_id: str) -> Decision:
        decision = (self.duplicates.get(installation_id)
                    or self.prework_decisions.get(installation_id)
                    or evaluate(self.records[installation_id], self.histories[installation_id],
                                self.epcl))
        self.decisions[installation_id] = decision
        return decision

    # ---- phase 2: submit the MGF -----------------------------------------------------------

    def submit(self, week: int, batch: list[InstallationRecord], now: int,
               scf: list[ScfEntry]) -> None:
        """Build and write this week's MGF, have the DCO validate it (its failures go to the
        history and the SCF), and start Device Installation for every installation that passed.
        """
        cfg = self.cfg
        mgf_bytes = build_mgf(
            cfg.group_id, batch, {r.chf_eui: self.certs[r.chf_eui] for r in batch},
            {r.chf_eui: self.mgf_keys[r.chf_eui] for r in batch}, self.dco.public_key, now,
            rng=SplitMix64.derive(cfg.seed, week, "mgf").randbytes,
            utrn_counters=self.s1sp.smso.utrn_counters)
        if self.folder is not None:
            self.folder.write(f"mgf-week{week + 1}.xml", mgf_bytes)
        mgf = parse_mgf(mgf_bytes, f"mgf-week{week + 1}.xml")
        result = self.dco.validate(mgf, now)
        for failed in result.failed:
            failure = failed.failure
            assert failure is not None
            rep = self.reports[failed.installation_id]
            rep.attempts += 1
            self.histories[failed.installation_id].record(
                now, Outcome.FAILED, failure.reason, failure.step)
            rep.last_reason, rep.last_step = failure.reason.scf_code, failure.step
        scf.extend(result.scf_entries())
        by_id = {inst.id: inst for inst in self.fleet.installations}
        for passed in result.passed:
            inst = by_id[passed.installation_id]
            self.in_flight[inst.id] = asyncio.ensure_future(_attempt(
                inst, self.records[inst.id], self.decisions[inst.id], self.s1sp, self.dco,
                self.histories[inst.id], self.reports[inst.id], scf, cfg.group_id, self.emit,
                self.tmad))

    # ---- phase 3: collect ------------------------------------------------------------------

    def collect(self) -> None:
        """Take in the attempts that ended (re-raising anything they raised)."""
        for key in [k for k, t in self.in_flight.items() if t.done()]:
            self.in_flight.pop(key).result()

    async def drain(self) -> None:
        """Wait for the attempts still in flight after the last week."""
        for task in self.in_flight.values():
            await task

    def decide_remaining(self) -> None:
        """Whatever still waits for another attempt is decided once more for the report."""
        for inst in self.fleet.installations:
            rep = self.reports[inst.id]
            if rep.status not in TERMINAL:
                decision = self._decide(inst.id)
                if decision.action is Action.EXCLUDE:
                    _exclude(rep, decision, self.tmad)

    # ---- phase 4: write outputs ------------------------------------------------------------

    def write_scf(self, week: int, scf: list[ScfEntry], now: int) -> None:
        if self.folder is not None:
            self.folder.write(f"scf-week{week + 1}.xml", build_scf(self.cfg.group_id, scf, now))

    def summary(self, t0: int, now: int) -> MigrationSummary:
        cfg, reports, histories = self.cfg, self.reports, self.histories
        summary = MigrationSummary(
            group_id=cfg.group_id, cohort=cohort_name(cfg.group_id) or "",
            installations=len(reports), weeks=cfg.weeks, seed=cfg.seed, tmad=self.tmad.name,
            start=isoformat(t0), end=isoformat(now), per_installation=list(reports.values()))
        summary.outcomes = dict(Counter(r.status for r in reports.values()))
        summary.categories = dict(Counter(r.category for r in reports.values() if r.category))
        summary.failures_by_reason = dict(Counter(
            a.reason.value for h in histories.values() for a in h.failures() if a.reason))
        summary.rollbacks = sum(1 for h in histories.values() for a in h.attempts
                                if a.outcome is Outcome.ROLLED_BACK)
        for key, history in histories.items():
            failed = len(history.failures())
            if reports[key].faults:
                summary.failed_attempts_from_faults += failed
            else:
                summary.unexplained_failed_attempts += failed
        return summary

    def write_outputs(self, summary: MigrationSummary) -> None:
        """The exclusion report per supplier, history.json and summary.json."""
        out = self.folder
        if out is None:
            return
        excluded = {k: d for k, d in self.decisions.items()
                    if d.action in (Action.EXCLUDE, Action.PARTIAL_ESME_ONLY)}
        report = exclusion_report(excluded, self.records.values(), self.tmad,
                                  missing_clause="not numbered in this TMAD version")
        for supplier, name in supplier_file_names(report).items():
            out.write(f"exclusions/{name}", csv_text(report[supplier]))
        out.write("exclusions.json", json_text(report, self.tmad))
        out.write("history.json", json.dumps({
            k: [{"at": isoformat(a.at_us), "outcome": a.outcome.history, "step": a.step,
                 "reason": a.reason.value if a.reason else None} for a in h.attempts]
            for k, h in self.histories.items()}, indent=1) + "\n")
        out.write("summary.json", json.dumps(asdict(summary), indent=2, sort_keys=True) + "\n")


async def drive_prework(prework: dict[str, Prework], installs: dict[str, Installation],
                        faults: dict[str, set[str]], emit: Emit,
                        done: Callable[[str, Prework], None]) -> None:
    """Drive the 4.26 pre-work of installations (by id) on the clock, attempt by attempt in
    time order, answering from the installation's WAN and its pre-work ``faults``; each attempt
    is traced (PreWorkAttempt); ``done`` gets each installation's pre-work when it ends."""
    live = dict(prework)
    while live:
        key, due = min(((k, p.due()) for k, p in live.items()),
                       key=lambda kd: (kd[1][0] if kd[1] else 0, kd[0]))
        if due is None:
            done(key, live.pop(key))
            continue
        at, work, device, confirming = due
        await sleep_until(at)
        inst = installs[key]
        p = live[key]
        answer: Answer | bool = ("no-confirmation" not in faults[key] if confirming
                                 else prework_answer(inst, faults[key], work, device, at))
        p.answer(answer)
        last = p.attempts[-1]
        if answer not in (Answer.NO_WAN, False):  # the SMSO reached the CHF: the WAN
            # contact MA112 looks back on, so the check after pre-work sees it
            seen = inst.chf.last_wan_contact
            inst.chf.last_wan_contact = at if seen is None else max(seen, at)
        emit(at, inst.chf.eui, "PreWorkAttempt", {
            "work": work.value, "device": device.name, "instruction": last.instruction,
            "attempt": last.number, "confirmation": confirming, "answer": last.answer})


def prework_answer(inst: Installation, faults: set[str], work: Work, device: DeviceType,
                   at: int) -> Answer:
    """What one pre-work attempt at ``at`` finds on ``inst`` with these pre-work faults."""
    down = inst.chf.wan_down_until
    if down is not None and at < down:
        return Answer.NO_WAN
    if work is Work.FIRMWARE and ("firmware-fails" in faults or (
            "gsme-firmware-fails" in faults and device is DeviceType.GSME)):
        return Answer.FAILED
    if work is Work.CONFIGURATION and "configuration-fails" in faults:
        return Answer.FAILED
    if "no-confirmation" in faults:
        return Answer.UNCONFIRMED
    return Answer.DONE


def needs_prework(record: InstallationRecord) -> bool:
    """Whether the installation gets the 4.26 pre-work: dormant, in IOC or MOC (MDS)."""
    return record.dormant and cohort_name(record.group_id) in PRE_WORK_COHORTS


def new_prework(record: InstallationRecord, start_us: int) -> Prework:
    """The pre-work of ``record``'s meters after one DCC instruction at ``start_us``."""
    return Prework([d.device_type for d in record.devices
                    if d.device_type in (DeviceType.ESME, DeviceType.GSME)], start_us)


def finish_prework(inst: Installation, record: InstallationRecord, p: Prework,
                   history: History, emit: Emit) -> Decision | None:
    """Record the ended pre-work (its failed instructions into the history, PreWorkFinished);
    the TMAD 4.26A-4.26C partial decision when only the GSME failed in MOC (MDS), else None
    (the rules then decide on the history)."""
    failed = record_prework(p, history)
    esme_ok = p.ok(DeviceType.ESME)
    gsme_ok = record.gsme is None or p.ok(DeviceType.GSME)
    emit(p.ended_us, inst.chf.eui, "PreWorkFinished", {
        "esme_ok": esme_ok, "gsme_ok": gsme_ok, "failed_instructions": failed,
        "attempts": len(p.attempts)})
    decision = partial_on_gsme_firmware_failure(record, esme_ok, gsme_ok)
    if decision.action is not Action.PARTIAL_ESME_ONLY:
        return None
    if inst.gsme is not None:
        emit(p.ended_us, inst.chf.eui, "GsmeDeregistered",
             {"gsme": inst.gsme.eui, "rule": "TMAD 4.26A-4.26C"})
    return decision


def _exclude(rep: InstallationReport, decision: Decision, tmad: TmadVersion) -> None:
    rep.status = "excluded"
    _categorise(rep, decision, tmad)


def _categorise(rep: InstallationReport, decision: Decision, tmad: TmadVersion) -> None:
    """The row's category and its clause number in the run's TMAD version."""
    assert decision.category is not None
    rep.category = decision.category.name
    try:
        rep.clause = tmad.clause(decision.category)
    except S1labError:
        rep.clause = "n/a in this TMAD version"


async def _attempt(inst: Installation, record: InstallationRecord, decision: Decision,
                   s1sp: S1sp, dco: Dco, history: History, rep: InstallationReport,
                   scf: list[ScfEntry], group_id: str, emit: Emit, tmad: TmadVersion) -> None:
    clock = current_clock()
    rep.attempts += 1
    partial = decision.action is Action.PARTIAL_ESME_ONLY
    check = await s1sp.preflight(inst, record)
    now = clock.now_us()  # a CHF asleep at pre-flight was waited for
    if check is not None and not (partial and check[0] is Reason.GT01):
        reason, detail = check
        history.record(now, Outcome.FAILED, reason, "pre-flight")
        rep.last_reason, rep.last_step = reason.code, "pre-flight"
        scf.append(ScfEntry.failure(inst.id, inst.chf.eui, Outcome.FAILED, "pre-flight", reason,
                                    detail, now))
        return
    master_key, _group_info = dco.release(inst.id, now)
    cert = s1sp.fleet.chf_certificate(inst)
    # a partial migration deregisters the excluded meter (the GSME) during Device Installation
    excluded = tuple(d.eui for d in record.devices if d.device_type in decision.excluded_devices)
    outcome = await s1sp.install(inst, group_id=group_id, device_certificate=cert,
                                 master_key=master_key, previous_apn=record.previous_apn or "",
                                 released_at=now, deregister=excluded if partial else (),
                                 prepayment=dco.prepayment(inst.id))
    end = clock.now_us()
    if outcome.reason is None:
        done: OtherOutcome = Outcome.PARTIAL if partial else Outcome.MIGRATED
        history.record(end, done, None, "device-installation")
        rep.status = done.value
        if partial:
            _categorise(rep, decision, tmad)
        notify = decision.action is not Action.MIGRATE_WITHOUT_NOTIFICATION
        rep.notified = notify
        if notify:  # TMAD 4.1A/4.1B: no notification for a ceased / non-live supplier
            emit(end, inst.chf.eui, "SupplierNotified", {"supplier": record.supplier})
        scf.append(ScfEntry(inst.id, inst.chf.eui, done, "", "", "", end))
        return
    failed: FailedOutcome = (
        Outcome.ROLLED_BACK if outcome.status is Outcome.ROLLED_BACK else Outcome.FAILED)
    history.record(end, failed, outcome.reason, outcome.step)
    # summary.json names a Device Installation reason by its member name, as it always has
    rep.last_reason, rep.last_step = outcome.reason.name, outcome.step
    scf.append(ScfEntry.failure(inst.id, inst.chf.eui, failed, outcome.step, outcome.reason,
                                outcome.detail[:200], end))


def _apply(fault: MigrationFault, inst: Installation, rec: InstallationRecord,
           records: dict[str, InstallationRecord], installs: list[Installation], index: int,
           mgf_keys: dict[str, ChfKeys], t0: int, end: int) -> None:
    kind = fault.kind
    if kind == "wan-outage":
        inst.wan_outage(end)
    elif kind == "gsme-silent":
        if inst.gsme is not None:
            inst.link_down("gsme", t0, end)
    elif kind == "master-key-wrong":
        keys = mgf_keys[inst.chf.eui]
        mgf_keys[inst.chf.eui] = replace(keys, master_key=bytes(b ^ 0x5A for b in keys.master_key))
    elif kind == "master-key-missing":
        inst.lose_master_key()
    elif kind == "no-previous-apn":
        records[inst.id] = replace(rec, previous_apn=None)
    elif kind == "slow-reconnect":
        inst.chf.reconnect_delay_us = int(fault.value * HOUR)
    elif kind == "wan-asleep":  # asleep at the run's start, awake from the settle week's end
        inst.chf.wan_schedule = WanSchedule(int(fault.value * HOUR), WAN_AWAKE, t0 + WEEK)
    elif kind.startswith("fail-"):
        inst.fail_step(kind.removeprefix("fail-"))
    elif kind.startswith("restart-"):
        inst.restart_during(kind.removeprefix("restart-"))
    elif kind == "cos-recent":
        records[inst.id] = replace(rec, last_change_of_supply_us=t0 - 3 * DAY)
    elif kind == "duplicate-mpxn" and index > 0:
        other = records[installs[index - 1].id]
        esme = other.esme
        if esme is not None:
            devices = tuple(replace(d, mpxn=esme.mpxn) if d.device_type is DeviceType.ESME else d
                            for d in rec.devices)
            records[inst.id] = replace(rec, devices=devices)
    elif kind == "ceased-supplier":
        records[inst.id] = replace(rec, supplier_status=SupplierStatus.CEASED_TRADING)
    elif kind == "not-on-epcl":
        records[inst.id] = replace(rec, dmc="unlisted-dmc")


