"""A bench file's CAN channels (``[can.NAME]``): which python-can interface, which database.

.. code-block:: toml

    [can.body]
    interface = "pcan"                 # any python-can interface
    channel = "PCAN_USBBUS1"
    bitrate = 500000
    fd = false                         # CAN FD (then data_bitrate)
    dbc = "../../dbc/demo_vehicle.dbc" # relative to the bench file; DBC, ARXML, KCD or SYM
    dut_node = "BCM"                   # the database node that is the device under test
    strict_dbc = true                  # cantools' strict loading
    j1939 = false                      # read extended frames as SAE J1939 (match by PGN)
    history = 100000                   # frames kept for expectations and evidence
    options = { app_name = "CANoe" }   # extra keyword arguments for can.Bus
    cycle_ms = { BCM_Lights = 100 }    # cycle times the database does not declare

    [can.body.protection.SPEED]        # counter/checksum the database does not declare
    algorithm = "toyota"               # see harness.canbus.protection.CHECKSUMS
    checksum = "CHECKSUM"
    counter = "COUNTER"                # optional; E2E profiles: data_id, offset
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.canbus.protection import Protection
from harness.datafile import Table

DEFAULT_HISTORY = 100_000
"""Frames a channel keeps for expectations and evidence."""


@dataclass(frozen=True)
class CanChannelConfig:
    """One CAN channel: which python-can interface, and which database decodes it."""

    name: str
    interface: str
    channel: str
    bitrate: int | None = None
    fd: bool = False
    data_bitrate: int | None = None
    dbc: Path | None = None
    dut_node: str | None = None
    strict_dbc: bool = True
    history: int = DEFAULT_HISTORY
    j1939: bool = False
    """Extended frames are J1939 even where the database does not declare it."""
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Extra keyword arguments for ``can.Bus`` (e.g. ``app_name`` for Vector)."""
    protection: Mapping[str, Protection] = field(default_factory=lambda: MappingProxyType({}))
    """Counter and checksum per message name, over what the database declares."""
    cycle_ms: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Cycle time in ms per message name, over the database's GenMsgCycleTime."""


def parse_can_channel(table: Table, name: str, path: Path) -> CanChannelConfig:
    """One ``[can.NAME]`` table; the database path is resolved against the bench file."""
    dbc_text = table.optional_str("dbc")
    dbc = (path.parent / dbc_text).resolve() if dbc_text else None
    if dbc is not None and dbc.is_dir():
        raise table.error("dbc", f"is a directory, not a database file: {dbc}")
    if dbc is not None and not dbc.is_file():
        raise table.error("dbc", f"database file not found: {dbc}")
    fd = table.boolean("fd", False)
    data_bitrate = table.optional_int("data_bitrate")
    if data_bitrate is not None and not fd:
        raise table.error("data_bitrate", "set only for CAN FD channels (add fd = true)")
    dut_node = table.optional_str("dut_node")
    if dut_node is not None and dbc is None:
        raise table.error("dut_node", "needs a database (set dbc) to name a node in")
    channel = CanChannelConfig(
        name=name,
        interface=table.required_str("interface"),
        channel=table.required_str("channel"),
        bitrate=table.optional_int("bitrate"),
        fd=fd,
        data_bitrate=data_bitrate,
        dbc=dbc,
        dut_node=dut_node,
        strict_dbc=table.boolean("strict_dbc", True),
        history=table.optional_int("history", minimum=16) or DEFAULT_HISTORY,
        j1939=table.boolean("j1939", False),
        options=table.free_form("options"),
        protection=_protections(table.table("protection")),
        cycle_ms=_cycle_times(table),
    )
    table.finish()
    return channel


def _protections(table: Table) -> Mapping[str, Protection]:
    """``[can.NAME.protection.MESSAGE]`` tables; checked against the database on opening."""
    found = {}
    for message in table.data:
        entry = table.table(message)
        found[message] = Protection(
            counter=entry.optional_str("counter"),
            checksum=entry.optional_str("checksum"),
            algorithm=entry.optional_str("algorithm"),
            data_id=entry.optional_int("data_id", minimum=0) or 0,
            offset=entry.optional_int("offset", minimum=0) or 0,
        )
        entry.finish()
    return MappingProxyType(found)


def _cycle_times(table: Table) -> Mapping[str, int]:
    cycles = table.table("cycle_ms")
    found = {name: int(cycles.optional_int(name) or 0) for name in cycles.data}
    return MappingProxyType(found)
