"""What conformance suites share: their helper modules, and the DUT profile at collection."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest
from _pytest.junitxml import xml_key  # pytest's own JUnit writer

from harness.diag.profile import DutProfile
from harness.exceptions import HarnessError
from harness.pytest_plugin.hooks import get_bench_config

forwarded_key = pytest.StashKey[list[tuple[str, str]]]()
"""Suite properties a pytest-xdist worker (which writes no JUnit) hands to the controller."""


def import_beside(anchor: str | Path, name: str) -> ModuleType:
    """Import ``name.py`` from the folder of ``anchor`` (a suite's ``conftest.py``) as the
    top-level module ``name``, once per process.

    A suite keeps what its tests share in ``<suite>_support.py`` beside them. pytest runs
    with ``--import-mode=importlib``, which puts no test folder on ``sys.path``, so the
    suite's conftest (imported first) registers the module and the tests then say
    ``from <suite>_support import ...``. The names differ per suite, so suites never
    shadow each other in one run."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    path = Path(anchor).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise HarnessError(f"{path}: no suite helper module {name!r} to import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@contextmanager
def bench_errors_at_collection() -> Iterator[None]:
    """Around what a suite's ``pytest_generate_tests`` reads from the bench: a bench or
    profile error becomes a collection error that pytest shows as its one-line message,
    without a traceback (under pytest-xdist too, where a usage error would crash)."""
    try:
        yield
    except HarnessError as exc:
        raise pytest.Collector.CollectError(f"harness: {exc}") from None


def collection_profile(config: pytest.Config) -> DutProfile | None:
    """The bench's DUT profile while pytest collects (the bench is not open yet), for a
    suite's ``pytest_generate_tests``; ``None`` without one."""
    with bench_errors_at_collection():
        diag = get_bench_config(config).diagnostics
    return diag.profile if diag is not None else None


def junit_property(item: pytest.Item, name: str, value: object) -> None:
    """A per-test JUnit property where the ``junit_family``'s schema allows it: the
    testcase's properties under xunit1/legacy, else a testsuite property keyed by the
    test's ID (xunit2 forbids testcase properties; a schema-checking CI rejects them)."""
    family = str(item.config.getini("junit_family") or "xunit2")
    if family in ("xunit1", "legacy"):
        item.user_properties.append((name, value))
        return
    key, text = f"{item.nodeid} {name}", str(value)
    xml = item.config.stash.get(xml_key, None)
    if xml is not None:
        xml.add_global_property(key, text)
    elif hasattr(item.config, "workerinput"):
        item.stash.setdefault(forwarded_key, []).append((key, text))
