"""``s1lab headend firmware``: send an OTA image to a CHF and its devices, in real time.

One TLS session per invocation: the image goes to the CHF in segments, is distributed to the
target (the CHF itself when no device is given), and with ``wait`` the transfer is read back
every ``poll_s`` until it reaches a final state (activated, refused, failed; downloaded too
when activation waits for a command) or the time runs out. Versions are
READ_FIRMWARE_VERSIONS, which reports a new version only after activation.

:func:`refusal` says, in one line, why a transfer that ended REFUSED or FAILED did (the CLI
prints it and exits 1).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from emulator.core.headend_commands import ON_COMMAND
from emulator.drivers.clock import current_clock
from emulator.drivers.tcp import tcp_connect
from emulator.errors import TransportError
from emulator.pki import PkiFolder
from emulator.wire import wan
from emulator.wire.eui import eui_to_str
from emulator.wire.vocabulary import FirmwareTransferState
from emulator.wire.zcl import Status
from harness.headend import HeadEndSession, connect, headend_from_pki
from harness.jsonable import jsonable

Role = Literal["smso", "s1sp"]
Action = Literal["send", "status", "activate", "versions"]
_FINAL = {FirmwareTransferState.ACTIVATED, FirmwareTransferState.REFUSED,
          FirmwareTransferState.FAILED}

__all__ = ["ON_COMMAND", "firmware_remote", "refusal"]


def _transfer(t: wan.FirmwareTransfer) -> dict[str, object]:
    out = jsonable(t)
    assert isinstance(out, dict)
    out["state"] = t.state.name
    return out


async def _until_final(session: HeadEndSession, device: str | None, wait_s: float,
                       poll_s: float, final: set[FirmwareTransferState],
                       ) -> wan.FirmwareTransfer:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        t = await session.read_firmware_transfer(device)
        if t.state in final or loop.time() >= deadline:
            return t
        await asyncio.sleep(poll_s)


def refusal(result: dict[str, object]) -> str | None:
    """One line on why the transfer in ``result`` ended REFUSED or FAILED; None otherwise."""
    t = result.get("transfer")
    if not isinstance(t, dict) or t.get("state") not in ("REFUSED", "FAILED"):
        return None
    code = t.get("ota_status")
    status = (Status(code).name if isinstance(code, int) and code in set(Status)
              else f"OTA status {code}")
    what = "refused the image" if t["state"] == "REFUSED" else "failed to activate the image"
    reason = f": {t['reason']}" if t.get("reason") else ""
    return f"device {result.get('device')} {what} ({status}){reason}"


async def firmware_remote(
    *, action: Action, pki_dir: Path, role: Role, host: str, port: int,
    device: str | None = None, image: bytes = b"", activate_at: int = 0,
    wait_s: float = 0.0, poll_s: float = 1.0, timeout_s: float = 30.0,
) -> dict[str, object]:
    pki = PkiFolder.load(pki_dir)
    session = await connect(await tcp_connect(host, port), headend_from_pki(pki, role),
                            current_clock(), timeout_s, timeout_s)
    try:
        result: dict[str, object] = {"chf": session.chf_eui, "device": device or session.chf_eui}
        if action == "versions":
            fw = await session.read_firmware_versions()
            result["versions"] = {eui_to_str(e.eui): e.version for e in fw.entries}
            return result
        if action == "send":
            if not image:
                raise TransportError("no image to send")
            t = await session.distribute_firmware(device, image, activate_at)
            result["distributed"] = _transfer(t)
        elif action == "activate":
            result["activated"] = _transfer(await session.activate_firmware(device, activate_at))
        final = set(_FINAL)
        if action == "send" and activate_at == ON_COMMAND:
            final.add(FirmwareTransferState.DOWNLOADED)  # nothing more happens until activate
        t = (await _until_final(session, device, wait_s, poll_s, final) if wait_s > 0
             else await session.read_firmware_transfer(device))
        result["transfer"] = _transfer(t)
        fw = await session.read_firmware_versions()
        result["versions"] = {eui_to_str(e.eui): e.version for e in fw.entries}
        return result
    finally:
        await session.close()
