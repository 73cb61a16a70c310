"""The firmware action: the head-end distributes a catalogue image through the CHF on the virtual
clock and activates it; refusals say who refused and why; versions are expectations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import run_virtual
from emulator.core.timebase import HOUR, MINUTE
from emulator.drivers.clock import sleep_us
from emulator.errors import S1labError
from harness.scenario import Lab, ScenarioError, parse_scenario
from harness.scenario.expect import expect
from harness.scenario.lab import ActionResult
from harness.scenario.model import Fault, Start


def _firmware(dmc: str, *args: object, faults: tuple[Fault, ...] = (),
              **kw: object) -> tuple[ActionResult, dict[str, str]]:
    async def main() -> tuple[ActionResult, dict[str, str]]:
        async with Lab.open(dmc, seed=2, start=Start(state="active")) as lab:
            for f in faults:
                lab.inject(f)
            r = await lab.firmware(*args, **kw)  # type: ignore[arg-type]
            return r, lab.firmware_versions()

    return run_virtual(main())


def test_a_newer_esme_image_is_activated_and_the_meter_runs_it() -> None:
    r, versions = _firmware("default", "esme", "newer")
    assert (r.status, r.reason) == ("activated", "")
    assert (r.fields["old_version"], r.fields["new_version"]) == ("3.1.0", "3.2.0")
    assert r.fields["image"] == "zenith-esme-prepay-3.2.0.ota"
    assert versions["esme"] == "3.2.0" and versions["gsme"] == "1.2.5"


def test_the_sleepy_gsme_takes_longer_than_the_esme() -> None:
    esme, _ = _firmware("ioc-credit-gas", "esme", "newer")
    gsme, versions = _firmware("ioc-credit-gas", "gsme", "newer")
    assert gsme.status == "activated" and versions["gsme"] == "1.5.0"
    assert gsme.ended_us - gsme.started_us > esme.ended_us - esme.started_us


@pytest.mark.parametrize(("kw", "reason", "step"), [
    ({"tamper": "signature"}, "BAD_SIGNATURE", "device"),
    ({"tamper": "payload"}, "BAD_INTEGRITY", "device"),
    ({"image": "older"}, "DOWNGRADE", "head-end"),
    ({"image": "foreign"}, "WRONG_MANUFACTURER", "chf"),
])
def test_refused_images_say_who_refused_and_why(kw: dict[str, object], reason: str,
                                                step: str) -> None:
    args = {"device": "esme", "image": "newer", **kw}
    r, versions = _firmware("default", **args)
    assert (r.status, r.reason, r.step) == ("rejected", reason, step)
    assert r.fields["new_version"] == r.fields["old_version"] == versions["esme"] == "3.1.0"


def test_a_downgrade_sent_anyway_is_up_to_the_device_model() -> None:
    taken, _ = _firmware("default", "esme", "older", allow_downgrade=True)  # zenith takes it
    assert (taken.status, taken.fields["new_version"]) == ("activated", "3.0.9")
    refused, _ = _firmware("ioc-credit", "esme", "older", allow_downgrade=True)
    assert (refused.status, refused.reason, refused.step) == ("rejected", "DOWNGRADE", "device")


def test_an_unreachable_device_ends_failed_after_within() -> None:
    r, _ = _firmware("default", "esme", "newer", within_us=4 * HOUR,
                     faults=(Fault(kind="han-outage", device="esme", for_="10h"),))
    assert (r.status, r.reason, r.fields["bytes"]) == ("failed", "DEVICE_UNREACHABLE", 0)
    assert 4 * HOUR <= r.ended_us - r.started_us < 5 * HOUR


def test_an_image_that_is_not_in_the_catalogue_is_refused_with_the_reason() -> None:
    r, _ = _firmware("default", "esme", "9.9.9")
    assert r.status == "refused" and "no catalogue image '9.9.9'" in r.detail


def test_state_firmware_expectation_passes_and_fails() -> None:
    async def main() -> None:
        async with Lab.open("default", seed=2, start=Start(state="active")) as lab:
            await lab.firmware("chf", "newer")
            await expect(lab, {"state": {"firmware": {"chf": "1.5.0", "esme": "3.1.0"}}})
            with pytest.raises(AssertionError, match="chf firmware is 1.5.0, expected 1.4.2"):
                await expect(lab, {"state": {"firmware": {"chf": "1.4.2"}}})

    run_virtual(main())


def test_bad_firmware_input_is_a_typed_error() -> None:
    base = "id: x\ntitle: t\nactions:\n  - firmware: {%s}\nexpect:\n  - state: {owner: smso}\n"
    with pytest.raises(ScenarioError, match="tamper"):
        parse_scenario(base % "tamper: header", "x.yaml")
    with pytest.raises(ScenarioError, match="poll is more than 0"):
        parse_scenario(base % "within: 1h, poll: 2h", "x.yaml")


@pytest.mark.io
def test_s1lab_run_firmware_case_exit_codes(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness", "run", *args],
                              capture_output=True, text=True, timeout=300, check=False, env=env)

    ok = run("fw-tampered-signature-rejected", "--dmc", "ioc-credit")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: t\nactions:\n  - firmware: {device: meter}\n"
                   "expect:\n  - state: {owner: smso}\n")
    out = run(str(bad))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.yaml:4" in lines[0] and "firmware.device" in lines[0]


@pytest.mark.parametrize(("device", "kind", "status", "reason", "step"), [
    ("esme", "ota-activation-fails", "failed", "ACTIVATION_FAILED", "activation"),
    ("esme", "ota-verify-fails", "rejected", "INVALID_IMAGE", "device"),
    ("esme", "ota-stall", "failed", "TIMEOUT", "downloading"),
    ("chf", "ota-activation-fails", "failed", "ACTIVATION_FAILED", "activation"),
    ("chf", "ota-verify-fails", "rejected", "INVALID_IMAGE", "chf"),
])
def test_ota_faults_give_their_reasons_and_the_device_keeps_its_firmware(
        device: str, kind: str, status: str, reason: str, step: str) -> None:
    fault = Fault(kind=kind, device=device)  # type: ignore[arg-type]
    r, versions = _firmware("default", device, "newer", faults=(fault,), within_us=6 * HOUR)
    assert (r.status, r.reason, r.step) == (status, reason, step)
    assert r.fields["new_version"] == r.fields["old_version"] == versions[device]
    if kind == "ota-stall":  # part of the image came, then nothing more
        assert 0 < int(r.fields["bytes"]) < 4096  # type: ignore[call-overload]


def test_clearing_a_stall_lets_the_download_go_on_and_activate() -> None:
    async def main() -> tuple[str, str, dict[str, str]]:
        async with Lab.open("default", seed=2, start=Start(state="active")) as lab:
            lab.inject(Fault(kind="ota-stall", device="esme"))
            stalled = await lab.firmware("esme", "newer", within_us=2 * HOUR)
            inst = lab.installation
            assert inst.ota is not None and inst.ota.imposed(inst.esme.eui) == "stall"
            inst.ota_failure("esme", None)
            assert inst.ota.imposed(inst.esme.eui) is None
            s = await lab.session("smso")
            for _ in range(48):
                t = await s.read_firmware_transfer(inst.esme.eui)
                if t.state.name == "DOWNLOADED":
                    break
                await sleep_us(15 * MINUTE)
            t = await s.activate_firmware(inst.esme.eui, 0)
            for _ in range(8):
                await sleep_us(15 * MINUTE)
                t = await s.read_firmware_transfer(inst.esme.eui)
            return stalled.reason, t.state.name, lab.firmware_versions()

    reason, state, versions = run_virtual(main())
    assert (reason, state, versions["esme"]) == ("TIMEOUT", "ACTIVATED", "3.2.0")


@pytest.mark.parametrize(("image", "reason"), [
    ("zenith-gsme-prepay-1.3.0.ota", "WRONG_IMAGE_TYPE"),
    ("zenith-esme-prepay-3.3.0.ota", "WRONG_HARDWARE"),
])
def test_an_image_for_another_device_type_or_hardware_is_not_offered(image: str,
                                                                     reason: str) -> None:
    r, versions = _firmware("default", "esme", image)
    assert (r.status, r.reason, r.step, r.fields["bytes"]) == ("rejected", reason, "chf", 0)
    assert versions["esme"] == "3.1.0"


def test_an_ota_fault_on_a_device_that_takes_no_images_fails_when_injected() -> None:
    async def main() -> None:
        async with Lab.open("default", seed=2, start=Start(state="active", han="direct")) as lab:
            lab.inject(Fault(kind="ota-stall", device="esme"))

    with pytest.raises(S1labError, match="ZigBee HAN"):
        run_virtual(main())


def test_only_ota_faults_take_the_chf_as_device() -> None:
    with pytest.raises(ValueError, match="takes no device chf"):
        Fault(kind="counter-reset", device="chf")
