"""An OTA upgrade driven by `s1lab headend firmware` against `s1lab serve`, over TCP and TLS."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from emulator.core.installation import device_eui
from emulator.wire.vocabulary import DeviceType
from tests.e2e.test_serve_tcp import S1LAB, Served, pki, served

__all__ = ["pki", "served"]  # the fixtures, shared with the serve tests

pytestmark = pytest.mark.io
IMAGES = Path(__file__).resolve().parents[2] / "firmware_images"


def headend(*args: str, timeout: float = 120) -> dict[str, object]:
    r = subprocess.run([*S1LAB, "headend", "firmware", *args], capture_output=True, text=True,
                       timeout=timeout, check=False)
    assert r.returncode == 0, r.stderr
    out: dict[str, object] = json.loads(r.stdout)
    return out


def test_esme_upgrade_over_tcp(pki: Path, served: Served) -> None:
    esme = device_eui(served.eui, DeviceType.ESME)
    common = ["--connect", served.address, "--pki", str(pki)]
    before = headend("versions", *common)
    assert before["versions"] == {**before["versions"], esme: "3.1.0"}  # type: ignore[dict-item]
    sent = headend("send", *common, "--device", esme,
                   "--image", str(IMAGES / "zenith-esme-prepay-3.2.0.ota"),
                   "--activate", "command", "--wait", "90", "--timeout", "30")
    transfer = sent["transfer"]
    assert isinstance(transfer, dict)
    assert transfer["state"] == "DOWNLOADED", sent
    assert sent["versions"][esme] == "3.1.0"  # type: ignore[index]
    done = headend("activate", *common, "--device", esme, "--wait", "30")
    assert done["transfer"]["state"] == "ACTIVATED", done  # type: ignore[index]
    assert done["versions"][esme] == "3.2.0"  # type: ignore[index]


def test_a_malformed_image_is_refused_before_any_traffic(pki: Path, served: Served,
                                                         tmp_path: Path) -> None:
    bad = tmp_path / "cut.ota"
    bad.write_bytes((IMAGES / "zenith-esme-prepay-3.2.0.ota").read_bytes()[:100])
    r = subprocess.run([*S1LAB, "headend", "firmware", "send", "--connect", served.address,
                        "--pki", str(pki), "--image", str(bad)], capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 2
    assert r.stderr.startswith("s1lab headend: error: truncated: total image size says")
    assert r.stderr.count("\n") == 1


def test_an_image_for_another_manufacturer_exits_1_saying_the_device_refused_it(
        pki: Path, served: Served) -> None:
    esme = device_eui(served.eui, DeviceType.ESME)
    r = subprocess.run([*S1LAB, "headend", "firmware", "send", "--connect", served.address,
                        "--pki", str(pki), "--device", esme,
                        "--image", str(IMAGES / "acme-esme-credit-2.1.0.ota"), "--wait", "30"],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 1, r.stderr
    transfer = json.loads(r.stdout)["transfer"]
    assert (transfer["state"], transfer["ota_status"]) == ("REFUSED", 0x98), transfer
    assert r.stderr == (
        f"s1lab headend firmware send: error: device {esme} refused the image "
        "(NO_IMAGE_AVAILABLE): the image does not fit the device: manufacturer code 0x1A5A, "
        "the device's is 0x1B5A\n")
