"""TLS key logs in the NSS key-log format (what Wireshark reads, and SSLKEYLOGFILE names).

OpenSSL writes the lines itself, through ``ssl.SSLContext.keylog_filename``, as each handshake
derives its secrets; that works for s1lab's MemoryBIO sessions as for sockets. This module only
decides which file and makes it safe to hold secrets: created 0600 before OpenSSL appends to
it, never through a symbolic link, and only a regular file.

Which file: an explicit one (``--keylog FILE``) wins, else ``$SSLKEYLOGFILE``, else none.
"""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path

from emulator.errors import CaptureError

__all__ = ["ENV", "enable_keylog", "keylog_path", "prepare_secret_file"]

ENV = "SSLKEYLOGFILE"


def keylog_path(explicit: Path | None = None) -> Path | None:
    """The key log of this run: ``explicit``, else ``$SSLKEYLOGFILE`` when set, else None."""
    if explicit is not None:
        return explicit
    env = os.environ.get(ENV)
    return Path(env) if env else None


def prepare_secret_file(path: Path) -> None:
    """Create ``path`` (mode 0600) if it is missing; refuse anything but a regular file, and a
    link. An existing file of ours is set to 0600: it is about to hold secrets."""
    # O_NONBLOCK: a FIFO with no reader fails at once instead of blocking.
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise CaptureError(f"{path}: cannot write the key log: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CaptureError(f"{path}: a key log must be a regular file")
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def enable_keylog(ctx: ssl.SSLContext, path: Path) -> None:
    """Have OpenSSL append the secrets of every session of ``ctx`` to ``path``."""
    prepare_secret_file(path)
    try:
        ctx.keylog_filename = str(path)
    except OSError as exc:
        raise CaptureError(f"{path}: cannot write the key log: {exc.strerror or exc}") from None
