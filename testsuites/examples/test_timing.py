"""What the BCM sends: cycle times per the DBC, frame lengths, counters."""

from __future__ import annotations

import pytest

from harness.canbus.channel import Channel

pytestmark = pytest.mark.requires("can:body")


@pytest.mark.requirement("DEMO-BCM-020", clause="DBC GenMsgCycleTime, +-10 %")
@pytest.mark.parametrize("message", ["BCM_DoorStatus", "BCM_Lights"])
def test_cycle_time_matches_the_dbc(body: Channel, message: str) -> None:
    body.cycle_time(message, samples=10).check(tolerance=0.10)


@pytest.mark.requirement("DEMO-BCM-021", clause="DBC message length")
@pytest.mark.parametrize("message", ["BCM_DoorStatus", "BCM_Lights"])
def test_frames_have_the_dbc_length(body: Channel, message: str) -> None:
    expected = body.db.message(message).length if body.db else 8
    frame = body.wait_for(message, timeout=0.5)
    assert frame.dlc == expected, f"{message} has {frame.dlc} bytes, the DBC says {expected}"


@pytest.mark.requirement("DEMO-BCM-022", clause="demo BCM spec 5.1: BCM_Counter rolls 0..15")
def test_door_status_counter_increments(body: Channel) -> None:
    body.check_protection("BCM_DoorStatus", samples=10)
