"""Simulated ECUs: rules react with their delay, guards hold, seeded faults break what they say."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.canbus.channel import Channel
from harness.canbus.protection import check_frames
from harness.exceptions import ConfigError, ExpectationError, ResourceError, UnknownNameError
from harness.sim.ecu import SimulatedEcu, load_ecu

DATA = Path(__file__).resolve().parents[1] / "data"
DOOR = DATA / "ecus" / "door.toml"


@pytest.fixture
def door(ecu: Channel) -> Iterator[SimulatedEcu]:
    sim = SimulatedEcu(load_ecu(DOOR), ecu)
    sim.power_on()
    yield sim
    sim.close()


def request_unlock(tester: Channel, speed: float = 0.0) -> float:
    """Drive at ``speed``, ask to unlock; returns when the request went out."""
    tester.send("Wheel", WheelSpeed=speed)
    return tester.send("Req", Unlock=1).timestamp


def test_the_unlock_rule_fires_after_its_delay(tester: Channel, door: SimulatedEcu) -> None:
    tester.wait_for("Status", where={"Locked": "LOCKED"}, timeout=30)
    since = tester.mark()
    sent_at = request_unlock(tester)
    got = tester.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=30)
    assert got.timestamp - sent_at >= 0.020  # never earlier than after_ms
    assert door.rules_fired["unlock"] == 1


def test_the_speed_guard_blocks_unlocking_while_moving(tester: Channel, door: SimulatedEcu) -> None:
    since = tester.mark()
    request_unlock(tester, speed=30)
    tester.expect_never("Status", where={"Locked": "UNLOCKED"}, for_=0.2, since=since)
    assert door.rules_fired["unlock"] == 0


def test_a_rule_without_delay_acts_on_the_next_frame(tester: Channel, door: SimulatedEcu) -> None:
    request_unlock(tester)
    tester.wait_for("Status", where={"Locked": "UNLOCKED"}, timeout=30)
    tester.send("Req", Unlock=0)
    tester.wait_for("Status", where={"Locked": "LOCKED"}, timeout=30)


def test_an_edge_rule_fires_once_per_rising_edge(tester: Channel, door: SimulatedEcu) -> None:
    since = tester.mark()
    for level in (150, 160, 50, 150):
        tester.send("Req", Unlock=0, Level=level)
    tester.send("Req", Unlock=1)  # anything after: all Req frames above have been handled
    tester.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=30)
    assert door.rules_fired["level"] == 2
    assert [f["Mode"] for f in tester.frames("Beacon", since=since)] == [3]  # sent on change only


def test_fault_unlock_ignores_speed_unlocks_while_moving(
    tester: Channel, door: SimulatedEcu
) -> None:
    door.fault_on("unlock_ignores_speed")
    since = tester.mark()
    request_unlock(tester, speed=30)
    tester.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=30)
    door.fault_off("unlock_ignores_speed")
    assert door.active_faults == set()


def test_fault_never_unlocks_disables_the_rule(tester: Channel, door: SimulatedEcu) -> None:
    door.fault_on("never_unlocks")
    since = tester.mark()
    request_unlock(tester)
    with pytest.raises(ExpectationError):
        tester.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=0.2)


def test_fault_slow_unlock_adds_its_delay(tester: Channel, door: SimulatedEcu) -> None:
    door.fault_on("slow_unlock")
    since = tester.mark()
    sent_at = request_unlock(tester)
    got = tester.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=30)
    assert got.timestamp - sent_at >= 0.320


def test_fault_counter_freezes_shows_in_the_counter_check(
    tester: Channel, door: SimulatedEcu
) -> None:
    door.fault_on("status_counter_freezes")
    tester.send_raw(0x7FF)  # frames built before the switch are behind us once this comes back
    assert door.residual is not None
    sim = door.residual.message("Status")
    frames = list(tester.cycle_time("Status", samples=6).frames[1:])
    assert any(
        "counter repeated" in p for p in check_frames(frames, sim.definition, sim.protection)
    )


def test_fault_status_stops_later_takes_effect_after_its_delay(
    tester: Channel, door: SimulatedEcu
) -> None:
    since = tester.mark()
    door.fault_on("status_stops_later")
    before = tester.collect("Status", duration=0.4, since=since)
    assert before, "Status was sent until the fault took effect"
    tester.expect_never("Status", for_=0.1)


def test_power_off_silences_the_ecu_and_power_on_restarts_it(
    tester: Channel, door: SimulatedEcu
) -> None:
    started: list[str] = []

    class Service:
        def start(self) -> None:
            started.append("start")

        def stop(self) -> None:
            started.append("stop")

    door.attach(Service())
    door.power_off()
    assert not door.powered
    barrier = tester.mark()
    door.channel.send_raw(0x7FF)  # the bus is FIFO: frames sent before power-off arrive first
    tester.wait_for(0x7FF, since=barrier, timeout=30)
    since = tester.mark()
    request_unlock(tester)
    tester.expect_never("Status", for_=0.1, since=since)
    door.power_on()
    tester.wait_for("Status", where={"Locked": "LOCKED"}, timeout=30)
    assert started == ["start", "stop", "start"]


def test_unknown_faults_are_named_with_suggestions(door: SimulatedEcu) -> None:
    with pytest.raises(
        UnknownNameError, match="no fault 'never_unlock' \\(did you mean 'never_unlocks'"
    ):
        door.fault_on("never_unlock")


HEAD = '[ecu]\nnode = "Ecu"\ndbc = "../mini.dbc"\n'
RULE = HEAD + '[[rules]]\nid = "r"\nset = { message = "Status", Locked = 1 }\n'
FAULT = HEAD + '[faults.f]\ndescription = "x"\n'
BROKEN = [
    ('[ecu]\nnode = "Ecu"\n', "ecu.dbc", "missing"),
    (HEAD.replace('"Ecu"', '"Ecuu"'), "ecu.node", "no node 'Ecuu' (did you mean 'Ecu'?)"),
    (HEAD + "[messages.Req]\n", "messages.Req", "does not send 'Req'"),
    (
        HEAD + "[messages.Status]\nperiod = 5\n",
        "messages.Status.period",
        "did you mean 'period_ms'",
    ),
    (HEAD + "[messages.Status.initial]\nSpeed = 999\n", "messages.Status.initial", "Speed"),
    (RULE + 'when = { message = "Req", signal = "Unlok", equals = 1 }', "rules[0].when", "'Unlok'"),
    (
        RULE + 'when = { message = "Req", signal = "Unlock", equals = 1, above = 2 }',
        "rules[0].when",
        "exactly one of",
    ),
    (
        RULE.replace('"Status", Locked', '"Req", Unlock')
        + 'when = { message = "Req", signal = "Unlock", '
        "equals = 1 }",
        "rules[0].set.message",
        "does not send 'Req'",
    ),
    (
        RULE + 'when = { message = "Status", signal = "Locked", equals = "OPEN" }',
        "rules[0].when",
        "no value 'OPEN'",
    ),
    (FAULT + 'disable_rules = ["nope"]\n', "faults.f.disable_rules", "no rule 'nope'"),
    (HEAD + "[faults.f]\ndisable_rules = []\n", "faults.f.description", "missing"),
    (
        FAULT + 'message_faults = [{ message = "Status", kind = "freeze" }]\n',
        "faults.f.message_faults[0].kind",
        "unknown fault kind",
    ),
    (HEAD.replace("[ecu]\n", "[ecu]\nrules = 3\n"), "ecu.rules", "unknown key"),
]


@pytest.mark.parametrize(("text", "key", "problem"), BROKEN, ids=[b[1] for b in BROKEN])
def test_malformed_ecu_files_name_the_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    folder = tmp_path / "ecus"
    folder.mkdir()
    (tmp_path / "mini.dbc").write_text((DATA / "mini.dbc").read_text())
    path = folder / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as failure:
        load_ecu(path)
    assert failure.value.key == key
    assert problem in str(failure.value)
    assert str(failure.value).startswith(str(path))


def bench_with_sim(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(
        f'[can.body]\ninterface = "virtual"\nchannel = "{tmp_path.name}"\n'
        f'dbc = "{DATA / "mini.dbc"}"\n'
        f'[simulation.ecus.door]\nfile = "{DOOR}"\n{extra}'
    )
    return path


def test_a_bench_brings_up_its_simulated_ecus(tmp_path: Path) -> None:
    with Bench.open(bench_with_sim(tmp_path, 'faults = ["unlock_ignores_speed"]\n')) as bench:
        door = bench.sim("door")
        assert door.powered
        assert door.active_faults == {"unlock_ignores_speed"}
        body = bench.can.body
        since = body.mark()
        request_unlock(body, speed=50)
        got = body.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=30)
        assert got.is_rx
        with pytest.raises(ResourceError, match="no simulated ECU 'dor' \\(did you mean 'door'"):
            bench.sim("dor")
    assert not door.powered


def test_a_bench_naming_an_unknown_fault_fails_and_leaves_nothing_open(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="simulation.ecus.door.faults: door.toml has no fault 'slow'"
    ):
        Bench.open(bench_with_sim(tmp_path, 'faults = ["slow"]\n'))


def test_a_bench_file_overrides_cycle_times(tmp_path: Path) -> None:
    path = bench_with_sim(tmp_path, "period_ms = { Status = 5, Telemetry = 200 }\n")
    with Bench.open(path) as bench:
        residual = bench.sim("door").residual
        assert residual is not None
        assert residual.message("Status").period == pytest.approx(0.005)
        bench.can.body.cycle_time("Status", samples=10, expected=0.005).check(tolerance=0.5)


def test_a_cycle_time_override_for_a_message_the_ecu_does_not_send_names_the_key(
    tmp_path: Path,
) -> None:
    path = bench_with_sim(tmp_path, "period_ms = { Stat = 5 }\n")
    with pytest.raises(
        ConfigError, match=r"simulation\.ecus\.door\.period_ms\.Stat: .* \(did you mean 'Status'"
    ):
        Bench.open(path)
