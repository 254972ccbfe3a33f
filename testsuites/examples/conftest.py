"""Example suite: the body controller (BCM) on the demo vehicle network.

Runs on any bench whose CAN channel "body" carries dbc/demo_vehicle.dbc with
the BCM as DUT: the virtual bench (simulated BCM) or a real one.
"""

from __future__ import annotations

import pytest

from harness.bench import Channels
from harness.canbus.channel import Channel


@pytest.fixture
def body(can: Channels) -> Channel:
    """The body CAN channel, where the BCM talks."""
    return can.body
