"""Rolling counters and checksums: computed by simulations, verified by tests.

One module for both sides, so a residual bus and the test that checks a DUT use
the same arithmetic. The CRCs and AUTOSAR E2E profiles come from the
``autosar-e2e`` package; only the plain XOR checksum is written here.

Algorithms (``Protection.algorithm``):

- ``crc8_j1850``: SAE J1850 CRC8 over every payload byte except the checksum's own byte.
- ``xor``: XOR of every payload byte except the checksum's own byte.
- ``e2e_p01``, ``e2e_p02``, ``e2e_p05``: AUTOSAR E2E profiles 1, 2 and 5; the profile
  fixes where CRC and counter sit (P01/P02: CRC byte ``offset``, counter low nibble of
  the next byte; P05: CRC16 at ``offset``, counter in the byte after it).

>>> crc = Protection(checksum="Crc", algorithm="crc8_j1850")   # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import e2e.crc
import e2e.p01
import e2e.p02
import e2e.p05
import numpy as np

from harness.exceptions import ConfigError

if TYPE_CHECKING:
    import numpy.typing as npt
    from cantools.database.can import Message, Signal

    from harness.canbus.frame import Frame

CHECKSUM_ALGORITHMS = ("crc8_j1850", "xor")
E2E_PROFILES = ("e2e_p01", "e2e_p02", "e2e_p05")
ALGORITHMS = CHECKSUM_ALGORITHMS + E2E_PROFILES

_COUNTER_NAME = re.compile(r"(counter|_cnt$|^cnt_|alive|rolling)", re.IGNORECASE)
_CHECKSUM_NAME = re.compile(r"(checksum|crc|chks)", re.IGNORECASE)


@dataclass(frozen=True)
class Protection:
    """How one message is protected. Any part may be absent."""

    counter: str | None = None
    """The rolling counter signal (for E2E profiles: the profile's counter)."""
    checksum: str | None = None
    """The checksum signal, for ``crc8_j1850`` and ``xor``."""
    algorithm: str | None = None
    data_id: int = 0
    """E2E data ID (P01, P05)."""
    data_id_list: bytes = bytes(16)
    """E2E data ID list (P02): 16 bytes, one per counter value."""
    offset: int = 0
    """E2E header offset in bytes."""

    @property
    def is_e2e(self) -> bool:
        return self.algorithm in E2E_PROFILES


def detect(message: Message) -> Protection:
    """Guess counter and checksum signals from their names (ECM_Counter, ABS_CRC...)."""
    counter = next((s.name for s in message.signals if _COUNTER_NAME.search(s.name)), None)
    checksum = next(
        (s.name for s in message.signals if s.length == 8 and _CHECKSUM_NAME.search(s.name)), None
    )
    return Protection(counter, checksum, "crc8_j1850" if checksum else None)


def validate(protection: Protection, message: Message, source: str, key: str) -> None:
    """Check a protection against the message it is for; ConfigError naming ``key`` if wrong."""
    names = {s.name for s in message.signals}
    if protection.algorithm is not None and protection.algorithm not in ALGORITHMS:
        raise ConfigError(
            source, f"{key}.algorithm", f"unknown {protection.algorithm!r}; one of {ALGORITHMS}"
        )
    for field in ("counter", "checksum"):
        signal = getattr(protection, field)
        if signal is not None and signal not in names:
            raise ConfigError(source, f"{key}.{field}", f"{message.name} has no signal {signal!r}")
    if protection.algorithm in CHECKSUM_ALGORITHMS:
        if protection.checksum is None:
            raise ConfigError(source, f"{key}.checksum", f"{protection.algorithm} needs a signal")
        signal = message.get_signal_by_name(protection.checksum)
        if signal.length != 8 or _byte_of(signal) is None:
            raise ConfigError(
                source, f"{key}.checksum", f"{signal.name} must be one whole byte (8 bits, aligned)"
            )
    if protection.is_e2e and message.length < protection.offset + 3:
        raise ConfigError(source, f"{key}.offset", f"{message.name} is too short for E2E")


def counter_modulo(message: Message, protection: Protection) -> int:
    """How many values the counter takes before it wraps."""
    if protection.algorithm in ("e2e_p01", "e2e_p02"):
        return 15  # profile 1 and 2 counters run 0..14
    if protection.algorithm == "e2e_p05":
        return 256
    if protection.counter is None:
        return 1
    signal = message.get_signal_by_name(protection.counter)
    return int(signal.maximum) + 1 if signal.maximum is not None else 1 << signal.length


def protect(data: bytearray, message: Message, protection: Protection, counter: int) -> None:
    """Write ``counter`` and the checksum into an encoded payload, in place.

    For ``crc8_j1850``/``xor`` the counter is already encoded by the caller (it is
    an ordinary signal); E2E profiles write their own counter here.
    """
    algorithm = protection.algorithm
    if algorithm in CHECKSUM_ALGORITHMS:
        index = _checksum_byte(message, protection)
        data[index] = _checksum(algorithm, data, index)
    elif algorithm == "e2e_p01":
        at = protection.offset + 1
        data[at] = (data[at] & 0xF0) | (counter & 0x0F)
        e2e.p01.e2e_p01_protect(
            data, protection.data_id, offset=protection.offset, increment_counter=False
        )
    elif algorithm == "e2e_p02":
        data[1] = (data[1] & 0xF0) | (counter & 0x0F)
        e2e.p02.e2e_p02_protect(data, protection.data_id_list, increment_counter=False)
    elif algorithm == "e2e_p05":
        data[protection.offset + 2] = counter & 0xFF
        e2e.p05.e2e_p05_protect(
            data, protection.data_id, offset=protection.offset, increment_counter=False
        )


def verify(data: bytes, message: Message, protection: Protection) -> str | None:
    """Why a payload's checksum is wrong, or None when it is right."""
    algorithm = protection.algorithm
    if algorithm is None:
        return None
    if algorithm in CHECKSUM_ALGORITHMS:
        index = _checksum_byte(message, protection)
        if index >= len(data):
            return f"payload of {len(data)} bytes has no checksum byte {index}"
        expected = _checksum(algorithm, data, index)
        if data[index] == expected:
            return None
        return f"{protection.checksum}=0x{data[index]:02X}, {algorithm} gives 0x{expected:02X}"
    buffer = bytearray(data)
    offset = protection.offset
    try:
        if algorithm == "e2e_p01":
            ok = e2e.p01.e2e_p01_check(buffer, protection.data_id, offset=offset)
        elif algorithm == "e2e_p02":
            ok = e2e.p02.e2e_p02_check(buffer, protection.data_id_list)
        else:
            ok = e2e.p05.e2e_p05_check(buffer, protection.data_id, offset=offset)
    except ValueError as exc:
        return f"{algorithm}: {exc}"
    return None if ok else f"{algorithm} CRC does not match"


def counter_errors(values: Sequence[int], modulo: int) -> list[str]:
    """Where a sequence of counter values does not step by one (mod ``modulo``); the rule
    is :func:`harness.canbus.rules.counter_steps`."""
    from harness.canbus.rules import counter_steps  # noqa: PLC0415 - rules uses this module

    steps = counter_steps(values, modulo)
    errors = []
    for index in sorted([*steps.repeated.tolist(), *steps.jumped.tolist()]):
        before, after = values[index - 1], values[index]
        expected = (before + 1) % modulo
        kind = "repeated" if after == before else "jumped"
        errors.append(f"frame {index}: counter {kind} {before} -> {after} (wanted {expected})")
    return errors


def check_frames(frames: Sequence[Frame], message: Message, protection: Protection) -> list[str]:
    """Every counter and checksum problem in a run of received frames of ``message``."""
    problems = []
    for index, frame in enumerate(frames):
        problem = verify(frame.data, message, protection)
        if problem:
            problems.append(f"frame {index} at {frame.timestamp:.4f}: {problem}")
    counter_of: Callable[[Frame], int] | None = None
    if protection.algorithm in ("e2e_p01", "e2e_p02"):
        at = protection.offset + 1 if protection.algorithm == "e2e_p01" else 1
        counter_of = lambda f: f.data[at] & 0x0F  # noqa: E731
    elif protection.algorithm == "e2e_p05":
        at = protection.offset + 2
        counter_of = lambda f: f.data[at]  # noqa: E731
    elif protection.counter is not None:
        name = protection.counter
        counter_of = lambda f: int(f.signals[name])  # noqa: E731
    if counter_of is not None:
        usable = [f for f in frames if not f.decode_error]
        modulo = counter_modulo(message, protection)
        problems += counter_errors([counter_of(f) for f in usable], modulo)
    return problems


def _checksum(algorithm: str | None, data: bytes | bytearray, index: int) -> int:
    row = np.zeros((1, max(len(data), index + 1)), dtype=np.uint8)
    row[0, : len(data)] = np.frombuffer(bytes(data), dtype=np.uint8)
    return int(checksums(row, len(data), index, str(algorithm))[0])


def checksums(
    data: npt.NDArray[np.uint8], length: int, index: int, algorithm: str
) -> npt.NDArray[np.uint8]:
    """The ``crc8_j1850`` or ``xor`` checksum of many payloads at once: rows of ``data``
    (each ``length`` bytes long), every byte but ``index``. One byte column at a time,
    so a million frames cost a handful of numpy operations per byte."""
    result = np.full(len(data), 0xFF if algorithm == "crc8_j1850" else 0, dtype=np.uint8)
    for column in range(length):
        if column == index:
            continue
        if algorithm == "crc8_j1850":
            result = _CRC8_J1850_TABLE[result ^ data[:, column]]
        else:
            result ^= data[:, column]
    if algorithm == "crc8_j1850":
        result ^= 0xFF
    return result


def checksum_failures(
    data: npt.NDArray[np.uint8],
    lengths: npt.NDArray[Any],
    message: Message,
    protection: Protection,
) -> npt.NDArray[np.bool_]:
    """Which payloads' checksum or E2E CRC is wrong (:func:`verify` over many frames;
    the byte-wise checksums in bulk, E2E profiles frame by frame through autosar-e2e)."""
    count = len(data)
    if protection.algorithm in CHECKSUM_ALGORITHMS:
        index = _checksum_byte(message, protection)
        failed = np.asarray(lengths) <= index
        for length in np.unique(np.asarray(lengths)).tolist():
            rows = np.flatnonzero(np.asarray(lengths) == length)
            if length > index:
                computed = checksums(data[rows], int(length), index, protection.algorithm)
                failed[rows] = computed != data[rows, index]
        return failed
    if protection.is_e2e:
        return np.fromiter(
            (
                verify(data[i, : int(lengths[i])].tobytes(), message, protection) is not None
                for i in range(count)
            ),
            dtype=bool,
            count=count,
        )
    return np.zeros(count, dtype=bool)


def _crc8_table(polynomial: int) -> npt.NDArray[np.uint8]:
    table = np.zeros(256, dtype=np.uint8)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ polynomial) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table[byte] = crc
    return table


_CRC8_J1850_TABLE = _crc8_table(0x1D)
"""SAE J1850 CRC8: polynomial 0x1D, initial value and final XOR 0xFF."""


def _checksum_byte(message: Message, protection: Protection) -> int:
    """The checksum's byte; :func:`validate` has made sure there is one."""
    index = _byte_of(message.get_signal_by_name(str(protection.checksum)))
    assert index is not None, "validate() the protection before using it"
    return index


def _byte_of(signal: Signal) -> int | None:
    """The byte an aligned 8-bit signal occupies, for either byte order."""
    if signal.byte_order == "little_endian":
        return signal.start // 8 if signal.start % 8 == 0 else None
    return signal.start // 8 if signal.start % 8 == 7 else None
