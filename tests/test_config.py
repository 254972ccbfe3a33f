"""Bench files: what loads, and that every mistake names file, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import (
    BENCH_ENV,
    OVERRIDES_ENV,
    load_bench,
    overrides_from_env,
    resolve_bench_path,
)
from harness.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini.dbc"

GOOD = f"""
[bench]
name = "b1"
description = "a bench"

[dut]
name = "Door ECU"
part_number = "P-1"
[dut.identity]
serial = "S-9"

[can.body]
interface = "virtual"
channel = "x"
bitrate = 500000
dbc = "{MINI}"
dut_node = "Ecu"

[can.chassis]
interface = "virtual"
channel = "y"
fd = true
data_bitrate = 2000000
[can.chassis.options]
receive_own_messages = false

[serial.console]
kind = "console"
url = "loop://"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


def test_a_complete_bench_file_loads(tmp_path: Path) -> None:
    bench = load_bench(write(tmp_path, GOOD))
    assert bench.name == "b1"
    assert bench.dut.part_number == "P-1"
    assert bench.dut.identity == {"serial": "S-9"}
    body, chassis = bench.can["body"], bench.can["chassis"]
    assert (body.interface, body.channel, body.bitrate, body.dut_node) == (
        "virtual",
        "x",
        500000,
        "Ecu",
    )
    assert body.dbc == MINI
    assert chassis.fd
    assert chassis.data_bitrate == 2_000_000
    assert chassis.options == {"receive_own_messages": False}
    assert bench.has("can", "body")
    assert not bench.has("can", "gateway")
    assert bench.has("serial", "console")
    assert not bench.has("power")


def test_the_shipped_benches_load() -> None:
    for path in (ROOT / "fixtures" / "benches").glob("*.toml"):
        assert load_bench(path).can, path


def test_the_dbc_path_is_relative_to_the_bench_file(tmp_path: Path) -> None:
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "m.dbc").write_text(MINI.read_text())
    bench = load_bench(
        write(tmp_path, '[can.a]\ninterface="virtual"\nchannel="a"\ndbc="nets/m.dbc"\n')
    )
    assert bench.can["a"].dbc == tmp_path / "nets" / "m.dbc"
    assert bench.name == "bench"  # defaults to the file's stem


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[cann.body]\ninterface = "virtual"', "cann", "unknown key (did you mean 'can'?)"),
        (
            '[can.body]\ninterface = "virtual"\nchannel = "x"\nbitrat = 5',
            "can.body.bitrat",
            "unknown key (did you mean 'bitrate'",
        ),
        (
            '[can.body]\ninterface = "virtual"\nchannel = "x"\nbitrate = "500k"',
            "can.body.bitrate",
            "expected an integer, got str '500k'",
        ),
        (
            '[can.body]\ninterface = "virtual"\nchannel = "x"\nbitrate = true',
            "can.body.bitrate",
            "expected an integer, got True",
        ),
        (
            '[can.body]\ninterface = "virtual"\nchannel = "x"\nbitrate = 0',
            "can.body.bitrate",
            "expected an integer >= 1, got 0",
        ),
        ('[can.body]\nchannel = "x"', "can.body.interface", "missing (expected a string)"),
        ('[can.body]\ninterface = ""\nchannel = "x"', "can.body.interface", "must not be empty"),
        (
            '[can.body]\ninterface = "virtual"\nchannel = "x"\nfd = "yes"',
            "can.body.fd",
            "expected true or false",
        ),
        (
            '[can.body]\ninterface = "virtual"\nchannel = "x"\ndbc = "nope.dbc"',
            "can.body.dbc",
            "database file not found",
        ),
        (
            '[can.body]\ninterface = "virtual"\nchannel = "x"\ndata_bitrate = 2000000',
            "can.body.data_bitrate",
            "only for CAN FD channels",
        ),
        (
            '[can.body]\ninterface = "virtual"\nchannel = "x"\ndut_node = "BCM"',
            "can.body.dut_node",
            "needs a database",
        ),
        ("[can]\nbody = 3", "can.body", "expected a table, got int 3"),
        ('[dut]\nname = "x"\npart_no = "1"', "dut.part_no", "did you mean 'part_number'?"),
        ('bench = "x"', "bench", "expected a table"),
    ],
)
def test_mistakes_name_the_file_the_key_and_what_was_expected(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as failure:
        load_bench(path)
    assert failure.value.key == key
    assert problem in str(failure.value)
    assert str(failure.value).startswith(f"{path}: {key}: ")
    assert isinstance(failure.value, ValueError)


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[can.body]\ninterface = "virtual\n')
    with pytest.raises(ConfigError, match=r"bench.toml: not valid TOML: .*line 2"):
        load_bench(path)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.toml: no such bench file"):
        load_bench(tmp_path / "nope.toml")


def test_overrides_change_single_keys(tmp_path: Path) -> None:
    bench = load_bench(
        write(tmp_path, GOOD),
        [
            "can.body.channel=can7",
            "can.body.bitrate=250000",
            "bench.description=CI run",
            "dut.part_number = P-2",
        ],
    )
    assert bench.can["body"].channel == "can7"
    assert bench.can["body"].bitrate == 250000
    assert bench.description == "CI run"
    assert bench.dut.part_number == " P-2"  # the value after '=' is kept as written


def test_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError, match="can.body.bitrat: unknown key"):
        load_bench(path, ["can.body.bitrat=1"])
    with pytest.raises(ConfigError, match="override must look like key.path=value"):
        load_bench(path, ["can.body.bitrate"])
    with pytest.raises(ConfigError, match="can.body.bitrate: override .* needs a table here"):
        load_bench(path, ["can.body.bitrate.x=1"])


def test_a_failing_override_is_named_not_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as raised:
        load_bench(path, ["can.body.channel=can7", "can.body.bitrate=fast"])
    assert str(raised.value).startswith(
        f"override 'can.body.bitrate=fast' of {path}: can.body.bitrate: expected an integer"
    )
    with pytest.raises(
        ConfigError, match=r"^override 'can.body={ bitrat = 1 }' of .*: can\.body\."
    ):
        load_bench(path, ["can.body={ bitrat = 1 }"])  # a key inside an overridden table


def test_a_database_path_that_is_a_directory_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError, match=r"can.body.dbc: is a directory, not a database file"):
        load_bench(path, [f'can.body.dbc="{tmp_path}"'])


def test_the_environment_names_the_bench_and_overrides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(BENCH_ENV, raising=False)
    assert (
        resolve_bench_path(None, root=tmp_path)
        == tmp_path / "fixtures" / "benches" / "virtual.toml"
    )
    monkeypatch.setenv(BENCH_ENV, "/benches/lab.toml")
    assert resolve_bench_path(None) == Path("/benches/lab.toml")
    assert resolve_bench_path("mine.toml", root=tmp_path) == Path("mine.toml")
    monkeypatch.setenv(OVERRIDES_ENV, "can.body.channel=can1 'bench.description=two words'")
    assert overrides_from_env() == ["can.body.channel=can1", "bench.description=two words"]


# -- simulated ECUs on several channels, and the gateway under test ----------------------

TWO_CHANNELS = f"""
[can.body]
interface = "virtual"
channel = "x"
dbc = "{MINI}"

[can.chassis]
interface = "virtual"
channel = "y"
dbc = "{MINI}"
"""
DOOR = ROOT / "tests" / "data" / "ecus" / "door.toml"


def test_an_ecu_joins_several_channels_and_sends_on_its_own(tmp_path: Path) -> None:
    text = f'{TWO_CHANNELS}[simulation.ecus.gw]\nfile = "{DOOR}"\nchannels = ["chassis", "body"]\n'
    sim = load_bench(write(tmp_path, text)).simulation["gw"]
    assert sim.channels == ("chassis", "body")
    assert sim.channel == "chassis"  # the first, unless `channel` says otherwise
    text += 'channel = "body"\n'
    assert load_bench(write(tmp_path, text)).simulation["gw"].channel == "body"


def test_an_ecu_on_one_channel_lists_just_that_one(tmp_path: Path) -> None:
    text = f'{TWO_CHANNELS}[simulation.ecus.door]\nfile = "{DOOR}"\nchannel = "body"\n'
    assert load_bench(write(tmp_path, text)).simulation["door"].channels == ("body",)


@pytest.mark.parametrize(
    ("keys", "key", "problem"),
    [
        ('channels = ["body", "chasis"]', "channels[1]", "did you mean 'chassis'?"),
        ('channels = ["body", "body"]', "channels[1]", "'body' is named twice"),
        ("channels = []", "channels", "name at least one bench CAN channel"),
        ("channels = [1]", "channels", "expected a list of strings"),
        (
            'channel = "chassis"\nchannels = ["body"]',
            "channel",
            "must be one of channels = ['body']",
        ),
        ('chanels = ["body"]\nchannel = "body"', "chanels", "did you mean 'channels'"),
    ],
)
def test_channel_list_mistakes_name_the_key(
    tmp_path: Path, keys: str, key: str, problem: str
) -> None:
    path = write(tmp_path, f'{TWO_CHANNELS}[simulation.ecus.gw]\nfile = "{DOOR}"\n{keys}\n')
    with pytest.raises(ConfigError) as failure:
        load_bench(path)
    assert failure.value.key == f"simulation.ecus.gw.{key}"
    assert problem in str(failure.value)


def test_the_gateway_section_names_a_routing_table(tmp_path: Path) -> None:
    (tmp_path / "dut").mkdir()
    (tmp_path / "dut" / "gw.toml").write_text("")
    bench = load_bench(write(tmp_path, f'{TWO_CHANNELS}[gateway]\nprofile = "dut/gw.toml"\n'))
    assert bench.gateway is not None
    assert bench.gateway.profile == tmp_path / "dut" / "gw.toml"
    assert load_bench(write(tmp_path, TWO_CHANNELS)).gateway is None


@pytest.mark.parametrize(
    ("keys", "key", "problem"),
    [
        ('profile = "nope.toml"', "gateway.profile", "routing table (gateway DUT profile) not"),
        ('profil = "nope.toml"', "gateway.profile", "missing (expected a string) (misspelled"),
        ("profile = 3", "gateway.profile", "expected a string"),
    ],
)
def test_gateway_section_mistakes_name_the_key(
    tmp_path: Path, keys: str, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as failure:
        load_bench(write(tmp_path, f"{TWO_CHANNELS}[gateway]\n{keys}\n"))
    assert failure.value.key == key
    assert problem in str(failure.value)


def test_the_virtual_bench_has_a_gateway_on_two_channels() -> None:
    bench = load_bench(ROOT / "fixtures" / "benches" / "virtual.toml")
    assert bench.simulation["gateway"].channels == ("body", "chassis")
    assert bench.simulation["gateway"].channel == "chassis"
    assert bench.simulation["bcm"].channels == ("body",)
    assert bench.gateway is not None
    assert bench.gateway.profile.name == "gateway.toml"
