"""The campaign store: ``DIR/campaign.sqlite``, the one record of a campaign's results.

The plan (every cell, in matrix order) is written when the folder is created, in one
transaction with the campaign's name, fingerprint and seed. Each completed cell is then written
in its own transaction: its verdict, wall time, the session that ran it, how many times it ran,
and its :class:`CaseResult` as JSON. A process killed at any moment leaves every cell either
finished (with its whole result) or unfinished, never half written; WAL journalling makes that
hold without an fsync per read. Reports are always rebuilt from here, never from memory.

Tables::

    meta(key, value)              format, name, file, seed, fingerprint, created
    cells(ordinal, case_id, dmc, case_ref, skip_reason,
          verdict, wall_s, session, runs, result)   verdict/result NULL until finished
    sessions(id, started, ended, mode, executor, workers)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from emulator.errors import CampaignError, CampaignMismatch
from harness.campaign.matrix import Cell, Plan
from harness.scenario import CaseResult, Verdict

STORE_NAME = "campaign.sqlite"
FORMAT = "s1lab-campaign-1"
Mode = Literal["fresh", "resume", "rerun-failed"]

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE cells (
    ordinal INTEGER NOT NULL UNIQUE,
    case_id TEXT NOT NULL,
    dmc TEXT NOT NULL,
    case_ref TEXT NOT NULL,
    skip_reason TEXT,
    verdict TEXT,
    wall_s REAL,
    session INTEGER,
    runs INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    PRIMARY KEY (case_id, dmc)
);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    ended TEXT,
    mode TEXT NOT NULL,
    executor TEXT NOT NULL,
    workers INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class StoredCell:
    """One row of ``cells`` (for diffs and progress)."""

    ordinal: int
    case_id: str
    dmc: str
    verdict: Verdict | None  # None: not finished
    wall_s: float | None
    session: int | None
    runs: int


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """An open campaign store. Use :func:`create`, :func:`open_for` or :func:`open_existing`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def _connect(cls, path: Path) -> Store:
        try:
            db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise CampaignError(str(path), 0, f"cannot open the campaign store: {exc}") from None
        return cls(path, db)

    @classmethod
    def open_existing(cls, out: Path) -> Store:
        """The store in a results folder, for reading (diff, reports)."""
        path = out / STORE_NAME if out.is_dir() else out
        if not path.is_file():
            raise CampaignError(str(out), 0, f"no campaign results here (no {STORE_NAME})")
        store = cls._connect(path)
        if store.meta().get("format") != FORMAT:
            store.close()
            raise CampaignError(str(path), 0, f"not an s1lab campaign store ({FORMAT})")
        return store

    @classmethod
    def open_for(cls, out: Path, plan: Plan, mode: Mode) -> Store:
        """The store for running ``plan`` in ``out``: a new one (mode ``fresh``, the folder
        has none yet) or the folder's own, which must be of the same campaign and seed."""
        if mode == "fresh":
            cls.refuse_existing(out)
            out.mkdir(parents=True, exist_ok=True)
            return cls._create(out / STORE_NAME, plan)
        store = cls.open_existing(out)
        meta = store.meta()
        problem = None
        if meta["name"] != plan.name:
            problem = f"holds campaign {meta['name']!r}, not {plan.name!r}"
        elif int(meta["seed"]) != plan.seed:
            problem = f"was run with seed {meta['seed']}, not {plan.seed}"
        elif meta["fingerprint"] != plan.fingerprint:
            problem = (f"holds another matrix of campaign {plan.name!r} (from "
                       f"{meta['file']}): its DMCs or test cases differ")
        if problem is not None:
            store.close()
            raise CampaignMismatch(str(out), 0, f"cannot --{mode}: this folder {problem}")
        return store

    @staticmethod
    def refuse_existing(out: Path) -> None:
        """CampaignError when ``out`` already holds a campaign store."""
        if (out / STORE_NAME).exists():
            raise CampaignError(str(out), 0, "already holds campaign results: pass "
                                "--resume or --rerun-failed, or choose another --out")

    @classmethod
    def _create(cls, path: Path, plan: Plan) -> Store:
        # Built beside its final name and renamed into place: a folder never holds a store
        # without its plan.
        partial = path.with_name(path.name + ".partial")
        partial.unlink(missing_ok=True)
        store = cls._connect(partial)
        with store._transaction() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("format", FORMAT), ("name", plan.name), ("file", plan.file),
                ("seed", str(plan.seed)), ("fingerprint", plan.fingerprint),
                ("created", _now()),
            ])
            db.executemany(
                "INSERT INTO cells (ordinal, case_id, dmc, case_ref, skip_reason) "
                "VALUES (?, ?, ?, ?, ?)",
                [(c.ordinal, c.case_id, c.dmc, c.case_ref, c.skip_reason) for c in plan.cells])
        store._db.execute("PRAGMA journal_mode=DELETE")  # fold the WAL in before the rename
        store.close()
        partial.replace(path)
        return cls._connect(path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------------

    def begin_session(self, mode: Mode, executor: str, workers: int) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO sessions (started, mode, executor, workers) VALUES (?, ?, ?, ?)",
                (_now(), mode, executor, workers))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def end_session(self, session: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE sessions SET ended = ? WHERE id = ?", (_now(), session))

    def record(self, cell: Cell, result: CaseResult, session: int) -> None:
        """Store one completed cell, in one transaction."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE cells SET verdict = ?, wall_s = ?, session = ?, runs = runs + 1, "
                "result = ? WHERE case_id = ? AND dmc = ?",
                (result.verdict.value, result.wall_s, session, result.to_json(),
                 cell.case_id, cell.dmc))
            if cursor.rowcount != 1:
                raise CampaignError(str(self.path), 0, f"result for a cell not in the plan: "
                                    f"{cell.case_id} on {cell.dmc}")

    # -- reading ---------------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        try:
            return dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as exc:
            raise CampaignError(str(self.path), 0, f"not a campaign store: {exc}") from None

    def to_run(self, plan: Plan, mode: Mode) -> list[Cell]:
        """The plan's cells this session runs: unfinished ones, and for ``rerun-failed``
        also those that failed or broke."""
        again = ("fail", "error") if mode == "rerun-failed" else ()
        finished = {
            (case_id, dmc) for case_id, dmc, verdict in
            self._db.execute("SELECT case_id, dmc, verdict FROM cells")
            if verdict is not None and verdict not in again
        }
        return [cell for cell in plan.cells if cell.key not in finished]

    def cells(self) -> list[StoredCell]:
        rows = self._db.execute(
            "SELECT ordinal, case_id, dmc, verdict, wall_s, session, runs FROM cells "
            "ORDER BY ordinal").fetchall()
        return [StoredCell(o, c, d, None if v is None else Verdict(v), w, s, r)
                for o, c, d, v, w, s, r in rows]

    def results(self) -> list[CaseResult]:
        """Every finished cell's result, in matrix order."""
        rows = self._db.execute(
            "SELECT result FROM cells WHERE result IS NOT NULL ORDER BY ordinal").fetchall()
        return [CaseResult.from_json(text) for (text,) in rows]

    def sessions(self) -> list[dict[str, object]]:
        cursor = self._db.execute(
            "SELECT id, started, ended, mode, executor, workers FROM sessions ORDER BY id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
