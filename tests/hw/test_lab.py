"""The lab file: schema, checks, the committed JSON schema, and `serve --lab`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from emulator.errors import LabError
from hw.lab import SCHEMA_PATH, lab_schema, load_lab
from tests.hw.bench import S1LAB, free_port, headend_read, s1lab, zep_pair

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "lab.yaml"
CODE = "83FED3407A939723A5C639B26916D505C3B5"


def test_the_example_loads_and_its_keys_derive() -> None:
    lab = load_lab(EXAMPLE)
    esme = lab.device("esme-lab-1")
    assert esme.eui == "00-0D-6F-00-0A-BC-DE-F0"
    assert esme.link_key is not None and len(esme.link_key) == 16
    assert lab.radio("chf-dongle").url.startswith("spinel:///dev/ttyACM0")
    assert lab.device("chf-lab-1").link_key is None


def test_committed_schema_is_the_model_and_accepts_the_example() -> None:
    assert SCHEMA_PATH.read_text() == lab_schema(), "regenerate: s1lab lab schema > " + str(
        SCHEMA_PATH)
    jsonschema.validate(yaml.safe_load(EXAMPLE.read_text()), json.loads(lab_schema()))


def _lab(tmp_path: Path, devices: str, radios: str = "r: {url: 'zep://127.0.0.1:1'}") -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(f"schema_version: 1\nradios: {{{radios}}}\ndevices: {devices}\n")
    return path


@pytest.mark.parametrize(("devices", "radios", "message"), [
    (f"[{{name: a, type: ESME, eui: 00-0D-6F-00-0A-BC-DE-F0, install_code: {CODE[:-1]}0}}]",
     None, "install code CRC mismatch"),
    ("[{name: a, type: ESME, eui: 00-0D-6F, install_code: " + CODE + "}]", None, "EUI-64"),
    ("[{name: a, type: ESME, eui: 00-0D-6F-00-0A-BC-DE-F0}]", None, "needs its install_code"),
    (f"[{{name: a, type: ESME, eui: 000D6F000ABCDEF0, install_code: {CODE}}},"
     f" {{name: b, type: GSME, eui: 00-0D-6F-00-0A-BC-DE-F0, install_code: {CODE}}}]",
     None, "EUI-64 used twice"),
    (f"[{{name: a, type: ESME, eui: 000D6F000ABCDEF0, install_code: {CODE}, radio: x}}]",
     None, "no radio 'x'"),
    ("[]", "r: {url: 'udp://x'}", "radios.r.url"),
    ("[{name: a, type: WATER, eui: 000D6F000ABCDEF0}]", None, "devices.0.type"),
])
def test_bad_lab_files_are_one_error_naming_the_field(tmp_path: Path, devices: str,
                                                      radios: str | None, message: str) -> None:
    path = _lab(tmp_path, devices, *(radios,) if radios else ())
    with pytest.raises(LabError, match=message.replace("(", r"\(")):
        load_lab(path)


def test_lab_check_cli(tmp_path: Path) -> None:
    ok = subprocess.run([*S1LAB, "lab", "check", str(EXAMPLE)], capture_output=True, text=True,
                        timeout=30, check=False)
    assert ok.returncode == 0 and "ok (3 radios, 3 devices)" in ok.stdout
    bad = _lab(tmp_path, "[{name: a, type: ESME, eui: 00-0D-6F-00-0A-BC-DE-F0}]")
    r = subprocess.run([*S1LAB, "lab", "check", str(bad)], capture_output=True, text=True,
                       timeout=30, check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("s1lab lab: error:")


@pytest.mark.io
def test_serve_takes_the_radio_by_name_and_whitelists_the_physical_meter(
        tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    subprocess.run([*S1LAB, "pki", "init", str(pki), "--chfs", "1"], check=True,
                   capture_output=True)
    chf_radio, _ = zep_pair()
    lab = _lab(tmp_path, f"[{{name: lab-esme, type: ESME, eui: 00-0D-6F-00-0A-BC-DE-F0, "
                         f"install_code: {CODE}, radio: chf}}]", f"chf: {{url: '{chf_radio}'}}")
    port = free_port()
    serve = s1lab("serve", "--listen", f"127.0.0.1:{port}", "--pki", str(pki), "--lab",
                  str(lab), "--radio", "chf", name="serve")
    try:
        serve.wait_for("listening on")
        report = headend_read(pki, f"127.0.0.1:{port}")
    finally:
        serve.stop()
    states = {e["eui"]: e["state"] for e in report["inventory"]["entries"]}
    assert states["00-0D-6F-00-0A-BC-DE-F0"] == "WHITELISTED"
