"""Helpers of the security suite: DUT timers, what a fuzz step is and how it runs, the
properties checked after each example, reset detection and the printed reproducers.

A UDS fuzz example is a list of :class:`Step` (raw request bytes, or a sendKey whose key
is computed at run time from the last seed and then mutated); an ISO-TP example is a list
of :class:`RawFrame`. Both run through :class:`Examiner`, which records a transcript,
checks the properties and, on a violation, raises an AssertionError whose message is a
replayable reproducer of the (by then shrunk) example.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import isotp
from cantools.database.can import Message

from harness import clock
from harness.bench import Bench
from harness.bench.diagnostics import simulated_server
from harness.canbus.channel import Channel
from harness.canbus.frame import Frame
from harness.canbus.protection import counter_modulo, declared
from harness.diag.client import UdsClient
from harness.diag.conformance import MARGIN, DutTiming
from harness.diag.profile import DutProfile
from harness.exceptions import HarnessError

RECOVERY = 5.0
"""Seconds a DUT may take to answer again after a reset an example asked for."""
RECOVERY_PROBE = 0.1
"""Seconds each TesterPresent waits while the suite waits for a DUT to come back."""
EXAMPLES_ENV = "HARNESS_FUZZ_EXAMPLES"
"""Environment variable: examples per fuzz test (default: each test's own CI budget)."""

SUBFUNCTION_SERVICES = frozenset({0x10, 0x11, 0x19, 0x27, 0x28, 0x29, 0x31, 0x3E, 0x85, 0x86, 0x87})
"""Services with a sub-function, whose suppressPosRspMsgIndicationBit may silence a
positive response (ISO 14229-1 8.2.2)."""
OBD_SERVICES = (0x01, 0x0A)
"""OBD-II modes (ISO 15031-5), first and last."""
RESET_SERVICES = frozenset({0x11})
"""A request to these may reset the DUT; an example that sent one is allowed to."""
DESTRUCTIVE_SERVICES = frozenset({0x14, 0x2E, 0x2F, 0x31, 0x34, 0x35, 0x36, 0x37, 0x38, 0x3D})
"""Services that change the DUT's memory or actuators: fuzzed only on a simulated DUT."""


def fuzz_examples(default: int) -> int:
    """Examples for one fuzz test: ``$HARNESS_FUZZ_EXAMPLES`` when set, else ``default``."""
    text = os.environ.get(EXAMPLES_ENV, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise HarnessError(f"{EXAMPLES_ENV}={text!r}: expected a positive integer") from None
    if value < 1:
        raise HarnessError(f"{EXAMPLES_ENV}={text!r}: expected a positive integer")
    return value


# -- the DUT's timers --------------------------------------------------------------------


def dut_is_simulated(bench: Bench) -> bool:
    """Whether a simulated ECU plays the DUT (destructive services may then be fuzzed)."""
    return simulated_server(bench) is not None


# -- responses --------------------------------------------------------------------------


def show(data: bytes | None) -> str:
    return "(no response)" if data is None else data.hex(" ").upper()


def may_stay_silent(request: bytes) -> bool:
    """A physical request the DUT may leave unanswered: a positive response suppressed, or
    an OBD-II request (ISO 15031-5: no answer to PIDs the ECU does not support)."""
    if OBD_SERVICES[0] <= request[0] <= OBD_SERVICES[1]:
        return True
    return len(request) >= 2 and request[0] in SUBFUNCTION_SERVICES and bool(request[1] & 0x80)


# -- reset detection ---------------------------------------------------------------------


@dataclass(frozen=True)
class ResetSignal:
    """How a reset of the DUT shows on the bus, whatever the bench: its cyclic message
    pauses (more than ``gap`` seconds between frames) and its rolling counter does not
    continue across the pause. Without a counter a pause alone counts (and an example
    that switched communication off with 0x28 is excused)."""

    channel: Channel
    message: Message
    counter: str | None
    modulo: int
    gap: float

    @classmethod
    def find(cls, channel: Channel) -> ResetSignal | None:
        """The DUT's cyclic message to watch on ``channel``: one with a counter if any."""
        cyclic = [m for m in channel.dut_messages if m.cycle_time]
        if not cyclic:
            return None
        counted = [m for m in cyclic if declared(m).counter is not None]
        message = min(counted or cyclic, key=lambda m: m.cycle_time or 0)
        protection = declared(message)
        cycle = (message.cycle_time or 0) / 1000
        if protection.counter is None:
            return cls(channel, message, None, 1, max(5 * cycle, 0.3))
        return cls(
            channel, message, protection.counter, counter_modulo(message, protection), 1.5 * cycle
        )

    @property
    def cycle(self) -> float:
        return (self.message.cycle_time or 0) / 1000

    def describe(self) -> str:
        what = f"its counter {self.counter} restarts" if self.counter else "(no counter)"
        return f"{self.message.name} pauses > {self.gap * 1000:.0f} ms and {what}"

    def latest(self) -> Frame | None:
        return self.channel.latest(self.message.name)

    def next_frame(self, after: float) -> Frame | None:
        """The first frame of the message later than ``after`` (waits up to a few cycles
        plus the recovery time, None if it never comes)."""
        mark = self.channel.mark()
        for frame in self.channel.frames(self.message.name):
            if frame.timestamp > after:
                return frame
        try:
            return self.channel.wait_for(
                self.message.name, since=mark, timeout=3 * self.cycle + RECOVERY
            )
        except HarnessError:
            return None

    def resets(self, frames: Sequence[Frame], *, pauses_excused: bool = False) -> list[str]:
        """Resets seen between consecutive frames, described for the failure message."""
        found = []
        for before, after in itertools.pairwise(frames):
            pause = after.timestamp - before.timestamp
            if pause <= self.gap:
                continue
            if self.counter is None:
                if not pauses_excused:
                    found.append(f"{self.message.name} paused {pause * 1000:.0f} ms")
                continue
            was, now = int(before[self.counter]), int(after[self.counter])
            if now != (was + 1) % self.modulo:
                found.append(
                    f"{self.message.name} paused {pause * 1000:.0f} ms and "
                    f"{self.counter} went {was} -> {now} (a restart, not {(was + 1) % self.modulo})"
                )
        return found


# -- UDS fuzz steps ------------------------------------------------------------------------

KEY_MUTATIONS = ("exact", "truncate", "extend", "flip")


@dataclass(frozen=True)
class Step:
    """One request of a fuzz example. ``raw``: send ``payload`` as it is. ``key``: sendKey
    for ``level`` with the key computed from the last seed of that level, then mutated
    (``exact``, ``truncate`` by ``arg`` bytes, ``extend`` with byte ``arg``, ``flip`` bit
    ``arg``)."""

    payload: bytes = b""
    level: int = 0
    mutation: str = ""
    arg: int = 0

    @property
    def is_key(self) -> bool:
        return bool(self.mutation)

    def key_expression(self) -> str:
        base = f'key_for({self.level}, seed.get({self.level}, b""))'
        if self.mutation == "truncate":
            return f"{base}[:-{self.arg}]"
        if self.mutation == "extend":
            return f"{base} + bytes([0x{self.arg:02X}])"
        if self.mutation == "flip":
            return f"flip({base}, {self.arg})"
        return base

    def __repr__(self) -> str:
        if self.is_key:
            return f"Key(level={self.level}, {self.mutation}={self.arg})"
        return f"Raw({self.payload.hex(' ').upper()!r})"


def mutate_key(key: bytes, mutation: str, arg: int) -> bytes:
    if mutation == "truncate":
        return key[: max(0, len(key) - arg)]
    if mutation == "extend":
        return key + bytes([arg & 0xFF])
    if mutation == "flip":
        if not key:
            return key
        bit = arg % (8 * len(key))
        flipped = bytearray(key)
        flipped[bit // 8] ^= 1 << (bit % 8)
        return bytes(flipped)
    return key


def flip(key: bytes, bit: int) -> bytes:
    """Reproducer helper: ``key`` with one bit inverted (bit 0 is the first byte's LSB)."""
    return mutate_key(key, "flip", bit)


@dataclass(frozen=True)
class RawFrame:
    """One CAN frame of an ISO-TP fuzz example, sent on the DUT's request ID."""

    data: bytes

    def __repr__(self) -> str:
        return f"Frame({self.data.hex(' ').upper()!r})"


# -- running an example and its properties ---------------------------------------------------


@dataclass
class Exchange:
    request: bytes
    response: bytes | None
    line: str
    """The reproducer line that sends this request."""
    violation: str = ""


@dataclass
class Transcript:
    """What one example sent and got, and the verdict."""

    exchanges: list[Exchange] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


class Examiner:
    """Runs fuzz examples against the DUT, checks the properties after each, and puts the
    DUT back to a known state (default session, locked, no failed attempts) between them,
    in the cheapest way that works: see :meth:`restore`."""

    def __init__(
        self,
        uds: UdsClient,
        reset_signal: ResetSignal | None,
        *,
        security_session: str | None,
        security_level: int | None,
        power_cycle: Callable[[], object] | None,
        timing: DutTiming,
    ) -> None:
        self.uds = uds
        self.profile: DutProfile = uds.profile
        self.signal = reset_signal
        self.security_session = security_session
        self.security_level = security_level
        self.power_cycle = power_cycle
        self.timing = timing
        self.costs = {"unlock": 0, "power_cycle": 0, "delay": 0}
        """How often each way of restoring the DUT was needed (for the test's summary)."""
        address = uds.config.address.tester()
        self.request_id = address.get_tx_arbitration_id(isotp.TargetAddressType.Physical)
        self.prefix = bytes(address.get_tx_payload_prefix())
        self.extended_id = address.is_tx_29bits()

    # -- the properties ------------------------------------------------------------

    def key_for(self, level: int, seed: bytes) -> bytes:
        security = self.uds.config.security
        if security is None:
            return b""
        return security.seed_key.key(level, seed)

    def _granted(self, request: bytes, response: bytes, unlocked: set[int]) -> str:
        """A secured item the positive ``response`` grants while the example never sent the
        right key for its level ("" if none)."""
        sid = request[0]
        profile = self.profile
        if sid == 0x22:
            body = response[1:]
            while len(body) >= 2:
                did = profile.did_by_id(int.from_bytes(body[:2], "big"))
                if did is None:
                    break
                if did.security is not None and did.security not in unlocked:
                    return f"{did.label} read without security access level {did.security}"
                body = body[2 + did.length :]
        elif sid == 0x2E and len(request) >= 3:
            did = profile.did_by_id(int.from_bytes(request[1:3], "big"))
            level = did.write_security if did is not None else None
            if did is not None and level is not None and level not in unlocked:
                return f"{did.label} written without security access level {level}"
        elif sid == 0x31 and len(request) >= 4:
            routine = profile.routine_by_id(int.from_bytes(request[2:4], "big"))
            level = routine.security if routine is not None else None
            if routine is not None and level is not None and level not in unlocked:
                return f"routine {routine.name} controlled without security access level {level}"
        elif sid == 0x34 and profile.download is not None:
            level = profile.download.security
            if level is not None and level not in unlocked:
                return f"RequestDownload accepted without security access level {level}"
        return ""

    def run_steps(self, steps: Sequence[Step]) -> Transcript:
        """Send the steps (stopping at the first violation), then check the DUT."""
        transcript = Transcript()
        seeds: dict[int, bytes] = {}
        unlocked: set[int] = set()
        start = self._baseline()
        for step in steps:
            if step.is_key:
                level = step.level
                key = mutate_key(
                    self.key_for(level, seeds.get(level, b"")), step.mutation, step.arg
                )
                request = bytes([0x27, level + 1]) + key
                line = f'uds.request(bytes.fromhex("27 {level + 1:02X}") + {step.key_expression()})'
            else:
                request = step.payload
                line = f'uds.request(bytes.fromhex("{show(request)}"))'
            response = self.uds.request(request)
            exchange = Exchange(request, response, line)
            transcript.exchanges.append(exchange)
            sid = request[0]
            if response is None:
                if not may_stay_silent(request):
                    exchange.violation = "no response within P2: the DUT went silent"
            elif response[0] == sid + 0x40:
                if sid == 0x27 and len(request) >= 2:
                    sub = request[1] & 0x7F
                    if sub % 2:  # requestSeed
                        seeds[sub] = response[2:]
                    else:
                        level = sub - 1
                        expected = self.key_for(level, seeds.get(level, b""))
                        if seeds.get(level) is None or request[2:] != expected:
                            exchange.violation = (
                                f"security access level {level} granted for a key that is not "
                                "the one computed from the last seed"
                            )
                        else:
                            unlocked.add(level)
                else:
                    exchange.violation = self._granted(request, response, unlocked)
            if exchange.violation:
                transcript.violations.append(exchange.violation)
                break
        self._check_dut(transcript, start, [e.request for e in transcript.exchanges])
        return transcript

    def run_frames(self, frames: Sequence[RawFrame]) -> Transcript:
        """Send raw ISO-TP frames on the request ID, then check the DUT."""
        transcript = Transcript()
        start = self._baseline()
        channel = self.uds.channel
        for frame in frames:
            data = self.prefix + frame.data
            channel.send_raw(self.request_id, data, is_extended_id=self.extended_id)
            transcript.frames.append(data)
        self._check_dut(transcript, start, [f.data[1:] for f in frames if f.data])
        return transcript

    def _baseline(self) -> Frame | None:
        return self.signal.latest() if self.signal is not None else None

    def _check_dut(self, transcript: Transcript, start: Frame | None, sent: list[bytes]) -> None:
        """After the requests: the DUT answers within P2 and did not reset (unless it was
        asked to), judged from its cyclic message."""
        excused = any(r and r[0] in RESET_SERVICES for r in sent)
        probe_at = clock.now()
        silent = any(e.violation.startswith("no response") for e in transcript.exchanges)
        answer = None if silent else self.probe()  # silent already: recover, do not wait P2
        if silent:
            if not self._answers_again():
                transcript.violations.append(f"the DUT did not answer again within {RECOVERY} s")
        elif answer != bytes.fromhex("7E 00"):
            transcript.violations.append(
                f"TesterPresent after the example got {show(answer)}, not 7E 00 within P2"
            )
            if not self._answers_again():
                transcript.violations.append(f"the DUT did not answer again within {RECOVERY} s")
        if self.signal is None or start is None:
            return
        tail = self.signal.next_frame(after=max(probe_at, start.timestamp))
        if tail is None:
            self._default_session()  # communication may have been switched off (0x28)
            tail = self.signal.next_frame(after=clock.now())
        if tail is None:
            transcript.violations.append(
                f"the DUT's {self.signal.message.name} stopped (no frame for "
                f"{3 * self.signal.cycle + RECOVERY:.1f} s)"
            )
            return
        frames = [start] + [
            f
            for f in self.signal.channel.frames(self.signal.message.name)
            if start.timestamp < f.timestamp <= tail.timestamp
        ]
        communication_off = any(r and r[0] == 0x28 for r in sent)
        resets = self.signal.resets(frames, pauses_excused=communication_off)
        if resets and not excused:
            transcript.violations.append("the DUT reset: " + "; ".join(resets))

    def probe(self, timeout: float | None = None) -> bytes | None:
        """TesterPresent's answer within P2 (or ``timeout``), skipping late answers to frames
        the example sent (an ISO-TP example's request may be answered just after it)."""
        deadline = clock.Deadline(self.uds.config.p2 if timeout is None else timeout)
        answer = self.uds.request(bytes.fromhex("3E 00"), timeout=deadline.remaining())
        conn = self.uds.client.conn
        while answer is not None and answer[:1] != b"\x7e" and answer[:2] != b"\x7f\x3e":
            late = conn.wait_frame(timeout=deadline.remaining(), exception=False)
            answer = bytes(late) if late is not None else None
        return answer

    def _answers_again(self) -> bool:
        """Whether the DUT answers TesterPresent again within :data:`RECOVERY` (probed
        every :data:`RECOVERY_PROBE` s: a booting DUT misses requests)."""
        deadline = clock.Deadline(RECOVERY)
        while not deadline.expired():
            if self.probe(RECOVERY_PROBE) == bytes.fromhex("7E 00"):
                return True
        return False

    def _default_session(self) -> bytes | None:
        return self.uds.request(bytes.fromhex("10 01"))

    # -- between examples ------------------------------------------------------------

    def restore(self, transcript: Transcript) -> None:
        """Default session (relocks, ends CommunicationControl and DTC setting changes);
        then, only if the example sent a key, clear the failed attempts with the right key,
        or end a lock-out: a power cycle through the bench's supply when it has one, else
        waiting out the delay."""
        if self._default_session() is None and not self._answers_again():
            raise AssertionError(f"the DUT no longer answers (after {RECOVERY} s)")
        self.uds.session_entered = "default"
        sent_key = any(
            e.request[:1] == b"\x27" and len(e.request) >= 2 and not e.request[1] % 2
            for e in transcript.exchanges
        ) or any(len(f) >= 3 and f[1:2] == b"\x27" for f in transcript.frames)
        if not sent_key or self.security_level is None or self.security_session is None:
            return
        if self._clear_attempts():
            self.costs["unlock"] += 1
            return
        if self.power_cycle is not None:
            self.costs["power_cycle"] += 1
            self.power_cycle()
            if not self._answers_again():
                raise AssertionError(f"the DUT did not answer within {RECOVERY} s of power-on")
            if self.signal is not None:
                self.signal.next_frame(after=clock.now())
            if self._clear_attempts():
                return
        self.costs["delay"] += 1
        deadline = clock.Deadline(self.timing.security_delay + 2 * MARGIN)
        while not deadline.expired():
            self.uds.channel.expect_never(
                self.uds.config.address.response_id, for_=min(0.5, deadline.remaining())
            )
            if self._clear_attempts():
                return
        raise AssertionError("the DUT stayed locked out longer than its security delay")

    def _clear_attempts(self) -> bool:
        """Unlock with the right key (which clears the failed attempts), then relock by
        returning to the default session. False while the DUT is locked out."""
        assert self.security_session is not None
        assert self.security_level is not None
        if self.security_session == "programming":
            self.uds.request(bytes.fromhex("10 03"))
        self.uds.session(self.security_session)
        level = self.security_level
        seed = self.uds.request(bytes([0x27, level]))
        ok = seed is not None and seed[:2] == bytes([0x67, level])
        if ok and seed is not None and any(seed[2:]):
            answer = self.uds.request(bytes([0x27, level + 1]) + self.key_for(level, seed[2:]))
            ok = answer is not None and answer[:2] == bytes([0x67, level + 1])
        self.uds.session("default")
        return ok

    # -- the reproducer -------------------------------------------------------------------

    def reproducer(self, transcript: Transcript) -> str:
        """The example as a snippet a test engineer can paste into a test with ``uds``
        (and ``can``), each line with what the DUT answered this time."""
        lines = [
            "Reproducer (minimal example after shrinking; paste into a test using `uds`):",
        ]
        if any(e.request[:1] == b"\x27" for e in transcript.exchanges):
            lines += [
                "    key_for = uds.config.security.seed_key.key   # the bench's seed-key plugin",
                "    seed = {}",
            ]
        if transcript.exchanges:
            for exchange in transcript.exchanges:
                request = exchange.request
                seed_request = request[:1] == b"\x27" and len(request) >= 2 and request[1] % 2 == 1
                call = exchange.line
                response = exchange.response
                if seed_request and response is not None and response[0] == 0x67:
                    call = f"seed[{request[1] & 0x7F}] = {call}[2:]"
                lines.append(f"    {call}")
                note = f"  -> {show(exchange.response)}"
                if exchange.violation:
                    note += f"   <-- {exchange.violation}"
                lines.append(f"    #{note}")
            if any(e.line.find("flip(") >= 0 for e in transcript.exchanges):
                lines.insert(
                    3,
                    "    def flip(k, bit): b = bytearray(k); b[bit // 8 % len(b)] ^= 1 << bit % 8;"
                    " return bytes(b)",
                )
        if transcript.frames:
            bus = self.uds.config.channel
            lines.append(f"    channel = can.{bus}")
            for data in transcript.frames:
                lines.append(
                    f'    channel.send_raw(0x{self.request_id:X}, bytes.fromhex("{show(data)}"))'
                )
        lines.append('    uds.request(bytes.fromhex("3E 00"))   # then: is the DUT still there?')
        lines.append("Violations: " + "; ".join(transcript.violations))
        return "\n".join(lines)
