"""The evidence of a campaign cell is the same one capture of the whole path as a demo's:
tshark, with only the shipped dissector and the cell's own files, follows every ESME read of
the cell from the WAN request over the HAN and back, with the values of the cell's trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.scenario.result import Verdict
from harness.scenario.runner import run_cell
from tests.capture.tshark import find_esme_read, han_key_args, tshark, wan_messages, zcl_metering

pytestmark = pytest.mark.io


def test_a_cell_capture_shows_every_esme_read_end_to_end(tmp_path: Path) -> None:
    cell = tmp_path / "cell"
    result = run_cell("svc-read-consumption", "default", 1, cell)
    assert result.verdict is Verdict.PASS, result.error
    pcapng = cell / result.evidence.get("capture", "capture.pcapng")
    assert pcapng.is_file()
    keys = han_key_args(cell)
    trace = [json.loads(line) for line in (cell / "trace.jsonl").read_text().splitlines()]
    reads = [t for t in trace if t["event"] == "ReadingReceived" and "import_wh" in t["fields"]]
    assert len(reads) == 2  # the case reads the ESME twice, a day apart
    wan, han = wan_messages(pcapng), zcl_metering(pcapng, keys)
    for t in reads:
        f = t["fields"]
        chain = find_esme_read(wan, han, chf=f["chf"], esme=f["device"],
                               import_wh=f["import_wh"], by_us=t["us"])
        assert chain.in_time_order, chain
        assert chain.response.fields["s1lab.esme.balance_pence"] == [str(f["balance_pence"])]
    bad = tshark(pcapng, *keys, "-Y", "_ws.malformed or _ws.expert.severity >= error",
                 "-T", "fields", "-e", "frame.number")
    assert bad.strip() == ""
