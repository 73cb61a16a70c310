"""The public names: sorted, complete, importable (httpx/trio style)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["emulator", "harness"])
def test_all_is_sorted_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(module, name) is not None
    public = {n for n in vars(module) if not n.startswith("_")}
    # every public name bound in the package is exported (submodules aside)
    assert {n for n in public if not hasattr(getattr(module, n), "__path__")
            and type(getattr(module, n)).__name__ != "module"} == set(names)
