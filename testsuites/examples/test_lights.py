"""Exterior lights follow the requests."""

from __future__ import annotations

import pytest

from harness.canbus.channel import Channel
from harness.canbus.expect import Step

pytestmark = pytest.mark.requires("can:body")


@pytest.mark.requirement("DEMO-BCM-010", clause="demo BCM spec 4.1: headlights follow requests")
@pytest.mark.parametrize(
    ("request_", "lights"),
    [
        ("LOW_BEAM", {"LowBeam": 1, "HighBeam": 0}),
        ("HIGH_BEAM", {"LowBeam": 1, "HighBeam": 1}),
        ("OFF", {"LowBeam": 0, "HighBeam": 0}),
    ],
)
def test_headlights_follow_the_request(
    body: Channel, request_: str, lights: dict[str, int]
) -> None:
    since = body.mark()
    body.send("BCM_Request", LightsRequest=request_)
    body.wait_for("BCM_Lights", where=lights, since=since, timeout=0.5)


@pytest.mark.requirement("DEMO-BCM-011", clause="demo BCM spec 4.2: hazard lights")
def test_hazard_lights_switch_on_then_off(body: Channel) -> None:
    since = body.mark()
    body.send("BCM_Request", HazardRequest=1)
    body.wait_for("BCM_Lights", where={"HazardLights": 1}, since=since, timeout=0.5)
    body.send("BCM_Request", HazardRequest=0)
    body.expect_sequence(
        Step("BCM_Lights", {"HazardLights": 1, "TurnIndicator": "BOTH"}),
        Step("BCM_Lights", {"HazardLights": 0, "TurnIndicator": "OFF"}, within=0.3),
        since=since,
        timeout=1.0,
    )
