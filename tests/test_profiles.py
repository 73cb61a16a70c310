from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest

from emulator.errors import ProfileError
from emulator.profiles import (
    MAX_PROFILE_BYTES,
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


# ---- wire limits at load (issue 8, item 10) --------------------------------------------------

@pytest.mark.parametrize(("field", "value", "reason"), [
    ("firmware_version", "v" * 33, "longer than 32 bytes"),
    ("apn", "\u00e9" * 128, "longer than 255 bytes"),
])
def test_chf_fields_the_wan_carries_are_checked_against_its_limits(
        tmp_path: Path, field: str, value: str, reason: str) -> None:
    chf = (files("profiles") / "devices" / "acme-chf.yaml").read_text(encoding="utf-8")
    lines = [f"{field}: {value}" if line.startswith(f"{field}:") else line
             for line in chf.splitlines()]
    write(tmp_path, "my-chf.yaml", "\n".join(lines) + "\n")
    write(tmp_path, "my-esme.yaml", GOOD_ESME)
    path = write(tmp_path, "mine.yaml", DMC.replace("acme-chf", "my-chf"))
    with pytest.raises(ProfileError) as info:
        load_dmc(str(path))
    assert info.value.field == field and reason in info.value.reason


def test_a_u32_prepayment_field_is_checked_at_load(tmp_path: Path) -> None:
    write(tmp_path, "my-esme.yaml", GOOD_ESME.replace("emergency_credit_limit_pence: 500",
                                                      "emergency_credit_limit_pence: 4294967296"))
    with pytest.raises(ProfileError) as info:
        load_dmc(str(write(tmp_path, "mine.yaml", DMC)))
    assert info.value.field == "prepayment.emergency_credit_limit_pence"


# ---- hostile YAML (issue 8, item 17) ---------------------------------------------------------

@pytest.mark.parametrize(("content", "reason"), [
    (GOOD_ESME.replace("model: T1\n", "model: T1\nmodel: T2\n").encode(), "duplicate key 'model'"),
    (b"schema_version: 1\nname: \xff\xfe\n", "not UTF-8 text"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8 text"),
    (b"schema_version: 1\nname: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested deeper than 32"),
    (b"schema_version: 1\nname: " + b"9" * 5000 + b"\n", "YAML error"),
    (b"x" * (MAX_PROFILE_BYTES + 1), "larger than"),
])
def test_hostile_yaml_is_one_profile_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(ProfileError) as info:
        load_dmc(str(path))
    assert reason in info.value.reason and "\n" not in str(info.value)


@pytest.mark.parametrize("number", [".nan", ".inf", "1e999"])
def test_nan_and_infinite_numbers_in_a_profile_are_refused(tmp_path: Path, number: str) -> None:
    write(tmp_path, "my-esme.yaml", GOOD_ESME.replace("base_load_w: 200", f"base_load_w: {number}"))
    with pytest.raises(ProfileError) as info:
        load_dmc(str(write(tmp_path, "mine.yaml", DMC)))
    assert info.value.field == "load.base_load_w"
