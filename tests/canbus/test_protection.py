"""Counters and checksums: what simulations write, checks accept; what faults break, they catch."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.canbus.database import SignalDatabase
from harness.canbus.frame import Frame
from harness.canbus.protection import (
    Protection,
    check_frames,
    counter_errors,
    counter_modulo,
    protect,
    validate,
    verify,
)
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
def test_what_protect_writes_verify_accepts(
    mini_db: SignalDatabase, protection: Protection, payload: bytes, counter: int
) -> None:
    message = mini_db.message("Guarded")
    data = bytearray(payload)
    protect(data, message, protection, counter % counter_modulo(message, protection))
    assert verify(bytes(data), message, protection) is None


@pytest.mark.parametrize("protection", PROFILES, ids=lambda p: str(p.algorithm))
@given(payload=payloads, bit=st.integers(0, 63))
def test_a_single_flipped_bit_is_caught(
    mini_db: SignalDatabase, protection: Protection, payload: bytes, bit: int
) -> None:
    message = mini_db.message("Guarded")
    data = bytearray(payload)
    protect(data, message, protection, 3)
    data[bit // 8] ^= 1 << (bit % 8)
    assert verify(bytes(data), message, protection) is not None


def test_verify_explains_a_wrong_checksum(mini_db: SignalDatabase) -> None:
    message = mini_db.message("Guarded")
    data = bytearray(8)
    protect(data, message, PROFILES[0], 0)
    data[7] ^= 0xFF
    assert verify(bytes(data), message, PROFILES[0]).startswith("Guarded_Crc=0x")  # type: ignore[union-attr]
    assert "no checksum byte 7" in str(verify(b"\x00", message, PROFILES[0]))


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
        (Protection(algorithm="crc16"), "m.algorithm", "unknown 'crc16'"),
        (Protection(counter="Cnt"), "m.counter", "Guarded has no signal 'Cnt'"),
        (Protection(algorithm="xor"), "m.checksum", "xor needs a signal"),
        (Protection(checksum="Value", algorithm="xor"), "m.checksum", "must be one whole byte"),
    ],
)
def test_validate_names_the_key(
    mini_db: SignalDatabase, protection: Protection, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as failure:
        validate(protection, mini_db.message("Guarded"), "ecu.toml", "m")
    assert failure.value.key == key
    assert problem in str(failure.value)
