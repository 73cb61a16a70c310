"""Firmware over the WAN: a head-end core sends an image to the CHF in segments, distributes it
to a device, reads the transfer, activates it and reads the versions (cores paired in memory)."""

from __future__ import annotations

import hashlib

import pytest

from emulator.core import headend_commands as cmds
from emulator.core.ota_han import attach_ota
from emulator.core.timebase import HOUR, MINUTE, zigbee_utc
from emulator.errors import RemoteProtocolError
from emulator.firmware import ota_policies, shipped_image, trusted_signers
from emulator.profiles import default_dmc
from emulator.wire.eui import eui_to_str
from emulator.wire.vocabulary import ErrorCode
from emulator.wire.vocabulary import FirmwareTransferState as S
from tests.pairing import Paired, paired


def _paired() -> Paired:
    p = paired()
    assert attach_ota(p.core, ota_policies(default_dmc()), trusted_signers()) is not None
    return p


def _send(p: Paired, device: str | None, image: bytes, at: int) -> S:
    for segment in cmds.firmware_segments(device, image):
        p.pair.run(segment)
    return p.pair.run(cmds.distribute_firmware(device, hashlib.sha256(image).digest(), at)).state


def _versions(p: Paired) -> dict[str, str]:
    fw = p.pair.run(cmds.read_firmware_versions())
    return {eui_to_str(e.eui): e.version for e in fw.entries}


def test_gsme_upgrade_driven_over_the_wan() -> None:
    p = _paired()
    assert p.gsme is not None
    gsme = p.gsme.eui
    image = shipped_image("zenith-gsme-prepay-1.3.0.ota")
    assert len(cmds.firmware_segments(gsme, image)) == 2  # bigger than one frame
    assert _send(p, gsme, image, cmds.ON_COMMAND) is S.OFFERED
    for _ in range(24):
        p.pair.advance(p.pair.now + 10 * MINUTE)
        if p.pair.run(cmds.read_firmware_transfer(gsme)).state is S.DOWNLOADED:
            break
    t = p.pair.run(cmds.read_firmware_transfer(gsme))
    assert (t.state, t.offset, t.size, t.version, t.running) == (
        S.DOWNLOADED, len(image), len(image), "1.3.0", "1.2.5")
    assert _versions(p)[gsme] == "1.2.5"  # not before activation
    t = p.pair.run(cmds.activate_firmware(gsme, 0))
    assert t.state is S.ACTIVATION_SCHEDULED
    p.pair.advance(p.pair.now + 2 * HOUR)  # the GSME collects the command at its next wake
    assert p.pair.run(cmds.read_firmware_transfer(gsme)).state is S.ACTIVATED
    assert _versions(p)[gsme] == "1.3.0"


def test_chf_own_firmware_over_the_wan() -> None:
    p = _paired()
    at = zigbee_utc(p.chf.clock(p.pair.now)) + 300
    assert _send(p, None, shipped_image("acme-chf-1.5.0.ota"), at) is S.ACTIVATION_SCHEDULED
    assert _versions(p)[p.chf.eui] == "1.4.2"
    p.pair.advance(p.pair.now + 10 * MINUTE)
    assert _versions(p)[p.chf.eui] == "1.5.0"
    notes = [f["status"] for f in p.named("SMETS1CHFirmwareNotification")]
    assert notes == ["UpdateRequested", "ActivationSuccessful"]


def test_refusals_over_the_wan() -> None:
    p = _paired()
    esme = p.esme.eui
    bad = b"\x00" * 4 + shipped_image("zenith-esme-prepay-3.2.0.ota")[4:]
    assert _send(p, esme, bad, 0) is S.REFUSED
    t = p.pair.run(cmds.read_firmware_transfer(esme))
    assert t.ota_status == 0x96 and t.reason.startswith("not an OTA upgrade file")
    image = shipped_image("zenith-esme-prepay-3.2.0.ota")
    segments = cmds.firmware_segments(esme, image)
    p.pair.run(segments[0])
    with pytest.raises(RemoteProtocolError) as err:
        p.pair.run(cmds.distribute_firmware(esme, hashlib.sha256(image).digest(), 0))
    assert err.value.code == ErrorCode.INVALID_ARGUMENT
    with pytest.raises(RemoteProtocolError) as err:
        p.pair.run(cmds.activate_firmware(esme, 0))
    assert err.value.code == ErrorCode.INVALID_ARGUMENT


def test_an_image_for_another_device_ends_refused_with_no_image_available() -> None:
    """The device's Query Next Image is refused on the HAN; READ_FIRMWARE_TRANSFER says so."""
    p = _paired()
    esme = p.esme.eui
    assert _send(p, esme, shipped_image("acme-esme-credit-2.1.0.ota"), 0) is S.OFFERED
    p.pair.advance(p.pair.now + 5 * MINUTE)
    t = p.pair.run(cmds.read_firmware_transfer(esme))
    assert (t.state, t.ota_status, t.offset, t.version, t.running) == (
        S.REFUSED, 0x98, 0, "2.1.0", "3.1.0")
    assert t.reason == ("the image does not fit the device: manufacturer code 0x1A5A, "
                        "the device's is 0x1B5A")
    assert _versions(p)[esme] == "3.1.0"


def test_the_chf_refusing_its_own_image_reports_the_status() -> None:
    p = _paired()
    assert _send(p, None, shipped_image("zenith-esme-prepay-3.2.0.ota"), 0) is S.REFUSED
    t = p.pair.run(cmds.read_firmware_transfer(None))
    assert (t.state, t.ota_status) == (S.REFUSED, 0x96)  # not SUCCESS
    assert t.reason
