"""The CAN timing suite's checks over a recorded trace, chunk by chunk on the columnar engine.

Each rule is :mod:`harness.canbus.rules`, the one the live ``can_timing`` suite
uses; this module only gathers a trace's frames per (channel, message) and
hands them over. Verdicts are earned:

- cycle time and gaps: only for messages with a declared period (the DBC's
  GenMsgCycleTime, or ``periods``); others are "not tested";
- counters and checksums: only where they are declared (the DBC's attributes, read by
  :func:`harness.canbus.protection.declared`, as the live suite does); others are
  "not verified";
- ranges: only for signals whose DBC range is not 0..0;
- bus load: only with a bitrate (from ``--bench``).

Times in findings are seconds after the first frame. Timestamps, counter
values and the first offenders are kept per message; payloads and decoded
columns are dropped after each chunk, so memory grows with the frame count by
16 bytes per frame at most.

>>> db = SignalDatabase.load("dbc/demo_vehicle.dbc")  # doctest: +SKIP
>>> analyze_trace("run.blf", [db]).failed              # doctest: +SKIP
False
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.canbus import rules
from harness.canbus.database import SignalDatabase
from harness.canbus.protection import (
    Protection,
    checksum_failures,
    counter_modulo,
    declared,
)
from harness.trace.columnar.engine import read_frames
from harness.trace.columnar.signals import MessageDecoder

if TYPE_CHECKING:
    import os
    from pathlib import Path

    import numpy.typing as npt
    from cantools.database.can import Message

    from harness.trace.columnar.frames import FrameChunk

PASSED, FAILED, NOT_TESTED, NOT_VERIFIED = "passed", "failed", "not tested", "not verified"

CHECKS = (
    "cycle_time",
    "gaps",
    "length",
    "range",
    "counter",
    "checksum",
    "undeclared_ids",
    "error_frames",
    "bus_load",
)
"""Every check, in report order."""

REQUIREMENTS = {
    "cycle_time": "CAN-001",
    "length": "CAN-002",
    "range": "CAN-003",
    "counter": "CAN-004",
    "checksum": "CAN-004",
    "undeclared_ids": "CAN-005",
    "gaps": "CAN-007",
}
"""The live suite's requirement each check stands for (``testsuites/can_timing``)."""

EXAMPLES = 5
"""Offenders kept per check and message, for the report."""

BUS_LOAD_LIMIT = 0.70
"""Bus load above this fraction of the bitrate is a violation (a common design limit)."""


@dataclass(frozen=True)
class Finding:
    """One check's verdict on one message (or channel, or the whole trace)."""

    check: str
    subject: str
    verdict: str
    figure: str
    """What was measured, in words (or why nothing was)."""
    examples: tuple[str, ...] = ()

    @property
    def requirement(self) -> str | None:
        return REQUIREMENTS.get(self.check)


@dataclass
class _Message:
    """What the trace held of one message on one channel, gathered across chunks."""

    channel: str
    definition: Message
    decoder: MessageDecoder
    protection: Protection
    stamps: list[npt.NDArray[np.float64]] = field(default_factory=list)
    counters: list[npt.NDArray[np.int64]] = field(default_factory=list)
    wrong_length: int = 0
    length_examples: list[str] = field(default_factory=list)
    undecodable: int = 0
    out_of_range: Counter[str] = field(default_factory=Counter)
    range_examples: list[str] = field(default_factory=list)
    bad_checksums: int = 0
    checksum_examples: list[str] = field(default_factory=list)

    def timestamps(self) -> npt.NDArray[np.float64]:
        return np.concatenate(self.stamps) if self.stamps else np.zeros(0)


@dataclass
class _Channel:
    frames: int = 0
    bits: float = 0.0
    first: float = math.inf
    last: float = -math.inf
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    undeclared: Counter[str] = field(default_factory=Counter)


@dataclass
class Analysis:
    """Everything ``harness analyze`` found in one or more traces."""

    traces: list[str]
    frames: int = 0
    findings: list[Finding] = field(default_factory=list)
    intervals: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float]] = field(
        default_factory=dict
    )
    """Subject -> (timestamps, intervals, expected period) for plots of cyclic messages."""

    @property
    def failed(self) -> bool:
        return any(f.verdict == FAILED for f in self.findings)

    def counts(self) -> Counter[str]:
        return Counter(f.verdict for f in self.findings)

    @classmethod
    def combined(cls, named: Iterable[tuple[str, Analysis]]) -> Analysis:
        """Analyses of separate recordings as one: each subject led by its recording's
        name (``drive3.blf: BCM_DoorStatus``), since a gap between two files is no gap."""
        result = cls([])
        for name, analysis in named:
            result.traces += analysis.traces
            result.frames += analysis.frames
            result.findings += [
                dataclasses.replace(f, subject=f"{name}: {f.subject}") for f in analysis.findings
            ]
            result.intervals.update(
                (f"{name}: {subject}", drawn) for subject, drawn in analysis.intervals.items()
            )
        return result


class TraceAnalyzer:
    """The checks, fed chunk after chunk (of one trace or several), then :meth:`finish`."""

    def __init__(
        self,
        databases: Sequence[SignalDatabase],
        *,
        periods: Mapping[str, float] | None = None,
        bitrate: float | None = None,
        data_bitrate: float | None = None,
        messages: Iterable[str] | None = None,
    ) -> None:
        self.only = None if messages is None else set(messages)
        """Message names whose per-message checks run (None: every message in the trace)."""
        self.periods = dict(periods or {})
        """Message name -> declared period in seconds, over the DBC's GenMsgCycleTime."""
        self.bitrate = bitrate
        self.data_bitrate = data_bitrate
        self.definitions: dict[int, Message] = {}
        for db in databases:
            cdb = db.cantools if isinstance(db, SignalDatabase) else db
            for message in cdb.messages:
                key = int(rules.frame_key(message.frame_id, message.is_extended_frame))
                self.definitions.setdefault(key, message)
        self.declared = np.array(sorted(self.definitions), dtype=np.int64)
        self._decoders: dict[int, MessageDecoder] = {}
        self.messages: dict[tuple[str, str], _Message] = {}
        self.channels: dict[str, _Channel] = {}
        self.frames = 0
        self.start = 0.0
        """The first frame's timestamp: times in findings are seconds after it."""

    def feed(self, chunk: FrameChunk) -> None:
        count = len(chunk)
        if count == 0:
            return
        if self.frames == 0:
            self.start = float(chunk.timestamp[0])
        self.frames += count
        keys = rules.frame_key(chunk.arbitration_id, chunk.is_extended_id)
        data_frames = ~(chunk.is_error_frame | chunk.is_remote_frame)
        unknown = rules.undeclared(keys, self.declared) & data_frames
        self._per_channel(chunk, unknown)
        for key in np.unique(keys[data_frames & ~unknown]).tolist():
            definition = self.definitions[key]
            if self.only is not None and definition.name not in self.only:
                continue
            where = data_frames & (keys == key)
            for code in np.unique(chunk.channel[where]).tolist():
                rows = np.flatnonzero(where & (chunk.channel == code))
                self._per_message(chunk, chunk.channels[code], key, definition, rows)

    def _per_channel(self, chunk: FrameChunk, unknown: npt.NDArray[np.bool_]) -> None:
        for code in np.unique(chunk.channel).tolist():
            name = chunk.channels[code]
            state = self.channels.setdefault(name, _Channel())
            on = chunk.channel == code
            stamps = chunk.timestamp[on]
            state.frames += len(stamps)
            state.first = min(state.first, float(stamps.min()))
            state.last = max(state.last, float(stamps.max()))
            if self.bitrate:
                bits = rules.frame_bits(
                    chunk.length[on],
                    chunk.is_extended_id[on],
                    chunk.is_fd[on],
                    bitrate=self.bitrate,
                    data_bitrate=self.data_bitrate,
                )
                state.bits += float(bits.sum())
            errors = np.flatnonzero(on & chunk.is_error_frame)
            state.errors += len(errors)
            for row in errors[: max(0, EXAMPLES - len(state.error_examples))].tolist():
                state.error_examples.append(
                    f"error frame at {chunk.timestamp[row] - self.start:.6f} s"
                )
            strangers = on & unknown
            if strangers.any():
                ids, counts = np.unique(
                    rules.frame_key(
                        chunk.arbitration_id[strangers], chunk.is_extended_id[strangers]
                    ),
                    return_counts=True,
                )
                for key, seen in zip(ids.tolist(), counts.tolist(), strict=True):
                    state.undeclared[_id_text(key)] += seen

    def _per_message(
        self,
        chunk: FrameChunk,
        channel: str,
        key: int,
        definition: Message,
        rows: npt.NDArray[np.intp],
    ) -> None:
        state = self.messages.get((channel, definition.name))
        if state is None:
            decoder = self._decoders.get(key)
            if decoder is None:
                decoder = self._decoders[key] = MessageDecoder(definition, allow_truncated=False)
            state = self.messages[(channel, definition.name)] = _Message(
                channel, definition, decoder, declared(definition)
            )
        stamps = chunk.timestamp[rows]
        state.stamps.append(stamps)
        lengths = chunk.length[rows]
        wrong = np.flatnonzero(rules.wrong_length(lengths, definition.length))
        state.wrong_length += len(wrong)
        for i in wrong[: max(0, EXAMPLES - len(state.length_examples))].tolist():
            state.length_examples.append(f"{lengths[i]} bytes at {stamps[i] - self.start:.6f} s")
        data = chunk.data[rows]
        protection = state.protection
        if protection.algorithm is not None:
            failed = np.flatnonzero(checksum_failures(data, lengths, definition, protection))
            state.bad_checksums += len(failed)
            for i in failed[: max(0, EXAMPLES - len(state.checksum_examples))].tolist():
                payload = data[i, : int(lengths[i])].tobytes().hex(" ").upper()
                state.checksum_examples.append(f"at {stamps[i] - self.start:.6f} s: {payload}")
        decoded = state.decoder.decode(data, lengths)
        state.undecodable += decoded.undecodable
        if len(decoded.rows) == 0:
            return
        at = stamps[decoded.rows]
        for signal in definition.signals:
            if signal.name not in decoded.columns or not rules.has_range(signal):
                continue
            values = _floats(decoded.columns[signal.name])
            bad = np.flatnonzero(rules.out_of_range(values, signal).any)
            if len(bad):
                state.out_of_range[signal.name] += len(bad)
                for i in bad[: max(0, EXAMPLES - len(state.range_examples))].tolist():
                    state.range_examples.append(
                        f"{signal.name}={values[i]:g} outside "
                        f"{signal.minimum:g}..{signal.maximum:g} at {at[i] - self.start:.6f} s"
                    )
        counter = _counter_values(protection, decoded.columns, data[decoded.rows])
        if counter is not None:
            state.counters.append(counter)

    def finish(self, traces: Sequence[str]) -> Analysis:
        """The findings, in check order per subject."""
        result = Analysis(list(traces), frames=self.frames)
        several = len(self.channels) > 1
        for (channel, name), state in sorted(self.messages.items()):
            subject = f"{channel}/{name}" if several else name
            result.findings += self._message_findings(subject, state, result)
        for name, bus in sorted(self.channels.items()):
            result.findings += self._channel_findings(f"channel {name or '0'}", bus)
        return result

    def _message_findings(self, subject: str, state: _Message, result: Analysis) -> list[Finding]:
        definition = state.definition
        findings = []
        stamps = state.timestamps()
        stats = rules.interval_stats(stamps)
        period = self.periods.get(definition.name)
        if period is None and definition.cycle_time:
            period = float(definition.cycle_time) / 1000
        if period is None:
            findings.append(Finding("cycle_time", subject, NOT_TESTED, "no cycle time declared"))
            findings.append(Finding("gaps", subject, NOT_TESTED, "no cycle time declared"))
        elif stats is None:
            findings.append(Finding("cycle_time", subject, NOT_TESTED, "fewer than two frames"))
            findings.append(Finding("gaps", subject, NOT_TESTED, "fewer than two frames"))
        else:
            gaps = rules.intervals(stamps)
            result.intervals[subject] = (stamps[1:], gaps, period)
            verdict = rules.check_cycle(gaps, period)
            findings.append(
                Finding(
                    "cycle_time",
                    subject,
                    PASSED if verdict.passed else FAILED,
                    f"mean {stats.mean * 1000:.3f} ms, expected {period * 1000:g} ms "
                    f"±{rules.CYCLE_TOLERANCE:.0%} ({verdict.low * 1000:.3f}..."
                    f"{verdict.high * 1000:.3f} ms); min {stats.minimum * 1000:.3f} ms, "
                    f"max {stats.maximum * 1000:.3f} ms, p99 {stats.p99 * 1000:.3f} ms, "
                    f"jitter {stats.jitter * 1000:.3f} ms "
                    f"over {stats.count} intervals",
                )
            )
            limit = rules.MAX_GAP_CYCLES * period
            over = rules.gaps_over(stamps, limit)
            findings.append(
                Finding(
                    "gaps",
                    subject,
                    FAILED if len(over) else PASSED,
                    f"{len(over)} gap(s) over {limit * 1000:g} ms "
                    f"({rules.MAX_GAP_CYCLES:g} periods); longest {stats.maximum * 1000:.3f} ms "
                    f"from {stats.longest_at - self.start:.6f} s",
                    tuple(
                        f"{(stamps[i + 1] - stamps[i]) * 1000:.3f} ms "
                        f"from {stamps[i] - self.start:.6f} s"
                        for i in over[:EXAMPLES].tolist()
                    ),
                )
            )
        frames = len(stamps)
        findings.append(
            Finding(
                "length",
                subject,
                FAILED if state.wrong_length else PASSED,
                f"{state.wrong_length} of {frames} frame(s) not {definition.length} bytes",
                tuple(state.length_examples),
            )
        )
        ranged = [s for s in definition.signals if rules.has_range(s)]
        if not ranged:
            findings.append(Finding("range", subject, NOT_TESTED, "no signal with a DBC range"))
        else:
            total = sum(state.out_of_range.values())
            worst = ", ".join(f"{n} {c}" for n, c in state.out_of_range.most_common(3))
            findings.append(
                Finding(
                    "range",
                    subject,
                    FAILED if total else PASSED,
                    f"{total} value(s) outside the DBC range"
                    + (f" ({worst})" if worst else f" in {len(ranged)} signal(s)")
                    + (f"; {state.undecodable} frame(s) undecodable" if state.undecodable else ""),
                    tuple(state.range_examples),
                )
            )
        findings.append(self._counter_finding(subject, state))
        protection = state.protection
        if protection.algorithm is None:
            findings.append(Finding("checksum", subject, NOT_VERIFIED, "no checksum declared"))
        else:
            findings.append(
                Finding(
                    "checksum",
                    subject,
                    FAILED if state.bad_checksums else PASSED,
                    f"{state.bad_checksums} of {frames} frame(s) with a wrong "
                    f"{protection.algorithm} ({protection.checksum or 'E2E header'})",
                    tuple(state.checksum_examples),
                )
            )
        return findings

    def _counter_finding(self, subject: str, state: _Message) -> Finding:
        protection = state.protection
        if protection.counter is None and not protection.is_e2e:
            return Finding("counter", subject, NOT_VERIFIED, "no rolling counter declared")
        values = np.concatenate(state.counters) if state.counters else np.zeros(0, np.int64)
        if len(values) < 2:
            return Finding("counter", subject, NOT_TESTED, "fewer than two decoded frames")
        modulo = counter_modulo(state.definition, protection)
        steps = rules.counter_steps(values, modulo)
        offenders = sorted([*steps.jumped.tolist(), *steps.repeated.tolist()])[:EXAMPLES]
        examples = tuple(f"frame {i}: {values[i - 1]} -> {values[i]}" for i in offenders)
        return Finding(
            "counter",
            subject,
            FAILED if steps.count else PASSED,
            f"{len(steps.jumped)} skip(s), {len(steps.repeated)} freeze(s) in "
            f"{len(values) - 1} steps of {protection.counter or protection.algorithm} "
            f"(modulo {modulo})",
            examples,
        )

    def _channel_findings(self, subject: str, state: _Channel) -> list[Finding]:
        findings = []
        strangers = sum(state.undeclared.values())
        listed = ", ".join(f"{i} ({c})" for i, c in state.undeclared.most_common(EXAMPLES))
        findings.append(
            Finding(
                "undeclared_ids",
                subject,
                FAILED if strangers else PASSED,
                f"{len(state.undeclared)} undeclared ID(s) in {strangers} frame(s)"
                + (f": {listed}" if listed else ""),
            )
        )
        findings.append(
            Finding(
                "error_frames",
                subject,
                FAILED if state.errors else PASSED,
                f"{state.errors} error frame(s) in {state.frames} frame(s)",
                tuple(state.error_examples),
            )
        )
        duration = state.last - state.first
        if not self.bitrate:
            findings.append(Finding("bus_load", subject, NOT_TESTED, "no bitrate (give --bench)"))
        elif duration <= 0:
            findings.append(Finding("bus_load", subject, NOT_TESTED, "trace shorter than a frame"))
        else:
            load = rules.bus_load(state.bits, duration, self.bitrate)
            findings.append(
                Finding(
                    "bus_load",
                    subject,
                    FAILED if load > BUS_LOAD_LIMIT else PASSED,
                    f"{load:.1%} of {self.bitrate / 1000:g} kbit/s over {duration:.3f} s "
                    f"(limit {BUS_LOAD_LIMIT:.0%}, stuff bits not counted)",
                )
            )
        return findings


def analyze_trace(
    traces: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    databases: Sequence[SignalDatabase],
    *,
    periods: Mapping[str, float] | None = None,
    bitrate: float | None = None,
    data_bitrate: float | None = None,
    messages: Iterable[str] | None = None,
) -> Analysis:
    """Run every check over one trace (or several, as one recording in the order given)."""
    paths = [traces] if isinstance(traces, str) or not isinstance(traces, Sequence) else traces
    analyzer = TraceAnalyzer(
        databases, periods=periods, bitrate=bitrate, data_bitrate=data_bitrate, messages=messages
    )
    for path in paths:
        for chunk in read_frames(path):
            analyzer.feed(chunk)
    return analyzer.finish([str(p) for p in paths])


def analyze_file(path: Path, *, plots: bool = True, **options: Any) -> Analysis:
    """:func:`analyze_trace` of one file, as a fleet task: without ``plots`` the intervals
    kept for the HTML report's plots (16 bytes a frame) stay on the worker."""
    result = analyze_trace(path, **options)
    if not plots:
        result.intervals.clear()
    return result


def _floats(column: pa.Array) -> npt.NDArray[np.float64]:
    """A decoded column as float64 with NaN where the signal is absent."""
    values: npt.NDArray[np.float64] = (
        pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    )
    return values


def _counter_values(
    protection: Protection, columns: Mapping[str, pa.Array], data: npt.NDArray[np.uint8]
) -> npt.NDArray[np.int64] | None:
    """The rolling counter of each decoded frame, as the live rule reads it."""
    if protection.algorithm in ("e2e_p01", "e2e_p02"):
        at = protection.offset + 1 if protection.algorithm == "e2e_p01" else 1
        return (data[:, at] & 0x0F).astype(np.int64)
    if protection.algorithm == "e2e_p05":
        return data[:, protection.offset + 2].astype(np.int64)
    if protection.counter is not None and protection.counter in columns:
        column = columns[protection.counter]
        values = _floats(column)
        return values[~np.isnan(values)].astype(np.int64)
    return None


def keys_of(chunk: FrameChunk, rows: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """The (ID, frame type) keys of some of a chunk's frames."""
    keys: npt.NDArray[np.int64] = rules.frame_key(
        chunk.arbitration_id[rows], chunk.is_extended_id[rows]
    )
    return keys


def _id_text(key: int) -> str:
    frame_id, extended = key >> 1, key & 1
    return f"0x{frame_id:08X}" if extended else f"0x{frame_id:03X}"
