"""One pcapng per run, put together by Wireshark's own tools.

``mergecap`` merges the per-link pcaps (WAN as raw IPv4, HAN as 802.15.4 with FCS) into one
pcapng, one interface per link type and records in time order; ``editcap --inject-secrets``
adds the TLS key log as a Decryption Secrets Block, so ``tshark -r`` decrypts the WAN with no
other file. The result holds secrets: it is written 0600, and atomically (a temporary file in
the same folder, renamed into place).

tshark 4.0 reads only TLS, SSH and WireGuard secrets from a DSB (``editcap --inject-secrets
help``), not ZigBee keys: those stay in the HAN key table beside the capture.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from emulator.errors import CaptureError

__all__ = ["merge_with_secrets", "tool"]

_TIMEOUT_S = 600


def tool(name: str) -> str:
    """The path of a Wireshark command-line tool, or CaptureError naming the package."""
    path = shutil.which(name)
    if path is None:
        raise CaptureError(f"{name} is missing (Debian package wireshark-common; "
                           "scripts/setup.sh installs it)")
    return path


def _run(args: list[str]) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CaptureError(f"{Path(args[0]).name} failed: {exc}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit status {done.returncode}"
        raise CaptureError(f"{Path(args[0]).name} failed: {detail}")


def merge_with_secrets(out: Path, inputs: list[Path], keylog: Path | None) -> None:
    """Write ``out``: the records of ``inputs`` merged in time order, and the TLS secrets of
    ``keylog`` (NSS key-log format) in a Decryption Secrets Block when it holds any."""
    if not inputs:
        raise CaptureError("nothing to merge into a capture")
    mergecap, editcap = tool("mergecap"), tool("editcap")
    with tempfile.TemporaryDirectory(prefix=".capture-", dir=out.parent) as tmp:
        merged = Path(tmp) / "merged.pcapng"
        _run([mergecap, "-F", "pcapng", "-w", str(merged), *map(str, inputs)])
        final = merged
        if keylog is not None and keylog.is_file() and keylog.stat().st_size > 0:
            final = Path(tmp) / "final.pcapng"
            _run([editcap, "--inject-secrets", f"tls,{keylog}", str(merged), str(final)])
        final.chmod(0o600)
        final.replace(out)
