"""``harness monitor``: a bench's CAN traffic, live and decoded, one row per message.

One reader thread per channel follows the channel's
:class:`~harness.canbus.history.History` with ``wait_new`` (it wakes when
frames arrive, not on a timer) and feeds :class:`TrafficStats`; the main
thread redraws at ``--refresh`` Hz. Statistics cost O(1) per frame, so a busy
bus (thousands of frames/s) costs little more than a quiet one.

On a terminal the table updates in place until Ctrl-C or ``--duration``;
otherwise (a pipe, a CI log) it collects for the duration and prints the
table once. Either way the bench is closed and the final table is shown.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import click
from rich.console import Group, JustifyMethod
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness import clock
from harness.bench import Bench
from harness.cli.output import make_console
from harness.config import load_bench, over_multicast, overrides_from_env, resolve_bench_path
from harness.exceptions import HarnessError, HistoryOverflowError, ResourceError

if TYPE_CHECKING:
    from rich.console import Console

    from harness.canbus.channel import Channel
    from harness.canbus.database import SignalDatabase
    from harness.canbus.frame import Frame

PIPE_DURATION = 5.0
"""Seconds to collect when stdout is not a terminal and no --duration was given."""

CYCLE_WINDOW = 16
"""Intervals averaged into the measured cycle time: recent enough to follow changes."""

SIGNALS_WIDTH = 80
"""Characters of decoded signals (or raw bytes) shown per row before cutting with "…"."""

READER_WAKE = 0.1
"""Longest a reader waits on its channel before checking whether the monitor is stopping."""

RowKey = tuple[str, bool, bool, int, bool]
"""(channel, is_rx, is_extended_id, arbitration_id, is_error): one row of the table."""


class MessageStats:
    """Running statistics of one message ID on one channel, updated in O(1) per frame.

    The cycle time is the mean of the last ``window`` intervals between the
    interface's timestamps (``bus_timestamp``; the arrival time if it has none).

    >>> from harness.canbus.frame import Frame
    >>> stats = MessageStats("Status", expected=0.02)
    >>> for t in (1.00, 1.02, 1.04):
    ...     stats.add(Frame(t, 0x110, b"", bus_timestamp=t))
    >>> stats.count, round(stats.cycle_time or 0, 3)
    (3, 0.02)
    """

    __slots__ = ("_intervals", "_previous", "count", "expected", "last", "name")

    def __init__(
        self, name: str | None = None, expected: float | None = None, window: int = CYCLE_WINDOW
    ) -> None:
        self.name = name
        self.expected = expected
        """The database's cycle time in seconds (GenMsgCycleTime), None for event messages."""
        self.count = 0
        self.last: Frame | None = None
        self._previous: float | None = None
        self._intervals: deque[float] = deque(maxlen=window)

    def add(self, frame: Frame) -> None:
        """Count the frame, remember it as the latest, and record the interval to it."""
        self.count += 1
        self.last = frame
        stamp = frame.bus_timestamp or frame.timestamp
        if self._previous is not None and stamp >= self._previous:
            self._intervals.append(stamp - self._previous)
        self._previous = stamp

    @property
    def cycle_time(self) -> float | None:
        """Mean of the recent intervals in seconds; None until two frames arrived."""
        if not self._intervals:
            return None
        return sum(self._intervals) / len(self._intervals)


@dataclass(frozen=True)
class Row:
    """One line of the table, copied out of the statistics under their lock."""

    channel: str
    is_rx: bool
    id_text: str
    name: str
    count: int
    cycle_time: float | None
    expected: float | None
    known: bool
    content: str


class TrafficStats:
    """Statistics per message of several channels; readers add, the display takes rows.

    Thread-safe: each reader thread calls :meth:`add` with its batches.
    """

    def __init__(self, databases: Mapping[str, SignalDatabase | None]) -> None:
        self._databases = dict(databases)
        self._lock = threading.Lock()
        self._messages: dict[RowKey, MessageStats] = {}
        self.total = 0
        self.missed: dict[str, int] = dict.fromkeys(databases, 0)
        """Frames per channel the monitor fell too far behind to see (history overflow)."""
        self.started = clock.now()
        self.stopped: float | None = None
        """When the readers stopped; the rate is over the time they ran."""

    def add(self, frames: Iterable[Frame]) -> None:
        with self._lock:
            messages = self._messages
            for frame in frames:
                key = (
                    frame.channel,
                    frame.is_rx,
                    frame.is_extended_id,
                    frame.arbitration_id,
                    frame.is_error,
                )
                stats = messages.get(key)
                if stats is None:
                    stats = messages[key] = self._new_stats(frame)
                stats.add(frame)
                self.total += 1

    def add_missed(self, channel: str, count: int) -> None:
        with self._lock:
            self.missed[channel] = self.missed.get(channel, 0) + count

    def _new_stats(self, frame: Frame) -> MessageStats:
        db = self._databases.get(frame.channel)
        if frame.is_error or db is None:
            return MessageStats()
        definition = db.message_for(frame.arbitration_id, frame.is_extended_id)
        if definition is None:
            return MessageStats()
        cycle_ms = definition.cycle_time
        return MessageStats(definition.name, cycle_ms / 1000 if cycle_ms else None)

    def rows(self) -> list[Row]:
        """The table's rows ordered by channel, direction, frame type and ID."""
        with self._lock:
            items = sorted(self._messages.items(), key=lambda item: item[0])
            return [_row(key, stats) for key, stats in items]

    def rate(self) -> float:
        """Frames per second while the monitor ran."""
        elapsed = (self.stopped or clock.now()) - self.started
        return self.total / elapsed if elapsed > 0 else 0.0


def _row(key: RowKey, stats: MessageStats) -> Row:
    channel, is_rx, extended, arbitration_id, is_error = key
    last = stats.last
    assert last is not None  # a MessageStats exists because a frame arrived
    if is_error:
        id_text, name = "error", "error frame"
    else:
        id_text = f"0x{arbitration_id:0{8 if extended else 3}X}"
        name = stats.name or "?"
    return Row(
        channel,
        is_rx,
        id_text,
        name,
        stats.count,
        stats.cycle_time,
        stats.expected,
        stats.name is not None,
        frame_content(last),
    )


def frame_content(frame: Frame, width: int = SIGNALS_WIDTH) -> str:
    """Decoded signals ``Name=value ...``, else the bytes in hex; cut to ``width``."""
    if frame.signals:
        text = " ".join(f"{k}={_value(v)}" for k, v in frame.signals.items())
    else:
        text = frame.data.hex(" ") or "(no data)"
        if frame.decode_error:
            text += f" [undecodable: {frame.decode_error}]"
    return text if len(text) <= width else text[: width - 1] + "…"


def _value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def ms(seconds: float | None) -> str:
    """Seconds as milliseconds for the table (``20.1 ms``); ``-`` for none."""
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


# -- reading ----------------------------------------------------------------------------


class Reader(threading.Thread):
    """Follows one channel's history from its first frame, feeding every batch to the stats."""

    def __init__(self, channel: Channel, stats: TrafficStats, stop: threading.Event) -> None:
        super().__init__(name=f"monitor-{channel.name}", daemon=True)
        self.channel = channel
        self.stats = stats
        self.stop = stop
        self.error: HarnessError | None = None

    def run(self) -> None:
        history = self.channel.history
        seq = 0
        try:
            while not self.stop.is_set():
                try:
                    batch = history.wait_new(seq, READER_WAKE)
                except HistoryOverflowError:
                    # Fell behind by a whole history: count the loss and carry on from now.
                    mark = history.mark()
                    self.stats.add_missed(self.channel.name, mark.seq - seq)
                    seq = mark.seq
                    continue
                seq += len(batch)
                self.stats.add(batch)
        except HarnessError as exc:  # the bus died: say so, and stop the monitor
            self.error = exc
            self.stop.set()


# -- the command ------------------------------------------------------------------------


@click.command(name="monitor")
@click.option(
    "--bench",
    "bench_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Bench file (default: $HARNESS_BENCH, else fixtures/benches/virtual.toml).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one key of the bench file (repeatable); after $HARNESS_BENCH_SET.",
)
@click.option(
    "-c",
    "--channel",
    "channel_names",
    multiple=True,
    metavar="NAME",
    help="Watch only this bench channel (repeatable; default: all).",
)
@click.option(
    "-d",
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help=f"Stop after this long (default: until Ctrl-C; {PIPE_DURATION:g} s when not a terminal).",
)
@click.option(
    "--refresh",
    type=click.FloatRange(min=0.1, max=60),
    default=4.0,
    show_default=True,
    metavar="HZ",
    help="Redraws per second of the live table.",
)
@click.option(
    "--multicast",
    is_flag=True,
    help="Watch `harness simulate` running in another process: carry virtual channels "
    "over udp_multicast and start no simulated ECUs here.",
)
def monitor(
    bench_file: Path | None,
    overrides: tuple[str, ...],
    channel_names: tuple[str, ...],
    duration: float | None,
    refresh: float,
    multicast: bool,
) -> None:
    """Watch a bench's CAN traffic live, decoded with the bench's databases.

    One row per message ID seen on each channel: count, measured cycle time
    (mean of the recent intervals), expected cycle time (GenMsgCycleTime),
    and the latest decoded signals, or the raw bytes of IDs no database
    knows. The footer shows total frames, frames/s and frames evicted from
    the channels' histories. Ctrl-C stops and prints the final table.

    When stdout is not a terminal the table is printed once, at the end.

    \b
    Examples:
      harness monitor
      harness monitor --bench lab.toml --channel body --duration 10
      harness monitor --set can.body.channel=can1 > traffic.txt
      harness monitor --multicast     # while `harness simulate` runs elsewhere
    """
    config = load_bench(resolve_bench_path(bench_file), [*overrides_from_env(), *overrides])
    if multicast:
        config = replace(over_multicast(config), simulation=MappingProxyType({}))
    interactive = _interactive()
    if duration is None and not interactive:
        duration = PIPE_DURATION
        click.echo(
            f"monitor: stdout is not a terminal; collecting for {PIPE_DURATION:g} s "
            "(set --duration)",
            err=True,
        )
    console = make_console()
    with Bench.open(config) as bench:
        chosen = dict.fromkeys(channel_names) or bench.can  # each channel once, in order
        channels = [bench.can[name] for name in chosen]
        if not channels:
            raise ResourceError(f"bench {bench.name!r} has no CAN channels to monitor")
        session = Session(bench.name, channels)
        session.start()
        if interactive:
            session.run_live(console, duration, refresh)
        else:
            session.run_quiet(
                duration,
                f"monitor: watching {session.names} on bench {bench.name!r} for "
                f"{duration:g} s; Ctrl-C stops early",
            )
            console.print(session.render())
    session.raise_failure()


def _interactive() -> bool:
    """Whether stdout is a terminal that can take a live display (not FORCE_COLOR in CI)."""
    return sys.stdout.isatty()


class Session:
    """One run of the monitor: the channels, their readers and the statistics."""

    def __init__(self, bench: str, channels: Sequence[Channel]) -> None:
        self.bench = bench
        self.channels = list(channels)
        self.names = ", ".join(c.name for c in self.channels)
        self.stats = TrafficStats({c.name: c.db for c in self.channels})
        self.done = threading.Event()
        """Set to stop the readers; a reader whose bus dies sets it too."""
        self.readers = [Reader(c, self.stats, self.done) for c in self.channels]

    def start(self) -> None:
        for reader in self.readers:
            reader.start()

    def run_quiet(self, duration: float | None, note: str) -> None:
        """Collect until ``duration`` passes, a reader fails or Ctrl-C; then stop the readers.

        ``note`` goes to stderr once Ctrl-C is handled, so whoever reads it may interrupt.
        """
        try:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends a run early, cleanly
                click.echo(note, err=True)
                self.done.wait(duration)
        finally:
            self.stop()

    def run_live(self, console: Console, duration: float | None, refresh: float) -> None:
        """Redraw the table ``refresh`` times a second until ``duration`` passes or Ctrl-C;
        the last drawing, made after the readers stopped, stays on the screen."""
        deadline = clock.Deadline(duration) if duration is not None else None
        interval = 1.0 / refresh
        with Live(self.render(), console=console, auto_refresh=False) as live:
            try:
                with contextlib.suppress(KeyboardInterrupt):  # how a live view usually ends
                    while not self.done.wait(
                        interval if deadline is None else min(interval, deadline.remaining())
                    ):
                        if deadline is not None and deadline.expired():
                            break
                        live.update(self.render(), refresh=True)
            finally:
                self.stop()
                live.update(self.render(), refresh=True)

    def stop(self) -> None:
        """Stop the readers and wait for them, so the final table has every frame they took."""
        self.done.set()
        for reader in self.readers:
            reader.join(READER_WAKE + 1.0)
        self.stats.stopped = clock.now()

    def raise_failure(self) -> None:
        """Re-raise a reader's bus error (after the final table was shown)."""
        for reader in self.readers:
            if reader.error is not None:
                raise reader.error

    def render(self) -> Group:
        """The table of messages and the footer."""
        return Group(traffic_table(self.stats.rows(), self.bench), Text(self.footer()))

    def footer(self) -> str:
        total = self.stats.total
        evicted = ", ".join(f"{c.name} {c.history.evicted}" for c in self.channels)
        text = (
            f"{total} frame{'' if total == 1 else 's'}, {self.stats.rate():.1f} frames/s; "
            f"evicted from history: {evicted}"
        )
        missed = {name: n for name, n in self.stats.missed.items() if n}
        if missed:
            text += "; missed by the monitor: " + ", ".join(f"{k} {v}" for k, v in missed.items())
        return text


def expected_text(row: Row) -> str:
    """The database's cycle time; "event" when it gives none; "-" for unknown IDs."""
    if not row.known:
        return "-"
    return ms(row.expected) if row.expected else "event"


def traffic_table(rows: Iterable[Row], bench: str) -> Table:
    """The monitor's table: one row per message ID and direction per channel."""
    table = Table(title=Text(f"CAN traffic on bench {bench!r}"), title_justify="left")
    for header in ("Channel", "Dir", "ID", "Message", "Count", "Cycle", "Expected"):
        # Fixed columns keep their width; on a narrow terminal the last one gives way.
        justify: JustifyMethod = "left" if header in {"Channel", "Dir", "Message"} else "right"
        table.add_column(header, justify=justify, no_wrap=True)
    table.add_column("Signals / data", min_width=12)
    for row in rows:
        table.add_row(
            Text(row.channel),
            Text("rx" if row.is_rx else "tx"),
            Text(row.id_text),
            Text(row.name, style="" if row.known else "yellow"),
            Text(str(row.count)),
            Text(ms(row.cycle_time)),
            Text(expected_text(row)),
            Text(row.content, no_wrap=True, overflow="ellipsis"),
        )
    return table
