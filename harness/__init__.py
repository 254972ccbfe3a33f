"""ECU test harness: benches, DBC-aware CAN channels with event-driven expectations."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ecu-harness")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
