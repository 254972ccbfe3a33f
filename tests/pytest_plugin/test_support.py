"""Suite helper modules: imported by name beside a suite's conftest, once."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.exceptions import HarnessError
from harness.pytest_plugin.support import import_beside


@pytest.fixture
def forget() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        sys.modules.pop(name, None)


def test_imports_the_module_beside_the_anchor_once(tmp_path: Path, forget: list[str]) -> None:
    forget.append("demo_support_x1")
    (tmp_path / "demo_support_x1.py").write_text("LOADS = []\nLOADS.append(1)\n")
    first = import_beside(tmp_path / "conftest.py", "demo_support_x1")
    again = import_beside(tmp_path / "conftest.py", "demo_support_x1")
    assert first is again
    assert first.LOADS == [1]
    assert sys.modules["demo_support_x1"] is first


def test_a_missing_module_is_named(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"no suite helper module 'nowhere_support_x2'"):
        import_beside(tmp_path / "conftest.py", "nowhere_support_x2")
    assert "nowhere_support_x2" not in sys.modules


def test_a_module_that_fails_to_import_is_not_left_half_loaded(
    tmp_path: Path, forget: list[str]
) -> None:
    forget.append("broken_support_x3")
    (tmp_path / "broken_support_x3.py").write_text("raise ValueError('broken on purpose')\n")
    with pytest.raises(ValueError, match="broken on purpose"):
        import_beside(tmp_path / "conftest.py", "broken_support_x3")
    assert "broken_support_x3" not in sys.modules
