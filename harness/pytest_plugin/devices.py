"""Serial devices in tests: the ``console``, ``modem`` and ``power`` fixtures, and each
test's serial traffic kept with its results.

Loaded with the harness plugin (``pytest_plugins`` in its ``__init__``). The fixtures
skip, with the bench file in the reason, when the bench has no such device. Each of
them uses ``serial_log``: the test's share of the bench's serial log (every chunk
sent and received, with times and direction) is written when the test ends, to
``serial.log`` in the test's ``tmp_path``, or to ``DIR/<test id>.log`` with
``--serial-log-dir DIR`` (ini ``serial_log_dir``). Its path is a JUnit property
(``serial_log``); a failed test's report gets a "harness serial" section with the
path and the last lines.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.devices.log import SerialLog
from harness.pytest_plugin.support import junit_property

if TYPE_CHECKING:
    from harness.bench import Bench
    from harness.devices.console import Console
    from harness.devices.modem import Modem
    from harness.devices.power import PowerSupply

SECTION_LINES = 40
"""Serial log lines shown in a failing test's "harness serial" section."""

serial_log_key = pytest.StashKey[tuple[SerialLog, int, Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness")
    group.addoption(
        "--serial-log-dir",
        metavar="DIR",
        help="write each test's serial traffic to DIR/<test id>.log "
        "(default: serial.log in the test's tmp_path).",
    )
    parser.addini("serial_log_dir", "directory for per-test serial logs, relative to the rootdir.")


def _log_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    config = request.config
    option = config.getoption("--serial-log-dir")
    ini = config.getini("serial_log_dir")
    if not option and not ini:
        return tmp_path / "serial.log"
    base = Path(option) if option else config.rootpath / str(ini)
    name = re.sub(r"[^\w.-]+", "_", request.node.nodeid).strip("_")
    return base / f"{name}.log"


@pytest.fixture
def serial_log(bench: Bench, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SerialLog]:
    """The bench's serial log; this test's part of it is written to a file when it ends."""
    log = bench.devices.log
    mark = log.mark()
    path = _log_path(request, tmp_path)
    request.node.stash[serial_log_key] = (log, mark, path)
    junit_property(request.node, "serial_log", str(path))
    yield log
    log.write(path, mark, title=request.node.nodeid)


def _skip_unless(bench: Bench, kind: str) -> None:
    if not bench.devices.config.of_kind(kind):
        pytest.skip(
            f"bench {bench.name!r} ({bench.config.path}) has no serial device of kind {kind!r}"
        )


@pytest.fixture
def console(bench: Bench, serial_log: SerialLog) -> Console:
    """The DUT's console (``kind = "console"``); what arrived before the test is flushed."""
    _skip_unless(bench, "console")
    device = bench.devices.console
    device.flush()
    return device


@pytest.fixture
def modem(bench: Bench, serial_log: SerialLog) -> Iterator[Modem]:
    """The modem (``kind = "modem"``). When the test ends, its simulation's faults are
    back to the bench file's (``faults = [...]``): what the test switched is undone."""
    _skip_unless(bench, "modem")
    device = bench.devices.modem
    bench.devices.settle(device)
    yield device
    simulation = bench.devices.simulation_of(device)
    if simulation is not None:
        simulation.restore_faults()


@pytest.fixture
def power(bench: Bench, serial_log: SerialLog) -> Iterator[PowerSupply]:
    """The supply powering the DUT (``[power]``): ``power.power_cycle()``,
    ``power.off()``... When the test ends it is set back as the bench file says
    (voltage, current limit, output on), and a simulated DUT has booted again."""
    if bench.devices.power is None:
        pytest.skip(f"bench {bench.name!r} ({bench.config.path}) has no [power]")
    yield bench.devices.power
    bench.devices.switch_on()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used serial devices gets their traffic in its report."""
    report = yield
    kept = item.stash.get(serial_log_key, None)
    if kept is not None and report.failed and report.when == "call":
        log, mark, path = kept
        body = log.format(mark, limit=SECTION_LINES)
        report.sections.append(
            ("harness serial", f"serial log (written when the test ends): {path}\n{body}")
        )
    return report
