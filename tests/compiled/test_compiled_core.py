"""The compiled core (scripts/compile_core.py) behaves as the pure-Python tree, byte for byte.

A build is made from this tree into a temporary folder; then the same seeded day of hourly
Poller reads (three installations, direct HAN, then the ZigBee HAN: the golden of
tests/drivers/test_poller_day_golden.py) runs twice, each in a process of its own, on the
pure tree and on the build: the whole trace, every read's outcome and each ESME's registers
at the end of the day must digest the same. The goldens that watch the cores by patching
their classes cannot run on a build (a compiled caller calls a compiled method directly), so
this is the test that a build keeps the behaviour.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import compile_core  # noqa: E402

#: Run in the child: which core it imported, then each HAN's digest and line count.
DAY = """
import emulator.core.esme
from emulator.drivers.clock import run_virtual
from tests.drivers.test_poller_day_golden import _day
from tests.drivers.test_wan_read_fidelity import _Recorder
compiled = [not m.__file__.endswith(".py") for m in (emulator.core.esme,)]
print("compiled", *compiled)
for han in ("direct", "zigbee"):
    rec = _Recorder()
    run_virtual(_day(han, rec))
    print(han, rec.digest(), len(rec.lines), sum(" read " in line for line in rec.lines))
"""


def _run(path: list[Path]) -> list[str]:
    # -P: the child's path is PYTHONPATH's, not this folder's (the build must come first)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, path)))
    done = subprocess.run([sys.executable, "-P", "-c", DAY], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split("\n")


@pytest.mark.slow
@pytest.mark.io
def test_a_build_reads_and_traces_a_day_as_the_pure_tree_does(tmp_path: Path) -> None:
    out = tmp_path / "compiled"
    compile_core.build(out)
    assert compile_core.current(out)
    assert any(out.rglob("esme.*.so"))
    pure = _run([ROOT])
    built = _run([out, ROOT])
    assert pure[0] == "compiled False"
    assert built[0] == "compiled True"
    assert [line.split()[-1] for line in pure[1:3]] == ["72", "72"]  # 3 x 24 reads each
    assert built[1:] == pure[1:]


def test_a_build_is_stale_once_a_source_changes(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for package in compile_core.PACKAGES:
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    out = tmp_path / "out"
    out.mkdir()
    (out / compile_core.STAMP).write_text(compile_core.sources_digest(root) + "\n")
    assert compile_core.current(out, root)
    (root / "emulator" / "__init__.py").write_text("# edited\n")
    assert not compile_core.current(out, root)
    assert not compile_core.current(tmp_path / "none", root)
