"""Data files of the diagnostics layer: DUT profiles, bench and ECU ``[diagnostics]``
sections, seed-key plugins. Every mistake names the file and the key."""

from __future__ import annotations

import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from harness.bench import Bench
from harness.config import load_bench
from harness.diag.config import ADDRESSING, DoipConfig, stmin_byte
from harness.diag.profile import DownloadDefinition, format_dtc, load_profile, parse_dtc
from harness.diag.seedkey import ENTRY_POINT_GROUP, load_seed_key, xor_constant
from harness.exceptions import ConfigError, UnknownNameError
from harness.sim.doip import parse_entity
from harness.sim.ecu import load_ecu
from harness.sim.uds.config import parse_server

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "fixtures" / "dut" / "bcm.toml"
DBC = ROOT / "dbc" / "demo_vehicle.dbc"
VIRTUAL = ROOT / "fixtures" / "benches" / "virtual.toml"
BCM = ROOT / "fixtures" / "ecus" / "bcm.toml"


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def bench(tmp_path: Path, diagnostics: str, channels: tuple[str, ...] = ("body",)) -> Path:
    text = "[bench]\nname = 't'\n" + "".join(
        f'[can.{name}]\ninterface = "virtual"\nchannel = "{tmp_path.name}-{name}"\ndbc = "{DBC}"\n'
        for name in channels
    )
    return write(tmp_path / "bench.toml", text + "[diagnostics]\n" + textwrap.dedent(diagnostics))


def diag_error(tmp_path: Path, diagnostics: str, **kwargs: Any) -> ConfigError:
    path = bench(tmp_path, diagnostics, **kwargs)
    with pytest.raises(ConfigError) as caught:
        load_bench(path)
    assert caught.value.source == str(path)
    return caught.value


# -- DUT profiles ----------------------------------------------------------------------------


def test_the_bcm_profile() -> None:
    profile = load_profile(PROFILE)
    vin = profile.did("VIN")
    assert (vin.id, vin.length, vin.codec_kind, vin.identity) == (0xF190, 17, "ascii", True)
    assert profile.did(0x0102).decode(b"\x05\x64") == pytest.approx(13.8)
    assert profile.did("VehicleConfig").write_security == 1
    assert profile.dtc("DriverDoorMotorOpen").text == "B1001-13"
    assert profile.routine("SelfTest").id == 0x0201
    assert profile.download == DownloadDefinition(0x10000, 0x20000, "programming", 1)
    assert [d.name for d in profile.identity][:2] == ["VIN", "PartNumber"]
    assert profile.codecs()[0xF190] is vin.codec
    with pytest.raises(UnknownNameError, match="did you mean 'VIN'"):
        profile.did("VNI")
    with pytest.raises(UnknownNameError, match="no DID 0x1234"):
        profile.did(0x1234)


def test_dtc_codes_both_ways() -> None:
    assert parse_dtc("B1001-13") == 0x900113
    assert parse_dtc("u0100") == 0xC10000
    for code in (0x900113, 0xC10000, 0x030100, 0x5FFFFF):
        assert parse_dtc(format_dtc(code)) == code
    with pytest.raises(ValueError, match="not a DTC"):
        parse_dtc("B10013")


TWO_DIDS_ONE_ID = (
    '[dids.X]\nid = 1\ncodec = "uint"\nlength = 1\n[dids.Y]\nid = 1\ncodec = "uint"\nlength = 1\n'
)


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ('[dids.X]\nid = 1\ncodec = "ascii"\nlenght = 4\n', "dids.X.length", "as 'lenght'"),
        (
            '[dids.X]\nid = 1\ncodec = "ascii"\nlength = 4\nidentiy = true\n',
            "dids.X.identiy",
            "did you mean 'identity'",
        ),
        ('[dids.X]\nid = 1\ncodec = "asci"\nlength = 4\n', "dids.X.codec", "did you mean 'ascii'"),
        ('[dids.X]\ncodec = "uint"\nlength = 1\n', "dids.X.id", "missing"),
        ('[dids.X]\nid = 0x10000\ncodec = "uint"\nlength = 1\n', "dids.X.id", "0x0..0xFFFF"),
        ('[dids.X]\nid = 1\ncodec = "uint"\nlength = 9\n', "dids.X.length", "0x1..0x8"),
        ('[dids.X]\nid = 1\ncodec = "struct"\nformat = ">Q!"\n', "dids.X.format", "struct"),
        (
            '[dids.X]\nid = 1\ncodec = "uint"\nlength = 1\nsessions = ["extnded"]\n',
            "dids.X.sessions",
            "did you mean 'extended'",
        ),
        ('[dids.X]\nid = 1\ncodec = "uint"\nlength = 1\nsecurity = 2\n', "dids.X.security", "odd"),
        (
            TWO_DIDS_ONE_ID,
            "dids.Y",
            "already 'X'",
        ),
        ('[dtcs.D]\ncode = "B1001-1"\n', "dtcs.D.code", "not a DTC"),
        ("[dtcs.D]\ncode = 0x1000000\n", "dtcs.D.code", "expected a DTC"),
        ("[routines.R]\nid = 1\nsecurity = 4\n", "routines.R.security", "odd"),
        ("[download]\naddress = 0\n", "download.size", "missing"),
        ("[download]\naddress = 0\nsize = 0\n", "download.size", ">= 1"),
        (
            '[download]\naddress = 0\nsize = 1\nsession = "programing"\n',
            "download.session",
            "did you mean",
        ),
        ("[download]\naddress = 0\nsize = 1\nadress = 1\n", "download.adress", "did you mean"),
    ],
)
def test_profile_mistakes_name_file_and_key(
    tmp_path: Path, body: str, key: str, problem: str
) -> None:
    path = write(tmp_path / "dut.toml", body)
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    assert (caught.value.source, caught.value.key) == (str(path), key)
    assert problem in caught.value.problem


# -- the bench's [diagnostics] ----------------------------------------------------------------


def test_the_virtual_bench_section() -> None:
    config = load_bench(VIRTUAL).diagnostics
    assert config is not None
    assert (config.channel, config.address.request_id, config.address.functional_id) == (
        "body", 0x7E0, 0x7DF
    )  # fmt: skip
    assert (config.p2, config.isotp.padding, config.isotp.block_size) == (0.5, 0xCC, 0)
    assert config.profile is not None
    assert config.profile.name.startswith("Demo body controller")
    assert config.flashing
    assert config.security is not None
    assert config.security.seed_key.key(1, b"\x11\x22\x33\x44") == bytes.fromhex("4b1ef0e1")


def test_a_bench_without_diagnostics(tmp_path: Path) -> None:
    path = write(tmp_path / "b.toml", '[can.body]\ninterface = "virtual"\nchannel = "x"\n')
    assert load_bench(path).diagnostics is None


def test_defaults_for_a_minimal_section(tmp_path: Path) -> None:
    config = load_bench(bench(tmp_path, "request_id = 0x7E0\n")).diagnostics
    assert config is not None
    assert (config.address.mode, config.address.response_id, config.profile) == (
        "normal", 0x7E8, None
    )  # fmt: skip
    assert not config.flashing, "a bench must say it may reprogram the DUT"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("reqest_id = 0x7E0\n", "diagnostics.reqest_id", "did you mean 'request_id'"),
        ('addressing = "fixed29"\n', "diagnostics.addressing", "did you mean 'fixed_29'"),
        ('addressing = "fixed_29"\ntester_address = 0xF1\n', "diagnostics.ecu_address", "needs"),
        ("address_extension = 1\n", "diagnostics.address_extension", "not used with"),
        ("request_id = 0x800\n", "diagnostics.request_id", "0x0..0x7FF"),
        ("request_id = 0x7E8\n", "diagnostics.response_id", "must differ"),
        ("padding = 256\n", "diagnostics.padding", "a byte"),
        ("padding = true\n", "diagnostics.padding", "a byte"),
        ("stmin_ms = 200\n", "diagnostics.stmin_ms", "0..127"),
        ("block_size = -1\n", "diagnostics.block_size", ">= 0"),
        ("block_size = 256\n", "diagnostics.block_size", "0x0..0xFF"),
        ('profile = "nowhere.toml"\n', "diagnostics.profile", "not found"),
        ('channel = "bdy"\n', "diagnostics.channel", "did you mean 'body'"),
        ("[diagnostics.security]\nparams = {}\n", "diagnostics.security.seed_key", "missing"),
        (
            '[diagnostics.security]\nseed_key = "harness.diag.seedkey:xor_constnt"\n',
            "diagnostics.security.seed_key",
            "did you mean 'xor_constant'",
        ),
        (
            '[diagnostics.security]\nseed_key = "no_such_module_here:algo"\n',
            "diagnostics.security.seed_key",
            "cannot import",
        ),
        (
            '[diagnostics.security]\nseed_key = "lab-secret"\n',
            "diagnostics.security.seed_key",
            "entry point of group 'harness.seedkey'",
        ),
        ("[diagnostics.obd]\nresponse_ids = [0x7E8, true]\n", "diagnostics.obd.response_ids", ""),
        ("can_fb = true\n", "diagnostics.can_fb", "did you mean 'can_fd'"),
        ("frame_size = 64\n", "diagnostics.frame_size", "need CAN FD (add can_fd = true)"),
        ("can_fd = true\nframe_size = 40\n", "diagnostics.frame_size", "8, 12, 16, 20, 24"),
        ("can_fd = true\n", "diagnostics.can_fd", "channel 'body' is classic CAN"),
    ],
)
def test_bench_section_mistakes_name_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    error = diag_error(tmp_path, text)
    assert error.key == key
    assert problem in error.problem


FD_BENCH = ROOT / "fixtures" / "benches" / "virtual-fd.toml"


def test_iso_tp_over_can_fd_on_both_sides() -> None:
    """The FD bench: tester and simulated server send 64-byte FD frames (can-isotp params)."""
    config = load_bench(FD_BENCH)
    assert config.diagnostics is not None
    tester = config.diagnostics.isotp
    assert (tester.can_fd, tester.frame_size) == (True, 64)
    params = tester.params()
    assert (params["can_fd"], params["tx_data_length"], params["bitrate_switch"]) == (
        True, 64, True
    )  # fmt: skip
    assert dict(config.simulation["bcm"].isotp) == {"can_fd": True, "frame_size": 64}
    with Bench.open(FD_BENCH) as opened:
        server = opened.sims["bcm"].services[0]
        assert server.config.isotp.can_fd, server  # type: ignore[attr-defined]


def test_classic_defaults_and_fd_default_size(tmp_path: Path) -> None:
    classic = load_bench(bench(tmp_path, "request_id = 0x7E0\n")).diagnostics
    assert classic is not None
    assert (classic.isotp.can_fd, classic.isotp.frame_size) == (False, 8)
    fd = tmp_path / "fd"
    fd.mkdir()
    path = bench(fd, "can_fd = true\n")
    path.write_text(
        path.read_text().replace('interface = "virtual"', 'interface = "virtual"\nfd = true')
    )
    config = load_bench(path).diagnostics
    assert config is not None
    assert (config.isotp.can_fd, config.isotp.frame_size) == (True, 64)


@pytest.mark.parametrize(
    ("isotp", "key", "problem"),
    [
        ("{ can_fd = true }", "simulation.ecus.bcm.isotp.can_fd", "classic CAN"),
        ("{ frame_sise = 8 }", "simulation.ecus.bcm.isotp.frame_sise", "did you mean 'frame_size'"),
    ],
)
def test_simulated_server_frame_format_mistakes(
    tmp_path: Path, isotp: str, key: str, problem: str
) -> None:
    path = write(
        tmp_path / "bench.toml",
        f"""
        [can.body]
        interface = "virtual"
        channel = "{tmp_path.name}"
        dbc = "{DBC}"
        [simulation.ecus.bcm]
        file = "{BCM}"
        isotp = {isotp}
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_bench(path)
    assert (caught.value.key, caught.value.source) == (key, str(path))
    assert problem in caught.value.problem


def test_the_channel_must_be_named_when_the_bench_has_several(tmp_path: Path) -> None:
    error = diag_error(tmp_path, "request_id = 0x7E0\n", channels=("body", "chassis"))
    assert error.key == "diagnostics.channel"
    assert "channels: body, chassis" in error.problem


def test_a_broken_section_stops_the_bench_from_opening(tmp_path: Path) -> None:
    path = bench(tmp_path, "reqest_id = 0x7E0\n")
    with pytest.raises(ConfigError, match=r"diagnostics\.reqest_id"):
        Bench.open(path)


@pytest.mark.parametrize("mode", list(ADDRESSING))
def test_every_addressing_mode_builds_both_sides(tmp_path: Path, mode: str) -> None:
    keys = {
        "request_id": "0x18DA10F1" if mode.endswith("29") else "0x7E0",
        "response_id": "0x18DAF110" if mode.endswith("29") else "0x7E8",
        "tester_address": "0xF1",
        "ecu_address": "0x10",
        "address_extension": "0x55",
    }
    needed = ADDRESSING[mode][1]
    text = f'addressing = "{mode}"\n' + "".join(f"{k} = {keys[k]}\n" for k in needed)
    config = load_bench(bench(tmp_path, text)).diagnostics
    assert config is not None
    assert config.address.tester() is not None
    assert config.address.ecu() is not None


# -- seed-key plugins ------------------------------------------------------------------------


def test_seed_key_by_module_and_function() -> None:
    seed_key = load_seed_key("harness.diag.seedkey:xor_constant", {"mask": 0xFF}, "f", "k")
    assert seed_key.key(1, b"\x0f\xf0") == b"\xf0\x0f"
    assert seed_key.key(3, b"\x0f\xf0") != seed_key.key(1, b"\x0f\xf0")  # per level
    assert "0xFF" not in repr(seed_key)
    assert "255" not in repr(seed_key)


def test_seed_key_by_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    point = metadata.EntryPoint(
        name="lab-secret", value="harness.diag.seedkey:xor_constant", group=ENTRY_POINT_GROUP
    )
    real = metadata.entry_points

    def entry_points(**kwargs: Any) -> Any:
        if kwargs.get("group") == ENTRY_POINT_GROUP:
            return metadata.EntryPoints([point])
        return real(**kwargs)

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    seed_key = load_seed_key("lab-secret", {"mask": 0x5A3CC3A5}, "f", "k")
    assert seed_key.key(1, b"\x11\x22\x33\x44") == xor_constant(
        1, b"\x11\x22\x33\x44", {"mask": 0x5A3CC3A5}
    )
    with pytest.raises(ConfigError, match="did you mean 'lab-secret'"):
        load_seed_key("lab-secrt", {}, "f", "k")


# -- the ECU file's [diagnostics] -------------------------------------------------------------


def ecu_file(tmp_path: Path, diagnostics: str, faults: str = "") -> Path:
    text = f"""\
        [ecu]
        node = "BCM"
        dbc = "{DBC}"
        {faults}
        [diagnostics]
        profile = "{PROFILE}"
        """
    return write(tmp_path / "ecu.toml", textwrap.dedent(text) + textwrap.dedent(diagnostics))


def test_the_bcm_server_section() -> None:
    definition = load_ecu(BCM)
    config = parse_server(definition.diagnostics, definition.path, definition.db)
    assert config.values[0xF190] == b"WDEMX000000000001"
    assert config.dtcs == {0x900113: 0x2F, 0x920016: 0x28}
    assert config.routines[0x0201].duration == pytest.approx(0.3)
    assert config.standstill is not None
    assert config.standstill.signal == "VehicleSpeed"
    assert config.obd is not None
    assert config.obd.pids[0x0C] == ("ECM_EngineData", "EngineSpeed")
    assert definition.faults["diag_s3_ignored"].diagnostic == ("s3_ignored",)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[diagnostics.values]\nVNI = 'x'\n", "diagnostics.values.VNI", "did you mean 'VIN'"),
        ("[diagnostics.values]\nVIN = 'short'\n", "diagnostics.values.VIN", "VIN (0xF190)"),
        (
            "[diagnostics.values]\nDoorLockCycles = 'many'\n",
            "diagnostics.values.DoorLockCycles",
            "",
        ),
        ("[diagnostics.dtcs]\nNoSuch = 1\n", "diagnostics.dtcs.NoSuch", "defines no DTC"),
        ("[diagnostics.dtcs]\nSupplyVoltageLow = 300\n", "diagnostics.dtcs.SupplyVoltageLow", ""),
        (
            "[diagnostics.routines.SelfTest]\nresult = [256]\n",
            "diagnostics.routines.SelfTest.result",
            "list of bytes",
        ),
        (
            "[diagnostics.service_sessions]\nReadDataByIdentifer = ['default']\n",
            "diagnostics.service_sessions.ReadDataByIdentifer",
            "did you mean 'ReadDataByIdentifier'",
        ),
        (
            "[diagnostics.security]\nseed_key = 'harness.diag.seedkey:xor_constant'\nlevels = [2]",
            "diagnostics.security.levels",
            "odd",
        ),
        (
            "standstill = { message = 'ABS_WheelSpeeds', signal = 'VehicleSped', below = 3 }\n",
            "diagnostics.standstill",
            "did you mean 'VehicleSpeed'",
        ),
        ("[diagnostics.obd.pids]\nrmp = 1\n", "diagnostics.obd.pids.rmp", "did you mean 'rpm'"),
        ("[diagnostics.obd]\ndtcs = ['P03011']\n", "diagnostics.obd.dtcs", "OBD-II DTC"),
        ("[diagnostics.download]\nsize = 16\n", "diagnostics.download.address", "missing"),
    ],
)
def test_server_section_mistakes_name_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = ecu_file(tmp_path, text)
    definition = load_ecu(path)
    with pytest.raises(ConfigError) as caught:
        parse_server(definition.diagnostics, definition.path, definition.db)
    assert (caught.value.source, caught.value.key) == (str(path), key)
    assert problem in caught.value.problem


def test_a_diagnostic_fault_primitive_typo(tmp_path: Path) -> None:
    faults = '[faults.f]\ndescription = "d"\ndiagnostic = ["s3_ignord"]\n'
    path = ecu_file(tmp_path, "", faults=faults)
    with pytest.raises(ConfigError) as caught:
        load_ecu(path)
    assert caught.value.key == "faults.f.diagnostic"
    assert "did you mean 's3_ignored'" in caught.value.problem


def test_stmin_bytes() -> None:
    assert [stmin_byte(ms) for ms in (0, 1, 5.4, 127, 0.1, 0.55, 0.9)] == [
        0, 1, 5, 127, 0xF1, 0xF6, 0xF9
    ]  # fmt: skip


# -- DoIP: [diagnostics.doip] and the ECU file's [doip] --------------------------------------


def test_the_virtual_bench_names_the_simulated_entity() -> None:
    config = load_bench(VIRTUAL).diagnostics
    assert config is not None
    assert config.transport == "isotp"
    assert config.doip == DoipConfig(simulation="bcm")


def test_transport_doip_with_defaults(tmp_path: Path) -> None:
    path = bench(tmp_path, 'transport = "doip"\n[diagnostics.doip]\nhost = "10.0.0.7"\n')
    config = load_bench(path).diagnostics
    assert config is not None
    assert config.transport == "doip"
    assert config.doip == DoipConfig(host="10.0.0.7")


def test_tls_moves_the_default_port(tmp_path: Path) -> None:
    config = load_bench(bench(tmp_path, "[diagnostics.doip]\ntls = true\n")).diagnostics
    assert config is not None
    assert config.doip is not None
    assert config.doip.port == 3496


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('transport = "doip"\n', "diagnostics.doip", "needs a [diagnostics.doip]"),
        ('transport = "dip"\n', "diagnostics.transport", "did you mean 'doip'"),
        ("[diagnostics.doip]\nprot = 13400\n", "diagnostics.doip.prot", "did you mean 'port'"),
        ("[diagnostics.doip]\nport = 70000\n", "diagnostics.doip.port", "0..0xFFFF"),
        ("[diagnostics.doip]\ntarget_address = -1\n", "diagnostics.doip.target_address", ">= 0"),
        ('[diagnostics.doip]\nvin = "WDEMX"\n', "diagnostics.doip.vin", "17 characters"),
        ('[diagnostics.doip]\neid = "00:11"\n', "diagnostics.doip.eid", "6 bytes"),
        ("[diagnostics.doip]\ntls = 1\n", "diagnostics.doip.tls", "true or false"),
    ],
)
def test_bench_doip_mistakes_name_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    error = diag_error(tmp_path, text)
    assert error.key == key
    assert problem in error.problem


def test_the_bcm_entity() -> None:
    definition = load_ecu(BCM)
    config = parse_entity(definition.doip, definition.path)
    assert (config.logical_address, config.vin) == (0x0010, "WDEMX000000000001")
    assert config.eid == bytes.fromhex("020000000010")
    assert (config.announce_count, config.announce_interval) == (3, 0.5)
    assert {f.name for f in definition.faults.values() if f.doip} == {
        "doip_wrong_nack_code",
        "doip_routing_activation_ignored",
        "doip_ack_missing",
        "doip_announcement_count_wrong",
    }


def ecu_with(tmp_path: Path, doip: str, faults: str = "") -> Path:
    text = f"""\
        [ecu]
        node = "BCM"
        dbc = "{DBC}"
        {faults}
        [diagnostics]
        profile = "{PROFILE}"
        [doip]
        """
    return write(tmp_path / "ecu.toml", textwrap.dedent(text) + textwrap.dedent(doip))


ENTITY = 'vin = "WDEMX000000000001"\neid = "02:00:00:00:00:10"\ngid = "02:00:00:00:00:00"\n'


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('vin = "X"\neid = "02:00:00:00:00:10"\ngid = "00:00:00:00:00:00"\n', "doip.vin", "17"),
        (ENTITY.replace('"02:00:00:00:00:10"', '"zz"'), "doip.eid", "6 bytes"),
        (ENTITY + "testers = [0x0FFF, 0x0E00]\n", "doip.testers", "lowest, highest"),
        (ENTITY + "logical_address = 0x10000\n", "doip.logical_address", "0..0xFFFF"),
        (ENTITY + "max_socket = 2\n", "doip.max_socket", "did you mean 'max_sockets'"),
        (ENTITY + 'routing = "locl"\n', "doip.routing", "did you mean 'local'"),
    ],
)
def test_ecu_doip_mistakes_name_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = ecu_with(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_ecu(path)
    assert (caught.value.source, caught.value.key) == (str(path), key)
    assert problem in caught.value.problem


def test_a_doip_fault_primitive_typo(tmp_path: Path) -> None:
    faults = '[faults.f]\ndescription = "d"\ndoip = ["ack_mising"]\n'
    with pytest.raises(ConfigError) as caught:
        load_ecu(ecu_with(tmp_path, ENTITY, faults))
    assert caught.value.key == "faults.f.doip"
    assert "did you mean 'ack_missing'" in caught.value.problem


def test_a_doip_only_bench_has_no_can_channel(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bench.toml",
        """
        [diagnostics]
        transport = "doip"
        [diagnostics.doip]
        host = "127.0.0.1"
        """,
    )
    config = load_bench(path).diagnostics
    assert config is not None
    assert (config.channel, config.transport) == ("", "doip")


def test_iso_tp_without_a_can_channel_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "bench.toml", "[diagnostics]\nrequest_id = 0x7E0\n")
    with pytest.raises(ConfigError) as caught:
        load_bench(path)
    assert caught.value.key == "diagnostics.channel"
    assert "channels: none" in caught.value.problem
