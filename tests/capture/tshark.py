"""Running tshark with s1lab's shipped dissector, and reading its PDML, for the capture tests."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wireshark import dissector_path


def tshark_path() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.fail("tshark is missing: run scripts/setup.sh (make test does)")
    return path


def tshark(capture: Path, *args: str, dissector: bool = True) -> str:
    """tshark's stdout on ``capture``; only the shipped dissector added (no profile, no keys
    but what the file holds and ``args`` give)."""
    lua = ["-X", f"lua_script:{dissector_path()}"] if dissector else []
    # No key log from a profile: the secrets come from the file itself.
    done = subprocess.run([tshark_path(), *lua, "-o", "tls.keylog_file:", "-r", str(capture),
                           *args],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "Lua: Error" not in done.stderr, done.stderr
    return done.stdout


@dataclass
class Packet:
    number: int
    time_us: int
    fields: list[tuple[str, str]] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.fields if n == name]


def pdml(capture: Path, display_filter: str, *args: str,
         prefixes: tuple[str, ...] = ("s1lab.",)) -> list[Packet]:
    """Packets matching ``display_filter``, with the fields whose names start with
    ``prefixes`` in tree order (name, ``show`` value)."""
    root = ET.fromstring(tshark(capture, "-Y", display_filter, "-T", "pdml", *args))
    packets = []
    for node in root.iter("packet"):
        number = time_us = 0
        fields: list[tuple[str, str]] = []
        for f in node.iter("field"):
            name = f.get("name", "")
            if name == "frame.number":
                number = int(f.get("show", "0"))
            elif name == "frame.time_epoch":
                seconds, _, frac = f.get("show", "0").partition(".")
                time_us = int(seconds) * 1_000_000 + int((frac + "000000")[:6])
            elif name.startswith(prefixes):
                fields.append((name, f.get("show", "")))
        packets.append(Packet(number, time_us, fields))
    return packets


# ---- an ESME read, end to end -----------------------------------------------------------------

METERING = 0x0702
READ_INSTANTANEOUS = 0x01


def _eui(text: str) -> str:
    return text.replace("-", ":").lower()


@dataclass
class WanMessage:
    number: int
    time_us: int
    type: int
    txn: int
    device: str
    src: str
    fields: dict[str, list[str]]


def wan_messages(capture: Path) -> list[WanMessage]:
    """Every READ_INSTANTANEOUS request and response in ``capture``, one per s1lab frame."""
    out = []
    for p in pdml(capture, f"s1lab.type == {READ_INSTANTANEOUS} or "
                           f"s1lab.type == {READ_INSTANTANEOUS | 0x80}",
                  prefixes=("s1lab.", "ip.src")):
        src = next((v for n, v in p.fields if n == "ip.src"), "")
        frame: list[tuple[str, str]] = []
        for name, value in [*p.fields, ("s1lab.record_length", "")]:
            if name == "s1lab.record_length" and frame:
                values: dict[str, list[str]] = {}
                for n, v in frame:
                    values.setdefault(n, []).append(v)
                out.append(WanMessage(p.number, p.time_us, int(values["s1lab.type"][0], 0),
                                      int(values["s1lab.txn"][0]), values["s1lab.device"][0],
                                      src, values))
                frame = []
            elif name.startswith("s1lab."):
                frame.append((name, value))
    return out


@dataclass
class ZclMetering:
    number: int
    time_us: int
    sender: str  # EUI-64 from the NWK security header
    command: int  # 0x00 Read Attributes, 0x01 its response
    values: list[int]  # uint48 attribute values (CurrentSummationDelivered)


def zcl_metering(capture: Path, han_args: list[str]) -> list[ZclMetering]:
    text = tshark(capture, *han_args, "-Y",
                  f"zbee_aps.cluster == {METERING:#06x} and zbee_zcl.cmd.id <= 1",
                  "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch",
                  "-e", "zbee.sec.src64", "-e", "zbee_zcl.cmd.id", "-e", "zbee_zcl.attr.uint48")
    out = []
    for line in text.splitlines():
        number, when, sender, command, values = (line.split("\t") + [""] * 5)[:5]
        seconds, _, frac = when.partition(".")
        out.append(ZclMetering(int(number), int(seconds) * 1_000_000 + int((frac + "0" * 6)[:6]),
                               sender.split(",")[0], int(command, 0),
                               [int(v, 0) for v in values.split(",") if v]))
    return out


@dataclass
class EsmeRead:
    """The four captured steps of one ESME read, and the values they carry."""

    request: WanMessage
    zcl_read: ZclMetering
    zcl_response: ZclMetering
    response: WanMessage

    @property
    def in_time_order(self) -> bool:
        steps = [self.request, self.zcl_read, self.zcl_response, self.response]
        return all((a.time_us, a.number) < (b.time_us, b.number)
                   for a, b in zip(steps, steps[1:], strict=False))


def find_esme_read(wan: list[WanMessage], han: list[ZclMetering], *, chf: str, esme: str,
                   import_wh: int, by_us: int) -> EsmeRead:
    """The capture of the ESME read whose reply carried ``import_wh`` and reached the head-end
    by ``by_us``: the last such WAN response, its request (same txn, from the head-end), the
    CHF's ZCL Read Attributes after that request, and the ESME's response carrying the value."""
    chf, esme = _eui(chf), _eui(esme)
    responses = [m for m in wan if m.type == READ_INSTANTANEOUS | 0x80 and m.device == esme
                 and m.time_us <= by_us]
    assert responses, f"no WAN response for {esme} by {by_us}"
    response = responses[-1]
    assert response.fields.get("s1lab.esme.import_wh") == [str(import_wh)], response
    requests = [m for m in wan if m.type == READ_INSTANTANEOUS and m.device == esme
                and m.txn == response.txn and (m.time_us, m.number) <= (response.time_us,
                                                                         response.number)]
    assert requests, f"no WAN request for txn {response.txn}"
    request = requests[-1]
    reads = [z for z in han if z.command == 0 and z.sender == chf
             and (z.time_us, z.number) >= (request.time_us, request.number)]
    assert reads, f"no ZCL Read Attributes by {chf} after frame {request.number}"
    zcl_read = reads[0]
    answers = [z for z in han if z.command == 1 and z.sender == esme and import_wh in z.values
               and z.number > zcl_read.number]
    assert answers, f"no ZCL Read Attributes Response from {esme} with {import_wh}"
    return EsmeRead(request, zcl_read, answers[0], response)


def han_key_args(folder: Path) -> list[str]:
    """tshark ``-o`` options from a capture folder's han-keys.txt."""
    lines = [line for line in (folder / "han-keys.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return [a for line in lines for a in ("-o", f"uat:zigbee_pc_keys:{line}")]
