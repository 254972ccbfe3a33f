"""ECU test harness: benches, DBC-aware CAN channels with event-driven expectations,
diagnostics, serial devices and simulated ECUs.

What a test author uses is importable from here; each name loads its module on first
use, so ``import harness`` stays cheap (no udsoncan, PyVISA or numpy until needed):

>>> from harness import Bench, between, ExpectationError   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("ecu-harness")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

_EXCEPTIONS = (
    "BusError",
    "ConfigError",
    "DatabaseError",
    "DeviceError",
    "DeviceTimeoutError",
    "DiagnosticError",
    "DiagnosticTimeoutError",
    "EncodeError",
    "ExpectationError",
    "HarnessError",
    "HistoryOverflowError",
    "ModemError",
    "NegativeResponseError",
    "PluginError",
    "ReportError",
    "ResourceError",
    "ResultsStoreError",
    "TraceError",
    "UnknownNameError",
)

_EXPORTS: dict[str, str] = {
    "Bench": "harness.bench",
    "load_bench": "harness.config",
    "BenchConfig": "harness.config",
    "Channel": "harness.canbus.channel",
    "Frame": "harness.canbus.frame",
    "Mark": "harness.canbus.history",
    "SignalDatabase": "harness.canbus.database",
    "between": "harness.canbus.expect",
    "above": "harness.canbus.expect",
    "below": "harness.canbus.expect",
    "one_of": "harness.canbus.expect",
    "UdsClient": "harness.diag.client",
    "DtcRecord": "harness.diag.client",
    "ObdClient": "harness.diag.obd",
    "open_uds": "harness.bench.diagnostics",
    "open_obd": "harness.bench.diagnostics",
    "ResidualBus": "harness.sim.residual_bus",
    "Console": "harness.devices.console",
    "Modem": "harness.devices.modem",
    "PowerSupply": "harness.devices.power",
    "read_trace": "harness.trace.reader",
    **dict.fromkeys(_EXCEPTIONS, "harness.exceptions"),
}
"""Public name -> the module that defines it."""

__all__ = [
    "Bench",
    "BenchConfig",
    "BusError",
    "Channel",
    "ConfigError",
    "Console",
    "DatabaseError",
    "DeviceError",
    "DeviceTimeoutError",
    "DiagnosticError",
    "DiagnosticTimeoutError",
    "DtcRecord",
    "EncodeError",
    "ExpectationError",
    "Frame",
    "HarnessError",
    "HistoryOverflowError",
    "Mark",
    "Modem",
    "ModemError",
    "NegativeResponseError",
    "ObdClient",
    "PluginError",
    "PowerSupply",
    "ReportError",
    "ResidualBus",
    "ResourceError",
    "ResultsStoreError",
    "SignalDatabase",
    "TraceError",
    "UdsClient",
    "UnknownNameError",
    "__version__",
    "above",
    "below",
    "between",
    "load_bench",
    "one_of",
    "open_obd",
    "open_uds",
    "read_trace",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from harness.bench import Bench
    from harness.bench.diagnostics import open_obd, open_uds
    from harness.canbus.channel import Channel
    from harness.canbus.database import SignalDatabase
    from harness.canbus.expect import above, below, between, one_of
    from harness.canbus.frame import Frame
    from harness.canbus.history import Mark
    from harness.config import BenchConfig, load_bench
    from harness.devices.console import Console
    from harness.devices.modem import Modem
    from harness.devices.power import PowerSupply
    from harness.diag.client import DtcRecord, UdsClient
    from harness.diag.obd import ObdClient
    from harness.exceptions import (
        BusError,
        ConfigError,
        DatabaseError,
        DeviceError,
        DeviceTimeoutError,
        DiagnosticError,
        DiagnosticTimeoutError,
        EncodeError,
        ExpectationError,
        HarnessError,
        HistoryOverflowError,
        ModemError,
        NegativeResponseError,
        PluginError,
        ReportError,
        ResourceError,
        ResultsStoreError,
        TraceError,
        UnknownNameError,
    )
    from harness.sim.residual_bus import ResidualBus
    from harness.trace.reader import read_trace
