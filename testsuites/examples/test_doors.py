"""Door locking: the BCM unlocks only at standstill, locks on request and when driving off."""

from __future__ import annotations

import pytest

from harness.canbus.channel import Channel
from harness.sim.residual_bus import ResidualBus

pytestmark = pytest.mark.requires("can:body")

UNLOCKED = {"DriverDoorLocked": "UNLOCKED", "PassengerDoorLocked": "UNLOCKED"}
LOCKED = {"DriverDoorLocked": "LOCKED", "PassengerDoorLocked": "LOCKED"}


def lock_doors(body: Channel) -> None:
    since = body.mark()
    body.send("BCM_Request", DoorLock=1)
    body.wait_for("BCM_DoorStatus", where=LOCKED, since=since, timeout=0.5)


@pytest.mark.requirement("DEMO-BCM-001", clause="demo BCM spec 3.1: unlock at standstill, 100 ms")
def test_doors_unlock_at_standstill_within_100ms(body: Channel, residual_bus: ResidualBus) -> None:
    residual_bus.set("ABS_WheelSpeeds", VehicleSpeed=0)
    lock_doors(body)
    reaction = body.reaction_time(
        "BCM_Request", {"DoorUnlock": 1}, "BCM_DoorStatus", UNLOCKED, timeout=0.5
    )
    assert reaction.seconds < 0.1, f"unlocked after {reaction.seconds * 1000:.0f} ms"


@pytest.mark.requirement("DEMO-BCM-002", clause="demo BCM spec 3.2: no unlock while driving")
def test_doors_stay_locked_while_driving(body: Channel, residual_bus: ResidualBus) -> None:
    residual_bus.set("ABS_WheelSpeeds", VehicleSpeed=30)
    lock_doors(body)
    since = body.mark()
    body.send("BCM_Request", DoorUnlock=1)
    body.expect_never(
        "BCM_DoorStatus", where={"DriverDoorLocked": "UNLOCKED"}, since=since, for_=0.3
    )


@pytest.mark.requirement("DEMO-BCM-003", clause="demo BCM spec 3.3: lock above 15 km/h")
def test_doors_lock_when_driving_off(body: Channel, residual_bus: ResidualBus) -> None:
    residual_bus.set("ABS_WheelSpeeds", VehicleSpeed=0)
    body.send("BCM_Request", DoorUnlock=1)
    body.wait_for("BCM_DoorStatus", where=UNLOCKED, timeout=0.5)
    since = body.mark()
    residual_bus.set("ABS_WheelSpeeds", VehicleSpeed=20)
    body.wait_for("BCM_DoorStatus", where=LOCKED, since=since, timeout=0.5)
