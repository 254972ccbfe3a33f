"""Helper modules of a conformance suite, importable by name from its test modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from harness.exceptions import HarnessError


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
