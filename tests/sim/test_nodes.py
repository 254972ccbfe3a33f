"""Residual bus: the ECU side sends on time with valid counters and checksums, and each
fault mode shows up in the same checks a conformance test uses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.canbus.channel import Channel
from harness.canbus.frame import Frame
from harness.canbus.protection import Protection, check_frames
from harness.exceptions import ConfigError, UnknownNameError
from harness.sim.nodes import MessageSettings, SimulatedNodes

E2E = Protection(counter=None, algorithm="e2e_p01", data_id=0x42)


@pytest.fixture
def rbs(ecu: Channel) -> Iterator[SimulatedNodes]:
    with SimulatedNodes(ecu, ["Ecu"], {"Safe": MessageSettings(protection=E2E)}) as bus:
        yield bus


def barrier(sender: Channel, receiver: Channel) -> None:
    """Everything ``sender`` sent before this has reached ``receiver`` (the bus is FIFO)."""
    since = receiver.mark()
    sender.send_raw(0x7FF)
    receiver.wait_for(0x7FF, since=since, timeout=30)


def frames_after_fault(
    tester: Channel, rbs: SimulatedNodes, name: str, count: int = 6
) -> list[Frame]:
    """``count`` frames of ``name`` sent after the fault took effect (one spare frame dropped:
    its payload may have been built just before the switch)."""
    barrier(rbs.channel, tester)
    frames = tester.cycle_time(name, samples=count, since=tester.mark()).frames
    return list(frames[1:])


def problems(rbs: SimulatedNodes, frames: list[Frame]) -> list[str]:
    sim = rbs.message(frames[0].name or "")
    return check_frames(frames, sim.definition, sim.protection)


def test_it_plays_every_message_the_nodes_send(rbs: SimulatedNodes) -> None:
    assert sorted(rbs.messages) == ["Beacon", "Guarded", "Safe", "Status", "Telemetry"]
    assert rbs.message("Beacon").is_event
    assert not rbs.message("Status").is_event


def test_messages_go_out_at_their_cycle_time(tester: Channel, rbs: SimulatedNodes) -> None:
    tester.cycle_time("Guarded", samples=20).check(tolerance=0.5)
    tester.cycle_time("Status", samples=10).check(tolerance=0.5)


@pytest.mark.parametrize("name", ["Guarded", "Safe", "Status"])
def test_counters_and_checksums_verify(tester: Channel, rbs: SimulatedNodes, name: str) -> None:
    frames = list(tester.cycle_time(name, samples=20).frames)
    assert problems(rbs, frames) == []
    if name == "Guarded":
        counters = [f["Guarded_Counter"] for f in frames]
        assert len(set(counters)) > 1


def test_signals_change_while_running(tester: Channel, rbs: SimulatedNodes) -> None:
    rbs.set("Status", Locked="UNLOCKED", Speed=88.5)
    got = tester.wait_for("Status", where={"Locked": "UNLOCKED"}, timeout=30)
    assert got["Speed"] == 88.5
    assert rbs.get("Status") == {"Locked": "UNLOCKED", "Speed": 88.5}


def test_event_messages_go_out_on_change_only(tester: Channel, rbs: SimulatedNodes) -> None:
    since = tester.mark()
    rbs.set("Beacon", Mode=2)
    rbs.set("Beacon", Mode=2)  # no change: nothing sent
    barrier(rbs.channel, tester)
    beacons = tester.frames("Beacon", since=since)
    assert [f["Mode"] for f in beacons] == [2]


def test_timeout_fault_stops_the_message_until_cleared(
    tester: Channel, rbs: SimulatedNodes
) -> None:
    rbs.inject("Guarded", "timeout")
    barrier(rbs.channel, tester)
    tester.expect_never("Guarded", for_=0.1)
    rbs.clear("Guarded")
    tester.wait_for("Guarded", timeout=30)


@pytest.mark.parametrize(
    ("kind", "symptom"),
    [("counter_freeze", "counter repeated"), ("counter_skip", "counter jumped")],
)
def test_counter_faults_show_in_the_counter_check(
    tester: Channel, rbs: SimulatedNodes, kind: str, symptom: str
) -> None:
    rbs.inject("Guarded", kind)
    found = problems(rbs, frames_after_fault(tester, rbs, "Guarded"))
    assert found
    assert all(symptom in p for p in found)
    rbs.clear()
    assert problems(rbs, frames_after_fault(tester, rbs, "Guarded")) == []


@pytest.mark.parametrize("name", ["Guarded", "Safe"])
def test_bad_checksum_fault_fails_every_frame(
    tester: Channel, rbs: SimulatedNodes, name: str
) -> None:
    rbs.inject(name, "bad_checksum")
    frames = frames_after_fault(tester, rbs, name)
    found = problems(rbs, frames)
    assert len([p for p in found if "CRC" in p or "Crc" in p]) == len(frames)


def test_cycle_factor_fault_slows_the_message(tester: Channel, rbs: SimulatedNodes) -> None:
    rbs.inject("Guarded", "cycle_factor", factor=3)
    barrier(rbs.channel, tester)
    measured = tester.cycle_time("Guarded", samples=10, since=tester.mark())
    assert measured.expected == pytest.approx(0.010)
    with pytest.raises(AssertionError, match="mean interval of Guarded"):
        measured.check(tolerance=0.5)
    tester.cycle_time("Guarded", samples=10, expected=0.030).check(tolerance=0.5)


def test_wrong_dlc_fault_cuts_the_payload(tester: Channel, rbs: SimulatedNodes) -> None:
    rbs.inject("Guarded", "wrong_dlc", length=5)
    frame = frames_after_fault(tester, rbs, "Guarded", count=2)[-1]
    assert frame.dlc == 5
    assert frame.decode_error


def test_a_burst_sends_extra_frames_at_once(tester: Channel, rbs: SimulatedNodes) -> None:
    since = tester.mark()
    rbs.inject("Telemetry", "burst", count=25)
    barrier(rbs.channel, tester)
    assert len(tester.frames("Telemetry", since=since)) >= 25
    assert rbs.message("Telemetry").fault is None


def test_settings_override_period_values_and_start(tester: Channel, ecu: Channel) -> None:
    settings = {
        "Status": MessageSettings(period=0.005, values={"Locked": "UNLOCKED"}),
        "Telemetry": MessageSettings(enabled=False),
    }
    with SimulatedNodes(ecu, ["Ecu"], settings) as rbs:
        measured = tester.cycle_time("Status", samples=10, expected=0.005)
        assert all(str(f["Locked"]) == "UNLOCKED" for f in measured.frames)
        barrier(ecu, tester)
        tester.expect_never("Telemetry", for_=0.1)
        rbs.start("Telemetry")
        tester.wait_for("Telemetry", timeout=30)
        rbs.stop()
        barrier(ecu, tester)
        tester.expect_never(for_=0.05, where=lambda f: f.name in rbs.messages)


@pytest.mark.parametrize(
    ("call", "error", "text"),
    [
        (
            lambda ch: SimulatedNodes(ch, ["Ecuu"]),
            UnknownNameError,
            "no node 'Ecuu' (did you mean 'Ecu'?)",
        ),
        (
            lambda ch: SimulatedNodes(ch, ["Ecu"], {"Stauts": MessageSettings()}),
            UnknownNameError,
            "'Stauts'",
        ),
        (
            lambda ch: SimulatedNodes(
                ch, ["Ecu"], {"Guarded": MessageSettings(protection=Protection(algorithm="xor"))}
            ),
            ConfigError,
            "messages.Guarded.checksum: xor needs a signal",
        ),
    ],
)
def test_configuration_mistakes_are_named(ecu: Channel, call, error, text) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error) as failure:
        call(ecu)
    assert text in str(failure.value)
    assert ecu.periodic == ()  # nothing left running after a failed start


def test_runtime_mistakes_are_named(rbs: SimulatedNodes) -> None:
    with pytest.raises(UnknownNameError, match="does not send 'Req'"):
        rbs.set("Req", Unlock=1)
    with pytest.raises(
        UnknownNameError, match="no fault kind 'timout' \\(did you mean 'timeout'\\?\\)"
    ):
        rbs.inject("Status", "timout")
