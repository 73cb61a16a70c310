"""The pure builder: the same DMC, seed, keys and ``now`` build the same installation."""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding

from emulator import Cores, build_cores, default_dmc
from emulator.core.timebase import SECOND
from emulator.core.trace_sink import Recorder
from emulator.fleet import FIRST_EUI
from emulator.keystore import derive_chf_keys
from emulator.pki import mint_authorities
from emulator.wire.vocabulary import Role

NOW = 1_767_571_200 * SECOND  # 2026-01-05, no clock involved
SEED = 7
ANCHOR = (Role.SMSO, mint_authorities(NOW, SEED).smso_ca.cert.public_bytes(Encoding.DER))


def build(seed: int = SEED, installation_id: str = "i00001") -> tuple[Cores, Recorder]:
    trace = Recorder()
    cores = build_cores(installation_id=installation_id, dmc=default_dmc(), chf_eui=FIRST_EUI,
                        anchor=ANCHOR, keys=derive_chf_keys(seed, FIRST_EUI), seed=seed,
                        now=NOW, emit=trace)
    return cores, trace


def fingerprint(cores: Cores) -> tuple[object, ...]:
    chf = cores.core.devices.chf
    assert cores.han is not None
    return (chf.sim.iccid, chf.sim.imsi, cores.han.keys.current_key,
            sorted(cores.core.install_codes.items()), cores.core.get_timer())


def test_the_same_inputs_build_the_same_installation() -> None:
    (first, first_trace), (again, again_trace) = build(), build()
    assert fingerprint(first) == fingerprint(again)
    assert first_trace.events == again_trace.events != []


def test_the_seed_and_the_installation_id_decide() -> None:
    assert fingerprint(build(seed=SEED + 1)[0]) != fingerprint(build()[0])
    assert fingerprint(build(installation_id="i00002")[0]) != fingerprint(build()[0])


def test_the_cores_start_as_the_profile_says() -> None:
    cores, _ = build()
    chf = cores.core.devices.chf
    dmc = default_dmc()
    assert (chf.anchor, chf.anchor_der) == ANCHOR
    assert chf.sim.apn == dmc.chf.apn
    assert chf.master_key == derive_chf_keys(SEED, FIRST_EUI).master_key
    assert cores.han is not None and set(cores.han.nodes) == {
        d.eui for d in (cores.core.devices.esme, cores.core.devices.gsme,
                        cores.core.devices.ppmid, cores.core.devices.ihd) if d is not None}


def test_the_direct_link_builds_no_han() -> None:
    trace = Recorder()
    cores = build_cores(installation_id="i00001", dmc=default_dmc(), chf_eui=FIRST_EUI,
                        anchor=ANCHOR, keys=derive_chf_keys(SEED, FIRST_EUI), seed=SEED,
                        now=NOW, emit=trace, han="direct")
    assert cores.han is None and cores.core.devices.esme.eui in cores.core.devices.chf.log
