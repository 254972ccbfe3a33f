"""Assembling a bench: its configuration in, open channels, simulated ECUs, serial devices
and diagnostics out, all or nothing.

- :mod:`.assembly`: :class:`Bench`, which opens everything a bench file names;
- :mod:`.devices`: serial devices and the power supply, with their simulations;
- :mod:`.diagnostics`: the UDS and OBD-II testers of a bench's DUT (``open_uds``).
"""

from harness.bench.assembly import Bench, Channels, lookup

__all__ = ["Bench", "Channels", "lookup"]
