"""tshark decodes the OTA cluster commands of an emulated upgrade, with no malformed frames."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from emulator.drivers.capture import PCAP_NAME, HanCapture
from emulator.wire.vocabulary import DeviceType
from tests.firmware.ota_rig import image, rig

pytestmark = pytest.mark.io


def _tshark(*args: str, cwd: Path) -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.fail("tshark is missing: run scripts/setup.sh")
    return subprocess.run([path, *args], capture_output=True, text=True, check=True,
                          cwd=cwd).stdout


def test_tshark_decodes_an_esme_and_a_gsme_upgrade(tmp_path: Path) -> None:
    r = rig()
    han = r.core.app.han  # type: ignore[union-attr]
    capture = HanCapture(tmp_path)
    capture.add_network_key(han.keys.current_key, "network key")
    for eui, node in han.nodes.items():
        assert node.link_key is not None
        capture.add_link_key(node.link_key, eui, f"link key {eui}")
    han.capture = capture.frame
    esme, gsme = r.eui(DeviceType.ESME), r.eui(DeviceType.GSME)
    r.ota.distribute(esme, image("zenith-esme-prepay", "3.2.0", 600), r.now, 0)
    r.ota.distribute(gsme, image("zenith-gsme-prepay", "1.3.0", 300), r.now, 0)
    r.run_until(lambda: all(r.ota.status(e).state == "activated" for e in (esme, gsme)))
    capture.close()

    args = capture.tshark_args()
    verbose = _tshark("-r", PCAP_NAME, *args, "-V", cwd=tmp_path)
    for command in ("Image Notify", "Query Next Image Request", "Query Next Image Response",
                    "Image Block Request", "Image Block Response", "Upgrade End Request",
                    "Upgrade End Response"):
        assert command in verbose, command
    assert "OTA Upgrade" in verbose
    assert _tshark("-r", PCAP_NAME, *args, "-Y", "_ws.malformed", cwd=tmp_path) == ""
    blocks = _tshark("-r", PCAP_NAME, *args, "-Y", "zbee_zcl_general.ota.cmd.srv_tx.id == 0x05",
                     "-T", "fields", "-e", "zbee_zcl_general.ota.file.offset", cwd=tmp_path)
    offsets = [int(x) for x in blocks.split()]
    assert 0 in offsets and len(offsets) >= (600 + 600) // 48
