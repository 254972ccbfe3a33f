"""Temporal expectations over a channel's traffic, event-driven and race-free.

:class:`TrafficView` holds a :class:`~harness.canbus.history.History` and the
database that decodes it, and answers questions about the traffic: *eventually*
(:meth:`~TrafficView.wait_for`), *never* (:meth:`~TrafficView.expect_never`),
*always* (:meth:`~TrafficView.expect_always`), *in order*
(:meth:`~TrafficView.expect_sequence`), plus :meth:`~TrafficView.collect` and
:meth:`~TrafficView.cycle_time`. Each wait returns the moment the deciding
frame arrives; a failure raises :class:`~harness.exceptions.ExpectationError`
whose text reads like a bug report.

``where`` selects frames by signal values. In a dict each value may be a number
(compared with a float tolerance), a value-table name (``"UNLOCKED"``), a
``range``, a helper such as :func:`between`, any callable taking the value, or
any other value that compares with ``==`` (``pytest.approx(50)``);
``where`` may also be a callable taking the whole :class:`Frame`. On a J1939
channel a dict may also name the frame's ``priority``, ``pgn``, ``source_address``
and ``destination_address`` (a signal of the same name wins).

>>> since = body.mark()                                             # doctest: +SKIP
>>> body.send("BCM_Request", DoorUnlock=1)                          # doctest: +SKIP
>>> body.wait_for("BCM_DoorStatus", where={"DriverDoorLocked": "UNLOCKED"},
...               since=since, timeout=0.2)                         # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cantools.database.namedsignalvalue import NamedSignalValue

from harness import clock
from harness.canbus import rules
from harness.canbus.protection import Protection, check_frames
from harness.canbus.saej1939.addressing import FIELDS as J1939_FIELDS
from harness.datafile import suggest
from harness.exceptions import ExpectationError, HarnessError, NotVerifiedError, UnknownNameError

if TYPE_CHECKING:
    from harness.canbus.database import SignalDatabase
    from harness.canbus.frame import Frame
    from harness.canbus.history import History, Mark

Where = Mapping[str, Any] | Callable[["Frame"], bool] | None
MessageRef = str | int | None
"""A message by database name, by arbitration ID, or None for any frame."""

EVIDENCE_FRAMES = 8
"""How many frames of the expected message a failure shows."""

_MISSING = object()


class _Predicate:
    """A named callable for ``where`` values, so failures print ``between(0, 10)``."""

    def __init__(self, text: str, test: Callable[[Any], bool]) -> None:
        self.text = text
        self.test = test

    def __call__(self, value: Any) -> bool:
        return _is_number(value) and self.test(_number(value))

    def __repr__(self) -> str:
        return self.text


def between(low: float, high: float) -> _Predicate:
    """Matches values with ``low <= value <= high``."""
    return _Predicate(f"between({low}, {high})", lambda v: low <= v <= high)


def above(limit: float) -> _Predicate:
    """Matches values greater than ``limit``."""
    return _Predicate(f"above({limit})", lambda v: v > limit)


def below(limit: float) -> _Predicate:
    """Matches values less than ``limit``."""
    return _Predicate(f"below({limit})", lambda v: v < limit)


def one_of(*choices: Any) -> Callable[[Any], bool]:
    """Matches a value equal to any of ``choices`` (numbers or value-table names)."""

    def test(value: Any) -> bool:
        return any(value_matches(value, choice) for choice in choices)

    return _Predicate(f"one_of{choices!r}", test) if all(map(_is_number, choices)) else test


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | NamedSignalValue) and not isinstance(value, bool)


def _number(value: Any) -> Any:
    return value.value if isinstance(value, NamedSignalValue) else value


def value_matches(actual: Any, wanted: Any) -> bool:
    """Whether a decoded signal value satisfies one ``where`` condition."""
    if actual is _MISSING:
        return False
    if isinstance(wanted, str):
        return str(actual) == wanted
    if isinstance(wanted, range):
        number = _number(actual)
        return isinstance(number, int | float) and number in wanted
    if callable(wanted):
        return bool(wanted(actual))
    number = _number(actual)
    if isinstance(wanted, int | float) and (isinstance(number, float) or isinstance(wanted, float)):
        return isinstance(number, int | float) and math.isclose(
            number, wanted, rel_tol=1e-9, abs_tol=1e-9
        )
    return bool(number == wanted)  # anything else that compares: pytest.approx, Decimal, ...


def _value(frame: Frame, key: str) -> Any:
    """A ``where`` key's value in a frame: its signal, else a J1939 field it carries."""
    value = frame.signals.get(key, _MISSING)
    if value is _MISSING and key in J1939_FIELDS:
        field = getattr(frame, key)
        return _MISSING if field is None else field
    return value


class Matcher:
    """Which frames an expectation is about (``selects``) and which satisfy it (``accepts``).

    Names are checked against the database up front, so a typo fails at once
    with a suggestion instead of as a timeout.
    """

    def __init__(
        self, db: SignalDatabase | None, message: MessageRef, where: Where, *, sent: bool = False
    ) -> None:
        self.message = message
        self.where = where
        self.sent = sent
        self.name: str | None = None
        self.arbitration_id: int | None = None
        self.ids: frozenset[int] | None = None
        """The arbitration IDs of the frames it can select (None: any frame), so a wait
        is woken only by those."""
        if isinstance(message, str):
            if db is None:
                raise UnknownNameError(f"no database to look up message {message!r} in")
            definition = db.message(message)
            self.name = definition.name
            if not db.is_j1939_message(definition):  # J1939: any source address, any priority
                self.ids = frozenset((definition.frame_id,))  # a frame's name comes from its ID
        elif isinstance(message, int):
            self.arbitration_id = message
            self.ids = frozenset((message,))
        if isinstance(where, Mapping):
            self._check_where(db, where)

    def _check_where(self, db: SignalDatabase | None, where: Mapping[str, Any]) -> None:
        if db is None or self.name is None:
            return
        definition = db.message(self.name)
        signals = {s.name: s for s in definition.signals}
        for signal_name, wanted in where.items():
            signal = signals.get(signal_name)
            if signal is None and signal_name in J1939_FIELDS and db.is_j1939_message(definition):
                continue
            if signal is None:
                hint = suggest(signal_name, sorted(signals))
                raise UnknownNameError(f"message {self.name!r} has no signal {signal_name!r}{hint}")
            if isinstance(wanted, str):
                names = [str(v) for v in (signal.choices or {}).values()]
                if wanted not in names:
                    known = ", ".join(names) or "none (the signal has no value table)"
                    raise UnknownNameError(
                        f"{self.name}.{signal_name} has no value {wanted!r}"
                        f"{suggest(wanted, names)}; its values: {known}"
                    )

    def selects(self, frame: Frame) -> bool:
        """The frame is one this expectation is about (right direction, right message)."""
        if frame.is_rx == self.sent:
            return False
        if self.name is not None:
            return frame.name == self.name
        if self.arbitration_id is not None:
            return frame.arbitration_id == self.arbitration_id
        return True

    def accepts(self, frame: Frame) -> bool:
        """A selected frame also satisfies ``where``."""
        where = self.where
        if where is None:
            return True
        if callable(where):
            return bool(where(frame))
        return all(value_matches(_value(frame, k), v) for k, v in where.items())

    def __call__(self, frame: Frame) -> bool:
        return self.selects(frame) and self.accepts(frame)

    def misses(self, frame: Frame) -> list[str]:
        """The ``where`` conditions the frame failed, as ``Signal=actual (wanted X)``."""
        where = self.where
        if where is None or frame.decode_error:
            return [f"undecodable: {frame.decode_error}"] if frame.decode_error else []
        if callable(where):
            return [] if where(frame) else [f"predicate {_callable_name(where)} was false"]
        misses = []
        for name, wanted in where.items():
            actual = _value(frame, name)
            if not value_matches(actual, wanted):
                shown = "missing" if actual is _MISSING else _show(actual)
                misses.append(f"{name}={shown} (wanted {_show(wanted)})")
        return misses

    def describe(self) -> str:
        if self.name is not None:
            subject = self.name
        elif self.arbitration_id is not None:
            subject = f"frame 0x{self.arbitration_id:X}"
        else:
            subject = "any frame"
        if self.where is None:
            return subject
        if callable(self.where):
            return f"{subject} where {_callable_name(self.where)}"
        conditions = ", ".join(f"{k} == {_show(v)}" for k, v in self.where.items())
        return f"{subject} where {conditions}"


def _show(value: Any) -> str:
    if isinstance(value, str | NamedSignalValue):
        return repr(str(value))
    if isinstance(value, float):
        return f"{value:g}"
    if callable(value) and not isinstance(value, _Predicate):
        return _callable_name(value)
    return repr(value)


def _callable_name(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


@dataclass(frozen=True)
class Step:
    """One step of :meth:`TrafficView.expect_sequence`.

    ``within`` is measured from the previous step's frame (for the first step,
    from ``since``); None means "before the sequence's overall timeout".
    """

    message: MessageRef
    where: Where = None
    within: float | None = None


@dataclass(frozen=True)
class CycleTime:
    """Measured intervals of a periodic message, from the interface's timestamps."""

    message: str
    expected: float | None
    intervals: tuple[float, ...]
    frames: tuple[Frame, ...]
    channel: str = ""

    @property
    def mean(self) -> float:
        return statistics.fmean(self.intervals)

    @property
    def minimum(self) -> float:
        return min(self.intervals)

    @property
    def maximum(self) -> float:
        return max(self.intervals)

    @property
    def jitter(self) -> float:
        """Standard deviation of the intervals."""
        return statistics.pstdev(self.intervals)

    def check(self, tolerance: float = 0.10, *, each: bool = False) -> CycleTime:
        """Raise ExpectationError unless the mean interval (and, with ``each``, every
        interval) is within ``tolerance`` (a fraction) of the expected cycle time."""
        __tracebackhide__ = True  # failures point at the test, not here
        if self.expected is None:
            raise ExpectationError(
                f"{self.message} has no GenMsgCycleTime in the database; "
                "pass expected= to cycle_time()"
            )
        verdict = rules.check_cycle(self.intervals, self.expected, tolerance, each=each)
        if verdict.passed:
            return self
        low, high, bad = verdict.low, verdict.high, verdict.outside.tolist()
        what = "every interval" if each else "mean interval"
        headline = (
            f"expected {what} of {self.message} on {self.channel!r} within "
            f"{self.expected * 1000:g} ms ±{tolerance:.0%} "
            f"({low * 1000:.3f}..{high * 1000:.3f} ms)"
        )
        lines = [
            headline,
            f"measured over {len(self.intervals)} intervals: {self.summary()}",
        ]
        if bad:
            worst = sorted(bad, key=lambda i: abs(i - self.expected), reverse=True)[:5]
            lines.append("worst: " + ", ".join(f"{i * 1000:.3f} ms" for i in worst))
        raise ExpectationError("\n".join(lines), evidence=self.frames)

    def summary(self) -> str:
        return (
            f"mean {self.mean * 1000:.3f} ms, min {self.minimum * 1000:.3f} ms, "
            f"max {self.maximum * 1000:.3f} ms, jitter {self.jitter * 1000:.3f} ms"
        )


class TrafficView:
    """Expectations over one channel's history; :class:`~harness.canbus.channel.Channel`
    adds the bus. Every wait takes ``since=`` a :class:`Mark` (default: now)."""

    def __init__(self, name: str, db: SignalDatabase | None, history: History) -> None:
        self.name = name
        self.db = db
        self.history = history
        self.trace_path: Path | None = None
        """Where this channel's traffic is being recorded, if it is (shown in failures)."""
        self._matchers: dict[tuple[MessageRef, bool], tuple[SignalDatabase | None, Matcher]] = {}

    def _matcher(self, message: MessageRef, where: Where, *, sent: bool = False) -> Matcher:
        """A Matcher, reused when there is no ``where``: a wait in a tight loop (one reply
        after another) should not look its message up again each time."""
        if where is not None:
            return Matcher(self.db, message, where, sent=sent)
        key = (message, sent)
        cached = self._matchers.get(key)
        if cached is not None and cached[0] is self.db:
            return cached[1]
        matcher = Matcher(self.db, message, None, sent=sent)
        self._matchers[key] = (self.db, matcher)
        return matcher

    # -- looking at what arrived ---------------------------------------------------

    def mark(self) -> Mark:
        """Remember this point in the traffic; pass it as ``since=`` to miss nothing after it."""
        return self.history.mark()

    def frames(
        self, message: MessageRef = None, where: Where = None, since: Mark | None = None
    ) -> list[Frame]:
        """Received frames kept in the history (from ``since`` on) that match."""
        matcher = self._matcher(message, where)
        start = since.seq if since is not None else 0
        return [f for f in self.history.since(start) if matcher(f)]

    def latest(self, message: MessageRef, where: Where = None) -> Frame | None:
        """The newest received frame of ``message`` that matches, or None."""
        matcher = self._matcher(message, where)
        for frame in reversed(self.history.since(0)):
            if matcher(frame):
                return frame
        return None

    # -- expectations -------------------------------------------------------------

    def wait_for(
        self,
        message: MessageRef,
        where: Where = None,
        *,
        timeout: float = 1.0,
        since: Mark | None = None,
        sent: bool = False,
    ) -> Frame:
        """Wait until a matching frame arrives (after ``since``) and return it.

        Returns the moment the frame arrives; raises ExpectationError with the
        frames that came instead when ``timeout`` seconds pass first. With
        ``sent=True`` it waits for a frame this channel sent instead.
        """
        __tracebackhide__ = True  # failures point at the test, not here
        matcher = self._matcher(message, where, sent=sent)
        start = since if since is not None else self.mark()
        deadline = clock.now() + timeout
        found: list[Frame] = []

        def decide(frame: Frame) -> bool:
            if frame.timestamp <= deadline and matcher(frame):
                found.append(frame)
                return True
            return False

        if self._scan(start.seq, deadline, decide, matcher.ids):
            return found[0]
        raise self._failure(
            f"expected {matcher.describe()} on {self.name!r} within {timeout:g} s", matcher, start
        )

    def expect_never(
        self,
        message: MessageRef = None,
        where: Where = None,
        *,
        for_: float,
        since: Mark | None = None,
    ) -> list[Frame]:
        """Fail at the first matching frame within ``for_`` seconds of ``since``.

        With neither ``message`` nor ``where``: the channel must stay silent.
        Returns the frames of ``message`` seen in the window (none matched).
        """
        __tracebackhide__ = True  # failures point at the test, not here
        matcher = self._matcher(message, where)
        start = since if since is not None else self.mark()
        seen, bad = self._watch(matcher, start, for_, matcher.accepts)
        if bad is not None:
            raise self._failure(
                f"expected no {matcher.describe()} on {self.name!r} for {for_:g} s, "
                f"but one arrived at {bad.timestamp - start.timestamp:+.4f} s",
                matcher,
                start,
                deciding=bad,
            )
        return seen

    def expect_always(
        self,
        message: MessageRef,
        where: Where,
        *,
        for_: float,
        since: Mark | None = None,
    ) -> list[Frame]:
        """Every frame of ``message`` within ``for_`` seconds must match; at least one must come.

        Fails at the first frame that does not match. Returns the frames seen.
        """
        __tracebackhide__ = True  # failures point at the test, not here
        matcher = self._matcher(message, where)
        start = since if since is not None else self.mark()
        seen, bad = self._watch(matcher, start, for_, lambda frame: not matcher.accepts(frame))
        if bad is not None:
            raise self._failure(
                f"expected every {matcher.describe()} on {self.name!r} for {for_:g} s, but at "
                f"{bad.timestamp - start.timestamp:+.4f} s: {'; '.join(matcher.misses(bad))}",
                matcher,
                start,
                deciding=bad,
            )
        if not seen:
            raise self._failure(
                f"expected {matcher.describe()} on {self.name!r} throughout {for_:g} s, "
                "but none arrived",
                matcher,
                start,
            )
        return seen

    def expect_sequence(
        self, *steps: Step, timeout: float = 1.0, since: Mark | None = None
    ) -> list[Frame]:
        """Wait for ``steps`` in order, each within its ``within`` of the previous one.

        Returns one frame per step. Fails when a step's deadline or the overall
        ``timeout`` passes first, saying which step was missing.
        """
        __tracebackhide__ = True  # failures point at the test, not here
        if not steps:
            raise ValueError("expect_sequence needs at least one step")
        matchers = [self._matcher(s.message, s.where) for s in steps]
        start = since if since is not None else self.mark()
        overall = clock.now() + timeout
        found: list[Frame] = []

        def step_deadline() -> float:
            within = steps[len(found)].within
            if within is None:
                return overall
            previous = found[-1].timestamp if found else start.timestamp
            return min(overall, previous + within)

        def decide(frame: Frame) -> bool:
            if frame.timestamp > step_deadline():
                return False
            if matchers[len(found)](frame):
                found.append(frame)
            return len(found) == len(steps)

        if self._scan(start.seq, step_deadline, decide, _union(m.ids for m in matchers)):
            return found
        index = len(found)
        matcher, step = matchers[index], steps[index]
        if step.within is None:
            limit = f"within {timeout:g} s"
        else:
            limit = f"within {step.within:g} s of " + (f"step {index}" if index else "the mark")
        done = "".join(
            f"\n  step {i + 1} ok: {f.describe(start.timestamp)}" for i, f in enumerate(found)
        )
        raise self._failure(
            f"expected step {index + 1} of {len(steps)}: {matcher.describe()} on "
            f"{self.name!r} {limit}{done}",
            matcher,
            start,
        )

    def collect(
        self,
        message: MessageRef = None,
        where: Where = None,
        *,
        duration: float,
        since: Mark | None = None,
    ) -> list[Frame]:
        """All matching frames received in the ``duration`` seconds after ``since``."""
        __tracebackhide__ = True  # failures point at the test, not here
        matcher = self._matcher(message, where)
        start = since if since is not None else self.mark()
        end = start.timestamp + duration
        frames: list[Frame] = []

        def keep(frame: Frame) -> bool:
            if frame.timestamp <= end and matcher(frame):
                frames.append(frame)
            return False

        self._scan(start.seq, end, keep, matcher.ids)
        return frames

    def cycle_time(
        self,
        message: str,
        *,
        samples: int = 20,
        timeout: float | None = None,
        expected: float | None = None,
        since: Mark | None = None,
    ) -> CycleTime:
        """Measure ``samples`` intervals of ``message``; ``.check(tolerance)`` compares them
        with ``expected`` (seconds) or the database's GenMsgCycleTime."""
        __tracebackhide__ = True  # failures point at the test, not here
        if samples < 1:
            raise ValueError("samples must be at least 1")
        matcher = self._matcher(message, None)
        if expected is None and self.db is not None and matcher.name is not None:
            cycle_ms = self.db.message(matcher.name).cycle_time
            expected = cycle_ms / 1000 if cycle_ms else None
        if timeout is None:
            timeout = 1.0 + 2 * (samples + 1) * (expected or 0.1)
        start = since if since is not None else self.mark()
        frames: list[Frame] = []

        def decide(frame: Frame) -> bool:
            if matcher(frame):
                frames.append(frame)
            return len(frames) > samples

        if not self._scan(start.seq, clock.now() + timeout, decide, matcher.ids):
            raise self._failure(
                f"expected {samples + 1} frames of {message} on {self.name!r} to measure "
                f"{samples} intervals within {timeout:g} s, got {len(frames)}",
                matcher,
                start,
            )
        stamps = [f.bus_timestamp or f.timestamp for f in frames]
        intervals = tuple(b - a for a, b in itertools.pairwise(stamps))
        return CycleTime(message, expected, intervals, tuple(frames), self.name)

    def check_protection(
        self,
        message: str,
        *,
        samples: int = 10,
        protection: Protection | None = None,
        timeout: float | None = None,
        since: Mark | None = None,
    ) -> tuple[Frame, ...]:
        """Receive ``samples`` frames of ``message`` and fail if any rolling counter or
        checksum is wrong. ``protection`` defaults to what the bench or the database
        declares (:meth:`SignalDatabase.protection`); with nothing declared, raises
        :class:`~harness.exceptions.NotVerifiedError`: names are never guessed."""
        __tracebackhide__ = True  # failures point at the test, not here
        db = require_db(self)
        definition = db.message(message)
        protection = protection or db.protection(message)
        if not protection.declared:
            raise NotVerifiedError(f"{message}: no counter or checksum declared")
        measured = self.cycle_time(
            message, samples=max(1, samples - 1), timeout=timeout, since=since
        )
        problems = check_frames(measured.frames, definition, protection)
        if problems:
            shown = "\n  ".join(problems[:10])
            more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
            raise ExpectationError(
                f"{message} on {self.name!r}: {len(problems)} counter/checksum problem(s) in "
                f"{len(measured.frames)} frames:\n  {shown}{more}\n{self._channel_footer()}",
                evidence=measured.frames,
            )
        return measured.frames

    # -- machinery ------------------------------------------------------------------

    def _watch(
        self, matcher: Matcher, start: Mark, for_: float, violates: Callable[[Frame], bool]
    ) -> tuple[list[Frame], Frame | None]:
        """Watch the window of ``for_`` seconds after ``start``: the frames of the message that
        came, and the first that ``violates`` (the scan stops there), or None."""
        end = start.timestamp + for_
        seen: list[Frame] = []
        offender: list[Frame] = []

        def decide(frame: Frame) -> bool:
            if frame.timestamp > end or not matcher.selects(frame):
                return False
            if violates(frame):
                offender.append(frame)
                return True
            seen.append(frame)
            return False

        self._scan(start.seq, end, decide, matcher.ids)
        return seen, offender[0] if offender else None

    def _scan(
        self,
        seq: int,
        deadline: float | Callable[[], float],
        decide: Callable[[Frame], bool],
        ids: frozenset[int] | None = None,
    ) -> bool:
        """Feed every frame from ``seq`` on whose arbitration ID is in ``ids`` (every frame
        when None) to ``decide`` as it arrives, until ``decide`` returns True (-> True) or
        the deadline passes (-> False).

        Only those frames wake the waiting thread; ``decide`` must not need the others.
        ``deadline`` may be a callable, re-read after every batch, so a sequence
        can move it as steps complete. Frames that arrived before the deadline but
        were not yet examined are still fed; ``decide`` ignores frames stamped
        after its window.
        """
        moving, fixed = (deadline, 0.0) if callable(deadline) else (None, deadline)
        with self.history.watch(seq, ids) as watch:
            while True:
                remaining = (fixed if moving is None else moving()) - clock.now()
                batch = watch.next(remaining if remaining > 0 else 0.0)
                for frame in batch:
                    if decide(frame):
                        return True
                if not batch and remaining <= 0:
                    return False

    def _failure(
        self, headline: str, matcher: Matcher, start: Mark, *, deciding: Frame | None = None
    ) -> ExpectationError:
        """An ExpectationError with the evidence: frames of the message, the closest miss,
        the rest of the traffic, and where the trace is. The first line names the deciding
        frame: ``deciding`` (one that broke the expectation), else the closest miss."""
        window = self.history.since(start.seq)
        relevant = [f for f in window if matcher.selects(f)]
        lines = [headline]
        if relevant:
            shown = relevant[-EVIDENCE_FRAMES:]
            lines.append(
                f"received {len(relevant)} frame(s) of {matcher.message or 'traffic'} "
                "since the mark"
                + (f"; the last {len(shown)}:" if len(shown) < len(relevant) else ":")
            )
            lines.extend(f"  {f.describe(start.timestamp)}" for f in shown)
            if deciding is None and matcher.where is not None:
                deciding = max(relevant, key=lambda f: (-len(matcher.misses(f)), f.timestamp))
                lines.append(
                    f"closest miss at {deciding.timestamp - start.timestamp:+.4f} s: "
                    + "; ".join(matcher.misses(deciding))
                )
        else:
            others = Counter(f.name or f.id_text() for f in window if f.is_rx)
            lines.append(f"no {matcher.message or 'frame'} arrived since the mark")
            if others:
                summary = ", ".join(f"{n} x{c}" for n, c in others.most_common(6))
                lines.append(f"other traffic on {self.name!r}: {summary}")
            else:
                lines.append(f"the channel {self.name!r} received nothing at all")
        lines.append(self._channel_footer(len(window)))
        if deciding is not None:
            lines[0] += f"; deciding frame: {deciding.describe(start.timestamp)}"
        return ExpectationError(
            "\n".join(lines),
            evidence=tuple(relevant[-EVIDENCE_FRAMES:]),
            deciding=deciding,
            origin=start.timestamp,
        )

    def _channel_footer(self, since_mark: int | None = None) -> str:
        """The channel's frame count (since the mark, as the traffic section counts them
        too), evictions and trace."""
        history = self.history
        trace = str(self.trace_path) if self.trace_path else "not recorded"
        evicted = f", {history.evicted} evicted from history" if history.evicted else ""
        count = f"{history.count} frames"
        if since_mark is not None:
            count = f"{since_mark} frames since the mark, {history.count} in all"
        return f"channel {self.name!r}: {count}{evicted}; trace: {trace}"


def _union(ids: Iterable[frozenset[int] | None]) -> frozenset[int] | None:
    """The IDs any of several matchers can select; None when one of them takes any frame."""
    union: set[int] = set()
    for some in ids:
        if some is None:
            return None
        union |= some
    return frozenset(union)


def require_db(view: TrafficView) -> SignalDatabase:
    """The view's database, or a clear error when the bench gave the channel none."""
    if view.db is None:
        raise HarnessError(f"channel {view.name!r} has no database (set `dbc` in the bench file)")
    return view.db
