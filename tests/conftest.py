"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
DEMO_DBC = ROOT / "dbc" / "demo_vehicle.dbc"
VIRTUAL_BENCH = ROOT / "fixtures" / "benches" / "virtual.toml"


@pytest.fixture
def corpus() -> Path:
    """The shared corpus of real-world DBCs and traces (read in place, never copied)."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS
