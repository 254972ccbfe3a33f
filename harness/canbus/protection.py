"""Rolling counters and checksums: computed by simulations, verified by tests.

One module for both sides, so a residual bus and the test that checks a DUT use
the same arithmetic. Protection is declared, never guessed from signal names: a
DBC declares it with message attributes (:data:`ATTRIBUTES`), an ECU file or a
test passes a :class:`Protection`. A message with nothing declared is "not
verified" by the checks, neither passed nor failed.

Checksum algorithms are a :class:`~harness.plugins.Registry` (:data:`CHECKSUMS`):

- ``crc8_j1850``: SAE J1850 CRC8 (``autosar-e2e``) over every byte but the checksum's.
- ``xor``: XOR of every byte but the checksum's.
- ``toyota``: Toyota's byte sum as opendbc computes it: (payload bytes but the
  checksum's + the frame ID's bytes + the payload length) & 0xFF.
- ``honda``: Honda's 4-bit nibble checksum as opendbc computes it: 8 minus the sum of
  every nibble of the frame ID and the payload (checksum nibble cleared), +3 for an
  extended ID, & 0xF.
- a lab's own: ``"module:function"`` or an entry point of group
  ``harness.checksums``; the function takes (payload with the checksum field
  cleared, the checksum's byte index, frame ID) and returns the value; a ``bits``
  attribute of 4 says it is a nibble (default 8).

AUTOSAR E2E profiles (``e2e_p01``, ``e2e_p02``, ``e2e_p05``) also come from
``autosar-e2e``; the profile fixes where CRC and counter sit (P01/P02: CRC byte
``offset``, counter low nibble of the next byte; P05: CRC16 at ``offset``, counter
in the byte after it).

>>> crc = Protection(checksum="Crc", algorithm="crc8_j1850")   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import e2e.crc
import e2e.p01
import e2e.p02
import e2e.p05
import numpy as np

from harness.exceptions import ConfigError, PluginError
from harness.plugins import Registry, load_object

if TYPE_CHECKING:
    import numpy.typing as npt
    from cantools.database.can import Message, Signal

    from harness.canbus.frame import Frame

ChecksumFunction = Callable[[bytes, int, int], int]
"""(payload with the checksum field cleared, checksum byte index, frame ID) -> value."""


def crc8_j1850(data: bytes, index: int, frame_id: int) -> int:
    """SAE J1850 CRC8 over every payload byte but the checksum's."""
    return int(e2e.crc.calculate_crc8(data[:index] + data[index + 1 :]))


def xor(data: bytes, index: int, frame_id: int) -> int:
    """XOR of every payload byte but the checksum's."""
    result = 0
    for byte in data[:index] + data[index + 1 :]:
        result ^= byte
    return result


def toyota(data: bytes, index: int, frame_id: int) -> int:
    """opendbc's toyota_checksum: byte sum of payload (but the checksum), ID and length."""
    total = len(data) + sum(data[:index] + data[index + 1 :])
    while frame_id:
        total += frame_id & 0xFF
        frame_id >>= 8
    return total & 0xFF


def honda(data: bytes, index: int, frame_id: int) -> int:
    """opendbc's honda_checksum: 8 minus the nibble sum of ID and payload, +3 if extended."""
    total = 0
    extended = frame_id > 0x7FF
    while frame_id:
        total += frame_id & 0xF
        frame_id >>= 4
    total += sum((byte & 0xF) + (byte >> 4) for byte in data)
    return (8 - total + (3 if extended else 0)) & 0xF


honda.bits = 4  # type: ignore[attr-defined]

CHECKSUMS: Registry[ChecksumFunction] = Registry(
    "checksum algorithm",
    "harness.checksums",
    {
        "crc8_j1850": "harness.canbus.protection:crc8_j1850",
        "xor": "harness.canbus.protection:xor",
        "toyota": "harness.canbus.protection:toyota",
        "honda": "harness.canbus.protection:honda",
    },
)
E2E_PROFILES = ("e2e_p01", "e2e_p02", "e2e_p05")

ATTRIBUTES = {
    "algorithm": "HarnessProtection",
    "counter": "HarnessCounter",
    "checksum": "HarnessChecksum",
    "data_id": "HarnessE2EDataId",
    "offset": "HarnessE2EOffset",
}
"""The DBC message attributes (``BA_ ... BO_``) that declare a message's protection."""


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

    @property
    def declared(self) -> bool:
        """Whether there is anything to verify: a counter or an algorithm."""
        return self.counter is not None or self.algorithm is not None


def declared(message: Message) -> Protection:
    """The protection ``message``'s DBC attributes declare (:data:`ATTRIBUTES`);
    nothing declared gives ``Protection()``, which checks report as not verified."""
    dbc = getattr(message, "dbc", None)
    attributes: dict[str, Any] = {}
    if dbc is not None:
        attributes = {name: attribute.value for name, attribute in dbc.attributes.items()}
    found = {field: attributes[name] for field, name in ATTRIBUTES.items() if attributes.get(name)}
    return Protection(
        counter=str(found["counter"]) if "counter" in found else None,
        checksum=str(found["checksum"]) if "checksum" in found else None,
        algorithm=str(found["algorithm"]) if "algorithm" in found else None,
        data_id=int(found.get("data_id", 0)),
        offset=int(found.get("offset", 0)),
    )


def validate(protection: Protection, message: Message, source: str, key: str) -> None:
    """Check a protection against the message it is for; ConfigError naming ``key`` if wrong."""
    names = {s.name for s in message.signals}
    algorithm = protection.algorithm
    if algorithm is not None and algorithm not in E2E_PROFILES:
        try:
            _algorithm(algorithm)
        except PluginError as exc:
            raise ConfigError(source, f"{key}.algorithm", str(exc)) from None
    for field in ("counter", "checksum"):
        signal = getattr(protection, field)
        if signal is not None and signal not in names:
            raise ConfigError(source, f"{key}.{field}", f"{message.name} has no signal {signal!r}")
    if algorithm is not None and not protection.is_e2e:
        if protection.checksum is None:
            raise ConfigError(source, f"{key}.checksum", f"{algorithm} needs a signal")
        signal = message.get_signal_by_name(protection.checksum)
        bits = _bits(_algorithm(algorithm))
        if signal.length != bits or _field_of(signal) is None:
            raise ConfigError(
                source,
                f"{key}.checksum",
                f"{signal.name} must be {bits} bits in one byte, aligned, for {algorithm}",
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
    if algorithm is not None and not protection.is_e2e:
        index, shift, mask = _checksum_field(message, protection)
        value = _checksum(algorithm, data, message, protection)
        data[index] = (data[index] & ~(mask << shift) & 0xFF) | ((value & mask) << shift)
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


def checksum_problem(data: bytes, message: Message, protection: Protection) -> str | None:
    """Why a payload's checksum or E2E CRC is wrong; None when it is right, or when no
    algorithm is declared (then nothing was verified: ``protection.algorithm`` says so)."""
    algorithm = protection.algorithm
    if algorithm is None:
        return None
    if not protection.is_e2e:
        index, shift, mask = _checksum_field(message, protection)
        if index >= len(data):
            return f"payload of {len(data)} bytes has no checksum byte {index}"
        expected = _checksum(algorithm, data, message, protection)
        found = (data[index] >> shift) & mask
        if found == expected:
            return None
        return f"{protection.checksum}=0x{found:02X}, {algorithm} gives 0x{expected:02X}"
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
        problem = checksum_problem(frame.data, message, protection)
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


def _algorithm(name: str) -> ChecksumFunction:
    """A registered checksum algorithm, or ``module:function``."""
    if ":" in name:
        found: ChecksumFunction = load_object(name)
        return found
    return CHECKSUMS.get(name)


def _bits(function: ChecksumFunction) -> int:
    return int(getattr(function, "bits", 8))


def checksum_failures(
    data: npt.NDArray[np.uint8],
    lengths: npt.NDArray[Any],
    message: Message,
    protection: Protection,
) -> npt.NDArray[np.bool_]:
    """Which payloads' checksum or E2E CRC is wrong: :func:`checksum_problem` over many frames (the
    declared algorithm, whichever the registry holds, frame by frame)."""
    count = len(data)
    return np.fromiter(
        (
            checksum_problem(data[i, : int(lengths[i])].tobytes(), message, protection) is not None
            for i in range(count)
        ),
        dtype=bool,
        count=count,
    )


def _checksum(
    algorithm: str, data: bytes | bytearray, message: Message, protection: Protection
) -> int:
    """The checksum over ``data`` with the checksum field cleared."""
    index, shift, mask = _checksum_field(message, protection)
    cleared = bytearray(data)
    cleared[index] &= ~(mask << shift) & 0xFF
    return _algorithm(algorithm)(bytes(cleared), index, int(message.frame_id)) & mask


def _checksum_field(message: Message, protection: Protection) -> tuple[int, int, int]:
    """Byte index, bit shift and mask of the checksum; :func:`validate` made sure of one."""
    field = _field_of(message.get_signal_by_name(str(protection.checksum)))
    assert field is not None, "validate() the protection before using it"
    return field


def _field_of(signal: Signal) -> tuple[int, int, int] | None:
    """(byte, shift, mask) of a signal of 8 or 4 bits that sits within one byte, aligned
    on a byte or nibble, for either byte order; None otherwise."""
    if signal.length not in (4, 8):
        return None
    if signal.byte_order == "little_endian":
        shift = signal.start % 8
    else:
        shift = signal.start % 8 - (signal.length - 1)
    if shift % 4 or shift < 0 or shift + signal.length > 8:
        return None
    return signal.start // 8, shift, (1 << signal.length) - 1
