"""The harness's pytest plugin, registered through the ``pytest11`` entry point.

Options (each with an ini twin): ``--bench`` chooses the bench file,
``--bench-set`` overrides single keys. Fixtures: ``bench_config``, ``bench``,
``can``, ``residual_bus``. Marker: ``@pytest.mark.requires("can:body", "serial:modem")`` skips a
test the bench cannot serve. See :mod:`.hooks` and :mod:`.fixtures`.
"""

from harness.pytest_plugin.fixtures import bench, bench_config, can, residual_bus
from harness.pytest_plugin.hooks import (
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_runtest_call,
    pytest_runtest_makereport,
)

__all__ = [
    "bench",
    "bench_config",
    "can",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "residual_bus",
]
