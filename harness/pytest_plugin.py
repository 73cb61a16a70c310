"""s1lab's pytest plugin (entry point ``pytest11: s1lab``): labs on the virtual clock as fixtures.

Fixtures:

- ``lab``: a :class:`SyncLab`, a synchronous facade over a :class:`harness.scenario.Lab` with
  its own virtual-time loop; every call runs the loop until the action is done (the scenario
  actions by their names: ``lab.read("esme")``, ``lab.firmware("gsme")``, ...; with
  ``@pytest.mark.start(installations=2)``, ``with lab.on(2):`` addresses the second).
- ``dmc``: the DMC profile name (``"default"``, or each name of ``@pytest.mark.dmc(...)``).
- ``s1lab_seed``: the seed (``@pytest.mark.seed(N)``, else ``--s1lab-seed``, else 1).
- ``clock``: the lab's virtual clock; ``headend``: ``headend("s1sp")`` gives that role's
  head-end; ``faults``: ``faults.add(kind="han-outage", device="gsme", for_="73h")``.

Markers: ``dmc(name, ...)`` parametrises a test over DMCs; ``seed(n)``; ``start(**kw)`` sets the
starting state (the keys of the scenario ``start``). A failing test that used a lab gets a
report section "s1lab reproduction" with the command that reruns it alone, and the same line as
a JUnit property ``s1lab_repro``.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable, Coroutine, Generator, Iterator
from typing import Any, TypeVar

import pytest

from emulator.drivers.clock import Clock, VirtualEventLoop
from emulator.errors import LocalProtocolError
from harness.headend import HeadEnd
from harness.scenario import model
from harness.scenario.expect import expect
from harness.scenario.lab import ActionResult, Lab
from harness.scenario.result import ExpectationResult

T = TypeVar("T")
_REPRO_KEY = pytest.StashKey[str]()


def _us(duration: int | float | str) -> int:
    """A duration as scenario files write it (``73h``; a number is seconds) in µs."""
    return model.duration_us(duration)


class SyncLab:
    """A :class:`Lab` driven from synchronous code: each method runs the virtual loop until
    its action is done. Time only moves inside these calls."""

    def __init__(self, dmc: str, seed: int = 1, start: model.Start | None = None) -> None:
        self.dmc_name = dmc
        self.seed = seed
        self._loop = VirtualEventLoop()
        self._cm = Lab.open(dmc, seed=seed, start=start)
        try:
            self.lab: Lab = self._loop.run_until_complete(self._cm.__aenter__())
        except BaseException:
            self._loop.close()
            raise

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run any coroutine (e.g. ``lab.lab.session("smso")``) on the lab's loop."""
        return self._loop.run_until_complete(coro)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self._cm.__aexit__(None, None, None))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()

    # ---- reading --------------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        return self.lab.clock

    @property
    def now(self) -> int:
        return self.lab.now

    @property
    def elapsed_us(self) -> int:
        return self.lab.elapsed_us

    def registers(self) -> dict[str, object]:
        return self.lab.registers()

    def state(self) -> dict[str, object]:
        return self.lab.security_state()

    def events(self, name: str) -> list[dict[str, object]]:
        """The fields of every trace event called ``name`` so far."""
        return [e.fields for e in self.lab.events if e.event == name]

    def can_connect(self, role: str) -> bool:
        return self.run(self.lab.can_connect(role))[0]

    def headend(self, role: str) -> HeadEnd:
        return self.lab.headend(role)

    def expect(self, expectation: dict[str, Any]) -> ExpectationResult:
        """Check one expectation written as in a scenario file, e.g.
        ``{"outcome": {"of": "m1", "is": "migrated"}}``; AssertionError with its message if it
        fails."""
        return self.run(expect(self.lab, expectation))

    # ---- actions ----------------------------------------------------------------------------

    def wait(self, duration: int | float | str, name: str | None = None) -> ActionResult:
        return self.run(self.lab.wait(_us(duration), name))

    def read(self, device: str = "esme", role: str = "smso",
             name: str | None = None) -> ActionResult:
        return self.run(self.lab.read(device, role, name))

    def inventory(self, role: str = "smso", name: str | None = None) -> ActionResult:
        return self.run(self.lab.inventory(role, name))

    def payment_mode(self, device: str = "esme", set_to: str | None = None, role: str = "smso",
                     name: str | None = None) -> ActionResult:
        return self.run(self.lab.payment_mode(device, set_to, role, name))

    def top_up(self, device: str = "esme", amount_pence: int | None = None,
               utrn: str | None = None, role: str = "smso",
               name: str | None = None) -> ActionResult:
        return self.run(self.lab.top_up(device, amount_pence, utrn, role, name))

    def device_log_add(self, device: str, device_type: str = "gsme", *,
                       bad_crc: bool = False, join_window: int | str = 90, role: str = "smso",
                       name: str | None = None) -> ActionResult:
        return self.run(self.lab.device_log_add(device, device_type, None, bad_crc,
                                                _us(join_window), role, name))

    def device_log_remove(self, device: str, role: str = "smso",
                          name: str | None = None) -> ActionResult:
        return self.run(self.lab.device_log_remove(device, role, name))

    def join(self, device: str, install_code: str = "right",
             name: str | None = None) -> ActionResult:
        return self.run(self.lab.join(device, install_code, name))

    def network_key_switch(self, name: str | None = None) -> ActionResult:
        return self.run(self.lab.network_key_switch(name))

    def han_replay(self, name: str | None = None) -> ActionResult:
        return self.run(self.lab.han_replay(name))

    def migrate(self, attempts: int = 1, name: str | None = None) -> ActionResult:
        return self.run(self.lab.migrate(attempts, name))

    def rollback(self, name: str | None = None) -> ActionResult:
        return self.run(self.lab.rollback(name))

    def connect(self, role: str = "smso", credential: str = "valid",
                name: str | None = None) -> ActionResult:
        return self.run(self.lab.connect(role, credential, name))

    def replay(self, device: str = "esme", role: str = "smso",
               name: str | None = None) -> ActionResult:
        return self.run(self.lab.replay(device, role, name))

    def firmware(self, device: str = "esme", image: str = "newer", tamper: str | None = None,
                 allow_downgrade: bool = False, within: int | float | str = "2d",
                 poll: int | float | str = "15m", role: str = "smso",
                 name: str | None = None) -> ActionResult:
        """An OTA firmware update of ``device`` (see :meth:`Lab.firmware`)."""
        return self.run(self.lab.firmware(device, image, tamper, allow_downgrade, _us(within),
                                          _us(poll), role, name))

    def on(self, number: int) -> contextlib.AbstractContextManager[Lab]:
        """``with lab.on(2): lab.read()``: address installation ``number`` (1-based) inside."""
        return self.lab.on(number)


class Faults:
    """Fault injection on a lab: ``add(kind=..., at=..., for_=..., device=..., ...)`` with
    the keys of a scenario fault (durations as ``73h`` or seconds)."""

    def __init__(self, lab: SyncLab) -> None:
        self._lab = lab
        self.added: list[model.Fault] = []

    def add(self, kind: str, **kw: Any) -> model.Fault:
        if "for_" in kw:
            kw["for"] = kw.pop("for_")
        fault = model.Fault.model_validate({"kind": kind, **kw})
        self._lab.lab.inject(fault)
        self.added.append(fault)
        return fault


# ---- pytest hooks and fixtures -----------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("s1lab")
    group.addoption("--s1lab-seed", type=int, default=None,
                    help="seed for s1lab labs (default: @pytest.mark.seed, else 1)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dmc(*names): run the test once per s1lab DMC profile")
    config.addinivalue_line("markers", "seed(n): the s1lab lab's seed")
    config.addinivalue_line("markers", "start(**kw): the s1lab lab's starting state")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("dmc")
    if marker is not None and "dmc" in metafunc.fixturenames:
        names = [str(n) for n in marker.args]
        if not names:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: @pytest.mark.dmc needs a "
                                    "DMC name")
        metafunc.parametrize("dmc", names, ids=names)


@pytest.fixture
def dmc() -> str:
    """The DMC profile name (parametrised by ``@pytest.mark.dmc``)."""
    return "default"


@pytest.fixture
def s1lab_seed(request: pytest.FixtureRequest) -> int:
    marker = request.node.get_closest_marker("seed")
    if marker is not None:
        return int(marker.args[0])
    option = request.config.getoption("--s1lab-seed")
    return int(option) if option is not None else 1


@pytest.fixture
def lab(request: pytest.FixtureRequest, dmc: str, s1lab_seed: int) -> Iterator[SyncLab]:
    """A lab of one installation of ``dmc`` on its own virtual clock."""
    marker = request.node.get_closest_marker("start")
    start = model.Start.model_validate(marker.kwargs) if marker is not None else None
    bench = SyncLab(dmc, s1lab_seed, start)
    node = request.node
    node.stash[_REPRO_KEY] = (
        f"pytest {shlex.quote(node.nodeid)} --s1lab-seed {s1lab_seed}"
        f"  # s1lab lab: dmc {dmc}, seed {s1lab_seed}")
    try:
        yield bench
    finally:
        bench.close()


@pytest.fixture
def clock(lab: SyncLab) -> Clock:
    return lab.clock


@pytest.fixture
def headend(lab: SyncLab) -> Callable[[str], HeadEnd]:
    def get(role: str) -> HeadEnd:
        if role not in ("smso", "s1sp"):
            raise LocalProtocolError(f"unknown role {role!r} (smso or s1sp)")
        return lab.headend(role)

    return get


@pytest.fixture
def faults(lab: SyncLab) -> Faults:
    return Faults(lab)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    repro = item.stash.get(_REPRO_KEY, None)
    if repro is not None and report.failed:
        report.sections.append(("s1lab reproduction", repro))
        if ("s1lab_repro", repro) not in item.user_properties:
            item.user_properties.append(("s1lab_repro", repro))
        report.user_properties = list(item.user_properties)
    return report


__all__ = ["Faults", "SyncLab"]
