"""Every exception s1lab defines is in the one error tree (emulator/errors.py).

Every exception class defined anywhere in emulator, harness or hw derives from S1labError (so
the command line turns any of them into one line), and every public one is defined in
emulator.errors (so a reader finds the whole tree in one place).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import emulator.errors
from emulator.errors import S1labError

PACKAGES = ("emulator", "harness", "hw")

# Public errors defined outside emulator/errors.py, each for a reason; a new one is a choice
# made here. An entry that no longer applies fails the test, so the list only shrinks.
ELSEWHERE = {
    "emulator.core.chf.auth.Reject",  # carries the core's OperationalKeys
    # carry a type of the layer that raises them (errors.py imports nothing of ours):
    "emulator.core.utrn.UtrnRejected",
    "harness.migration.tmad.ClauseNotInVersion",
}


def exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in the packages, by dotted name."""
    found: dict[str, type[BaseException]] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        names = [package] + [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")
                             if not m.name.endswith("__main__")]
        for name in names:
            module = importlib.import_module(name)
            for attr, value in vars(module).items():
                if (inspect.isclass(value) and issubclass(value, BaseException)
                        and value.__module__ == name):
                    found[f"{name}.{attr}"] = value
    return found


CLASSES = exception_classes()


def test_the_scan_sees_the_tree() -> None:
    assert "emulator.errors.S1labError" in CLASSES
    assert "emulator.errors.FaultSpecError" in CLASSES


def test_every_exception_derives_from_s1lab_error() -> None:
    outside = {name for name, cls in CLASSES.items() if not issubclass(cls, S1labError)}
    assert outside == set()


def test_every_public_error_is_defined_in_the_error_tree() -> None:
    elsewhere = {name for name, cls in CLASSES.items()
                 if issubclass(cls, S1labError) and not cls.__name__.startswith("_")
                 and cls.__module__ != emulator.errors.__name__}
    assert elsewhere == ELSEWHERE
