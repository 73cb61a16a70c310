"""The HTML report in a real headless browser (Debian's chromium): the matrix and every timeline
are laid out, the page's own check says so, nothing breaks its Content-Security-Policy, and a
screenshot is kept with the test's output under out/test-artifacts/report-browser/."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from harness.report import write_reports
from harness.report.timeline import picture
from tests.report.samples import INFO, campaign

ARTIFACTS = Path(__file__).parents[2] / "out" / "test-artifacts" / "report-browser"
WINDOW = (1400, 2400)


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is missing: run scripts/setup.sh (make test does)")
    return path


def _browse(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False,
                          stdin=subprocess.DEVNULL)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.io
@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    cells = campaign()
    for r in cells[:4]:  # some cells with their evidence on disk, as a campaign leaves them
        folder = ARTIFACTS / INFO.cell_folder(r.dmc, r.case_id)
        folder.mkdir(parents=True)
        for rel in r.evidence.values():
            (folder / rel).write_text("evidence\n")
    html = write_reports(cells, ARTIFACTS, INFO)["html"]
    url = html.resolve().as_uri()

    dom = _browse(tmp_path / "profile", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    (ARTIFACTS / "dom.html").write_text(dom.stdout, encoding="utf-8")
    opening = re.search(r"<html[^>]*>", dom.stdout)
    assert opening is not None
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', opening.group(0)))
    marks = sum(len(picture(r).marks) for r in cells)
    assert attrs == {
        "data-rendered": "ok", "data-matrix-cells": "18", "data-timelines": str(len(cells)),
        "data-timelines-drawn": str(len(cells)), "data-timeline-marks": str(marks),
        "data-timeline-marks-drawn": attrs["data-timeline-marks-drawn"],
        "data-matrix-width": attrs["data-matrix-width"]}
    assert int(attrs["data-timeline-marks-drawn"]) > 0 and int(attrs["data-matrix-width"]) > 600
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console  # no CSP violation, no script error

    shot = ARTIFACTS / "screenshot.png"
    run = _browse(tmp_path / "profile", f"--screenshot={shot}",
                  f"--window-size={WINDOW[0]},{WINDOW[1]}", url)
    assert run.returncode == 0, run.stderr[-2000:]
    data = shot.read_bytes()
    assert _png_size(data) == WINDOW
    assert len(data) > 60_000  # a blank page of this size compresses to ~11 kB
    print(f"\nreport: {html}\nscreenshot: {shot}")


@pytest.mark.io
@pytest.mark.slow
def test_the_shipped_smoke_campaigns_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    """The shipped campaign, run from the one command, and its report in a real browser: the
    whole DMC x case matrix is laid out and every cell's timeline is drawn."""
    out = ARTIFACTS.parent / "campaign-browser"
    shutil.rmtree(out, ignore_errors=True)
    run = subprocess.run([sys.executable, "-m", "harness", "campaign", "run", "smoke",
                          "--out", str(out), "--workers", "2"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    for name in ("junit.xml", "report.json", "report.html"):
        assert (out / name).is_file(), name
    url = (out / "report.html").resolve().as_uri()
    dom = _browse(tmp_path / "profile", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    opening = re.search(r"<html[^>]*>", dom.stdout)
    assert opening is not None
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', opening.group(0)))
    assert attrs["data-rendered"] == "ok"
    assert int(attrs["data-matrix-cells"]) == 28  # 7 cases x 4 DMCs
    assert int(attrs["data-timelines"]) > 0
    assert attrs["data-timelines-drawn"] == attrs["data-timelines"]
    assert int(attrs["data-timeline-marks-drawn"]) > 0
    shot = out / "screenshot.png"
    run = _browse(tmp_path / "profile", f"--screenshot={shot}",
                  f"--window-size={WINDOW[0]},{WINDOW[1]}", url)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(shot.read_bytes()) > 60_000
    print(f"\nreport: {out / 'report.html'}\nscreenshot: {shot}")
