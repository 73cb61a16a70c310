"""A capture folder says it is unfinished until its capture.pcapng is written."""

from __future__ import annotations

from pathlib import Path

from emulator.capture.evidence import CAPTURE_NAME, CaptureDir
from emulator.outputs import INCOMPLETE, RunFolder


def test_a_capture_folder_is_marked_incomplete_until_closed(tmp_path: Path) -> None:
    folder = tmp_path / "cap"
    folder.mkdir()
    (folder / CAPTURE_NAME).write_bytes(b"an earlier run's capture")
    cap = CaptureDir(folder)
    # While the run goes (or after it was killed) the parts are unfinished and say so.
    assert (folder / INCOMPLETE).exists() and not (folder / CAPTURE_NAME).exists()
    cap.close()
    assert not (folder / INCOMPLETE).exists() and (folder / CAPTURE_NAME).stat().st_size > 0


def test_a_capture_in_a_run_folder_leaves_the_run_folder_mark_alone(tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "out")
    CaptureDir(run.path, han=False).close()
    assert (run.path / INCOMPLETE).exists()  # the run has not finished yet
    run.finish()
    assert not (run.path / INCOMPLETE).exists()
