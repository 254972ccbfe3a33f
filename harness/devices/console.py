"""A device's text console over serial: send lines, expect patterns, get the groups.

>>> console = Console.open(config)                       # doctest: +SKIP
>>> console.send("version")                              # doctest: +SKIP
>>> console.expect(r"SW (\\d+)\\.(\\d+)\\.(\\d+)").groups()  # doctest: +SKIP
('1', '2', '3')

``expect`` works like pexpect's: it searches the text received since the last
match (or since a :meth:`Console.mark`), consumes up to the end of the match and
returns it with ``before`` (the text in front of it). Every wait is bounded by a
timeout; a failed one raises :class:`~harness.exceptions.DeviceTimeoutError` with
the tail of what was received, and a port that disappears raises
:class:`~harness.exceptions.DeviceError` at once instead of waiting out the timeout.

Why not pexpect: its ``fdpexpect.fdspawn`` needs a readable file descriptor, which
pyserial's ``loop://`` and ``rfc2217://`` ports do not have (and a raw ``socket://``
descriptor would bypass pyserial's handler), and it reads only while someone is
expecting, in the caller's thread. The harness needs every byte timestamped in the
serial log as it arrives, modem URCs parsed while no command runs, and a port that
vanishes to wake waiters at once; so a reader thread per port feeds a condition
(:class:`~harness.devices.port.ReceiveBuffer`) and ``expect`` is a regex search
over that buffer, with pexpect's semantics (``before``, groups, list of patterns).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness import clock
from harness.closing import Closing
from harness.devices.port import ReceiveBuffer, SerialPort

if TYPE_CHECKING:
    from harness.devices.config import PowerConfig, SerialDeviceConfig
    from harness.devices.log import SerialLog

Pattern = str | re.Pattern[str]


@dataclass(frozen=True)
class ConsoleMatch:
    """What :meth:`Console.expect` found: the regex match, what came before it, and
    which of several patterns matched (``index``)."""

    match: re.Match[str]
    before: str
    index: int
    timestamp: float

    @property
    def text(self) -> str:
        """The matched text."""
        return self.match.group(0)

    def group(self, *names: int | str) -> str | tuple[str | None, ...] | None:
        return self.match.group(*names) if names else self.match.group(0)

    def groups(self) -> tuple[str | None, ...]:
        return self.match.groups()

    def groupdict(self) -> dict[str, str | None]:
        return self.match.groupdict()

    def __getitem__(self, key: int | str) -> str | None:
        return self.match[key]


class Console(Closing):
    """Line-oriented send and ``expect`` on a serial port (a DUT's debug console)."""

    def __init__(
        self,
        port: SerialPort,
        buffer: ReceiveBuffer,
        *,
        line_ending: str = "\r\n",
        timeout: float = 5.0,
    ) -> None:
        self.port = port
        self.buffer = buffer
        self.line_ending = line_ending
        self.timeout = timeout

    @classmethod
    def open(cls, config: SerialDeviceConfig, log: SerialLog | None = None) -> Console:
        """Open the console a ``[serial.NAME]`` table describes."""
        buffer = ReceiveBuffer(config.name)
        port = SerialPort.open(config, buffer, log)
        return cls(port, buffer, line_ending=config.line_ending, timeout=config.timeout)

    @property
    def name(self) -> str:
        return self.port.name

    # -- sending ------------------------------------------------------------------

    def send(self, line: str = "") -> None:
        """Send ``line`` and the line ending."""
        self.port.write(line + self.line_ending)

    def write(self, data: str | bytes) -> None:
        """Send exactly ``data`` (no line ending): control characters, binary input."""
        self.port.write(data)

    # -- receiving ----------------------------------------------------------------

    def mark(self) -> int:
        """A point in the received text: ``expect(..., since=mark)`` searches from there
        even if an earlier expect consumed past it, and never before it."""
        return self.buffer.mark()

    def expect(
        self,
        pattern: Pattern | Sequence[Pattern],
        timeout: float | None = None,
        *,
        since: int | None = None,
    ) -> ConsoleMatch:
        """Wait until ``pattern`` (a regex, or a list of them: the earliest match wins)
        appears in the received text; return the match with its groups.

        Raises DeviceTimeoutError after ``timeout`` seconds (default: the device's) with
        the tail of what was received, DeviceError when the port disappears.
        """
        __tracebackhide__ = True
        patterns = _compile(pattern)
        wait = self.timeout if timeout is None else timeout
        what = " or ".join(repr(p.pattern) for p in patterns)

        def check(text: str) -> tuple[ConsoleMatch, int] | None:
            best: tuple[re.Match[str], int] | None = None
            for index, regex in enumerate(patterns):
                found = regex.search(text)
                if found is not None and (best is None or found.start() < best[0].start()):
                    best = (found, index)
            if best is None:
                return None
            found, index = best
            return ConsoleMatch(found, text[: found.start()], index, clock.now()), found.end()

        return self.buffer.wait(
            check, wait, since=since, what=f"match for {what}", where=self.port.describe
        )

    def expect_exact(
        self, text: str, timeout: float | None = None, *, since: int | None = None
    ) -> ConsoleMatch:
        """``expect`` for literal text."""
        __tracebackhide__ = True
        return self.expect(re.escape(text), timeout, since=since)

    def read_line(self, timeout: float | None = None) -> str:
        """The next complete line (without its ending); a partial line waits for the rest."""
        __tracebackhide__ = True
        return self.expect(r"([^\r\n]*)\r?\n", timeout).match.group(1)

    def command(self, line: str, prompt: Pattern, timeout: float | None = None) -> str:
        """Send ``line`` and return the output up to the next ``prompt`` (echo removed)."""
        __tracebackhide__ = True
        self.send(line)
        output = self.expect(prompt, timeout).before
        lines = output.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if lines and lines[0].strip() == line.strip():
            lines = lines[1:]
        return "\n".join(lines).strip("\n")

    def flush(self) -> str:
        """Consume and return whatever was received and not yet matched."""
        return self.buffer.discard()

    @property
    def received(self) -> str:
        """The tail of everything received (for evidence)."""
        return self.buffer.tail()

    # -- lifetime -----------------------------------------------------------------

    def close(self) -> None:
        self.port.close()

    def __repr__(self) -> str:
        return f"<Console {self.port.describe}>"


def _compile(pattern: Pattern | Sequence[Pattern]) -> list[re.Pattern[str]]:
    items: Sequence[Pattern] = [pattern] if isinstance(pattern, str | re.Pattern) else pattern
    if not items:
        raise ValueError("expect needs at least one pattern")
    return [p if isinstance(p, re.Pattern) else re.compile(p) for p in items]


def open_for_bench(
    device: SerialDeviceConfig, log: SerialLog, power: PowerConfig | None
) -> Console:
    """The ``console`` row of :data:`harness.devices.DRIVERS`."""
    return Console.open(device, log)
