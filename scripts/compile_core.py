"""Build s1lab's compiled core: the hot sans-IO modules compiled to C with mypyc.

    .venv/bin/python scripts/compile_core.py [--out build/compiled] [--check]

The source tree stays pure Python. This copies the packages of :data:`PACKAGES` to ``OUT`` and
compiles the modules of :data:`MODULES` there (mypyc, part of mypy, already a dependency:
the code is typed for ``mypy --strict``, and mypyc compiles it from those types). Put ``OUT``
first on the path to run on it::

    PYTHONPATH=build/compiled .venv/bin/s1lab fleet serve ...

``OUT/SOURCES`` holds the SHA-256 of the sources it was built from: :func:`current` says
whether a build is the tree's, and ``--check`` exits 1 if not (a copy, never the tree's own
files, so an edited module can never be shadowed by a stale extension beside it).

The modules are the ones a fleet's timers and WAN reads run through (docs/scale.md, "The
compiled core"), and the one :func:`generate` writes into the copy (the WAN codec's direct
forms, from the pure copy's own source of them); the rest of the package runs as Python from
the copy, identically.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("emulator", "harness")
DEFAULT_OUT = ROOT / "build" / "compiled"
STAMP = "SOURCES"

#: The modules compiled, by path in the package (tests/compiled/test_compiled_core.py checks
#: that a build of them behaves as the pure tree).
MODULES = (
    "emulator/wire/vocabulary.py",
    "emulator/core/meter_states.py",
    "emulator/core/rng.py",
    "emulator/core/timebase.py",
    "emulator/core/load_profile.py",
    "emulator/core/prepayment.py",
    "emulator/core/esme.py",
    "emulator/core/gsme.py",
    "emulator/core/ppmid.py",
    "emulator/core/ihd.py",
    "emulator/core/installation.py",
    "emulator/core/chf/hub.py",
    "emulator/core/chf/commands.py",
    "emulator/core/chf/auth.py",
    "emulator/core/chf/security.py",
    "emulator/core/chf/records.py",
    "emulator/core/headend_commands.py",
    "emulator/drivers/memory.py",
    "emulator/drivers/wan_channel.py",
    "emulator/drivers/libssl.py",
    "emulator/drivers/tls_endpoint.py",
    "emulator/wire/wan.py",
    "emulator/trace.py",
    "emulator/drivers/virtual_time.py",
    "emulator/drivers/scheduler.py",
    "emulator/installation.py",
    "emulator/wan_service.py",
    "emulator/core/headend.py",
    "harness/headend.py",
)


#: Modules written into the build by :func:`generate` and compiled with :data:`MODULES`.
GENERATED = ("emulator/wire/wan_direct_built.py",)


def generate(work: Path) -> None:
    """Write :data:`GENERATED` into the copy at ``work``: the WAN codec's direct forms
    (emulator.wire.wan_construct.Direct), one factory per payload layout, as the pure copy
    makes them, so that they run compiled (wan_construct picks them up by their source)."""
    code = ("import emulator.wire.wan\n"
            "from emulator.wire.wan_construct import built_source\n"
            "print(built_source(), end='')\n")
    done = subprocess.run([sys.executable, "-P", "-c", code], cwd=work, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(work)), check=False)
    if done.returncode != 0:
        raise SystemExit("generating the direct forms failed:\n" + done.stderr[-2000:])
    (work / GENERATED[0]).write_text(done.stdout)


def sources_digest(root: Path = ROOT) -> str:
    """SHA-256 over :data:`MODULES` and every ``.py`` file of the package (path and bytes),
    in path order."""
    h = hashlib.sha256("\n".join(MODULES).encode() + b"\0")
    for path in sorted(p for package in PACKAGES for p in (root / package).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def current(out: Path = DEFAULT_OUT, root: Path = ROOT) -> bool:
    """Is ``out`` a build of the sources as they are now?"""
    stamp = out / STAMP
    return stamp.is_file() and stamp.read_text().strip() == sources_digest(root)


def build(out: Path = DEFAULT_OUT, root: Path = ROOT) -> None:
    """Copy the package to a fresh folder beside ``out``, compile :data:`MODULES` there, then
    put it in ``out``'s place: an interrupted build leaves the old one (or none), never half."""
    digest = sources_digest(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".compiled-", dir=out.parent))
    try:
        for package in PACKAGES:
            shutil.copytree(root / package, work / package,
                            ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        generate(work)
        env = dict(os.environ, MYPY_CACHE_DIR=str(work / ".mypy_cache"))
        # The mypyc command line: type-checks, writes C, builds the extensions in place.
        done = subprocess.run([sys.executable, "-m", "mypyc", *MODULES, *GENERATED], cwd=work,
                              env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-20:]
            raise SystemExit("mypyc failed:\n" + "\n".join(tail))
        for scratch in ("build", ".mypy_cache"):
            shutil.rmtree(work / scratch, ignore_errors=True)
        (work / STAMP).write_text(digest + "\n")
        old = out.with_name(out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            out.rename(old)
        work.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="build folder")
    parser.add_argument("--check", action="store_true",
                        help="only say whether the build is current (exit 1 if not)")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if args.check:
        ok = current(out)
        print(f"{out}: {'current' if ok else 'missing or stale'}")
        return 0 if ok else 1
    if current(out):
        print(f"{out}: current, nothing to do")
        return 0
    build(out)
    print(f"{out}: built ({len(MODULES) + len(GENERATED)} modules compiled)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
