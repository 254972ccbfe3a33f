"""The CAN timing suite's rules as functions of arrays: one implementation, live and offline.

The live suite (``testsuites/can_timing``, through :mod:`harness.canbus.expect`)
hands these a few frames' timestamps or values; ``harness analyze``
(:mod:`harness.trace.analysis`) hands them millions. Each rule is a numpy
expression, so both get the same verdict for the same traffic.

A rule that has nothing to judge by (no cycle time, no range) is not called:
the caller reports "not tested", never a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt
    from cantools.database.can import Signal

CYCLE_TOLERANCE = 0.10
"""Allowed deviation of the mean interval from the cycle time (a fraction)."""
MAX_GAP_CYCLES = 2.0
"""The longest gap allowed between two frames of a cyclic message, in cycle times."""


@dataclass(frozen=True)
class Intervals:
    """What the intervals between consecutive frames of one message were (seconds)."""

    count: int
    mean: float
    minimum: float
    maximum: float
    p99: float
    jitter: float
    """Standard deviation of the intervals."""
    longest_at: float
    """Timestamp of the frame after which the longest interval began."""

    def summary(self) -> str:
        return (
            f"mean {self.mean * 1000:.3f} ms, min {self.minimum * 1000:.3f} ms, "
            f"max {self.maximum * 1000:.3f} ms, p99 {self.p99 * 1000:.3f} ms, "
            f"jitter {self.jitter * 1000:.3f} ms"
        )


def intervals(timestamps: Sequence[float] | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The gaps between consecutive timestamps."""
    return np.diff(np.asarray(timestamps, dtype=np.float64))


def interval_stats(timestamps: Sequence[float] | npt.NDArray[np.float64]) -> Intervals | None:
    """Mean, min, max, p99 and jitter of the intervals; None with fewer than two frames."""
    stamps = np.asarray(timestamps, dtype=np.float64)
    gaps = np.diff(stamps)
    if len(gaps) == 0:
        return None
    longest = int(np.argmax(gaps))
    return Intervals(
        count=len(gaps),
        mean=float(gaps.mean()),
        minimum=float(gaps.min()),
        maximum=float(gaps[longest]),
        p99=float(np.percentile(gaps, 99)),
        jitter=float(gaps.std()),
        longest_at=float(stamps[longest]),
    )


@dataclass(frozen=True)
class CycleVerdict:
    """The cycle-time rule's finding: the window the mean must fall in, and the intervals
    outside it (only filled when every interval is judged)."""

    passed: bool
    low: float
    high: float
    mean: float
    outside: npt.NDArray[np.float64]


def check_cycle(
    gaps: Sequence[float] | npt.NDArray[np.float64],
    expected: float,
    tolerance: float = CYCLE_TOLERANCE,
    *,
    each: bool = False,
) -> CycleVerdict:
    """The mean interval (and, with ``each``, every interval) within ``tolerance`` of
    ``expected`` seconds. Needs at least one interval."""
    values = np.asarray(gaps, dtype=np.float64)
    if len(values) == 0:
        raise ValueError("check_cycle needs at least one interval")
    low, high = expected * (1 - tolerance), expected * (1 + tolerance)
    mean = float(values.mean())
    outside = values[(values < low) | (values > high)] if each else values[:0]
    passed = bool(low <= mean <= high) and len(outside) == 0
    return CycleVerdict(passed, low, high, mean, outside)


def gaps_over(
    timestamps: Sequence[float] | npt.NDArray[np.float64],
    limit: float,
    *,
    end: float | None = None,
) -> npt.NDArray[np.intp]:
    """Indices of the frames after which no frame came for more than ``limit`` seconds;
    with ``end``, the silence from the last frame to ``end`` counts too (index = last)."""
    stamps = np.asarray(timestamps, dtype=np.float64)
    if end is not None and len(stamps):
        stamps = np.append(stamps, max(end, stamps[-1]))
    found: npt.NDArray[np.intp] = np.flatnonzero(np.diff(stamps) > limit)
    return found


def longest_gap(
    timestamps: Sequence[float] | npt.NDArray[np.float64], *, end: float | None = None
) -> tuple[float, float]:
    """(the longest silence, the timestamp it began at); with ``end`` the silence after
    the last frame counts. Needs at least one frame."""
    stamps = np.asarray(timestamps, dtype=np.float64)
    if len(stamps) == 0:
        raise ValueError("longest_gap needs at least one frame")
    if end is not None:
        stamps = np.append(stamps, max(end, stamps[-1]))
    gaps = np.diff(stamps)
    if len(gaps) == 0:
        return 0.0, float(stamps[0])
    at = int(np.argmax(gaps))
    return float(gaps[at]), float(stamps[at])


@dataclass(frozen=True)
class CounterSteps:
    """Where a rolling counter did not step by one: index ``i`` is the step from frame
    ``i - 1`` to frame ``i``."""

    repeated: npt.NDArray[np.intp]
    """Steps where the counter stayed (a freeze)."""
    jumped: npt.NDArray[np.intp]
    """Steps where it skipped or went back."""

    @property
    def count(self) -> int:
        return len(self.repeated) + len(self.jumped)


def counter_steps(values: Sequence[int] | npt.NDArray[Any], modulo: int) -> CounterSteps:
    """The counter rule: each value is the previous one plus one, modulo ``modulo``."""
    counts = np.asarray(values, dtype=np.int64)
    before, after = counts[:-1], counts[1:]
    wrong = after != (before + 1) % modulo
    same = after == before
    return CounterSteps(
        repeated=np.flatnonzero(wrong & same) + 1, jumped=np.flatnonzero(wrong & ~same) + 1
    )


def wrong_length(lengths: Sequence[int] | npt.NDArray[Any], expected: int) -> npt.NDArray[np.bool_]:
    """The length rule: frames whose payload is not the DBC's message length."""
    result: npt.NDArray[np.bool_] = np.asarray(lengths) != expected
    return result


@dataclass(frozen=True)
class RangeFinding:
    """Masks of the values that break a signal's DBC range."""

    below: npt.NDArray[np.bool_]
    above: npt.NDArray[np.bool_]
    not_finite: npt.NDArray[np.bool_]

    @property
    def any(self) -> npt.NDArray[np.bool_]:
        result: npt.NDArray[np.bool_] = self.below | self.above | self.not_finite
        return result


def has_range(signal: Signal) -> bool:
    """Whether the DBC gives the signal a range to check against (not 0..0)."""
    low, high = signal.minimum, signal.maximum
    if low is None and high is None:
        return False
    return not (low == 0 and high == 0)


def out_of_range(values: npt.NDArray[Any] | Sequence[float], signal: Signal) -> RangeFinding:
    """The range rule: physical values outside the signal's DBC minimum..maximum (by more
    than a millionth of its scale); value-table entries (e.g. 99 "UNKNOWN") are allowed.
    NaN marks a frame without the signal (another multiplexer branch) and is skipped."""
    array = np.asarray(values, dtype=np.float64)
    present = ~np.isnan(array)
    if signal.choices:
        present &= ~np.isin(array, np.array([float(k) for k in signal.choices]))
    slack = abs(float(signal.scale)) * 1e-6
    low, high = signal.minimum, signal.maximum
    below = present & (array < low - slack) if low is not None else np.zeros_like(present)
    above = present & (array > high + slack) if high is not None else np.zeros_like(present)
    not_finite = present & np.isinf(array)
    return RangeFinding(below & ~not_finite, above & ~not_finite, not_finite)


def range_problem(signal: Signal, value: Any) -> str | None:
    """Why one decoded value breaks the signal's DBC range, or None (the live suite's form
    of :func:`out_of_range`). Value-table names are never out of range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # a named value of the signal's value table
    finding = out_of_range(np.array([float(value)]), signal)
    if finding.below[0]:
        return f"{signal.name}={value:g} below the DBC minimum {signal.minimum:g}"
    if finding.above[0]:
        return f"{signal.name}={value:g} above the DBC maximum {signal.maximum:g}"
    if finding.not_finite[0]:
        return f"{signal.name}={value} is not a finite number"
    return None


def undeclared(
    keys: npt.NDArray[Any] | Sequence[int], declared: npt.NDArray[Any] | Sequence[int]
) -> npt.NDArray[np.bool_]:
    """The communication-matrix rule: frames whose (ID, frame type) key the DBC lacks."""
    result: npt.NDArray[np.bool_] = ~np.isin(np.asarray(keys), np.asarray(declared))
    return result


def frame_key(arbitration_id: Any, extended: Any) -> Any:
    """One int64 per (ID, extended) pair: an 11-bit and a 29-bit ID 0x100 differ."""
    return (np.asarray(arbitration_id, dtype=np.int64) << 1) | np.asarray(extended, dtype=np.int64)


def frame_bits(
    lengths: npt.NDArray[Any],
    extended: npt.NDArray[np.bool_],
    fd: npt.NDArray[np.bool_],
    *,
    bitrate: float,
    data_bitrate: float | None = None,
) -> npt.NDArray[np.float64]:
    """Bus time of each frame, in nominal bit times, without stuff bits (ISO 11898-1 frame
    layout, 3 bits of interframe space). CAN FD data phases count at ``data_bitrate``
    (the nominal rate when not given); the CRC is 17 bits up to 16 bytes, 21 above."""
    n = np.asarray(lengths, dtype=np.float64)
    ext = np.asarray(extended, dtype=bool)
    classic = np.where(ext, 67.0, 47.0) + 8 * n
    ratio = bitrate / (data_bitrate or bitrate)
    arbitration = np.where(ext, 32.0, 13.0) + 17  # SOF..BRS, then ESI..EOF + IFS nominal
    data_phase = 4 + 8 * n + np.where(n > 16, 26.0, 22.0)  # DLC, data, stuff count, CRC
    fd_bits = arbitration + data_phase * ratio
    result: npt.NDArray[np.float64] = np.where(np.asarray(fd, dtype=bool), fd_bits, classic)
    return result


def bus_load(bits: float, duration: float, bitrate: float) -> float:
    """The fraction of ``duration`` seconds the bus was busy carrying ``bits`` bit times."""
    if duration <= 0 or not math.isfinite(duration):
        return math.nan
    return bits / (bitrate * duration)
