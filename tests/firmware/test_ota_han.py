"""OTA upgrades over the emulated HAN on the virtual clock: real ZCL frames on cluster 0x0019."""

from __future__ import annotations

from emulator.core.ota import OtaStatus
from emulator.core.timebase import HOUR, MINUTE, SECOND, zigbee_utc
from emulator.firmware import shipped_image
from emulator.profiles import default_dmc, load_dmc
from emulator.wire.vocabulary import DeviceType
from tests.firmware.ota_rig import image, rig, with_ota

ESME = DeviceType.ESME
GSME = DeviceType.GSME


def test_full_esme_upgrade_activates_at_once() -> None:
    r = rig()
    esme = r.eui(ESME)
    assert r.core.devices.esme.firmware_version == "3.1.0"
    raw = shipped_image("zenith-esme-prepay-3.2.0.ota")
    assert r.ota.distribute(esme, raw, r.now, activate_at=0) == OtaStatus.SUCCESS
    took = r.run_until(lambda: r.ota.status(esme).state == "activated")
    t = r.ota.transfer(esme)
    assert t is not None
    assert t.offset == len(raw) and t.bytes_served == len(raw)  # no block sent twice
    assert r.core.devices.esme.firmware_version == "3.2.0"
    assert r.ota.server.versions[esme] == 0x03020000  # reported by the device after activation
    assert r.events("OtaActivated") == [{"from": "3.1.0", "to": "3.2.0"}]
    assert took < 5 * MINUTE  # a mains-powered router: blocks at link speed


def test_activation_waits_for_the_time_set_and_version_changes_only_then() -> None:
    r = rig()
    esme = r.eui(ESME)
    r.ota.distribute(esme, shipped_image("zenith-esme-prepay-3.2.0.ota"), r.now,
                     activate_at=None)
    r.run_until(lambda: r.ota.status(esme).state == "downloaded")
    r.run_for(2 * HOUR)
    assert r.core.devices.esme.firmware_version == "3.1.0"  # verified, not yet running
    at = zigbee_utc(r.core.devices.chf.clock(r.now)) + 3600
    r.ota.activate(esme, at, r.now)
    r.run_for(3590 * SECOND)
    assert r.core.devices.esme.firmware_version == "3.1.0"
    r.run_until(lambda: r.ota.status(esme).state == "activated", 60 * SECOND)
    assert r.core.devices.esme.firmware_version == "3.2.0"


def test_sleepy_gsme_upgrade_waits_for_its_polls() -> None:
    r = rig()
    gsme = r.eui(GSME)
    meter = r.core.devices.gsme
    assert meter is not None
    r.run_for(5 * MINUTE)  # the GSME is asleep now
    asleep_for = meter.next_wake - r.now
    raw = shipped_image("zenith-gsme-prepay-1.3.0.ota")
    r.ota.distribute(gsme, raw, r.now, activate_at=0)
    took = r.run_until(lambda: r.ota.status(gsme).state == "activated")
    assert meter.firmware_version == "1.3.0"
    assert r.events("OtaActivated") == [{"from": "1.2.5", "to": "1.3.0"}]
    # Image Notify waited at the CHF until the GSME woke and polled; then a block per poll.
    blocks = -(-len(raw) // 48)
    t = r.ota.transfer(gsme)
    assert t is not None and t.blocks_served == blocks
    assert took >= asleep_for + blocks * 250 * 1000  # its wake, then the block period each
    r.run_for(5 * SECOND)  # it polls once more for the answer to its last query
    assert r.core.app.han.held_for(gsme) == 0  # type: ignore[union-attr]


def test_sleepy_gsme_with_blocks_per_wake_takes_as_many_wakes() -> None:
    r = rig(with_ota(default_dmc(), GSME, blocks_per_wake=20))
    gsme = r.eui(GSME)
    raw = shipped_image("zenith-gsme-prepay-1.3.0.ota")
    r.ota.distribute(gsme, raw, r.now, activate_at=0)
    took = r.run_until(lambda: r.ota.status(gsme).state == "activated")
    # 77 blocks at 20 a wake: 4 wakes. The GSME was awake at T0 (it had just joined); its next
    # wake falls within the first half hour, then every 1800 s.
    assert 2 * 1800 * SECOND <= took < 3 * 1800 * SECOND + 10 * MINUTE


def test_interrupted_transfer_resumes_from_its_offset() -> None:
    r = rig()
    esme = r.eui(ESME)
    raw = shipped_image("zenith-esme-prepay-3.2.0.ota")
    r.ota.distribute(esme, raw, r.now, activate_at=0)
    r.run_until(lambda: (r.ota.transfer(esme).offset or 0) > len(raw) // 3)  # type: ignore[union-attr]
    node = r.core.app.han.node(esme)  # type: ignore[union-attr]
    node.link.outages.append((r.now, r.now + 10 * MINUTE))
    cut_at = r.ota.clients[esme].offset
    r.run_until(lambda: r.ota.status(esme).state == "activated", 2 * HOUR)
    client = r.ota.clients[esme]
    assert client.resumes >= 1
    resumed_at = [e["offset"] for e in r.events("OtaTransferResumed")][0]
    assert isinstance(resumed_at, int) and resumed_at >= cut_at - 48
    t = r.ota.transfer(esme)
    assert t is not None
    assert t.bytes_served < len(raw) + 10 * 64  # resumed, not restarted from zero
    assert r.core.devices.esme.firmware_version == "3.2.0"


def test_wrong_hardware_version_ends_the_transfer_refused_with_no_image_available() -> None:
    r = rig()
    esme = r.eui(ESME)
    hw = r.ota.clients[esme].policy.hardware_version
    assert not 0x0200 <= hw <= 0x02FF  # the Zenith P7's hardware is outside the image's range
    raw = image("zenith-esme-prepay", "3.2.0", hardware_min=0x0200, hardware_max=0x02FF)
    r.ota.distribute(esme, raw, r.now, activate_at=0)
    r.run_until(lambda: r.ota.status(esme).state != "offered", 10 * MINUTE)
    s = r.ota.status(esme)
    assert (s.state, s.status, s.offset) == ("refused", OtaStatus.NO_IMAGE_AVAILABLE, 0)
    assert s.reason == ("the image does not fit the device: hardware versions 0x0200-0x02FF, "
                        f"the device's is 0x{hw:04X}")
    r.run_for(HOUR)
    assert r.events("OtaNoImageAvailable") == [{"status": OtaStatus.NO_IMAGE_AVAILABLE}]
    assert r.ota.status(esme).state == "refused"  # final: no block was ever served
    assert r.ota.transfer(esme).blocks_served == 0  # type: ignore[union-attr]
    assert r.core.devices.esme.firmware_version == "3.1.0"


def test_wrong_manufacturer_ends_the_transfer_refused_with_no_image_available() -> None:
    r = rig()
    esme = r.eui(ESME)
    # An image for another manufacturer's ESME (Acme 0x1A5A, not Zenith 0x1B5A).
    r.ota.distribute(esme, shipped_image("acme-esme-credit-2.1.0.ota"), r.now, activate_at=0)
    r.run_until(lambda: r.ota.status(esme).state != "offered", 10 * MINUTE)
    s = r.ota.status(esme)
    assert (s.state, s.status) == ("refused", OtaStatus.NO_IMAGE_AVAILABLE)
    assert s.reason == ("the image does not fit the device: manufacturer code 0x1A5A, "
                        "the device's is 0x1B5A")
    offered = r.events("OtaNoImageOffered")
    assert len(offered) == 1 and offered[0]["manufacturer_code"] == 0x1B5A
    assert r.core.devices.esme.firmware_version == "3.1.0"
    # The refusal is not sticky: the right image afterwards goes through.
    r.ota.distribute(esme, shipped_image("zenith-esme-prepay-3.2.0.ota"), r.now, activate_at=0)
    r.run_until(lambda: r.ota.status(esme).state == "activated")
    assert r.ota.status(esme).status == OtaStatus.SUCCESS


def test_wrong_image_type_ends_the_transfer_refused() -> None:
    r = rig()
    gsme = r.eui(GSME)
    r.ota.distribute(gsme, shipped_image("zenith-esme-prepay-3.2.0.ota"), r.now, activate_at=0)
    r.run_until(lambda: r.ota.status(gsme).state != "offered")
    s = r.ota.status(gsme)
    assert (s.state, s.status) == ("refused", OtaStatus.NO_IMAGE_AVAILABLE)
    assert "image type" in s.reason
    assert r.core.devices.gsme.firmware_version == "1.2.5"  # type: ignore[union-attr]


def test_bad_signature_is_refused_with_invalid_image() -> None:
    r = rig()
    esme = r.eui(ESME)
    raw = bytearray(shipped_image("zenith-esme-prepay-3.2.0.ota"))
    raw[-1] ^= 0x01  # the last byte of s
    r.ota.distribute(esme, bytes(raw), r.now, activate_at=0)
    r.run_until(lambda: r.ota.status(esme).state == "refused")
    s = r.ota.status(esme)
    assert s.status == OtaStatus.INVALID_IMAGE
    assert r.events("OtaImageInvalid") == [{"reason": "signature does not verify"}]
    assert r.core.devices.esme.firmware_version == "3.1.0"


def test_a_file_without_the_magic_is_refused_at_the_chf() -> None:
    r = rig()
    raw = b"\x00" * 4 + shipped_image("zenith-esme-prepay-3.2.0.ota")[4:]
    assert r.ota.distribute(r.eui(ESME), raw, r.now, 0) == OtaStatus.INVALID_IMAGE


def test_downgrade_accepted_or_refused_as_the_profile_says() -> None:
    r = rig()  # Zenith P7: accept_downgrade: true
    esme = r.eui(ESME)
    r.ota.distribute(esme, shipped_image("zenith-esme-prepay-3.0.9.ota"), r.now, 0)
    r.run_until(lambda: r.ota.status(esme).state == "activated")
    assert r.core.devices.esme.firmware_version == "3.0.9"

    dmc = load_dmc("ioc-credit")  # Acme Volta E1: accept_downgrade: false
    assert dmc.esme.ota is not None and not dmc.esme.ota.accept_downgrade
    r = rig(dmc)
    esme = r.eui(ESME)
    r.ota.distribute(esme, shipped_image("acme-esme-credit-2.0.6.ota"), r.now, 0)
    r.run_until(lambda: r.ota.status(esme).state == "refused")
    assert r.ota.status(esme).status == OtaStatus.ABORT
    assert r.events("OtaDowngradeRefused") == [{"running": "2.0.7", "offered": "2.0.6"}]
    assert r.core.devices.esme.firmware_version == "2.0.7"


def test_failure_modes_set_by_profile() -> None:
    base = default_dmc()
    raw = shipped_image("zenith-esme-prepay-3.2.0.ota")

    r = rig(with_ota(base, ESME, failure="stall", stall_at_percent=40))
    esme = r.eui(ESME)
    r.ota.distribute(esme, raw, r.now, 0)
    r.run_for(HOUR)
    s = r.ota.status(esme)
    assert s.state == "downloading" and 0.4 * len(raw) <= s.offset < 0.5 * len(raw)
    r.run_for(DAY_S := 24 * HOUR)
    assert r.ota.status(esme).offset == s.offset and DAY_S

    r = rig(with_ota(base, ESME, failure="verify_fails"))
    r.ota.distribute(esme, raw, r.now, 0)
    r.run_until(lambda: r.ota.status(esme).state == "refused")
    assert r.ota.status(esme).status == OtaStatus.INVALID_IMAGE

    r = rig(with_ota(base, ESME, failure="activation_fails"))
    r.ota.distribute(esme, raw, r.now, 0)
    r.run_until(lambda: r.ota.status(esme).state == "failed")
    assert r.core.devices.esme.firmware_version == "3.1.0"
    assert r.events("OtaActivationFailed") == [{"version": "3.2.0", "reverted_to": "3.1.0"}]


def test_unknown_state_device_accepts_a_downgrade_anyway() -> None:
    dmc = with_ota(load_dmc("ioc-credit"), ESME, unknown_state=True)
    r = rig(dmc)
    esme = r.eui(ESME)
    r.ota.distribute(esme, shipped_image("acme-esme-credit-2.0.6.ota"), r.now, 0)
    r.run_until(lambda: r.ota.status(esme).state == "activated")
    assert r.core.devices.esme.firmware_version == "2.0.6"


def test_chf_own_firmware() -> None:
    r = rig()
    chf = r.eui(DeviceType.CHF)
    at = zigbee_utc(r.core.devices.chf.clock(r.now)) + 600
    assert r.ota.distribute(chf, shipped_image("acme-chf-1.5.0.ota"), r.now, at) == 0
    r.run_for(590 * SECOND)
    assert r.core.devices.chf.firmware_version == "1.4.2"
    r.run_for(20 * SECOND)
    assert r.core.devices.chf.firmware_version == "1.5.0"
    notes = [f["status"] for f in r.events("SMETS1CHFirmwareNotification")]
    assert notes == ["UpdateRequested", "ActivationSuccessful"]
    bad = bytearray(shipped_image("acme-chf-1.5.0.ota"))
    bad[200] ^= 1
    assert r.ota.distribute(chf, bytes(bad), r.now, 0) == OtaStatus.INVALID_IMAGE


def test_the_server_never_sends_a_block_bigger_than_a_frame_holds() -> None:
    r = rig()
    esme = r.eui(ESME)
    r.ota.distribute(esme, shipped_image("zenith-esme-prepay-3.2.0.ota"), r.now, 0)
    out = r.ota.server.on_block_request(esme, {
        "manufacturer_code": 0x1B5A, "image_type": 0x0202, "file_version": 0x03020000,
        "file_offset": 0, "max_data_size": 200}, r.now)
    assert len(out.fields["data"]) == 48
