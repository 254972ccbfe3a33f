"""The simulated gateway: routing tables read and checked, frames routed on arrival, and
every routing fault primitive breaking what it says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase
from harness.canbus.frame import Frame
from harness.canbus.protection import checksum_problem, declared, protect
from harness.canbus.routing import load_routing
from harness.config import bench_routing, load_bench
from harness.exceptions import ConfigError, UnknownNameError
from harness.sim.ecu import load_ecu
from harness.sim.gateway import Gateway, gateway_config

ROOT = Path(__file__).resolve().parents[2]
DEMO_DBC = ROOT / "dbc" / "demo_vehicle.dbc"
SHIPPED_PROFILE = ROOT / "fixtures" / "dut" / "gateway.toml"
SHIPPED_ECU = ROOT / "fixtures" / "ecus" / "gateway.toml"

TABLE = """
[[routes]]
message = "ECM_EngineData"
from = "body"
to = "chassis"
max_latency_ms = 10

[[routes]]
message = "TCU_Telemetry"
from = "body"
to = "chassis"
max_latency_ms = 20

[[routes]]
message = "BCM_Request"
from = "chassis"
to = "body"
max_latency_ms = 10

[[blocked]]
message = "BCM_Lights"
from = "body"
to = "chassis"

[snapshot]
message = "GW_VehicleSnapshot"
from = "body"
to = "chassis"
[snapshot.signals]
SnapshotEngineSpeed = "ECM_EngineData.EngineSpeed"
SnapshotOdometer = "TCU_Telemetry.OdometerKm"
"""

FAULTS = """
[faults.drop]
description = "drops engine data"
routing = [{ kind = "drop", message = "ECM_EngineData" }]

[faults.slow]
description = "engine data 60 ms late"
routing = [{ kind = "delay", message = "ECM_EngineData", delay_ms = 60 }]

[faults.hot]
description = "coolant 2 degC too high"
routing = [{ kind = "corrupt_signal", message = "ECM_EngineData", signal = "CoolantTemp", add = 2 }]

[faults.flip]
description = "byte 2 of every routed frame from body flipped"
routing = [{ kind = "corrupt_byte", from = "body", byte = 2, mask = 0xFF }]

[faults.wrong_id]
description = "telemetry on another ID"
routing = [{ kind = "wrong_id", message = "TCU_Telemetry", id = 0x18FF1022 }]

[faults.leak]
description = "everything from body reaches chassis"
routing = [{ kind = "forward_unrouted", from = "body", to = "chassis" }]

[faults.frozen]
description = "snapshot frozen"
routing = [{ kind = "freeze_snapshot" }]
"""


INLINE = {
    "[[routes]]": "[[gateway.routes]]",
    "[[blocked]]": "[[gateway.blocked]]",
    "[snapshot]": "[gateway.snapshot]",
    "[snapshot.signals]": "[gateway.snapshot.signals]",
}


def inline(table: str) -> str:
    """A routing table as the ``[gateway]`` section of an ECU file holds it."""
    return "\n".join(INLINE.get(line, line) for line in table.splitlines())


def ecu_file(tmp_path: Path, gateway: str = "", faults: str = FAULTS) -> Path:
    """A gateway ECU file; ``gateway`` is what follows ``[gateway]`` (default: TABLE inline)."""
    gateway = gateway or inline(TABLE)
    path = tmp_path / "gw.toml"
    path.write_text(
        f'[ecu]\nnode = "GW"\ndbc = "{DEMO_DBC}"\n'
        "[messages.GW_VehicleSnapshot]\nperiod_ms = 20\n"
        f"[gateway]\n{gateway}\n{faults}"
    )
    return path


def profile_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text)
    return path


def can_channels(tmp_path: Path, *names: str) -> str:
    """Bench ``[can.NAME]`` sections: virtual buses of this test, with the demo DBC."""
    return "".join(
        f'[can.{name}]\ninterface = "virtual"\nchannel = "{tmp_path.name}-{name}"\n'
        f'dbc = "{DEMO_DBC}"\n'
        for name in names
    )


def bench_file(tmp_path: Path, ecu: Path, extra: str = "") -> Path:
    channels = can_channels(tmp_path, "body", "chassis")
    path = tmp_path / "bench.toml"
    path.write_text(
        f'{channels}[simulation.ecus.gw]\nfile = "{ecu}"\nchannel = "chassis"\n'
        f'channels = ["body", "chassis"]\n{extra}'
    )
    return path


@pytest.fixture(scope="module")
def demo_db() -> SignalDatabase:
    return SignalDatabase.load(DEMO_DBC)


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    with Bench.open(bench_file(tmp_path, ecu_file(tmp_path))) as opened:
        yield opened


def engine(body: Channel, coolant: float = 90, counter: int = 3) -> Frame:
    """An ECM_EngineData frame with a valid J1850 checksum, sent on ``body``."""
    db = body.db
    assert db is not None
    definition = db.message("ECM_EngineData")
    data = bytearray(
        db.encode("ECM_EngineData", {"CoolantTemp": coolant, "ECM_Counter": counter})[1]
    )
    protect(data, definition, declared(definition), counter)
    return body.send_raw(definition.frame_id, bytes(data))


# -- routing tables ----------------------------------------------------------------------


def test_the_shipped_profile_reads_with_routes_blocked_and_snapshot(
    demo_db: SignalDatabase,
) -> None:
    routing = load_routing(SHIPPED_PROFILE, demo_db)
    assert routing.name == "Demo central gateway (GW-DEMO)"
    assert str(routing.routes[0]) == "ABS_WheelSpeeds:body->chassis"
    telemetry = next(r for r in routing.routes if r.message == "TCU_Telemetry")
    assert (telemetry.arbitration_id, telemetry.is_extended_id) == (0x18FF1021, True)
    assert telemetry.max_latency == pytest.approx(0.020)
    assert {b.message for b in routing.blocked} >= {"BCM_Lights"}
    assert routing.snapshot is not None
    assert routing.snapshot.signals["SnapshotVehicleSpeed"] == ("ABS_WheelSpeeds", "VehicleSpeed")
    assert routing.channels == ["body", "chassis"]


def test_the_shipped_gateway_ecu_has_a_routing_primitive_in_each_routing_fault() -> None:
    definition = load_ecu(SHIPPED_ECU)
    setup = gateway_config(definition)
    routed = {name for name, fault in definition.faults.items() if fault.routing}
    assert set(setup.faults) == routed
    assert all(fault.description for fault in definition.faults.values())


ROUTE = '[[routes]]\nmessage = "ECM_EngineData"\nfrom = "a"\nto = "b"\nmax_latency_ms = 5\n'
FAULT = '[faults.x]\ndescription = "d"\n'


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("", "routes", "at least one [[routes]]"),
        (
            '[[routes]]\nmessage = "ECM_EngineDta"\nfrom = "a"\nto = "b"\nmax_latency_ms = 5',
            "routes[0].message",
            "did you mean 'ECM_EngineData'",
        ),
        (
            '[[routes]]\nmessage = "ECM_EngineData"\nfrom = "a"\nto = "a"\nmax_latency_ms = 5',
            "routes[0].to",
            "another channel than from",
        ),
        (
            '[[routes]]\nmessage = "ECM_EngineData"\nfrom = "a"\nto = "b"',
            "routes[0].max_latency_ms",
            "maximum latency",
        ),
        (
            '[[routes]]\nmessage = "ECM_EngineData"\nfrom = "a"\nto = "b"\nmax_latency = 5',
            "routes[0].max_latency_ms",
            "misspelled as 'max_latency'",
        ),
        (
            ROUTE
            + '[[routes]]\nmessage = "ECM_EngineData"\nfrom = "a"\nto = "b"\nmax_latency_ms = 6',
            "routes[1]",
            "given twice",
        ),
        (
            ROUTE + '[[blocked]]\nmessage = "ECM_EngineData"\nfrom = "a"\nto = "b"',
            "blocked[0]",
            "routed or blocked, not both",
        ),
        (
            ROUTE + '[snapshot]\nmessage = "GW_VehicleSnapshot"\nfrom = "a"\nto = "b"\n'
            '[snapshot.signals]\nSnapshotRpm = "ECM_EngineData.EngineSpeed"',
            "snapshot.signals.SnapshotRpm",
            "no signal 'SnapshotRpm'",
        ),
        (
            ROUTE + '[snapshot]\nmessage = "GW_VehicleSnapshot"\nfrom = "a"\nto = "b"\n'
            '[snapshot.signals]\nSnapshotEngineSpeed = "EngineSpeed"',
            "snapshot.signals.SnapshotEngineSpeed",
            '"Message.Signal"',
        ),
        (
            ROUTE + '[snapshot]\nmessage = "GW_VehicleSnapshot"\nfrom = "a"\nto = "b"\n'
            '[snapshot.signals]\nSnapshotEngineSpeed = "ECM_EngineData.EngineSped"',
            "snapshot.signals.SnapshotEngineSpeed",
            "did you mean 'EngineSpeed'",
        ),
        (
            ROUTE + '[snapshot]\nmessage = "GW_VehicleSnapshot"\nfrom = "a"\nto = "b"',
            "snapshot.signals",
            "at least one snapshot signal",
        ),
    ],
)
def test_routing_table_mistakes_name_the_file_and_key(
    tmp_path: Path, demo_db: SignalDatabase, text: str, key: str, problem: str
) -> None:
    path = profile_file(tmp_path, text)
    with pytest.raises(ConfigError) as failure:
        load_routing(path, demo_db)
    assert failure.value.key == key
    assert str(failure.value).startswith(f"{path}: {key}: ")
    assert problem in str(failure.value)


def test_per_channel_databases_check_the_channel_names(
    tmp_path: Path, demo_db: SignalDatabase
) -> None:
    path = profile_file(
        tmp_path,
        '[[routes]]\nmessage = "ECM_EngineData"\nfrom = "body"\nto = "chasis"\nmax_latency_ms = 5',
    )
    with pytest.raises(ConfigError, match=r"routes\[0\]\.to: no bench CAN channel 'chasis'") as e:
        load_routing(path, {"body": demo_db, "chassis": demo_db})
    assert "did you mean 'chassis'" in str(e.value)


def test_a_routed_message_must_be_known_on_both_channels(
    tmp_path: Path, demo_db: SignalDatabase, mini_db: SignalDatabase
) -> None:
    path = profile_file(
        tmp_path,
        '[[routes]]\nmessage = "ECM_EngineData"\nfrom = "body"\nto = "chassis"\nmax_latency_ms = 5',
    )
    with pytest.raises(ConfigError, match=r"routes\[0\]\.message: .*no message 'ECM_EngineData'"):
        load_routing(path, {"body": demo_db, "chassis": mini_db})


@pytest.mark.parametrize(
    ("faults", "key", "problem"),
    [
        (
            FAULT + 'routing = [{ kind = "dorp" }]',
            "faults.x.routing[0].kind",
            "did you mean 'drop'",
        ),
        (
            FAULT + 'routing = [{ kind = "drop", message = "ABS_WheelSpeeds" }]',
            "faults.x.routing[0].message",
            "no route of",
        ),
        (
            FAULT + 'routing = [{ kind = "drop", message = "ECM_EngineData", delay_ms = 5 }]',
            "faults.x.routing[0].delay_ms",
            "unknown key",
        ),
        (
            FAULT + 'routing = [{ kind = "delay", message = "ECM_EngineData" }]',
            "faults.x.routing[0].delay_ms",
            "extra latency",
        ),
        (
            FAULT
            + 'routing = [{ kind = "corrupt_signal", message = "ECM_EngineData", signal = "Rpm" }]',
            "faults.x.routing[0].signal",
            "no signal 'Rpm'",
        ),
        (
            FAULT + 'routing = [{ kind = "wrong_id", message = "ECM_EngineData", id = 0x800 }]',
            "faults.x.routing[0].id",
            "max 0x7FF",
        ),
        (
            FAULT + 'routing = [{ kind = "wrong_id", message = "ECM_EngineData" }]',
            "faults.x.routing[0].id",
            "missing",
        ),
        (
            FAULT + 'routing = [{ kind = "corrupt_byte", message = "ECM_EngineData", mask = 256 }]',
            "faults.x.routing[0].mask",
            "byte mask",
        ),
        (
            FAULT + 'routing = [{ kind = "forward_unrouted", from = "body" }]',
            "faults.x.routing[0].to",
            "needs from and to",
        ),
        (
            FAULT + 'routing = [{ kind = "forward_unrouted", from = "bodi", to = "chassis" }]',
            "faults.x.routing[0].from",
            "did you mean 'body'",
        ),
        (
            FAULT + 'routing = [{ kind = "freeze_snapshot", message = "ECM_EngineData" }]',
            "faults.x.routing[0].message",
            "leave message out",
        ),
    ],
)
def test_routing_fault_mistakes_name_the_ecu_file_and_key(
    tmp_path: Path, faults: str, key: str, problem: str
) -> None:
    path = ecu_file(tmp_path, faults=faults)
    with pytest.raises(ConfigError) as failure:
        load_ecu(path)
    assert failure.value.key == key
    assert str(failure.value).startswith(f"{path}: {key}: ")
    assert problem in str(failure.value)


def test_a_gateway_section_holds_a_profile_or_routes_not_both(tmp_path: Path) -> None:
    profile = profile_file(tmp_path, TABLE)
    path = ecu_file(tmp_path, gateway=f'profile = "{profile}"\n{inline(TABLE)}', faults="")
    with pytest.raises(ConfigError, match="gateway.routes: give the routing table inline or"):
        load_ecu(path)


def test_a_gateway_reads_its_routing_table_from_its_profile(tmp_path: Path) -> None:
    profile = profile_file(tmp_path, TABLE)
    setup = gateway_config(load_ecu(ecu_file(tmp_path, gateway=f'profile = "{profile.name}"')))
    assert setup.routing.path == profile
    assert len(setup.routing.routes) == 3


def test_a_missing_profile_names_the_key(tmp_path: Path) -> None:
    path = ecu_file(tmp_path, gateway='profile = "nope.toml"', faults="")
    with pytest.raises(ConfigError, match="gateway.profile: routing table .* not found"):
        load_ecu(path)


def test_routing_faults_need_a_gateway_section(tmp_path: Path) -> None:
    path = tmp_path / "plain.toml"
    path.write_text(
        f'[ecu]\nnode = "ECM"\ndbc = "{DEMO_DBC}"\n'
        '[faults.x]\ndescription = "d"\nrouting = [{ kind = "drop" }]\n'
    )
    with pytest.raises(ConfigError, match="faults.x.routing: routing faults need a .gateway."):
        load_ecu(path)


def test_the_snapshot_must_be_a_message_of_the_gateway_node(tmp_path: Path) -> None:
    table = TABLE.replace('message = "GW_VehicleSnapshot"', 'message = "BCM_Lights"').replace(
        'SnapshotEngineSpeed = "ECM_EngineData.EngineSpeed"\n'
        'SnapshotOdometer = "TCU_Telemetry.OdometerKm"',
        'LowBeam = "ECM_EngineData.EngineRunning"',
    )
    with pytest.raises(ConfigError, match="snapshot.message: BCM_Lights is not sent by GW"):
        load_ecu(ecu_file(tmp_path, gateway=inline(table), faults=""))


# -- on a bench: routing ---------------------------------------------------------------


def test_a_routed_frame_goes_out_unchanged_on_the_target(bench: Bench) -> None:
    body, chassis = bench.can.body, bench.can.chassis
    since = chassis.mark()
    sent = engine(body)
    got = chassis.wait_for("ECM_EngineData", where=lambda f: f.data == sent.data, since=since)
    assert got.arbitration_id == sent.arbitration_id
    assert got.timestamp - sent.timestamp < 0.5  # generous: shared CI cores
    assert bench.sims["gw"].services[0].forwarded >= 1  # type: ignore[attr-defined]


def test_routes_work_in_their_direction_only(bench: Bench) -> None:
    body, chassis = bench.can.body, bench.can.chassis
    body_since, chassis_since = body.mark(), chassis.mark()
    request = chassis.send("BCM_Request", DoorLock=1)  # routed chassis -> body
    body.wait_for("BCM_Request", where=lambda f: f.data == request.data, since=body_since)
    lights = body.send("BCM_Lights", LowBeam=1)  # blocked
    unknown = body.send_raw(0x7FF, b"nope")  # in no table
    back = body.send("BCM_Request", DoorUnlock=1)  # routed the other way only
    chassis.expect_never(
        None,
        where=lambda f: f.data in (lights.data, unknown.data, back.data),
        since=chassis_since,
        for_=0.2,
    )


def test_an_extended_id_is_routed_as_extended(bench: Bench) -> None:
    since = bench.can.chassis.mark()
    sent = bench.can.body.send("TCU_Telemetry", OdometerKm=42.0)
    got = bench.can.chassis.wait_for("TCU_Telemetry", where={"OdometerKm": 42.0}, since=since)
    assert got.is_extended_id
    assert got.arbitration_id == sent.arbitration_id == 0x18FF1021


def test_the_snapshot_follows_its_sources(bench: Bench) -> None:
    since = bench.can.chassis.mark()
    engine(bench.can.body)  # EngineSpeed initial 0
    bench.can.body.send("TCU_Telemetry", OdometerKm=777.7)
    bench.can.chassis.wait_for(
        "GW_VehicleSnapshot", where={"SnapshotOdometer": 777.7}, since=since, timeout=5
    )


def test_a_powered_off_gateway_routes_nothing(bench: Bench) -> None:
    gateway = bench.sim("gw")
    gateway.power_off()
    since = bench.can.chassis.mark()
    sent = engine(bench.can.body)
    bench.can.chassis.expect_never(None, where=lambda f: f.data == sent.data, since=since, for_=0.2)
    gateway.power_on()
    sent = engine(bench.can.body, counter=4)
    bench.can.chassis.wait_for(None, where=lambda f: f.data == sent.data, since=since, timeout=5)


# -- on a bench: each routing fault ---------------------------------------------------------


def test_drop_forwards_nothing_of_the_route_and_can_be_switched_off(bench: Bench) -> None:
    gateway = bench.sim("gw")
    gateway.fault_on("drop")
    since = bench.can.chassis.mark()
    sent = engine(bench.can.body)
    telemetry = bench.can.body.send("TCU_Telemetry", OdometerKm=1.0)  # another route: still on
    bench.can.chassis.wait_for(None, where=lambda f: f.data == telemetry.data, since=since)
    bench.can.chassis.expect_never(None, where=lambda f: f.data == sent.data, since=since, for_=0.2)
    gateway.fault_off("drop")
    since = bench.can.chassis.mark()
    sent = engine(bench.can.body, counter=5)
    bench.can.chassis.wait_for(None, where=lambda f: f.data == sent.data, since=since, timeout=5)


def test_delay_forwards_late(bench: Bench) -> None:
    bench.sim("gw").fault_on("slow")
    since = bench.can.chassis.mark()
    sent = engine(bench.can.body)
    got = bench.can.chassis.wait_for(None, where=lambda f: f.data == sent.data, since=since)
    assert got.timestamp - sent.timestamp >= 0.060


def test_corrupt_signal_changes_the_signal_and_keeps_the_checksum_right(bench: Bench) -> None:
    bench.sim("gw").fault_on("hot")
    since = bench.can.chassis.mark()
    engine(bench.can.body, coolant=90)
    got = bench.can.chassis.wait_for("ECM_EngineData", since=since)
    assert got["CoolantTemp"] == 92
    assert got["ECM_Counter"] == 3
    definition = bench.can.chassis.db.message("ECM_EngineData")  # type: ignore[union-attr]
    assert checksum_problem(got.data, definition, declared(definition)) is None


def test_corrupt_byte_flips_bits_of_every_selected_route(bench: Bench) -> None:
    bench.sim("gw").fault_on("flip")
    since = bench.can.chassis.mark()
    sent = engine(bench.can.body)
    got = bench.can.chassis.wait_for("ECM_EngineData", since=since)
    assert got.data[2] == sent.data[2] ^ 0xFF
    assert got.data[:2] == sent.data[:2]
    definition = bench.can.chassis.db.message("ECM_EngineData")  # type: ignore[union-attr]
    assert checksum_problem(got.data, definition, declared(definition)) is not None


def test_wrong_id_sends_on_another_id(bench: Bench) -> None:
    bench.sim("gw").fault_on("wrong_id")
    since = bench.can.chassis.mark()
    sent = bench.can.body.send("TCU_Telemetry", OdometerKm=5.0)
    got = bench.can.chassis.wait_for(None, where=lambda f: f.data == sent.data, since=since)
    assert (got.arbitration_id, got.is_extended_id) == (0x18FF1022, True)


def test_forward_unrouted_leaks_what_the_table_does_not_route(bench: Bench) -> None:
    bench.sim("gw").fault_on("leak")
    since = bench.can.chassis.mark()
    sent = bench.can.body.send_raw(0x7FF, b"leak")
    bench.can.chassis.wait_for(0x7FF, where=lambda f: f.data == sent.data, since=since)
    back = bench.can.chassis.mark()
    engine(bench.can.body)  # a routed frame is still forwarded once, not twice
    bench.can.chassis.wait_for("ECM_EngineData", since=back)
    frames = bench.can.chassis.collect(0x100, duration=0.1, since=back)
    assert len(frames) == 1


def test_freeze_snapshot_stops_copying_source_values(bench: Bench) -> None:
    bench.sim("gw").fault_on("frozen")
    since = bench.can.chassis.mark()
    bench.can.body.send("TCU_Telemetry", OdometerKm=888.8)
    bench.can.chassis.expect_never(
        "GW_VehicleSnapshot", where={"SnapshotOdometer": 888.8}, since=since, for_=0.2
    )


def test_an_unknown_fault_is_refused_with_suggestions(bench: Bench) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'drop'"):
        bench.sim("gw").fault_on("dropp")


# -- on a bench: attachment ----------------------------------------------------------------


def test_the_ecu_must_join_every_channel_its_table_routes_over(tmp_path: Path) -> None:
    path = bench_file(tmp_path, ecu_file(tmp_path)).read_text()
    bench = tmp_path / "bench.toml"
    bench.write_text(path.replace('channels = ["body", "chassis"]', 'channels = ["chassis"]'))
    with pytest.raises(ConfigError) as failure:
        Bench.open(bench)
    assert failure.value.key == "simulation.ecus.gw.channels"
    assert "routes over 'body', which the ECU does not join" in str(failure.value)


def test_the_snapshot_goes_on_the_ecus_own_channel(tmp_path: Path) -> None:
    path = bench_file(tmp_path, ecu_file(tmp_path)).read_text()
    bench = tmp_path / "bench.toml"
    bench.write_text(path.replace('channel = "chassis"\nchannels', 'channel = "body"\nchannels'))
    with pytest.raises(ConfigError, match=r"simulation\.ecus\.gw\.channel: .*must be 'chassis'"):
        Bench.open(bench)


def test_a_gateway_service_refuses_channels_it_lacks(bench: Bench) -> None:
    gateway = bench.sim("gw")
    with pytest.raises(ConfigError, match="routes over 'body'"):
        Gateway(gateway, {"chassis": bench.can.chassis})


def test_the_benchs_gateway_profile_is_checked_against_its_channels(tmp_path: Path) -> None:
    profile = profile_file(tmp_path, TABLE.replace('to = "chassis"', 'to = "chasis"', 1))
    path = bench_file(tmp_path, ecu_file(tmp_path))
    path.write_text(path.read_text() + f'[gateway]\nprofile = "{profile}"\n')
    with pytest.raises(ConfigError, match="did you mean 'chassis'"):
        Bench.open(path)


def test_bench_routing_reads_the_profile_the_bench_names(tmp_path: Path) -> None:
    profile = profile_file(tmp_path, TABLE)
    path = bench_file(tmp_path, ecu_file(tmp_path))
    path.write_text(path.read_text() + f'[gateway]\nprofile = "{profile.name}"\n')
    routing = bench_routing(load_bench(path))
    assert routing is not None
    assert [r.message for r in routing.routes] == ["ECM_EngineData", "TCU_Telemetry", "BCM_Request"]


def lab_bench(tmp_path: Path, ports: str) -> Path:
    """A bench whose channels are called as on a lab PC (can0, can1, and one without a
    database), testing a gateway whose table names its ports body and chassis."""
    profile = profile_file(tmp_path, TABLE)
    channels = can_channels(tmp_path, "can0", "can1")
    path = tmp_path / "lab.toml"
    path.write_text(
        f'{channels}[can.raw]\ninterface = "virtual"\nchannel = "{tmp_path.name}-raw"\n'
        f'[gateway]\nprofile = "{profile.name}"\n{ports}'
    )
    return path


def test_gateway_ports_map_the_table_onto_the_benchs_channels(tmp_path: Path) -> None:
    path = lab_bench(tmp_path, '[gateway.ports]\nbody = "can0"\nchassis = "can1"\n')
    routing = bench_routing(load_bench(path))
    assert routing is not None
    assert [str(r) for r in routing.routes] == [
        "ECM_EngineData:can0->can1",
        "TCU_Telemetry:can0->can1",
        "BCM_Request:can1->can0",
    ]
    assert [str(b) for b in routing.blocked] == ["BCM_Lights:can0-/->can1"]
    assert routing.snapshot is not None
    assert (routing.snapshot.source, routing.snapshot.target) == ("can0", "can1")
    assert routing.channels == ["can0", "can1"]
    with Bench.open(path) as bench:  # the bench checks its gateway table when it opens
        assert sorted(bench.can) == ["can0", "can1", "raw"]


@pytest.mark.parametrize(
    ("ports", "key", "problem"),
    [
        ('body = "can9"\nchassis = "can1"', "body", "no bench CAN channel 'can9' with a dbc"),
        ('body = "raw"\nchassis = "can1"', "body", "channels with one: can0, can1"),
        ('body = "can0"\nchassis = "can0"', "chassis", "'can0' is given to two ports"),
        ('body = 0\nchassis = "can1"', "body", "expected a string"),
    ],
)
def test_gateway_port_mistakes_name_the_bench_key(
    tmp_path: Path, ports: str, key: str, problem: str
) -> None:
    path = lab_bench(tmp_path, f"[gateway.ports]\n{ports}\n")
    with pytest.raises(ConfigError) as failure:
        load_bench(path)
    assert (failure.value.source, failure.value.key) == (str(path), f"gateway.ports.{key}")
    assert problem in failure.value.problem


def test_a_port_the_table_never_names_is_refused(tmp_path: Path) -> None:
    path = lab_bench(tmp_path, '[gateway.ports]\nbody = "can0"\nchasis = "can1"\n')
    with pytest.raises(ConfigError) as failure:
        bench_routing(load_bench(path))
    assert (failure.value.source, failure.value.key) == (str(path), "gateway.ports.chasis")
    assert "names no port 'chasis' (did you mean 'chassis'?)" in failure.value.problem


def test_an_unmapped_port_says_how_to_map_it(tmp_path: Path) -> None:
    path = lab_bench(tmp_path, "")
    with pytest.raises(ConfigError) as failure:
        Bench.open(path)
    assert failure.value.key == "routes[0].from"
    assert "no bench CAN channel 'body'" in failure.value.problem
    assert "[gateway] ports" in failure.value.problem
