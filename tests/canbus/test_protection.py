"""Counters and checksums: what simulations write, checks accept; what faults break, they catch."""

from __future__ import annotations

from pathlib import Path

import cantools
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.canbus.database import SignalDatabase
from harness.canbus.frame import Frame
from harness.canbus.protection import (
    CHECKSUMS,
    Protection,
    check_frames,
    checksum_problem,
    counter_errors,
    counter_modulo,
    declared,
    protect,
    validate,
)
from harness.config import load_bench
from harness.exceptions import ConfigError

PROFILES = [
    Protection(checksum="Guarded_Crc", algorithm="crc8_j1850"),
    Protection(checksum="Guarded_Crc", algorithm="xor"),
    Protection(algorithm="e2e_p01", data_id=0x123),
    Protection(algorithm="e2e_p02", data_id_list=bytes(range(16))),
    Protection(algorithm="e2e_p05", data_id=0x4321),
]
payloads = st.binary(min_size=8, max_size=8)


@pytest.mark.parametrize("protection", PROFILES, ids=lambda p: str(p.algorithm))
@given(payload=payloads, counter=st.integers(0, 255))
def test_what_protect_writes_the_check_accepts(
    mini_db: SignalDatabase, protection: Protection, payload: bytes, counter: int
) -> None:
    message = mini_db.message("Guarded")
    data = bytearray(payload)
    protect(data, message, protection, counter % counter_modulo(message, protection))
    assert checksum_problem(bytes(data), message, protection) is None


@pytest.mark.parametrize("protection", PROFILES, ids=lambda p: str(p.algorithm))
@given(payload=payloads, bit=st.integers(0, 63))
def test_a_single_flipped_bit_is_caught(
    mini_db: SignalDatabase, protection: Protection, payload: bytes, bit: int
) -> None:
    message = mini_db.message("Guarded")
    data = bytearray(payload)
    protect(data, message, protection, 3)
    data[bit // 8] ^= 1 << (bit % 8)
    assert checksum_problem(bytes(data), message, protection) is not None


def test_checksum_problem_explains_a_wrong_checksum(mini_db: SignalDatabase) -> None:
    message = mini_db.message("Guarded")
    data = bytearray(8)
    protect(data, message, PROFILES[0], 0)
    data[7] ^= 0xFF
    assert checksum_problem(bytes(data), message, PROFILES[0]).startswith("Guarded_Crc=0x")  # type: ignore[union-attr]
    assert "no checksum byte 7" in str(checksum_problem(b"\x00", message, PROFILES[0]))


@given(start=st.integers(0, 15), length=st.integers(2, 40))
def test_a_counter_that_steps_by_one_has_no_errors(start: int, length: int) -> None:
    assert counter_errors([(start + i) % 16 for i in range(length)], 16) == []


def test_counter_errors_name_repeats_and_jumps() -> None:
    assert counter_errors([14, 15, 0, 0, 2], 16) == [
        "frame 3: counter repeated 0 -> 0 (wanted 1)",
        "frame 4: counter jumped 0 -> 2 (wanted 1)",
    ]


def test_check_frames_reports_checksum_and_counter_problems(mini_db: SignalDatabase) -> None:
    message = mini_db.message("Guarded")
    protection = Protection(
        counter="Guarded_Counter", checksum="Guarded_Crc", algorithm="crc8_j1850"
    )
    frames = []
    for counter in (0, 1, 1, 2):
        data = bytearray(mini_db.encode("Guarded", {"Guarded_Counter": counter})[1])
        protect(data, message, protection, counter)
        frames.append(Frame(0.0, 0x130, bytes(data), signals=mini_db.decode(message, bytes(data))))
    frames[3].data = frames[3].data[:7] + bytes([frames[3].data[7] ^ 1])
    problems = check_frames(frames, message, protection)
    assert problems[0].startswith("frame 3 at 0.0000: Guarded_Crc=")
    assert problems[1] == "frame 2: counter repeated 1 -> 1 (wanted 2)"


@pytest.mark.parametrize(
    ("protection", "key", "problem"),
    [
        (Protection(algorithm="crc16"), "m.algorithm", "no checksum algorithm 'crc16'"),
        (Protection(counter="Cnt"), "m.counter", "Guarded has no signal 'Cnt'"),
        (Protection(algorithm="xor"), "m.checksum", "xor needs a signal"),
        (Protection(checksum="Value", algorithm="xor"), "m.checksum", "must be 8 bits in one byte"),
    ],
)
def test_validate_names_the_key(
    mini_db: SignalDatabase, protection: Protection, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as failure:
        validate(protection, mini_db.message("Guarded"), "ecu.toml", "m")
    assert failure.value.key == key
    assert problem in str(failure.value)


PRIUS = Path("/work/shared/corpus/dbc/opendbc/toyota_prius_2010_pt.dbc")
TOYOTA = Protection(checksum="CHECKSUM", algorithm="toyota")


@pytest.fixture
def prius() -> SignalDatabase:
    if not PRIUS.is_file():
        pytest.skip(f"the opendbc corpus is not here ({PRIUS})")
    return SignalDatabase.load(PRIUS, strict=False)


@pytest.mark.parametrize(
    ("data", "checksum"),
    [
        # opendbc's toyota_checksum, by hand: 8 (length) + 0xB4 (ID) + the bytes but the last
        (bytes(7), 0xBC),
        (bytes(range(1, 8)), (8 + 0xB4 + 28) & 0xFF),
        (bytes([0xFF] * 7), (8 + 0xB4 + 7 * 0xFF) & 0xFF),
    ],
)
def test_a_correct_toyota_checksum_is_reported_correct(
    prius: SignalDatabase, data: bytes, checksum: int
) -> None:
    speed = prius.message("SPEED")  # 0xB4, CHECKSUM in byte 7
    validate(TOYOTA, speed, "bench.toml", "protection.SPEED")
    assert checksum_problem(data + bytes([checksum]), speed, TOYOTA) is None
    wrong = checksum_problem(data + bytes([checksum ^ 1]), speed, TOYOTA)
    assert wrong == f"CHECKSUM=0x{checksum ^ 1:02X}, toyota gives 0x{checksum:02X}"


def test_a_checksum_named_signal_declares_nothing(prius: SignalDatabase) -> None:
    """opendbc's DBCs declare no protection: a signal named CHECKSUM is not a guess of J1850."""
    protection = declared(prius.message("SPEED"))
    assert not protection.declared
    assert checksum_problem(bytes(8), prius.message("SPEED"), protection) is None


def test_the_demo_database_declares_its_protection() -> None:
    db = SignalDatabase.load("dbc/demo_vehicle.dbc")
    assert declared(db.message("ECM_EngineData")) == Protection(
        counter="ECM_Counter", checksum="ECM_Checksum", algorithm="crc8_j1850"
    )
    assert declared(db.message("BCM_DoorStatus")) == Protection(counter="BCM_Counter")
    assert not declared(db.message("BCM_Lights")).declared


HONDA_DBC = """VERSION ""
BS_:
BU_: EPS
BO_ 422 STEER_STATUS: 8 EPS
 SG_ STEER_TORQUE : 7|16@0- (1,0) [-32768|32767] "" XXX
 SG_ COUNTER : 61|2@0+ (1,0) [0|3] "" XXX
 SG_ CHECKSUM : 59|4@0+ (1,0) [0|15] "" XXX
"""


def test_the_honda_nibble_checksum_sits_in_the_low_nibble_of_the_last_byte() -> None:
    loaded = cantools.database.load_string(HONDA_DBC, strict=False)
    assert isinstance(loaded, cantools.database.can.Database)
    db = SignalDatabase(loaded)
    message = db.message("STEER_STATUS")  # 0x1A6: nibbles 1 + 10 + 6 = 17
    honda_crc = Protection(checksum="CHECKSUM", algorithm="honda")
    validate(honda_crc, message, "bench.toml", "protection.STEER_STATUS")
    assert checksum_problem(bytes(7) + bytes([0x07]), message, honda_crc) is None  # (8 - 17) & 0xF
    # the counter nibble above the checksum counts: 0x30 adds 3, so 8 - 20 -> 4
    assert checksum_problem(bytes(7) + bytes([0x34]), message, honda_crc) is None
    assert checksum_problem(bytes(7) + bytes([0x35]), message, honda_crc) is not None
    data = bytearray([1, 2, 3, 4, 5, 6, 7, 0x20])
    protect(data, message, honda_crc, 0)
    assert data[7] >> 4 == 2, "protect writes the checksum nibble only"
    assert checksum_problem(bytes(data), message, honda_crc) is None


def test_a_lab_adds_a_checksum_by_module_function_or_registration(
    mini_db: SignalDatabase,
) -> None:
    message = mini_db.message("Guarded")
    by_path = Protection(checksum="Guarded_Crc", algorithm="harness.canbus.protection:xor")
    validate(by_path, message, "bench.toml", "m")
    data = bytearray(b"\x01\x02\x03\x00\x00\x00\x00\x00")
    protect(data, message, by_path, 0)
    assert data[7] == 0x01 ^ 0x02 ^ 0x03
    CHECKSUMS.register("always_5a", lambda data, index, frame_id: 0x5A)
    registered = Protection(checksum="Guarded_Crc", algorithm="always_5a")
    assert checksum_problem(bytes(7) + b"\x5a", message, registered) is None
    assert "always_5a" in CHECKSUMS.names()


def test_a_bench_declares_what_the_database_does_not(tmp_path: Path, prius: SignalDatabase) -> None:
    bench = tmp_path / "bench.toml"
    bench.write_text(
        f'[bench]\nname = "prius"\n[can.pt]\ninterface = "virtual"\nchannel = "pt"\n'
        f'dbc = "{PRIUS}"\nstrict_dbc = false\ncycle_ms = {{ SPEED = 20 }}\n'
        '[can.pt.protection.SPEED]\nalgorithm = "toyota"\nchecksum = "CHECKSUM"\n'
    )
    channel = load_bench(bench).can["pt"]
    prius.declare(channel.protection, channel.cycle_ms, str(bench), "can.pt")
    assert prius.protection("SPEED") == TOYOTA
    assert prius.message("SPEED").cycle_time == 20
    speed = prius.message("SPEED")
    assert checksum_problem(bytes(7) + b"\xbc", speed, prius.protection("SPEED")) is None
    assert not prius.protection("GEAR_PACKET").declared


@pytest.mark.parametrize(
    ("protection", "key", "problem"),
    [
        ({"SPEDE": TOYOTA}, "can.pt.protection.SPEDE", "no such message (did you mean 'SPEED'?)"),
        (
            {"SPEED": Protection(checksum="CHECKSUM", algorithm="honda")},
            "can.pt.protection.SPEED.checksum",
            "CHECKSUM must be 4 bits in one byte, aligned, for honda",
        ),
    ],
)
def test_a_wrong_bench_declaration_names_the_key(
    prius: SignalDatabase, protection: dict[str, Protection], key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as failure:
        prius.declare(protection, {}, "bench.toml", "can.pt")
    assert failure.value.key == key
    assert problem in str(failure.value)
