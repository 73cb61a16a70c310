"""A capture folder: one run's (or one test cell's) evidence, WAN and HAN, for Wireshark.

``CaptureDir(folder)`` gives the parts a run plugs in, and ``close()`` writes the folder:

* ``capture.pcapng``: the WAN (raw IPv4 TCP carrying TLS) and, with a HAN, the 802.15.4 frames
  with FCS, two interfaces, records in time order, and the TLS secrets in a Decryption Secrets
  Block. Mode 0600 (it holds secrets).
* ``tls-keys.txt``: the NSS key log itself (0600), unless the run names its own (``keylog``).
* ``wan.pcap``: the WAN alone, without secrets (Wireshark 4.0's editcap and mergecap cannot
  rewrite a pcapng that holds a Decryption Secrets Block, so the parts are kept).
* with a HAN: ``han.pcap`` and ``han-keys.txt`` as before (this tshark does not read ZigBee keys
  from a Decryption Secrets Block, so they stay beside it), and ``README.txt`` with the tshark
  command that decodes both.

Use::

    cap = CaptureDir(folder)
    fleet = Fleet(dmc, n, seed, scheduler, trace, capture=cap.han, wan_capture=cap.wan,
                  keylog=cap.keylog)
    ...
    fleet.close()
    cap.close()   # -> folder / "capture.pcapng"
"""

from __future__ import annotations

import shlex
from pathlib import Path
from types import TracebackType

from emulator.capture.keylog import prepare_secret_file
from emulator.capture.pcapng import merge_with_secrets
from emulator.drivers.capture import KEYS_NAME, PCAP_NAME, README_NAME, HanCapture, WanCapture
from emulator.outputs import write_atomic

__all__ = ["CAPTURE_NAME", "TLS_KEYS_NAME", "WAN_NAME", "CaptureDir", "tshark_command"]

CAPTURE_NAME = "capture.pcapng"
TLS_KEYS_NAME = "tls-keys.txt"
WAN_NAME = "wan.pcap"


def _dissector() -> str:
    from wireshark import dissector_path

    return str(dissector_path())


def tshark_command(capture: str = CAPTURE_NAME, han: HanCapture | None = None) -> list[str]:
    """The tshark command that decodes ``capture`` with the shipped dissector, in place."""
    return ["tshark", "-X", f"lua_script:{_dissector()}", "-r", capture,
            *(han.tshark_args() if han is not None else [])]


class CaptureDir:
    """The evidence of one run in ``directory`` (see the module doc)."""

    def __init__(self, directory: Path, *, han: bool = True,
                 zep_to: tuple[str, int] | None = None, keylog: Path | None = None,
                 channel: int = 11) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.keylog = keylog if keylog is not None else directory / TLS_KEYS_NAME
        prepare_secret_file(self.keylog)
        self.han: HanCapture | None = HanCapture(directory, zep_to, channel) if han else None
        try:
            self.wan = WanCapture(directory / WAN_NAME)
        except BaseException:
            if self.han is not None:
                self.han.close()
            raise
        self.path = directory / CAPTURE_NAME
        self._closed = False

    def close(self) -> Path:
        """Close the parts and write ``capture.pcapng`` and the README. Idempotent."""
        if self._closed:
            return self.path
        self._closed = True
        self.wan.close()
        # mergecap puts the record of the later input first on equal timestamps: the WAN goes
        # last, so a WAN request comes before the HAN frame it causes in the same microsecond.
        inputs = [self.wan.path]
        if self.han is not None:
            self.han.close()
            inputs.insert(0, self.directory / PCAP_NAME)
        merge_with_secrets(self.path, inputs, self.keylog)
        write_atomic(self.directory / README_NAME, self._readme())
        return self.path

    @property
    def closed(self) -> bool:
        return self._closed

    def _readme(self) -> str:
        command = shlex.join(tshark_command(CAPTURE_NAME, self.han))
        keys = self.keylog.name if self.keylog.parent == self.directory else str(self.keylog)
        lines = [
            "Capture (s1lab)",
            "",
            f"{CAPTURE_NAME}: the whole run in one pcapng. Interface WAN: raw IPv4, TCP",
            "carrying the mutual-TLS WAN sessions (in-memory links are written as synthesized",
            "TCP between stable addresses: CHFs in 100.64.0.0/10, head-ends 192.0.2.1 SMSO and",
            "192.0.2.2 S1SP; real TCP as the bytes sent and received).",
        ]
        if self.han is not None:
            lines.append("Interface HAN: IEEE 802.15.4 with FCS (link type 195).")
        lines += [
            "The TLS secrets are inside, in a Decryption Secrets Block, so tshark and",
            "Wireshark decrypt the WAN with no other file. Inside TLS (ALPN s1lab/1) is",
            "s1lab WAN protocol v1, decoded by s1lab's dissector: run `s1lab wireshark install`",
            "once, or give it in place as below. Timestamps are the run's clock.",
            f"{keys}: the same TLS secrets, NSS key-log format (mode 0600).",
            f"{WAN_NAME}: the WAN alone, without the secrets.",
            "",
            "Decrypt and decode everything (in this directory):",
            "",
            f"    {command} -V",
            "",
            "Only the WAN messages:",
            "",
            f"    {shlex.join(tshark_command(CAPTURE_NAME))} -Y s1lab",
            "",
        ]
        if self.han is not None:
            lines += [
                "This tshark (4.0) does not read ZigBee keys from a Decryption Secrets Block,",
                f"so the HAN keys are in {KEYS_NAME} and in the -o options above.",
                "",
                "-" * 72,
                "",
                self.han.readme_text(),
            ]
        return "\n".join(lines) + "\n"

    def __enter__(self) -> CaptureDir:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:  # the run failed: release the files, keep what was written
            self.wan.close()
            if self.han is not None:
                self.han.close()

