"""The residual network: set by message name, returns once the values are on the bus, resets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.canbus.channel import Channel
from harness.exceptions import ExpectationError, UnknownNameError
from harness.sim.residual_bus import ResidualBus

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    path = tmp_path / "bench.toml"
    path.write_text(
        f'[can.body]\ninterface = "virtual"\nchannel = "{tmp_path.name}"\n'
        f'dbc = "{DATA / "mini.dbc"}"\n'
        f'[simulation.ecus.door]\nfile = "{DATA / "ecus" / "door.toml"}"\n'
    )
    with Bench.open(path) as opened:
        yield opened


@pytest.fixture
def network(bench: Bench) -> ResidualBus:
    return ResidualBus(bench.sims, {"door": bench.can.body})


def test_set_returns_once_the_harness_has_seen_the_new_values(
    bench: Bench, network: ResidualBus
) -> None:
    since = bench.can.body.mark()
    network.set("Status", Speed=42.42)
    seen = bench.can.body.frames("Status", where={"Speed": 42.42}, since=since)
    assert seen, "the frame with the new value was already received when set() returned"


def test_set_without_wait_returns_at_once(bench: Bench, network: ResidualBus) -> None:
    network.set("Status", Speed=7, wait=False)
    bench.can.body.wait_for("Status", where={"Speed": 7}, timeout=30)
    assert network.get("Status")["Speed"] == 7


def test_on_change_messages_go_out_at_once_and_keep_their_cycle(
    bench: Bench, network: ResidualBus
) -> None:
    sim = network.message("Status")
    sim.on_change = True
    sim.start(period=5.0)  # so slow that a frame within 2 s can only be the on-change one
    body = bench.can.body
    since = body.mark()
    network.set("Status", Locked="UNLOCKED", wait=False)
    body.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=2)
    sim.start(period=sim.base_period)
    body.cycle_time("Status", samples=5, expected=sim.base_period).check(tolerance=0.5)


def test_unknown_messages_are_named(network: ResidualBus) -> None:
    with pytest.raises(
        UnknownNameError, match="no simulated ECU \\(door\\) sends 'Stat' \\(did you mean 'Status'"
    ):
        network.set("Stat", Speed=1)


def test_reset_restores_values_and_clears_faults(bench: Bench, network: ResidualBus) -> None:
    network.set("Status", Speed=12)
    network.inject("Status", "timeout")
    network.reset()
    assert network.message("Status").fault is None
    assert network.get("Status") == {"Locked": "LOCKED"}  # the ECU file's initial values
    bench.can.body.wait_for("Status", where={"Speed": 0}, timeout=30)


def test_waiting_for_a_sent_frame(tester: Channel, ecu: Channel) -> None:
    since = tester.mark()
    tester.send("Req", Unlock=1)
    assert tester.wait_for("Req", since=since, sent=True, timeout=0).is_rx is False
    with pytest.raises(ExpectationError):
        tester.wait_for("Req", since=since, timeout=0)


def test_reset_keeps_the_seeded_faults_that_are_switched_on(
    bench: Bench, network: ResidualBus
) -> None:
    door = bench.sim("door")
    door.fault_on("status_counter_freezes")
    network.inject("Status", "timeout")
    network.reset()
    assert door.residual is not None
    fault = door.residual.message("Status").fault
    assert fault is not None
    assert fault.kind == "counter_freeze", "a test's teardown switched a seeded fault off"


def test_reset_keeps_the_clock_of_a_delayed_seeded_fault(
    bench: Bench, network: ResidualBus
) -> None:
    body = bench.can.body
    bench.sim("door").fault_on("status_stops_later")  # 0.2 s after switch-on
    assert body.collect("Status", duration=0.3), "Status was sent until the fault took effect"
    network.reset()
    body.expect_never("Status", for_=0.2)  # stopped again at once, not 0.2 s later
