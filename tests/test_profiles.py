from __future__ import annotations

from pathlib import Path

import pytest

from emulator.errors import ProfileError
from emulator.profiles import (
    ChfModel,
    EsmeModel,
    GsmeModel,
    ResolvedDmc,
    default_dmc,
    list_device_models,
    list_dmcs,
    load_cohorts,
    load_device_model,
    load_dmc,
)
from emulator.wire.vocabulary import PaymentMode

GOOD_ESME = """\
schema_version: 1
kind: esme
manufacturer: Test Meters (fictional)
model: T1
firmware_version: "1.0"
default_payment_mode: prepayment
load: {base_load_w: 200, morning_peak_w: 500, evening_peak_w: 900, noise: 0.1}
tariff:
  bands:
    - {register: 1, start: "07:30", end: "00:30"}
    - {register: 2, start: "00:30", end: "07:30"}
  unit_rates_pence_per_kwh: [28.0, 14.0]
  standing_charge_pence_per_day: 50
prepayment:
  initial_balance_pence: 1000
  max_credit_pence: 20000
  low_credit_threshold_pence: 300
  emergency_credit_limit_pence: 500
  emergency_credit_threshold_pence: 100
"""

DMC = """\
schema_version: 1
name: mine
group_id: DA
csp: Test CSP
chf: acme-chf
esme: my-esme
"""


@pytest.mark.parametrize("name", list_device_models())
def test_every_shipped_device_model_loads(name: str) -> None:
    model = load_device_model(name)
    assert model.schema_version == 1 and model.manufacturer and model.model


@pytest.mark.parametrize("name", list_dmcs())
def test_every_shipped_dmc_loads(name: str) -> None:
    dmc = load_dmc(name)
    assert isinstance(dmc, ResolvedDmc)
    assert dmc.name == name and dmc.cohort.group_id == dmc.group_id
    assert isinstance(dmc.chf, ChfModel) and isinstance(dmc.esme, EsmeModel)


def test_shipped_set_is_complete() -> None:
    kinds = [load_device_model(n).kind for n in list_device_models()]
    for kind in ("chf", "gsme", "ppmid", "ihd"):
        assert kind in kinds
    esmes = [m for n in list_device_models() if isinstance(m := load_device_model(n), EsmeModel)]
    assert {m.default_payment_mode for m in esmes} == {PaymentMode.CREDIT, PaymentMode.PREPAYMENT}
    assert len(list_dmcs()) >= 2


def test_default_dmc_is_the_foc_prepayment_demo() -> None:
    dmc = default_dmc()
    assert dmc.group_id == "EA" and dmc.cohort.cohort == "FOC"
    assert dmc.esme.default_payment_mode is PaymentMode.PREPAYMENT
    assert isinstance(dmc.gsme, GsmeModel)
    assert dmc.ppmid is not None and dmc.ihd is not None
    assert dmc.chf.tls_min_version == "1.2" and dmc.chf.wan_latency_ms == 150


def test_loads_are_cached() -> None:
    assert default_dmc() is default_dmc()
    assert default_dmc().chf is load_device_model("acme-chf")


def test_cohorts_table() -> None:
    table = load_cohorts()
    assert sorted(table) == ["AA", "BA", "CA", "CB", "DA", "EA", "EB", "EC"]
    for group in ("AA", "BA", "CA"):
        assert table[group].cohort == "IOC"
    assert table["CB"].cohort == "MOC (MDS)" and table["DA"].cohort == "MOC (Secure)"
    for group in ("EA", "EB", "EC"):
        assert table[group].cohort == "FOC"
        assert table[group].device_installation_timeout_h == 192
        assert table[group].cos_window_days == 14
    assert table["CB"].device_installation_timeout_h == 48
    assert table["CB"].cos_window_days is None


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_user_dmc_resolves_devices_next_to_it(tmp_path: Path) -> None:
    write(tmp_path, "my-esme.yaml", GOOD_ESME)
    dmc = load_dmc(str(write(tmp_path, "mine.yaml", DMC)))
    assert dmc.esme.model == "T1" and dmc.chf.model == "HubLink C1"
    assert dmc.cohort.cohort == "MOC (Secure)" and dmc.gsme is None


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        (
            "max_credit_pence: 20000",
            "max_credit_pence: -5",
            "prepayment.max_credit_pence",
            "greater than or equal to 0",
        ),
        ("noise: 0.1}", "noise: 0.1, colour: red}", "load.colour", "Extra inputs"),
        ('start: "00:30", end: "07:30"', 'start: "00:30", end: "08:00"', "tariff.bands", "overlap"),
        (
            'start: "00:30", end: "07:30"',
            'start: "00:45", end: "07:30"',
            "tariff.bands[1].start",
            "half hour",
        ),
        ("[28.0, 14.0]", "[28.0]", "tariff.unit_rates_pence_per_kwh", "1 rates for 2"),
        (
            "default_payment_mode: prepayment",
            "default_payment_mode: cash",
            "default_payment_mode",
            "credit",
        ),
        ("kind: esme", "kind: toaster", "kind", "unknown device kind"),
        ("schema_version: 1", "schema_version: 2", "schema_version", "unknown schema_version"),
    ],
)
def test_broken_device_profile_names_file_and_field(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    assert old in GOOD_ESME
    write(tmp_path, "my-esme.yaml", GOOD_ESME.replace(old, new))
    write(tmp_path, "mine.yaml", DMC)
    with pytest.raises(ProfileError) as info:
        load_dmc(str(tmp_path / "mine.yaml"))
    error = info.value
    assert error.file == str(tmp_path / "my-esme.yaml")
    assert error.field == field
    assert reason in error.reason
    assert error.file in str(error) and field in str(error)


def test_unknown_device_reference(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.yaml", DMC.replace("my-esme", "nope"))
    with pytest.raises(ProfileError) as info:
        load_dmc(str(path))
    assert (info.value.field, info.value.reason) == ("esme", "unknown device model 'nope'")
    assert str(info.value) == f"{path}: esme: unknown device model 'nope'"


def test_wrong_kind_reference(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.yaml", DMC.replace("my-esme", "acme-ihd"))
    with pytest.raises(ProfileError) as info:
        load_dmc(str(path))
    assert (info.value.field, info.value.reason) == (
        "esme", "device model 'acme-ihd' is a ihd, not a esme")


def test_bad_group_id(tmp_path: Path) -> None:
    write(tmp_path, "my-esme.yaml", GOOD_ESME)
    path = write(tmp_path, "mine.yaml", DMC.replace("group_id: DA", "group_id: ZZ"))
    with pytest.raises(ProfileError) as info:
        load_dmc(str(path))
    assert info.value.field == "group_id"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("schema_version: 1\nname: [unclosed\n", "YAML error at line 3"),
        ("- a\n- b\n", "expected a mapping"),
        ("name: x\n", "missing"),
    ],
)
def test_unreadable_files(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ProfileError) as info:
        load_dmc(str(path))
    assert reason in info.value.reason and info.value.file == str(path)


def test_missing_files() -> None:
    with pytest.raises(ProfileError) as info:
        load_dmc("no-such-dmc")
    assert info.value.file == "dmcs/no-such-dmc.yaml"
    with pytest.raises(ProfileError):
        load_dmc("/nonexistent/dir/x.yaml")
    with pytest.raises(ProfileError):
        load_device_model("../dmcs/default")


def test_edited_user_file_is_reloaded(tmp_path: Path) -> None:
    write(tmp_path, "my-esme.yaml", GOOD_ESME)
    path = write(tmp_path, "mine.yaml", DMC)
    assert load_dmc(str(path)).group_id == "DA"
    write(tmp_path, "mine.yaml", DMC.replace("group_id: DA", "group_id: CB "))
    assert load_dmc(str(path)).group_id == "CB"
