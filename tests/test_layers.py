"""The import rules of the layers (docs/architecture.md, Layers), over the whole tree.

Statically, from the source of every module (ast, so imports inside functions and under
TYPE_CHECKING count too):

- ``emulator.wire`` imports nothing of ours but the error tree (``emulator.errors``, which
  imports nothing of ours either);
- ``emulator.core`` imports only ``emulator.wire``, ``emulator.core`` and the error tree;
- neither imports asyncio, socket, ssl, selectors, serial or aiomqtt, nor reads the machine's
  clock (``time.time()``, ``datetime.now()``, ...): time is the ``now`` a caller passes;
- ``emulator`` never imports ``harness``;
- ``harness`` and ``hw`` import only public names of ``emulator.core`` and ``emulator.drivers``
  (no ``_private`` module or name).

Dynamically, in a fresh interpreter: importing any module of ``emulator.core`` or
``emulator.wire`` (or the pure builder, ``emulator.build``) loads no asyncio, ssl, socket,
driver or harness module.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import emulator

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("emulator", "harness", "hw")
OURS = ("emulator", "harness", "hw", "firmware_images", "tests", "bench")
NO_IO = ("asyncio", "socket", "ssl", "selectors", "serial", "aiomqtt")
CLOCK_READS = frozenset({
    "time.time", "time.time_ns", "time.monotonic", "time.monotonic_ns", "time.perf_counter",
    "time.perf_counter_ns", "time.process_time", "time.clock_gettime",
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
    "datetime.date.today",
})
ERRORS = "emulator.errors"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def tree_modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name."""
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


MODULES = tree_modules()


@dataclass(frozen=True)
class Import:
    target: str  # the module imported (a submodule where ``from pkg import sub`` names one)
    names: tuple[str, ...]  # the names taken from it (empty for ``import x``)
    line: int


def _is_ours(name: str) -> bool:
    return name.split(".")[0] in OURS


def _in(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def imports_of(module: str, tree: ast.AST, is_package: bool) -> list[Import]:
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".")
                package = package[: len(package) - node.level + (1 if is_package else 0)]
                base = ".".join([*package, base] if base else package)
            names = tuple(alias.name for alias in node.names)
            subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
            found += [Import(s, (), node.lineno) for s in subs]
            rest = tuple(n for n in names if f"{base}.{n}" not in MODULES)
            if rest:
                found.append(Import(base, rest, node.lineno))
    return found


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> the dotted thing it is bound to by an import."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    bound[head] = head
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def _dotted(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else [*inner, node.attr]
    return None


def clock_reads(tree: ast.AST) -> list[tuple[int, str]]:
    bound = _aliases(tree)
    reads = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name) and not isinstance(node.ctx, ast.Store):
            parts = _dotted(node)
            if parts and parts[0] in bound:
                full = ".".join([bound[parts[0]], *parts[1:]])
                if full in CLOCK_READS:
                    reads.append((node.lineno, full))
    return reads


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """What in ``source`` (the text of ``module``) breaks the layer rules, one line each."""
    tree = ast.parse(source)
    out: list[str] = []

    def bad(imp: Import, why: str) -> None:
        out.append(f"{module}:{imp.line}: imports {imp.target}: {why}")

    sans_io = _in(module, "emulator.wire", "emulator.core")
    for imp in imports_of(module, tree, is_package):
        ours = _is_ours(imp.target)
        if module == ERRORS and ours:
            bad(imp, "the error tree imports nothing of ours")
        if _in(module, "emulator.wire") and ours and not _in(imp.target, "emulator.wire", ERRORS):
            bad(imp, "wire imports nothing of ours but the error tree")
        if (_in(module, "emulator.core") and ours
                and not _in(imp.target, "emulator.wire", "emulator.core", ERRORS)):
            bad(imp, "core imports only wire, core and the error tree")
        if sans_io and _in(imp.target, *NO_IO):
            bad(imp, "wire and core are sans-IO")
        if sans_io and any(f"{imp.target}.{n}" in CLOCK_READS for n in imp.names):
            bad(imp, "wire and core take `now`; they do not read the machine's clock")
        if _in(module, "emulator") and _in(imp.target, "harness", "tests"):
            bad(imp, "emulator never imports harness")
        if not _in(module, "emulator") and _in(imp.target, "emulator.core", "emulator.drivers"):
            private = [p for p in imp.target.split(".") if p.startswith("_") and p != "__init__"]
            private += [n for n in imp.names if n.startswith("_")]
            if private:
                bad(imp, f"private {', '.join(private)} (export it instead)")
    if sans_io:
        out += [f"{module}:{line}: reads the machine's clock ({what})"
                for line, what in clock_reads(tree)]
    return out


def test_the_tree_keeps_the_import_rules() -> None:
    assert "emulator.core.installation" in MODULES and "harness.cli" in MODULES
    found = [v for name, path in MODULES.items()
             for v in violations(name, path.read_text(), path.name == "__init__.py")]
    assert found == []


@pytest.mark.parametrize(("module", "source"), [
    ("emulator.core.fake", "import asyncio\n"),
    ("emulator.core.fake", "from asyncio import Event\n"),
    ("emulator.core.fake", "def f():\n    import ssl\n"),
    ("emulator.core.fake", "from emulator.drivers.clock import current_clock\n"),
    ("emulator.core.fake", "from emulator.drivers import scheduler\n"),
    ("emulator.core.fake", "import emulator.drivers.tcp\n"),
    ("emulator.core.fake", "from emulator import installation\n"),
    ("emulator.core.fake", "from ..drivers import clock\n"),
    ("emulator.core.fake", "import time\nstamp = time.time()\n"),
    ("emulator.core.fake", "from time import monotonic\n"),
    ("emulator.core.fake", "import datetime as dt\nstamp = dt.datetime.now()\n"),
    ("emulator.core.fake", "from datetime import datetime\nstamp = datetime.now()\n"),
    ("emulator.wire.fake", "from emulator.core.rng import SplitMix64\n"),
    ("emulator.wire.fake", "import socket\n"),
    ("emulator.errors", "from emulator.wire.eui import normalise\n"),
    ("emulator.fleet", "from harness.faults import parse_fault\n"),
    ("emulator.drivers.fake", "import harness\n"),
    ("harness.fake", "from emulator.core._secret import thing\n"),
    ("harness.fake", "from emulator.drivers.clock import _private\n"),
    ("harness.fake", "import emulator.drivers._impl\n"),
])
def test_a_module_that_breaks_a_rule_is_caught(module: str, source: str) -> None:
    assert violations(module, source) != []


@pytest.mark.parametrize(("module", "source"), [
    ("emulator.core.fake", "from emulator.wire import wan\nfrom emulator.core.rng import x\n"),
    ("emulator.core.fake", "from emulator.errors import BadMac\nfrom . import rng\n"),
    ("emulator.core.fake", "from emulator.core.timebase import to_datetime\n"),
    ("emulator.core.fake", "from datetime import UTC, datetime\nd = datetime(1970, 1, 1)\n"),
    ("emulator.core.fake", "import struct\nimport hashlib\n"),
    ("emulator.wire.fake", "from emulator.errors import MalformedFrame\n"),
    ("emulator.installation", "import ssl\nfrom emulator.drivers.tls import server_context\n"),
    ("harness.fake", "from emulator.drivers.clock import current_clock\n"),
    ("harness.fake", "from emulator import Fleet\n"),
])
def test_a_module_that_keeps_the_rules_passes(module: str, source: str) -> None:
    assert violations(module, source) == []


LOADED = """
import json, sys
forbidden = sys.argv[1].split(",")
report = {}
for name in sys.argv[2:]:
    __import__(name)
    loaded = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".")
                                                 for f in forbidden))
    if loaded:
        report[name] = loaded
        break
print(json.dumps(report))
"""


def loaded_by(modules: list[str], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Import ``modules`` in turn in a fresh interpreter; the first that loads a ``forbidden``
    module (or a submodule of one), with what it loaded."""
    run = subprocess.run([sys.executable, "-c", LOADED, ",".join(forbidden), *modules],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    found: dict[str, list[str]] = json.loads(run.stdout)
    return found


def test_importing_the_sans_io_layers_loads_no_io() -> None:
    sans_io = [m for m in MODULES if _in(m, "emulator.core", "emulator.wire")]
    assert "emulator.core.chf" in sans_io and "emulator.wire.wan" in sans_io
    forbidden = ("asyncio", "ssl", "socket", "selectors", "emulator.drivers", "harness")
    assert loaded_by(sans_io, forbidden) == {}


def test_the_builder_loads_no_driver() -> None:
    """The pure builder runs without an event loop or TLS. (Not ``socket``: pydantic, under
    the profile models, loads it through ``email``.)"""
    assert loaded_by(["emulator.build"], ("asyncio", "ssl", "emulator.drivers", "harness")) == {}


def test_the_import_check_names_what_loads_asyncio() -> None:
    found = loaded_by(["emulator.core.rng", "emulator.drivers.clock", "emulator.wire.wan"],
                      ("asyncio",))
    assert list(found) == ["emulator.drivers.clock"]
    assert "asyncio" in found["emulator.drivers.clock"]


def test_the_public_names_are_declared_once_each_way() -> None:
    """``emulator.__all__``, the lazy table behind it and the TYPE_CHECKING imports agree."""
    homes: dict[str, str] = vars(emulator)["_HOME"]
    assert sorted(homes) == emulator.__all__
    tree = ast.parse((ROOT / "emulator" / "__init__.py").read_text())
    typed = {alias.name: node.module for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert typed == homes
