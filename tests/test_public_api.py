"""The names a test author imports from ``harness``: each resolves to the object its module
defines, and ``import harness`` alone loads none of the heavy libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

import harness
from harness.bench import Bench
from harness.canbus.expect import between
from harness.diag.client import UdsClient
from harness.exceptions import ExpectationError


def test_every_public_name_resolves() -> None:
    for name in harness.__all__:
        assert getattr(harness, name) is not None, name


def test_names_are_the_objects_of_their_modules() -> None:
    assert harness.Bench is Bench
    assert harness.between is between
    assert harness.UdsClient is UdsClient
    assert harness.ExpectationError is ExpectationError


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Benhc'"):
        _ = harness.Benhc


def test_import_harness_loads_no_heavy_library() -> None:
    code = (
        "import sys, harness; "
        "print(sorted(m for m in ('udsoncan', 'pyvisa', 'numpy', 'cantools', 'can') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
