"""Bench: opens everything a bench file names, closes it all, also after a failure halfway."""

from __future__ import annotations

from pathlib import Path

import pytest
from can.interfaces import virtual

from harness.bench import Bench
from harness.config import load_bench
from harness.exceptions import BusError, ConfigError, ResourceError

MINI = Path(__file__).resolve().parent / "data" / "mini.dbc"


def bench_file(tmp_path: Path, channels: dict[str, str], extra: str = "") -> Path:
    text = "".join(
        f'[can.{name}]\ninterface = "{interface}"\nchannel = "{tmp_path.name}-{name}"\n'
        f'dbc = "{MINI}"\n{extra}\n'
        for name, interface in channels.items()
    )
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


def test_a_bench_opens_its_channels_and_shares_databases(tmp_path: Path) -> None:
    with Bench.open(bench_file(tmp_path, {"body": "virtual", "chassis": "virtual"})) as bench:
        assert list(bench.can) == ["body", "chassis"]
        assert bench.can.body is bench.can["body"]
        assert bench.can.body.db is bench.can.chassis.db
        assert len(bench.databases) == 1
        bench.can.body.send("Req", Unlock=1)
    assert f"{tmp_path.name}-body" not in virtual.channels


def test_an_unknown_channel_name_suggests_the_right_one(tmp_path: Path) -> None:
    with Bench.open(bench_file(tmp_path, {"body": "virtual"})) as bench:
        with pytest.raises(
            ResourceError,
            match="has no CAN channel 'bdy' \\(did you mean 'body'\\?\\); it has: body",
        ):
            bench.can["bdy"]
        with pytest.raises(ResourceError):
            _ = bench.can.chassis


def test_a_failure_halfway_closes_what_was_opened(tmp_path: Path) -> None:
    path = bench_file(tmp_path, {"body": "virtual", "broken": "no-such-interface"})
    with pytest.raises(BusError, match="'broken'"):
        Bench.open(path)
    assert f"{tmp_path.name}-body" not in virtual.channels


def test_a_dut_node_missing_from_the_database_names_the_key(tmp_path: Path) -> None:
    path = bench_file(tmp_path, {"body": "virtual"}, extra='dut_node = "Ecuu"')
    with pytest.raises(
        ConfigError,
        match=r"can\.body\.dut_node: 'Ecuu' is not a node of mini\.dbc \(did you mean 'Ecu'\?\)",
    ):
        Bench.open(path)
    assert f"{tmp_path.name}-body" not in virtual.channels


def test_a_bench_opens_from_a_loaded_config_with_overrides(tmp_path: Path) -> None:
    config = load_bench(bench_file(tmp_path, {"body": "virtual"}), ["can.body.channel=elsewhere"])
    with Bench.open(config) as bench:
        assert bench.can.body.bus.channel_info == "Virtual bus channel elsewhere"


DOOR = Path(__file__).resolve().parent / "data" / "ecus" / "door.toml"


def test_an_ecu_on_several_channels_gets_a_bus_on_each(tmp_path: Path) -> None:
    path = bench_file(tmp_path, {"body": "virtual", "chassis": "virtual"})
    path.write_text(
        path.read_text()
        + f'[simulation.ecus.door]\nfile = "{DOOR}"\nchannel = "chassis"\n'
        + 'channels = ["body", "chassis"]\n'
    )
    with Bench.open(path) as bench:
        channels = bench.sim_channels["door"]
        assert list(channels) == ["body", "chassis"]
        assert channels["chassis"] is bench.sim("door").channel  # its own messages go here
        assert channels["body"].name == "sim:door:body"
        bench.can.chassis.wait_for("Status", timeout=5)  # sent on its own channel
        for name, channel in channels.items():
            since = channel.mark()
            bench.can[name].send("Req", Unlock=1)
            channel.wait_for("Req", since=since, timeout=5)  # it hears both
    assert f"{tmp_path.name}-chassis" not in virtual.channels


def test_the_gateway_profile_of_a_bench_is_checked_on_opening(tmp_path: Path) -> None:
    profile = tmp_path / "gw.toml"
    profile.write_text(
        '[[routes]]\nmessage = "Status"\nfrom = "body"\nto = "chasis"\nmax_latency_ms = 5\n'
    )
    path = bench_file(tmp_path, {"body": "virtual", "chassis": "virtual"})
    path.write_text(path.read_text() + f'[gateway]\nprofile = "{profile}"\n')
    with pytest.raises(ConfigError, match=r"routes\[0\]\.to: .*did you mean 'chassis'"):
        Bench.open(path)
    assert f"{tmp_path.name}-body" not in virtual.channels
