"""The harness's pytest plugin, registered through the ``pytest11`` entry point.

Options (each with an ini twin): ``--bench`` chooses the bench file,
``--bench-set`` overrides single keys. Fixtures: ``bench_config``, ``bench``,
``can``, ``residual_bus``, ``uds`` and ``obd`` (diagnostics), and for diagnostic suites
``dut_timing``, ``security_level``, ``security_session``. Marker:
``@pytest.mark.requires("can:body", "serial:modem")`` skips a test the bench cannot serve.
See :mod:`.hooks` and :mod:`.fixtures`. Serial devices (``console``, ``modem``,
``power``, ``serial_log``, ``--serial-log-dir``) live in :mod:`.devices`, loaded below;
evidence (per-test traces, JUnit properties and ``record_figure``, results store, HTML
report, the ``requirement`` marker) in :mod:`.evidence`, loaded below too.
"""

from harness.pytest_plugin.fixtures import (
    bench,
    bench_config,
    can,
    dut_timing,
    obd,
    residual_bus,
    security_level,
    security_session,
    uds,
)
from harness.pytest_plugin.hooks import (
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_runtest_call,
    pytest_runtest_makereport,
)

pytest_plugins = ["harness.pytest_plugin.devices", "harness.pytest_plugin.evidence"]

__all__ = [
    "bench",
    "bench_config",
    "can",
    "dut_timing",
    "obd",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "residual_bus",
    "security_level",
    "security_session",
    "uds",
]
