"""SignalDatabase: loading, lookups, encoding with defaults, decoding, and a round-trip property."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cantools.database
import pytest
from cantools.database.can import Message, Signal
from cantools.database.namedsignalvalue import NamedSignalValue
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.canbus.database import SignalDatabase, default_value
from harness.exceptions import DatabaseError, EncodeError, UnknownNameError

DEMO_DBC = Path(__file__).resolve().parents[2] / "dbc" / "demo_vehicle.dbc"

DBC_HEADER = 'VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_: Ecu\n\n'


@functools.cache
def demo() -> SignalDatabase:
    """One shared load: hypothesis runs many examples and must not reload per example."""
    return SignalDatabase.load(DEMO_DBC)


@pytest.fixture
def db() -> SignalDatabase:
    """A fresh demo database per test, so the decode cache starts empty."""
    return SignalDatabase.load(DEMO_DBC)


def write_dbc(tmp_path: Path, body: str, name: str = "test.dbc") -> Path:
    path = tmp_path / name
    path.write_text(DBC_HEADER + body)
    return path


# --- loading ---------------------------------------------------------------------------


def test_load_demo_database(db: SignalDatabase) -> None:
    assert db.name == "demo_vehicle.dbc"
    assert db.path == DEMO_DBC
    assert set(db.nodes) == {"ECM", "ABS", "BCM", "GW", "TCU", "Tester"}
    names = {m.name for m in db.messages}
    assert {
        "ECM_EngineData",
        "ABS_WheelSpeeds",
        "BCM_Request",
        "BCM_DoorStatus",
        "BCM_Lights",
        "TCU_Status",
        "TCU_Telemetry",
        "GW_VehicleSnapshot",
        "Tester_FunctionalReq",
        "BCM_DiagReq",
        "BCM_DiagResp",
    } <= names


def test_demo_database_attributes(db: SignalDatabase) -> None:
    """The attributes the harness relies on (cycle times, start values) come through cantools."""
    cycle = {m.name: m.cycle_time for m in db.messages}
    assert cycle["ECM_EngineData"] == 10
    assert cycle["ABS_WheelSpeeds"] == 20
    assert cycle["BCM_DoorStatus"] == 100
    assert cycle["TCU_Status"] == 1000
    assert cycle["TCU_Telemetry"] == 500
    assert cycle["GW_VehicleSnapshot"] == 200
    assert cycle["BCM_Request"] is None  # event-triggered
    assert db.message("BCM_Request").send_type == "Event"
    assert db.message("BCM_DoorStatus").send_type == "Cyclic"
    assert set(db.message("BCM_Request").senders) == {"TCU", "Tester"}
    assert {"BCM", "GW"} <= db.message("ABS_WheelSpeeds").receivers
    door = db.message("BCM_DoorStatus").get_signal_by_name("DriverDoorLocked")
    assert door.initial == "LOCKED"
    assert db.message("ECM_EngineData").get_signal_by_name("CoolantTemp").initial == 20
    assert db.message("ECM_EngineData").get_signal_by_name("EngineSpeed").unit == "rpm"
    assert all(m.comment for m in db.messages)


def test_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.dbc"
    with pytest.raises(DatabaseError, match="no such file") as info:
        SignalDatabase.load(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"\x00\xff\xfe\x80 not text at all \x9c\x00", "binary.dbc"),
        (b"hello, I am not a database\n", "prose.dbc"),
        (b"", "empty.dbc"),
    ],
    ids=["binary", "prose", "empty"],
)
def test_garbage_file_is_one_line_naming_it(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatabaseError) as info:
        SignalDatabase.load(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_dbc_syntax_error_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = write_dbc(tmp_path, "BO_ 256 Broken: 8 Ecu\n SG_ Sig : 0|8@1+ (1,0 [0|255] Ecu\n")
    with pytest.raises(DatabaseError, match="cannot load") as info:
        SignalDatabase.load(path)
    text = str(info.value)
    assert text.startswith(str(path))
    assert "\n" not in text
    assert info.value.__cause__ is not None  # cantools' error kept for --debug


def test_directory_is_a_database_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError) as info:
        SignalDatabase.load(tmp_path)
    assert str(tmp_path) in str(info.value)


OVERLAPPING = (
    "BO_ 256 Overlap: 8 Ecu\n"
    ' SG_ Wide : 0|16@1+ (1,0) [0|65535] "" Ecu\n'
    ' SG_ Narrow : 8|8@1+ (1,0) [0|255] "" Ecu\n'
)
TOO_LONG = 'BO_ 257 Short: 1 Ecu\n SG_ Outside : 8|1@1+ (1,0) [0|1] "" Ecu\n'


@pytest.mark.parametrize(
    ("body", "message", "problem"),
    [(OVERLAPPING, "Overlap", "overlapping"), (TOO_LONG, "Short", "does not fit")],
    ids=["overlap", "too-long"],
)
def test_broken_layout_fails_strict_load_and_encode_when_lenient(
    tmp_path: Path, body: str, message: str, problem: str
) -> None:
    """Strict loading refuses the file; lenient loading works but encode must not
    silently drop or garble the signals (cantools would return a frame that does not decode)."""
    path = write_dbc(tmp_path, body)
    with pytest.raises(DatabaseError, match=problem):
        SignalDatabase.load(path)
    lenient = SignalDatabase.load(path, strict=False)
    with pytest.raises(EncodeError, match=problem) as info:
        lenient.encode(message)
    assert message in str(info.value)


# --- lookups ---------------------------------------------------------------------------


def test_message_lookup(db: SignalDatabase) -> None:
    message = db.message("BCM_DoorStatus")
    assert message.frame_id == 0x310
    assert db.message_for(0x310, False) is message
    assert db.message_for(0x310, True) is None
    assert db.message_for(0x18FF1021, True) is db.message("TCU_Telemetry")
    assert db.message_for(0x18FF1021, False) is None


def test_unknown_message_suggests_close_names(db: SignalDatabase) -> None:
    with pytest.raises(UnknownNameError, match=r"did you mean 'BCM_DoorStatus'") as info:
        db.message("BCM_DorStatus")
    assert "demo_vehicle.dbc" in str(info.value)
    assert isinstance(info.value, LookupError)


def test_unknown_message_without_anything_close(db: SignalDatabase) -> None:
    with pytest.raises(UnknownNameError) as info:
        db.message("Xyzzy")
    assert "'Xyzzy'" in str(info.value)
    assert "did you mean" not in str(info.value)


# --- encoding --------------------------------------------------------------------------


def test_encode_fills_initial_values(db: SignalDatabase) -> None:
    message, data = db.encode("ECM_EngineData", {"EngineSpeed": 800})
    assert message.name == "ECM_EngineData"
    assert data[0:2] == (3200).to_bytes(2, "little")  # 800 rpm / 0.25
    assert data[2] == 60  # CoolantTemp's GenSigStartValue: 20 degC + 40
    decoded = db.decode(message, data)
    assert decoded["CoolantTemp"] == 20
    assert decoded["EngineRunning"] == "STOPPED"


def test_encode_initial_value_from_value_table(db: SignalDatabase) -> None:
    message, data = db.encode("BCM_DoorStatus", {"DriverDoorOpen": "OPEN"})
    decoded = db.decode(message, data)
    assert decoded["DriverDoorLocked"] == "LOCKED"
    assert decoded["DriverDoorOpen"] == "OPEN"
    assert data[0] == 0b100


def test_encode_scaled_initial_values(db: SignalDatabase) -> None:
    message, data = db.encode("TCU_Telemetry")
    assert data[3] == 125  # FuelLevel 50 %
    assert int.from_bytes(data[4:6], "little") == 1250  # BatteryVoltage 12.5 V
    assert db.decode(message, data) == {"OdometerKm": 0, "FuelLevel": 50, "BatteryVoltage": 12.5}


def test_encode_accepts_value_table_names(db: SignalDatabase) -> None:
    _, by_name = db.encode("BCM_Lights", {"TurnIndicator": "RIGHT"})
    _, by_number = db.encode("BCM_Lights", {"TurnIndicator": 2})
    assert by_name == by_number
    assert by_name[0] == 2 << 3


def test_unknown_value_table_name_suggests(db: SignalDatabase) -> None:
    with pytest.raises(EncodeError, match=r"'TurnIndicator' has no value 'RIHGT'.*'RIGHT'"):
        db.encode("BCM_Lights", {"TurnIndicator": "RIHGT"})
    with pytest.raises(EncodeError, match=r"OFF, LEFT, RIGHT, BOTH"):
        db.encode("BCM_Lights", {"TurnIndicator": "UP"})


def test_name_for_signal_without_value_table(db: SignalDatabase) -> None:
    with pytest.raises(EncodeError, match=r"'VehicleSpeed' has no value table"):
        db.encode("ABS_WheelSpeeds", {"VehicleSpeed": "fast"})


@pytest.mark.parametrize(
    ("signal", "value"),
    [("VehicleSpeed", 320.01), ("VehicleSpeed", -0.01), ("WheelSpeed_FL", 1e6)],
)
def test_out_of_range_names_message_and_signal(
    db: SignalDatabase, signal: str, value: float
) -> None:
    with pytest.raises(EncodeError) as info:
        db.encode("ABS_WheelSpeeds", {signal: value})
    text = str(info.value)
    assert "ABS_WheelSpeeds" in text
    assert signal in text
    assert "\n" not in text
    assert not isinstance(info.value, UnknownNameError)


def test_range_limits_are_inclusive(db: SignalDatabase) -> None:
    message, data = db.encode("ABS_WheelSpeeds", {"VehicleSpeed": 320, "WheelSpeed_FL": 0})
    assert db.decode(message, data)["VehicleSpeed"] == pytest.approx(320)


def test_unknown_signal_suggests(db: SignalDatabase) -> None:
    with pytest.raises(UnknownNameError, match=r"no signal 'VehicleSped'.*'VehicleSpeed'"):
        db.encode("ABS_WheelSpeeds", {"VehicleSped": 10})


def test_unknown_message_on_encode(db: SignalDatabase) -> None:
    with pytest.raises(UnknownNameError, match=r"did you mean 'BCM_Lights'"):
        db.encode("BCM_Light", {})


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"InfoType": 0, "RegistrationState": "ROAMING", "SignalQuality": 17},
            {"InfoType": "NETWORK", "RegistrationState": "ROAMING", "SignalQuality": 17},
        ),
        (
            {"InfoType": "LATITUDE", "Latitude": 48.137154, "PositionFix": "FIX_3D"},
            {"InfoType": "LATITUDE", "Latitude": 48.137154, "PositionFix": "FIX_3D"},
        ),
        (
            {"InfoType": 2, "Longitude": -11.575382},
            {"InfoType": "LONGITUDE", "Longitude": -11.575382},
        ),
    ],
    ids=["network", "latitude", "longitude"],
)
def test_multiplexed_branches(
    db: SignalDatabase, values: dict[str, Any], expected: dict[str, Any]
) -> None:
    message, data = db.encode("TCU_Status", values)
    decoded = db.decode(message, data)
    assert decoded.keys() == expected.keys()  # only the selected branch's signals
    for name, value in expected.items():
        if isinstance(value, float):
            assert decoded[name] == pytest.approx(value, abs=1e-6)
        else:
            assert decoded[name] == value


def test_multiplexed_default_branch_uses_start_values(db: SignalDatabase) -> None:
    message, data = db.encode("TCU_Status")
    assert data[:3] == bytes([0, 0, 99])
    assert db.decode(message, data)["SignalQuality"] == "UNKNOWN"


def test_multiplexed_invalid_selector(db: SignalDatabase) -> None:
    with pytest.raises(EncodeError, match="InfoType"):
        db.encode("TCU_Status", {"InfoType": 7})


def test_multiplexed_signed_latitude_layout(db: SignalDatabase) -> None:
    _, data = db.encode("TCU_Status", {"InfoType": 1, "Latitude": -33.868820})
    assert data[0] == 1
    assert int.from_bytes(data[1:5], "little", signed=True) == -33868820


def test_extended_frame(db: SignalDatabase) -> None:
    message, data = db.encode("TCU_Telemetry", {"OdometerKm": 123456.7})
    assert message.is_extended_frame
    assert message.frame_id == 0x18FF1021
    assert not message.is_fd
    assert int.from_bytes(data[0:3], "little") == 1234567
    assert db.message_for(message.frame_id, True) is message
    assert db.decode(message, data)["OdometerKm"] == pytest.approx(123456.7)


def test_fd_frame(db: SignalDatabase) -> None:
    message, data = db.encode(
        "GW_VehicleSnapshot", {"AmbientTemp": -12.5, "GearPosition": "D", "UptimeMs": 2**32 - 1}
    )
    assert message.is_fd
    assert not message.is_extended_frame
    assert len(data) == 32
    assert data[8:10] == b"\xff\x83"  # -125, big-endian signed, MSB at bit 71
    assert data[24:28] == b"\xff\xff\xff\xff"
    decoded = db.decode(message, data)
    assert decoded["AmbientTemp"] == pytest.approx(-12.5)
    assert decoded["GearPosition"] == "D"
    assert decoded["SnapshotBatteryVoltage"] == pytest.approx(12.5)  # start value


def test_diagnostic_frames_are_raw_big_endian(db: SignalDatabase) -> None:
    """The 64-bit diagnostic signals read like the bytes on the wire."""
    _, data = db.encode("BCM_DiagReq", {"DiagReqData": 0x0322F19000000000})
    assert data == bytes.fromhex("0322F19000000000")


# --- decoding --------------------------------------------------------------------------


def test_decode_cache_returns_the_same_result(db: SignalDatabase) -> None:
    message, data = db.encode("ABS_WheelSpeeds", {"VehicleSpeed": 50})
    first = db.decode(message, data)
    assert db.decode(message, bytes(data)) is first
    _, other = db.encode("ABS_WheelSpeeds", {"VehicleSpeed": 51})
    second = db.decode(message, other)
    assert second is not first
    assert second["VehicleSpeed"] == pytest.approx(51)
    assert first["VehicleSpeed"] == pytest.approx(50)


def test_decode_short_payload_raises(db: SignalDatabase) -> None:
    """Channels rely on decode raising (not returning garbage) for a frame cut short."""
    message = db.message("ABS_WheelSpeeds")
    with pytest.raises(cantools.database.DecodeError, match="2 instead of 8"):
        db.decode(message, b"\x00\x01")


# --- default values --------------------------------------------------------------------

DEFAULTS_DBC = (
    "BO_ 512 Defaults: 8 Ecu\n"
    ' SG_ AboveZero : 0|8@1+ (1,0) [5|10] "" Ecu\n'
    ' SG_ BelowZero : 8|8@1- (1,0) [-50|-10] "" Ecu\n'
    ' SG_ Offset : 16|8@1+ (0.5,-20) [-20|100] "degC" Ecu\n'
    ' SG_ Started : 24|8@1+ (2,0) [0|200] "" Ecu\n'
    ' SG_ Plain : 32|8@1+ (1,0) [0|0] "" Ecu\n'
    'BA_DEF_ SG_ "GenSigStartValue" INT 0 255;\n'
    'BA_DEF_DEF_ "GenSigStartValue" 0;\n'
    'BA_ "GenSigStartValue" SG_ 512 Started 21;\n'
)


@pytest.fixture
def defaults_db(tmp_path: Path) -> SignalDatabase:
    return SignalDatabase.load(write_dbc(tmp_path, DEFAULTS_DBC))


@pytest.mark.parametrize(
    ("signal", "expected"),
    [
        ("AboveZero", 5),  # raw zero is below the minimum: take the minimum
        ("BelowZero", -10),  # raw zero is above the maximum: take the maximum
        ("Offset", -20),  # raw zero, scaled
        ("Started", 42),  # GenSigStartValue 21, scaled by 2
        ("Plain", 0),  # no range at all
    ],
)
def test_default_value(defaults_db: SignalDatabase, signal: str, expected: float) -> None:
    assert default_value(defaults_db.message("Defaults").get_signal_by_name(signal)) == expected


def test_defaults_encode_within_range(defaults_db: SignalDatabase) -> None:
    """Without the edge cases above, encoding with no values would fail the range check."""
    message, data = defaults_db.encode("Defaults")
    assert data[:5] == bytes([5, 0xF6, 0, 21, 0])
    decoded = defaults_db.decode(message, data)
    assert decoded == {"AboveZero": 5, "BelowZero": -10, "Offset": -20, "Started": 42, "Plain": 0}


# --- round trip (hypothesis) -----------------------------------------------------------


def _raw_bounds(signal: Signal) -> tuple[int, int]:
    """The raw integers whose physical value lies within the signal's min/max and bits."""
    if signal.is_signed:
        lo, hi = -(1 << (signal.length - 1)), (1 << (signal.length - 1)) - 1
    else:
        lo, hi = 0, (1 << signal.length) - 1

    def physical(raw: int) -> float:
        return raw * signal.scale + signal.offset

    if signal.minimum is not None:
        lo = max(lo, math.floor((signal.minimum - signal.offset) / signal.scale) - 1)
        while physical(lo) < signal.minimum:
            lo += 1
    if signal.maximum is not None:
        hi = min(hi, math.ceil((signal.maximum - signal.offset) / signal.scale) + 1)
        while physical(hi) > signal.maximum:
            hi -= 1
    return lo, hi


def _physical(signal: Signal, raw: int) -> int | float:
    if signal.scale == 1 and signal.offset == 0:
        return raw
    return raw * signal.scale + signal.offset


@st.composite
def signal_value(draw: st.DrawFn, signal: Signal) -> int | float | str:
    lo, hi = _raw_bounds(signal)
    names = [str(name) for raw, name in (signal.choices or {}).items() if lo <= raw <= hi]
    use_a_name = draw(st.booleans())
    if names and use_a_name:
        return draw(st.sampled_from(names))
    return _physical(signal, draw(st.integers(lo, hi)))


def _choose_branch(draw: st.DrawFn, message: Message, tree: Sequence[Any]) -> dict[str, Any]:
    """Values for the signals of one path through the multiplexer tree."""
    values: dict[str, Any] = {}
    for node in tree:
        if isinstance(node, str):
            values[node] = draw(signal_value(message.get_signal_by_name(node)))
            continue
        for selector, branches in node.items():
            selector_value = draw(st.sampled_from(sorted(branches)))
            values[selector] = selector_value
            values |= _choose_branch(draw, message, branches[selector_value])
    return values


ROUND_TRIP_MESSAGES = [m.name for m in demo().messages if not m.is_container]


@st.composite
def message_values(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(ROUND_TRIP_MESSAGES))
    message = demo().message(name)
    return name, _choose_branch(draw, message, message.signal_tree)


def _same(signal: Signal, sent: Any, got: Any) -> bool:
    if isinstance(sent, str):
        return bool(got == sent)
    if isinstance(got, NamedSignalValue):  # a number that has a value-table name
        return bool(got.value == round((sent - signal.offset) / signal.scale))
    return math.isclose(got, sent, rel_tol=1e-9, abs_tol=abs(signal.scale) * 1e-6)


@settings(
    max_examples=80 * len(ROUND_TRIP_MESSAGES),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(message_values())
def test_encode_decode_round_trip(case: tuple[str, dict[str, Any]]) -> None:
    """Any in-range value (or value-table name) of any demo signal comes back as sent."""
    name, values = case
    db = demo()
    message, data = db.encode(name, values)
    assert len(data) == message.length
    decoded = db.decode(message, data)
    for signal_name, sent in values.items():
        signal = message.get_signal_by_name(signal_name)
        got = decoded[signal_name]
        assert _same(signal, sent, got), f"{name}.{signal_name}: sent {sent!r}, got {got!r}"


def test_a_directory_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match=r"is a directory, not a database file$"):
        SignalDatabase.load(tmp_path)
