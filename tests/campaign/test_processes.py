"""Campaigns as real processes: killed with SIGKILL midway and resumed, and run on a real Dask
scheduler with two workers on loopback. Both must give the report of an uninterrupted local
run with the same seed (wall times aside)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.campaign import STORE_NAME, Store
from tests.campaign.conftest import (
    S1LAB,
    report_without_timing,
    s1lab,
    some_cases,
    write_campaign,
)

pytestmark = [pytest.mark.io, pytest.mark.slow]
DASK = str(Path(sys.executable).parent / "dask")


def _finished_runs(out: Path) -> int:
    """Cells stored with a verdict other than skip (skips are stored without running)."""
    try:
        with sqlite3.connect(f"file:{out / STORE_NAME}?mode=ro", uri=True) as db:
            row = db.execute("SELECT count(*) FROM cells WHERE verdict IS NOT NULL "
                             "AND verdict != 'skip'").fetchone()
    except sqlite3.Error:  # not created yet
        return 0
    return int(row[0])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill a process started in its own session, with everything it started."""
    with contextlib.suppress(ProcessLookupError):  # the whole group, even if its leader ended
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _rows(out: Path) -> dict[tuple[str, str], tuple[int | None, int]]:
    with Store.open_existing(out) as store:
        return {(c.case_id, c.dmc): (c.session, c.runs) for c in store.cells()}


def test_a_campaign_killed_midway_resumes_without_rerunning_finished_cells(
        tmp_path: Path) -> None:
    path = write_campaign(tmp_path, cases=some_cases(4))
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*S1LAB, "campaign", "run", str(path), "--out", str(killed),
                             "--workers", "1"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while _finished_runs(killed) < 2 and proc.poll() is None:
            assert time.monotonic() < deadline, "no cell finished in time"
            time.sleep(0.02)
        assert proc.poll() is None, "the campaign ended before it could be killed"
    finally:
        _stop(proc)
    assert proc.returncode == -signal.SIGKILL
    before = _rows(killed)
    finished = {k: v for k, v in before.items() if v[0] is not None}
    unfinished = [k for k, v in before.items() if v[0] is None]
    assert finished and unfinished, before
    assert not (killed / "report.json").exists()  # killed before any report

    resumed = s1lab("campaign", "run", path, "--out", killed, "--resume")
    assert f"{len(unfinished)} to run" in resumed.stderr
    after = _rows(killed)
    for key, (session, runs) in after.items():
        assert runs == 1, key  # nothing ran twice
        assert session == (1 if key in finished else 2), key

    whole = s1lab("campaign", "run", path, "--out", tmp_path / "whole", "--workers", "2")
    assert resumed.returncode == whole.returncode
    assert report_without_timing(killed) == report_without_timing(tmp_path / "whole")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A real ``dask scheduler`` and two ``dask worker`` processes on loopback."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    work = tmp_path / "dask"
    work.mkdir()
    log = work / "scheduler.log"
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str, stderr: Path) -> None:
        with stderr.open("wb") as sink:
            procs.append(subprocess.Popen([DASK, *args], cwd=work, start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=sink))

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
              "--no-dashboard", stderr=log)
        for n in range(2):
            start("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                  "--host", "127.0.0.1", "--name", f"w{n}", "--local-directory", str(work),
                  stderr=work / f"worker{n}.log")
        deadline = time.monotonic() + 120
        while log.read_text(errors="replace").count("Register worker") < 2:
            assert all(p.poll() is None for p in procs), log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        yield address
    finally:
        for proc in procs:
            _stop(proc)


def test_a_campaign_on_a_dask_cluster_matches_the_local_run(tmp_path: Path,
                                                            dask_cluster: str) -> None:
    path = write_campaign(tmp_path, cases=some_cases(3))
    on_dask = s1lab("campaign", "run", path, "--out", tmp_path / "dask-run", "--scheduler",
                    dask_cluster)
    local = s1lab("campaign", "run", path, "--out", tmp_path / "local", "--workers", "2")
    assert on_dask.returncode == local.returncode in (0, 1), on_dask.stderr
    assert f"on 2 {dask_cluster} workers" in on_dask.stderr
    with Store.open_existing(tmp_path / "dask-run") as store:
        assert [(s["executor"], s["workers"]) for s in store.sessions()] == [(dask_cluster, 2)]
    assert report_without_timing(tmp_path / "dask-run") == report_without_timing(
        tmp_path / "local")


def test_an_unreachable_scheduler_is_one_line_and_leaves_no_results(tmp_path: Path) -> None:
    path = write_campaign(tmp_path, cases=some_cases(1))
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    proc = s1lab("campaign", "run", path, "--out", tmp_path / "o", "--scheduler", address,
                 check=2)
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"s1lab campaign: error: {address}: cannot reach the Dask "
                                "scheduler"), proc.stderr
    assert not (tmp_path / "o").exists()
