"""The fleet manifest: everything a head-end needs, with the PKI folder, to be configured.

One JSON file per shard (``s1lab-fleet-manifest/1``, schema in docs/schemas/mqtt/../manifest):
the fleet's layout and, per installation, its id, CHF EUI-64 and address, its devices' EUIs,
MPxNs and the SHA-256 fingerprint of the CHF's certificate. Written atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from emulator import Installation
from emulator.wire.vocabulary import DeviceType

FORMAT = "s1lab-fleet-manifest/1"


def mpan(n: int) -> str:
    """Installation n's MPAN (13 digits; the same scheme as the migration runs)."""
    return f"19{n:011d}"


def mprn(n: int) -> str:
    return f"{9_000_000 + n:010d}"


@dataclass(frozen=True)
class ManifestEntry:
    number: int
    installation: Installation
    address: str | None
    port: int | None
    fingerprint: str  # of the CHF's certificate (ChfFiles.fingerprint)

    def to_json(self) -> dict[str, object]:
        inst = self.installation
        devices: dict[str, dict[str, str]] = {}
        for eui, entry in inst.chf.log.items():
            name = entry.device_type.name.lower()
            device: dict[str, str] = {"eui": eui}
            if entry.device_type is DeviceType.ESME:
                device["mpan"] = mpan(self.number)
            elif entry.device_type is DeviceType.GSME:
                device["mprn"] = mprn(self.number)
            devices[name] = device
        return {
            "id": inst.id,
            "number": self.number,
            "chf_eui": inst.chf.eui,
            "address": self.address,
            "port": self.port,
            "chf_certificate_sha256": self.fingerprint,
            "devices": devices,
        }


def manifest(fleet: dict[str, object], entries: list[ManifestEntry]) -> dict[str, object]:
    return {"format": FORMAT, "fleet": fleet, "installations": [e.to_json() for e in entries]}


def write_json_atomic(path: Path, document: object) -> None:
    """Write ``document`` as JSON to ``path``: a temporary file beside it, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1)
            handle.write("\n")
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
