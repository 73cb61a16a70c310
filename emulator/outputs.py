"""Output files that a killed run or a full disk cannot leave half-written.

:func:`write_atomic` writes a whole file to a fresh temporary name in the target's folder
(``mkstemp``: O_EXCL, so never through a planted symlink), syncs it and renames it over the
target in one step. ``rename`` replaces the directory entry itself, so a symlink planted at the
target is replaced, not followed. A reader sees the old file or the new one, never half of one.

:class:`RunFolder` is the folder of one run (``s1lab demo``, ``s1lab migrate``):

* opening it deletes the files an earlier run wrote there (listed in its manifest
  ``.s1lab-run.json``), and nothing else, so re-running leaves no stale outputs and never
  touches files s1lab did not write;
* until :meth:`RunFolder.finish` it holds ``INCOMPLETE``, so a run that was killed or failed
  is marked as such;
* a stream (``trace.jsonl``) is written as ``<name>.partial`` and renamed when it is closed
  complete, so a truncated stream never carries the final name.

Every failure is one :class:`~emulator.errors.OutputError` naming the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal, TextIO, overload

from emulator.errors import OutputError

#: Mode of an ordinary output; secrets (private keys, key files) are SECRET, folders holding
#: them SECRET_DIR, whatever the umask.
PUBLIC = 0o644
SECRET = 0o600
SECRET_DIR = 0o700

MANIFEST = ".s1lab-run.json"
INCOMPLETE = "INCOMPLETE"
PARTIAL_SUFFIX = ".partial"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: str | bytes, *, mode: int = PUBLIC) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` with ``mode``, creating its folder."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(name)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
        tmp = None
        _sync_dir(path.parent)  # the rename itself survives a power cut
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {_why(exc)}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0o700 whatever the umask."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(SECRET_DIR)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create: {_why(exc)}") from None
    return path


@overload
def open_partial(path: Path, kind: Literal["text"] = "text") -> TextIO: ...
@overload
def open_partial(path: Path, kind: Literal["binary"]) -> BinaryIO: ...


def open_partial(path: Path, kind: Literal["text", "binary"] = "text") -> TextIO | BinaryIO:
    """Open ``<path>.partial`` to write ``path`` bit by bit (see :func:`close_partial`)."""
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "binary":
            return partial.open("wb")
        return partial.open("w", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise OutputError(f"{partial}: cannot write: {_why(exc)}") from None


def close_partial(handle: TextIO | BinaryIO, path: Path, *, complete: bool) -> None:
    """Close a stream from :func:`open_partial`; if ``complete``, sync it and rename it to
    ``path``. An incomplete one keeps its ``.partial`` name."""
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        try:
            if complete:
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            with contextlib.suppress(OSError):  # a full disk: the flush above said so
                handle.close()
        if complete:
            partial.replace(path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {_why(exc)}") from None


class RunFolder:
    """The output folder of one run; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._names: list[str] = []
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{path}: cannot create: {_why(exc)}") from None
        self._clear_previous()
        write_atomic(path / INCOMPLETE,
                     "This run has not finished (it is running, was killed or failed): "
                     "the files here are not a complete result.\n")
        self._save_manifest()

    def _clear_previous(self) -> None:
        try:
            names = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError, TypeError):
            names = []
        for name in names if isinstance(names, list) else []:
            if isinstance(name, str) and self._safe(name):
                for victim in (self.path / name, self.path / (name + PARTIAL_SUFFIX)):
                    try:
                        victim.unlink(missing_ok=True)
                    except OSError as exc:
                        raise OutputError(f"{victim}: cannot remove the earlier run's file: "
                                          f"{_why(exc)}") from None

    @staticmethod
    def _safe(name: str) -> bool:
        pure = PurePosixPath(name)
        return bool(name) and not pure.is_absolute() and ".." not in pure.parts

    def _note(self, name: str) -> Path:
        if not self._safe(name):
            raise OutputError(f"{name}: not a name inside the run folder")
        if name not in self._names:
            self._names.append(name)
            self._save_manifest()
        return self.path / name

    def _save_manifest(self) -> None:
        write_atomic(self.path / MANIFEST, json.dumps({"files": self._names}, indent=1) + "\n")

    def write(self, name: str, data: str | bytes, *, mode: int = PUBLIC) -> Path:
        """Write one whole output file ``name`` (may contain ``/``) atomically."""
        return write_atomic(self._note(name), data, mode=mode)

    @overload
    def open_stream(self, name: str, kind: Literal["text"] = "text") -> TextIO: ...
    @overload
    def open_stream(self, name: str, kind: Literal["binary"]) -> BinaryIO: ...

    def open_stream(self, name: str,
                    kind: Literal["text", "binary"] = "text") -> TextIO | BinaryIO:
        """A file written bit by bit, as ``<name>.partial`` until :meth:`close_stream`."""
        path = self._note(name)
        return open_partial(path) if kind == "text" else open_partial(path, "binary")

    def close_stream(self, handle: TextIO | BinaryIO, name: str, *, complete: bool) -> None:
        """Close a stream; if ``complete``, sync it and give it its final name."""
        close_partial(handle, self.path / name, complete=complete)

    def finish(self) -> None:
        """The run completed and every output is written: drop the INCOMPLETE mark."""
        try:
            (self.path / INCOMPLETE).unlink(missing_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.path / INCOMPLETE}: cannot remove: {_why(exc)}") from None
