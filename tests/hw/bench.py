"""Helpers for the bench tests: s1lab processes, free ports, waiting for lines."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

S1LAB = [sys.executable, "-m", "harness"]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def zep_pair() -> tuple[str, str]:
    """Two ZEP radio URLs that hear each other."""
    a, b = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    return (f"zep://127.0.0.1:{a}?peer=127.0.0.1:{b}", f"zep://127.0.0.1:{b}?peer=127.0.0.1:{a}")


class Proc:
    """A child process whose stdout and stderr lines are collected as they come (threads)."""

    def __init__(self, args: list[str], name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.lines: list[str] = []
        self.err_lines: list[str] = []
        self._readers = [threading.Thread(target=self._pump, args=(stream, into), daemon=True)
                         for stream, into in ((self.proc.stdout, self.lines),
                                              (self.proc.stderr, self.err_lines))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream: IO[str] | None, into: list[str]) -> None:
        assert stream is not None
        for line in stream:
            into.append(line.rstrip("\n"))

    @property
    def err(self) -> str:
        return "\n".join(self.err_lines)

    def wait_for(self, needle: str, timeout: float = 20.0, count: int = 1,
                 stderr: bool = False) -> list[str]:
        """Wait until ``count`` lines (of stdout, or stderr) contain ``needle``."""
        deadline = time.monotonic() + timeout
        source = self.err_lines if stderr else self.lines
        while True:
            hits = [line for line in list(source) if needle in line]
            if len(hits) >= count:
                return hits
            if time.monotonic() > deadline or self.proc.poll() is not None:
                time.sleep(0.2)
                self.stop()
                raise AssertionError(f"{self.name}: no {count} x {needle!r} in {self.lines}; "
                                     f"stderr: {self.err}")
            time.sleep(0.05)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.err


def s1lab(*args: str, name: str = "s1lab") -> Proc:
    return Proc([*S1LAB, *args], name)


def events(trace: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]


def headend_read(pki: Path, address: str, timeout: float = 30.0) -> dict[str, Any]:
    r = subprocess.run([*S1LAB, "headend", "read", "--connect", address, "--pki", str(pki),
                        "--role", "smso", "--timeout", str(timeout)],
                       capture_output=True, text=True, timeout=timeout + 20, check=False)
    assert r.returncode == 0, r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    return out


class PtyPair:
    """``socat pty,raw,echo=0`` with both ends as stable links in ``folder``."""

    def __init__(self, folder: Path, name: str) -> None:
        self.a = folder / f"{name}-rcp"
        self.b = folder / f"{name}-host"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not (self.a.exists() and self.b.exists()):
            assert time.monotonic() < deadline, "socat made no pty pair"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
        deadline = time.monotonic() + 5
        while (self.a.is_symlink() or self.b.is_symlink()) and time.monotonic() < deadline:
            time.sleep(0.02)
